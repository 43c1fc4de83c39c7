"""The hub's OpenAPI 3.1 document, generated from the same routes and shapes the API runs on
(by the shared core, :mod:`atoll.api.openapi`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from atoll.api.openapi import doc_path
from atoll.api.openapi import document as api_document
from atoll.api.routing import Route
from atoll.hub.api import keystone, sol013
from atoll.hub.identity import policy
from atoll.jsonbody import JSON

TITLE = "Atoll hub API"
DESCRIPTION = (
    "Identity, catalog and site registry of an Atoll fleet. Errors share one shape "
    "(ProblemDetails on the ETSI NFV APIs); every response carries X-Request-Id."
)


SITE_CERTIFICATE: JSON = {
    "type": "mutualTLS",
    "description": "a joined site agent's certificate from the hub CA (no token)",
}


def document(routes: Iterable[Route], nfv_apis: Sequence[sol013.NfvApi] = ()) -> JSON:
    """The shared core's document, plus the routes a site certificate may call (the policy
    table's ``site`` rules): those list ``siteCertificate`` too, or only it; the routes of
    the ETSI NFV APIs ``nfv_apis`` follow SOL013 (:func:`atoll.hub.api.sol013.document`)."""
    routes = list(routes)
    doc = api_document(routes, title=TITLE, description=DESCRIPTION)
    sol013.document(doc, routes, nfv_apis)
    doc["components"]["securitySchemes"]["siteCertificate"] = SITE_CERTIFICATE
    keystone.document(doc)
    for route in routes:
        rule = policy.rule_for(route.name)
        if route.public or rule is None or not rule.site:
            continue
        op = doc["paths"][doc_path(route.path)][route.method.lower()]
        site: JSON = {"siteCertificate": []}
        op["security"] = [site] if rule == policy.SITE_ONLY else [*op["security"], site]
    return doc
