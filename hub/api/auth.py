"""``/v1/auth/tokens`` (issue, inspect, revoke one's own) and ``/v1/revocations``."""

from __future__ import annotations

from typing import cast

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import NAME_HELP, NAME_PATTERN, Field, OneOf, Shape, name_field
from atoll.errors import Forbidden, Unauthenticated
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of, source_of
from atoll.hub.api.replies import no_content, page_params, page_reply, read_body, reply
from atoll.hub.identity.revocation import KIND as REVOCATION_KIND
from atoll.hub.store.base import ListQuery
from atoll.timestamps import iso
from atoll.tokens import REVOCATION_SUBJECTS, Claims, RevocationSubject

PROJECT_SCOPE = Field(
    "string",
    nullable=True,
    pattern=NAME_PATTERN,
    pattern_help=NAME_HELP,
    description="scope the token to this project (default: system scope, if any)",
)
BY_PASSWORD = Shape(
    "PasswordAuth",
    {
        "user": name_field("user"),
        "password": Field("string", required=True, min_length=1, max_length=1024),
        "project": PROJECT_SCOPE,
    },
)
BY_APP_CREDENTIAL = Shape(
    "ApplicationCredentialAuth",
    {
        "application_credential_id": Field("string", required=True, min_length=1, max_length=64),
        "application_credential_secret": Field(
            "string", required=True, min_length=1, max_length=1024
        ),
    },
)
BY_TOKEN = Shape(
    "TokenExchange",
    {
        "token": Field("string", required=True, min_length=1, max_length=4096),
        "project": PROJECT_SCOPE,
    },
)
TOKEN_REQUEST = OneOf(
    "TokenRequest",
    (BY_PASSWORD, BY_APP_CREDENTIAL, BY_TOKEN),
    description="give exactly one of: user and password; application_credential_id and "
    "application_credential_secret; token (to get one with another scope)",
)

TOKEN_INFO_FIELDS = {
    "id": Field("string", required=True),
    "user": Field("string", required=True),
    "project": Field("string", required=True, nullable=True),
    "system": Field("boolean", required=True),
    "roles": Field("array", required=True, items=Field("string")),
    "issued_at": Field("string", required=True),
    "expires_at": Field("string", required=True),
    "application_credential": Field("string", required=True, nullable=True),
}
TOKEN_INFO = Shape("TokenInfo", TOKEN_INFO_FIELDS)
TOKEN_REPLY = Shape(
    "IssuedToken",
    {**TOKEN_INFO_FIELDS, "token": Field("string", required=True, description="shown once")},
)


def token_info(claims: Claims) -> dict[str, object]:
    return {
        "id": claims.token_id,
        "user": claims.user,
        "project": claims.project,
        "system": claims.system,
        "roles": list(claims.roles),
        "issued_at": iso(claims.issued_at),
        "expires_at": iso(claims.expires_at),
        "application_credential": claims.app_credential,
    }


async def issue(request: web.Request) -> web.Response:
    hub, source = hub_of(request), source_of(request)
    await hub.issuer.check_source(source)
    body = await read_body(request, TOKEN_REQUEST)
    project = body.get("project")
    if "password" in body:
        issued = await hub.issuer.by_password(body["user"], body["password"], project, source)
    elif "application_credential_id" in body:
        issued = await hub.issuer.by_app_credential(
            body["application_credential_id"], body["application_credential_secret"], source
        )
    else:
        claims = hub.verifier.verify(body["token"], hub.clock())
        issued = await hub.issuer.by_token(claims, project)
    data = {**token_info(issued.claims), "token": issued.token}
    response = reply(data, status=201)
    response.headers["X-Subject-Token"] = issued.token
    return response


KEYS = Shape(
    "TokenKeys",
    {
        "keys": Field(
            "array",
            required=True,
            items=Field(
                "object",
                shape=Shape(
                    "TokenKey",
                    {
                        "kid": Field("string", required=True),
                        "algorithm": Field("string", required=True, enum=("Ed25519",)),
                        "public_key_pem": Field("string", required=True),
                    },
                ),
            ),
        )
    },
)


async def show_keys(request: web.Request) -> web.Response:
    """The public keys tokens are signed with: what a site needs to verify them offline."""
    return reply({"keys": hub_of(request).verifier.public_keys()})


PASSWORD_CHANGE = Shape(
    "PasswordChange",
    {
        "current_password": Field("string", required=True, min_length=1, max_length=1024),
        "new_password": Field("string", required=True, min_length=8, max_length=1024),
    },
)


async def change_password(request: web.Request) -> web.Response:
    """The caller changes their own password; all their tokens end (log in again)."""
    hub, claims = hub_of(request), claims_of(request)
    body = await read_body(request, PASSWORD_CHANGE)
    if claims.app_credential is not None:
        raise Forbidden("an application credential cannot change its user's password")
    try:
        await hub.issuer.check_password(claims.user, body["current_password"], source_of(request))
    except Unauthenticated as exc:
        raise Forbidden("the current password is wrong") from exc
    new_hash = await hub.passwords.hash(body["new_password"], source_of(request))
    await records.update(hub.store, "user", claims.user, {"_password_hash": new_hash}, None)
    await hub.revocations.revoke("user", claims.user)
    return no_content()


async def show_current(request: web.Request) -> web.Response:
    return reply(token_info(claims_of(request)))


async def revoke_current(request: web.Request) -> web.Response:
    claims = claims_of(request)
    await hub_of(request).revocations.revoke_token(claims.token_id, claims.user)
    return no_content()


REVOCATION = Shape(
    "Revocation",
    {
        "subject": Field(
            "string",
            required=True,
            enum=REVOCATION_SUBJECTS,
            description="a token by id, or every token a user/project/credential holds now",
        ),
        "value": Field(
            "string",
            required=True,
            min_length=1,
            max_length=255,
            pattern=r"^[^\u0000-\u001f]+$",
            pattern_help="an id or name without control characters",
        ),
        "user": Field("string", description="a token's user (a token revoked by its user)"),
        "revoked_at": Field("number", required=True, description="epoch seconds"),
        "prune_after": Field(
            "number", required=True, description="epoch seconds; no token it could stop is left"
        ),
    },
)
REVOCATION_REQUEST = Shape(
    "RevocationRequest",
    {k: v for k, v in REVOCATION.fields.items() if k not in ("user", "revoked_at", "prune_after")},
)


async def list_revocations(request: web.Request) -> web.Response:
    limit, marker = page_params(request)
    page = await hub_of(request).store.list(ListQuery(REVOCATION_KIND, limit=limit, marker=marker))
    return page_reply([r.value for r in page.items], page.next_marker)


async def create_revocation(request: web.Request) -> web.Response:
    body = await read_body(request, REVOCATION_REQUEST)
    subject = cast(RevocationSubject, body["subject"])
    entry = await hub_of(request).revocations.revoke(subject, body["value"])
    return reply(entry, status=201)


ROUTES = [
    Route(
        "POST",
        "/v1/auth/tokens",
        "auth.tokens.issue",
        issue,
        "Issue a token (password, application credential, or token exchange)",
        body=TOKEN_REQUEST,
        response=TOKEN_REPLY,
        status=201,
        public=True,
    ),
    Route(
        "GET",
        "/v1/auth/keys",
        "auth.keys.list",
        show_keys,
        "The public keys that verify tokens (for sites verifying offline)",
        response=KEYS,
        public=True,
    ),
    Route(
        "GET",
        "/v1/auth/tokens/current",
        "auth.tokens.show_current",
        show_current,
        "Show the caller's token",
        response=TOKEN_INFO,
    ),
    Route(
        "DELETE",
        "/v1/auth/tokens/current",
        "auth.tokens.revoke_current",
        revoke_current,
        "Revoke the caller's token (log out)",
        status=204,
    ),
    Route(
        "POST",
        "/v1/auth/password",
        "auth.password.change",
        change_password,
        "Change your own password (every token you hold ends)",
        body=PASSWORD_CHANGE,
        status=204,
    ),
    Route(
        "GET",
        "/v1/revocations",
        "revocations.list",
        list_revocations,
        "List revocations",
        response=REVOCATION,
        paged=True,
    ),
    Route(
        "POST",
        "/v1/revocations",
        "revocations.create",
        create_revocation,
        "Revoke a token by id, or all current tokens of a user, project or credential",
        body=REVOCATION_REQUEST,
        response=REVOCATION,
        status=201,
    ),
]
