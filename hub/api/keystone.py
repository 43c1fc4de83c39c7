"""``/identity/v3``: a Keystone v3 facade, so ``openstack`` and python-tackerclient log in here.

Point ``OS_AUTH_URL`` at ``https://HUB/identity/v3``. What it speaks:

- ``GET /identity`` and ``GET /identity/v3``: the version documents keystoneauth discovers.
- ``POST /identity/v3/auth/tokens``: the ``password`` method (user by id, or by name in the
  ``Default`` domain), the ``application_credential`` method (id + secret, or name + user +
  secret) and the ``token`` method (rescoping); scope to a project (by id, or by name in
  ``Default``) or to the system (``{"system": {"all": true}}``, fleet administrators). With
  no scope, a user holding roles on exactly one project and none on the system gets a token
  for that project (as Keystone does with a default project); anyone else an unscoped token.
  The token is in ``X-Subject-Token`` (201), and the body is Keystone's (with the catalog
  for scoped tokens).
- ``GET``/``HEAD /identity/v3/auth/tokens``: validate ``X-Subject-Token`` for the caller in
  ``X-Auth-Token`` (one's own tokens, or any with a system-scoped token); ``DELETE``
  revokes it (one's own, or any as a system admin).

Atoll has no domains: ``Default``/``default`` is the only domain a request may name. The
tokens are Atoll's own Ed25519 tokens (they work on ``/v1`` and at sites alike), issued by
the same :class:`~atoll.hub.identity.issuing.TokenIssuer` with the same throttle as
``POST /v1/auth/tokens``. Failures are Keystone's error shape,
``{"error": {"code", "title", "message"}}``; every refused login is the same 401, whether the
user, the project or the password was wrong (the hub's log says which).

The catalog names ``identity`` (this facade) and ``nfv-orchestration`` (the hub root, where
the ETSI NFV APIs live), in the region of the hub's ``keystone_region`` setting, at the
hub's ``public_url`` (or, when that is unset, the address the client called).
"""

from __future__ import annotations

import functools
import logging

from aiohttp import web

from atoll.api.routing import Handler, Route
from atoll.api.schema import Field
from atoll.errors import AtollError, Forbidden, InvalidInput, NotFound, Problem, Unauthenticated
from atoll.hub.api import keystone_shapes as shapes
from atoll.hub.api.context import Hub, base_url, hub_of, source_of
from atoll.hub.api.middleware import bearer_token
from atoll.hub.api.replies import read_body, reply
from atoll.hub.identity import assignments, tenancy
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND, Issued, token_of
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.tokens import Claims

log = logging.getLogger(__name__)

TOKENS_PATH = "/identity/v3/auth/tokens"
VALIDATE = "identity_v3.tokens.validate"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    503: "Service Unavailable",
}
REQUIRES_AUTH = "The request you have made requires authentication."


def keystone_error(status: int, message: str) -> web.Response:
    body = {"error": {"code": status, "title": TITLES.get(status, "Error"), "message": message}}
    return reply(body, status)


def _message(exc: AtollError) -> str:
    if isinstance(exc, InvalidInput) and exc.problems:
        return exc.summary + ": " + "; ".join(f"{p.where} {p.what}" for p in exc.problems)
    return exc.summary if isinstance(exc, InvalidInput) else exc.message


def keystone_errors(handler: Handler) -> Handler:
    """Answer the handler's failures in Keystone's shape; a 401 never says why."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Unauthenticated as exc:
            log.info("identity/v3: %s %s refused from %s: %s", request.method, request.path,
                     source_of(request), exc)  # fmt: skip
            response = keystone_error(401, REQUIRES_AUTH)
            response.headers["WWW-Authenticate"] = f'Keystone uri="{base_url(request)}/identity/v3"'
            return response
        except AtollError as exc:
            if exc.http_status >= 500:
                raise  # the errors middleware logs it and answers without detail
            response = keystone_error(exc.http_status, _message(exc))
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return keystone_error(exc.status, exc.reason)

    return answer


# ---- discovery


async def show_versions(request: web.Request) -> web.Response:
    doc = shapes.version_document(base_url(request))
    return reply({"versions": {"values": [doc]}}, status=300)


async def show_version(request: web.Request) -> web.Response:
    return reply({"version": shapes.version_document(base_url(request))})


# ---- issuing


async def _key_by_id(hub: Hub, kind: str, object_id: str) -> str | None:
    """The store key (name) of the ``kind`` object with id ``object_id``, if there is one."""
    found = await list_all(hub.store, kind, {"id": object_id})
    return found[0].key if len(found) == 1 else None


async def _user_name(hub: Hub, user: JSON) -> str:
    """The user a request names, by id or by name in the default domain. A user that cannot
    exist comes back as a name no user has (``?...``), so the caller's failure costs the
    same (a decoy password check, one throttled failure) as a wrong password."""
    if "id" in user:
        return await _key_by_id(hub, "user", user["id"]) or f"?id:{user['id']}"
    if "name" not in user:
        raise InvalidInput("the user is not named", [Problem("user", "needs an id or a name")])
    return user["name"] if shapes.is_default_domain(user.get("domain")) else f"?{user['name']}"


async def _scope(hub: Hub, scope: JSON | None) -> tuple[str | None, bool | None]:
    """The project (by name) and system flag a request's scope asks for (see TokenIssuer)."""
    if not scope:
        return None, False
    if len(scope) != 1:
        raise InvalidInput("the scope is not valid", [Problem("scope", "name exactly one scope")])
    if "system" in scope:
        if not scope["system"]["all"]:
            raise InvalidInput(
                "the scope is not valid", [Problem("scope.system.all", "must be true")]
            )
        return None, True
    if "domain" in scope:
        raise Unauthenticated("Atoll has no domain scope")
    project = scope["project"]
    if "id" in project:
        return await _key_by_id(hub, "project", project["id"]) or f"?id:{project['id']}", None
    if "name" not in project:
        raise InvalidInput(
            "the scope is not valid", [Problem("scope.project", "needs an id or a name")]
        )
    if not shapes.is_default_domain(project.get("domain")):
        raise Unauthenticated(f"project {project['name']} is not in the default domain")
    return project["name"], None


async def _credential_id(hub: Hub, credential: JSON) -> str:
    if "id" in credential:
        return str(credential["id"])
    if "name" not in credential or "user" not in credential:
        where = "identity.application_credential"
        raise InvalidInput(
            "the credential is not named", [Problem(where, "needs an id, or a name and a user")]
        )
    user = await _user_name(hub, credential["user"])
    found = await list_all(
        hub.store, APP_CREDENTIAL_KIND, {"name": credential["name"], "user": user}
    )
    # none, or several of that name: a key no credential has, so it fails like a wrong secret
    return found[0].key if len(found) == 1 else f"?{user}/{credential['name']}"


async def _default_project(hub: Hub, issued: Issued) -> Issued:
    """An unscoped password login of a user with roles on exactly one project: that project.
    Not for a user with a system role: a project admin may grant anyone a role on their own
    project, and so would have made it the fleet admin's default, where what the admin's
    unscoped ``openstack`` session then made (packages, instances) was theirs to read."""
    user_id = tenancy.user_id(issued.claims)
    held = await assignments.projects_of(hub.store, user_id)
    if len(held) != 1 or await assignments.roles_on(hub.store, user_id, None):
        return issued
    name = await _key_by_id(hub, "project", next(iter(held)))
    return issued if name is None else await hub.issuer.by_token(issued.claims, name)


async def _issue(hub: Hub, auth: JSON, source: str) -> tuple[Issued, str]:
    identity = auth["identity"]
    if not identity["methods"]:
        raise InvalidInput("no method", [Problem("auth.identity.methods", "name one method")])
    method = identity["methods"][0]
    if method not in identity:
        raise InvalidInput(
            "the method has no data", [Problem(f"auth.identity.{method}", "is required")]
        )
    scope = auth.get("scope")
    if method == "application_credential":
        if scope:
            raise Unauthenticated("an application credential carries its own scope")
        cred = identity["application_credential"]
        credential_id = await _credential_id(hub, cred)
        return await hub.issuer.by_app_credential(credential_id, cred["secret"], source), method
    project, system = await _scope(hub, scope)
    if method == "token":
        claims = hub.verifier.verify(identity["token"]["id"], hub.clock())
        return await hub.issuer.by_token(claims, project, system=system), method
    user = identity["password"]["user"]
    name = await _user_name(hub, user)
    issued = await hub.issuer.by_password(name, user["password"], project, source, system=system)
    return (await _default_project(hub, issued) if not scope else issued), method


async def _body(request: web.Request, claims: Claims, methods: list[str]) -> JSON:
    hub = hub_of(request)
    try:
        user = (await hub.store.get("user", claims.user)).value
    except NotFound:
        user = None
    if user is None or not token_of(claims, user):
        raise Unauthenticated(f"user {claims.user} is gone")
    user_id = str(user["id"])
    credential_name = None
    if claims.app_credential is not None:
        try:
            credential = await hub.store.get(APP_CREDENTIAL_KIND, claims.app_credential)
        except NotFound:
            raise Unauthenticated("the token's application credential is gone") from None
        credential_name = str(credential.value.get("name"))
    nocatalog = "nocatalog" in request.query
    settings = hub.settings
    entries = [] if nocatalog else shapes.catalog(base_url(request), settings.keystone_region)
    body = shapes.token_body(claims, user_id, methods, entries, credential_name)
    if nocatalog:
        body.pop("catalog", None)
    return {"token": body}


@keystone_errors
async def issue(request: web.Request) -> web.Response:
    hub, source = hub_of(request), source_of(request)
    await hub.issuer.check_source(source)
    body = await read_body(request, shapes.AUTH_REQUEST)
    issued, method = await _issue(hub, body["auth"], source)
    response = reply(await _body(request, issued.claims, [method]), status=201)
    response.headers["X-Subject-Token"] = issued.token
    return response


# ---- validating and revoking


async def _verified(request: web.Request, token: str) -> Claims:
    hub = hub_of(request)
    claims = hub.verifier.verify(token, hub.clock())
    if hub.revocations.is_revoked(claims):
        raise Unauthenticated("the token has been revoked")
    return await tenancy.bind(hub.store, claims)


async def _caller_and_subject(request: web.Request) -> tuple[Claims, Claims, str]:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("no X-Auth-Token")
    caller = await _verified(request, token)
    subject_token = request.headers.get("X-Subject-Token", "").strip()
    if not subject_token:
        raise InvalidInput("no token to check", [Problem("header.X-Subject-Token", "is required")])
    try:
        subject = await _verified(request, subject_token)
    except Unauthenticated as exc:
        raise NotFound("The token could not be found or is no longer valid.") from exc
    return caller, subject, subject_token


def _methods(claims: Claims) -> list[str]:
    return ["application_credential" if claims.app_credential else "password"]


@keystone_errors
async def validate(request: web.Request) -> web.Response:
    """GET: the subject token's body; HEAD: 200 if it is valid (Keystone's check_token)."""
    caller, subject, subject_token = await _caller_and_subject(request)
    if caller.user != subject.user and not caller.system:
        raise Forbidden("you may validate only your own tokens (or any, with a system token)")
    if request.method == "HEAD":
        response = web.Response(status=200)
    else:
        response = reply(await _body(request, subject, _methods(subject)))
    response.headers["X-Subject-Token"] = subject_token
    return response


@keystone_errors
async def revoke(request: web.Request) -> web.Response:
    caller, subject, _ = await _caller_and_subject(request)
    admin = caller.system and "admin" in caller.roles
    if caller.user != subject.user and not admin:
        raise Forbidden("you may revoke only your own tokens (or any, as a system admin)")
    await hub_of(request).revocations.revoke_token(subject.token_id, subject.user)
    return web.Response(status=204)


def install(app: web.Application) -> None:
    """``HEAD`` beside ``GET`` on the token path, under the same name (and so policy)."""
    resource = app.router.named_resources()[VALIDATE]
    assert isinstance(resource, web.Resource)
    resource.add_route("HEAD", validate)


SUBJECT_HEADER: JSON = {
    "name": "X-Subject-Token",
    "in": "header",
    "required": True,
    "description": "the token to validate or revoke",
    "schema": {"type": "string", "minLength": 1, "maxLength": 4096},
}


def document(doc: JSON) -> None:
    """What the routes cannot say themselves: Keystone's error shape, not Atoll's, as what
    this facade fails with, and the ``X-Subject-Token`` header of the token routes."""
    for path, ops in doc["paths"].items():
        if not path.startswith("/identity"):
            continue
        for method, op in ops.items():
            op["responses"]["4XX"]["content"]["application/json"]["schema"] = shapes.ERROR_SCHEMA
            if path == TOKENS_PATH and method in ("get", "delete"):
                op["parameters"] = [*op.get("parameters", []), SUBJECT_HEADER]


NOCATALOG = {"nocatalog": Field("string", description="present: leave the catalog out")}
ROUTES = [
    Route("GET", "/identity", "identity_v3.versions", show_versions,
          "Keystone: the identity API versions (v3)", response=shapes.VERSIONS_REPLY,
          status=300, public=True),
    Route("GET", "/identity/v3", "identity_v3.version", show_version,
          "Keystone v3: the version document (set OS_AUTH_URL to this path)",
          response=shapes.VERSION_REPLY, public=True),
    Route("POST", TOKENS_PATH, "identity_v3.tokens.issue", issue,
          "Keystone v3: issue a token (X-Subject-Token); password, application_credential or "
          "token method", body=shapes.AUTH_REQUEST, response=shapes.TOKEN_REPLY, status=201,
          public=True,
          description="Atoll has one domain, 'Default' (id 'default'). Beyond the schema: "
          "one method, with its data; one scope; no scope with an application credential."),
    Route("GET", TOKENS_PATH, VALIDATE, validate,
          "Keystone v3: validate the token in X-Subject-Token (HEAD: check it)",
          response=shapes.TOKEN_REPLY, query=NOCATALOG,
          description="X-Auth-Token is the caller; one's own tokens, or any with a system "
          "token. 404 when the subject token is not valid."),
    Route("DELETE", TOKENS_PATH, "identity_v3.tokens.revoke", revoke,
          "Keystone v3: revoke the token in X-Subject-Token", status=204,
          description="One's own tokens, or any as a system admin."),
]  # fmt: skip
