"""Issuing tokens: by password, by application credential, or by exchanging a token.

The scope decides the roles: a project-scoped token carries the user's roles on that
project; without a project the token is system-scoped when the user holds system roles,
and unscoped otherwise (``system=True`` asks for system scope and is refused without a
system role; ``system=False`` asks for an unscoped token, as Keystone clients may). A token
never outlives the thing it was exchanged from.

Password and application-credential checks name the caller's address (``source``): failures
are counted per address and per (address, account) by :class:`~atoll.throttle.FailureThrottle`,
never per account alone, so nobody can lock another person out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from atoll.errors import NotFound, Unauthenticated
from atoll.hub.identity import assignments
from atoll.hub.identity.revocation import Revocations
from atoll.hub.store.base import Store
from atoll.jsonbody import JSON
from atoll.passwords import Passwords
from atoll.throttle import FailureThrottle
from atoll.timestamps import epoch_of
from atoll.tokens import Claims, TokenSigner, new_token_id

log = logging.getLogger(__name__)

APP_CREDENTIAL_KIND = "application_credential"


def secret_digest(secret: str) -> str:
    """How high-entropy generated secrets (app credentials, join tokens) are stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_of(claims: Claims, user: Mapping[str, Any]) -> bool:
    """The token was issued to this user record: it carries its id, or, issued before tokens
    carried ids, it names the user and was issued after that user was made (created_at is
    to the second: a user made in the token's own second counts as the token's)."""
    if claims.user_id is not None:
        return bool(claims.user_id == user.get("id"))
    created = epoch_of(user.get("created_at"))
    return claims.user == user.get("name") and (created is None or created <= claims.issued_at)


@dataclass(frozen=True)
class Issued:
    token: str
    claims: Claims


class TokenIssuer:
    def __init__(
        self,
        store: Store,
        passwords: Passwords,
        signer: TokenSigner,
        revocations: Revocations,
        clock: Callable[[], float],
        ttl: float,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._signer = signer
        self._revocations = revocations
        self._clock = clock
        self._ttl = ttl
        self._throttle = throttle or FailureThrottle(clock)

    async def _user(self, name: str) -> JSON | None:
        try:
            return (await self._store.get("user", name)).value
        except NotFound:
            return None

    @property
    def throttle(self) -> FailureThrottle:
        """The failure counter logins use (joins and CA discovery count against it too)."""
        return self._throttle

    async def check_source(self, source: str) -> None:
        """Refuse (429) an address that failed too often, before its request is even read."""
        await self._throttle.admit(source)

    async def check_password(self, user: str, password: str, source: str) -> JSON:
        """The enabled user's record if ``password`` is theirs; throttled against guessing
        per ``source`` address (and per source and user)."""
        await self._throttle.admit(source, user)
        self._passwords.check_room(source)  # before the store read, not after
        record = await self._user(user)
        stored = record.get("_password_hash") if record else None
        if not await self._passwords.verify(stored, password, source) or record is None:
            log.info("password authentication failed for user %s from %s", user, source)
            self._throttle.failed(source, user)
            raise Unauthenticated("the user name or password is wrong")
        self._throttle.succeeded(source, user)
        if not record.get("enabled", True):
            raise Unauthenticated(f"user {user} is disabled")
        return record

    async def by_password(
        self,
        user: str,
        password: str,
        project: str | None,
        source: str,
        *,
        system: bool | None = None,
    ) -> Issued:
        record = await self.check_password(user, password, source)
        expires = self._clock() + self._ttl
        return await self._issue(user, record["id"], project, expires, None, None, system=system)

    async def by_app_credential(self, credential_id: str, secret: str, source: str) -> Issued:
        await self._throttle.admit(source, credential_id)
        try:
            cred = (await self._store.get(APP_CREDENTIAL_KIND, credential_id)).value
        except NotFound:
            cred = None
        ok = cred is not None and hmac.compare_digest(
            str(cred.get("_secret_hash")), secret_digest(secret)
        )
        if cred is None or not ok:
            self._throttle.failed(source, credential_id)
            raise Unauthenticated("the application credential id or secret is wrong")
        self._throttle.succeeded(source, credential_id)
        now = self._clock()
        expires = cred.get("_expires_epoch")
        if expires is not None and expires <= now:
            raise Unauthenticated(f"application credential {credential_id} has expired")
        user = await self._user(cred["user"])
        same = user is not None and cred.get("user_id") in (None, user.get("id"))
        if user is None or not same or not user.get("enabled", True):
            raise Unauthenticated(f"the user of application credential {credential_id} is gone")
        limit = now + self._ttl if expires is None else min(now + self._ttl, expires)
        return await self._issue(
            cred["user"],
            user["id"],
            cred["project"],
            limit,
            tuple(cred["roles"]),
            credential_id,
            cred.get("project_id"),
        )

    async def by_token(
        self, claims: Claims, project: str | None, *, system: bool | None = None
    ) -> Issued:
        """Exchange a valid token for one with another scope, expiring no later."""
        if claims.app_credential is not None:
            raise Unauthenticated("a token from an application credential cannot be rescoped")
        if self._revocations.is_revoked(claims):
            raise Unauthenticated("the token has been revoked; log in again")
        user = await self._user(claims.user)
        if user is None or not user.get("enabled", True):
            raise Unauthenticated(f"user {claims.user} is gone or disabled")
        if not token_of(claims, user):
            raise Unauthenticated(
                f"user {claims.user} of this token no longer exists; log in again"
            )
        expires = min(self._clock() + self._ttl, claims.expires_at)
        return await self._issue(
            claims.user, user["id"], project, expires, None, None, system=system
        )

    async def _no_project(
        self, user: str, user_id: str, project: str, *, exists: bool
    ) -> Unauthenticated:
        """Why ``user`` gets no token on ``project``, saying whether it exists only to a user
        who may list every project (one with a system role); anyone else sees only the
        projects it has a role on, so the same words cover a missing one and another's."""
        if not await assignments.roles_on(self._store, user_id, None):
            return Unauthenticated(f"project {project} does not exist or user {user} has no role "
                                   "on it")  # fmt: skip
        if exists:
            return Unauthenticated(f"user {user} has no role on project {project}")
        return Unauthenticated(f"project {project} does not exist")

    async def _issue(
        self,
        user: str,
        user_id: str,
        project: str | None,
        expires_at: float,
        allowed: tuple[str, ...] | None,
        app_credential: str | None,
        project_id: str | None = None,
        *,
        system: bool | None = None,
    ) -> Issued:
        """A token for ``user`` (whose id is ``user_id``: roles are looked up by it) on
        ``project`` (by name; ``project_id``, when given, must be the live project's id: an
        application credential's project, for one). Without a project: ``system`` None takes
        system scope if the user has it, True demands it, False gives an unscoped token."""
        live: str | None = None
        if project is not None:
            try:
                live = (await self._store.get("project", project)).value["id"]
            except NotFound:
                raise await self._no_project(user, user_id, project, exists=False) from None
            if project_id not in (None, live):
                raise Unauthenticated(f"project {project} of this credential no longer exists")
        unscoped = project is None and system is False
        roles = () if unscoped else await assignments.roles_on(self._store, user_id, live)
        if project is None and system and not roles:
            raise Unauthenticated(f"user {user} has no role on the system scope")
        if allowed is not None:
            roles = tuple(r for r in roles if r in allowed)
        if project is not None and not roles:
            raise await self._no_project(user, user_id, project, exists=True)
        now = self._clock()
        claims = Claims(
            token_id=new_token_id(),
            user=user,
            project=project,
            system=project is None and bool(roles),
            roles=roles,
            issued_at=now,
            expires_at=expires_at,
            app_credential=app_credential,
            project_id=live,
            user_id=user_id,
        )
        token = self._signer.sign(claims)
        return Issued(token, dataclasses.replace(claims, key_id=self._signer.key_id))
