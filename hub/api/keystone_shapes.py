"""Request and reply shapes of the Keystone v3 facade (``/identity/v3``), and the token body.

The request shapes are Keystone's own (``{"auth": {"identity": ..., "scope": ...}}``), with
only the fields Keystone defines for the methods Atoll speaks (password, application
credential, token), so a client sending anything else hears what is wrong. The reply body
is what keystoneauth reads (``AccessInfoV3``): user, project or system, roles, methods,
issued and expiry times, audit ids and, for scoped tokens, the service catalog.

Atoll has no domains: every user and project is in the one domain Keystone calls
``default`` (name ``Default``), and that is the only domain a request may name.
"""

from __future__ import annotations

import time

from atoll.api.schema import Field, Shape
from atoll.jsonbody import JSON
from atoll.tokens import Claims

DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
DOMAIN_VIEW: JSON = {"id": DOMAIN_ID, "name": DOMAIN_NAME}
API_VERSION = "v3.14"
MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"

TEXT = Field("string", min_length=1, max_length=255)
SECRET = Field("string", required=True, min_length=1, max_length=1024)
DOMAIN = Shape(
    "KeystoneDomain",
    {"id": TEXT, "name": TEXT},
    description="Atoll has one domain: id 'default', name 'Default' (either case)",
)
DOMAIN_FIELD = Field("object", shape=DOMAIN)
USER = Shape(
    "KeystonePasswordUser",
    {"id": TEXT, "name": TEXT, "domain": DOMAIN_FIELD, "password": SECRET},
    description="the user by id, or by name (and domain)",
)
CREDENTIAL_USER = Shape(
    "KeystoneCredentialUser", {"id": TEXT, "name": TEXT, "domain": DOMAIN_FIELD}
)
PASSWORD = Shape("KeystonePassword", {"user": Field("object", required=True, shape=USER)})
APP_CREDENTIAL = Shape(
    "KeystoneApplicationCredential",
    {
        "id": TEXT,
        "name": TEXT,
        "user": Field("object", shape=CREDENTIAL_USER),
        "secret": SECRET,
    },
    description="by id, or by name and its user",
)
TOKEN = Shape(
    "KeystoneToken", {"id": Field("string", required=True, min_length=1, max_length=4096)}
)
METHODS = ("password", "application_credential", "token")
IDENTITY = Shape(
    "KeystoneIdentity",
    {
        "methods": Field(
            "array",
            required=True,
            items=Field("string", enum=METHODS),
            max_items=1,
            description="one of: password, application_credential, token",
        ),
        "password": Field("object", shape=PASSWORD),
        "application_credential": Field("object", shape=APP_CREDENTIAL),
        "token": Field("object", shape=TOKEN),
    },
)
PROJECT_SCOPE = Shape("KeystoneProjectScope", {"id": TEXT, "name": TEXT, "domain": DOMAIN_FIELD})
SYSTEM_SCOPE = Shape("KeystoneSystemScope", {"all": Field("boolean", required=True)})
SCOPE = Shape(
    "KeystoneScope",
    {
        "project": Field("object", shape=PROJECT_SCOPE),
        "domain": DOMAIN_FIELD,
        "system": Field("object", shape=SYSTEM_SCOPE),
    },
    description="one of: a project (by id, or name and domain), or the system (admins)",
)
AUTH = Shape(
    "KeystoneAuth",
    {
        "identity": Field("object", required=True, shape=IDENTITY),
        "scope": Field("object", shape=SCOPE),
    },
)
AUTH_REQUEST = Shape("KeystoneAuthRequest", {"auth": Field("object", required=True, shape=AUTH)})

TOKEN_REPLY = Shape(
    "KeystoneTokenReply",
    {"token": Field("object", required=True, description="Keystone's token body")},
)
VERSION_REPLY = Shape("KeystoneVersion", {"version": Field("object", required=True)})
VERSIONS_REPLY = Shape("KeystoneVersions", {"versions": Field("object", required=True)})

ERROR_SCHEMA: JSON = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "title", "message"],
            "properties": {
                "code": {"type": "integer"},
                "title": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}


def keystone_time(epoch: float) -> str:
    """Keystone's time format: ``2026-11-30T23:00:00.000000Z``."""
    seconds, micro = divmod(int(epoch * 1_000_000), 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micro:06d}Z"


def is_default_domain(domain: JSON | None) -> bool:
    """No domain named, or the one Atoll has (by id or name, any case)."""
    if not domain:
        return True
    named = [domain[k] for k in ("id", "name") if k in domain]
    return all(str(n).lower() == DOMAIN_ID for n in named)


def version_document(base: str) -> JSON:
    return {
        "id": API_VERSION,
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
        "media-types": [{"base": "application/json", "type": MEDIA_TYPE}],
    }


def catalog(base: str, region: str) -> list[JSON]:
    """The hub's endpoints by the service types Keystone clients look up: ``identity`` (this
    facade) and ``nfv-orchestration`` (the ETSI NFV APIs, where python-tackerclient adds
    ``/vnfpkgm/v1/...`` and ``/vnflcm/v2/...`` itself), each on every interface."""
    services = (
        ("identity", "keystone", f"{base}/identity/v3"),
        ("nfv-orchestration", "tacker", base),
    )
    return [
        {
            "id": kind,
            "type": kind,
            "name": name,
            "endpoints": [
                {
                    "id": f"{kind}-{interface}",
                    "interface": interface,
                    "region": region,
                    "region_id": region,
                    "url": url,
                }
                for interface in ("public", "internal", "admin")
            ],
        }
        for kind, name, url in services
    ]


def token_body(
    claims: Claims,
    user_id: str,
    methods: list[str],
    catalog_entries: list[JSON],
    credential_name: str | None = None,
) -> JSON:
    """The ``token`` object of Keystone's reply for a token with ``claims``."""
    body: JSON = {
        "methods": methods,
        "user": {
            "id": user_id,
            "name": claims.user,
            "domain": DOMAIN_VIEW,
            "password_expires_at": None,
        },
        "audit_ids": [claims.token_id],
        "issued_at": keystone_time(claims.issued_at),
        "expires_at": keystone_time(claims.expires_at),
        "roles": [{"id": role, "name": role} for role in claims.roles],
        "is_domain": False,
    }
    if claims.project is not None:
        body["project"] = {
            "id": claims.project_id,
            "name": claims.project,
            "domain": DOMAIN_VIEW,
        }
    elif claims.system:
        body["system"] = {"all": True}
    if claims.project is not None or claims.system:
        body["catalog"] = catalog_entries
    if claims.app_credential is not None:
        body["application_credential"] = {
            "id": claims.app_credential,
            "name": credential_name or claims.app_credential,
            "restricted": True,
        }
    return body
