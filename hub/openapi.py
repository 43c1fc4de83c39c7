"""The hub's OpenAPI 3.1 document, generated from the same routes and shapes the API runs on
(by the shared core, :mod:`atoll.api.openapi`)."""

from __future__ import annotations

from collections.abc import Iterable

from atoll.api.openapi import ERROR_SCHEMA as ERROR_SCHEMA  # tests read it here
from atoll.api.openapi import document as api_document
from atoll.hub.api.routing import Route
from atoll.jsonbody import JSON

TITLE = "Atoll hub API"
DESCRIPTION = (
    "Identity, catalog and site registry of an Atoll fleet. Errors share one shape; every "
    "response carries X-Request-Id."
)


def document(routes: Iterable[Route]) -> JSON:
    return api_document(routes, title=TITLE, description=DESCRIPTION)
