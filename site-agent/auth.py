"""Who may call the local API.

One token format (:mod:`atoll.tokens`: ``atl1.<claims>.<Ed25519 signature>``), two issuers:

- **the hub**: once the site has joined, the hub's public key is kept in the data dir
  (``hub_public_key.pem``) and hub-signed tokens are verified offline with it, so NOC
  operators keep access while the site is cut off from the hub. A hub token the hub has
  revoked is refused as the hub would (:class:`atoll.tokens.RevocationList`): the list comes
  from the hub (:mod:`.hub_revocations`, :meth:`Authenticator.set_revocations_blocking`) and is
  kept in the store (meta ``hub_revocations``), so it holds across restarts and offline;
- **the agent itself**: at first start it makes an Ed25519 signing key (stored in the
  database) and a local admin credential. The credential is printed once and only its
  argon2 hash is kept; ``POST /v1/auth/tokens`` exchanges it for a local token
  (system scope, role ``admin``) that expires after ``token_ttl`` seconds. The secret is
  checked in the bounded argon2 pool of :mod:`atoll.passwords` (never on the store's
  thread), and failures are throttled per caller address by :mod:`atoll.throttle` (429 with
  ``Retry-After``; the right secret from another address always works).

Authorization is one rule (:func:`authorize`): system-scoped tokens only (the site is run by
its operators, not by tenants); reads need ``admin``, ``member`` or ``reader``, changes
``admin`` or ``member``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import tokens
from atoll.errors import Forbidden, Unauthenticated
from atoll.passwords import Passwords, new_secret
from atoll.site_agent.store import LocalStore
from atoll.throttle import FailureThrottle
from atoll.watched_file import Stamp, file_stamp

log = logging.getLogger(__name__)

ADMIN = "admin"
READ_ROLES = frozenset({"admin", "member", "reader"})
WRITE_ROLES = frozenset({"admin", "member"})
SIGNING_KEY_META = "local_signing_key"
HUB_KEY_FILE = "hub_public_key.pem"
REVOCATIONS_META = "hub_revocations"  # JSON list of the hub's revocation entries


class Authenticator:
    """Credential check, local token issue, and offline bearer token verification."""

    def __init__(
        self,
        store: LocalStore,
        data_dir: Path,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
        passwords: Passwords | None = None,
        throttle: FailureThrottle | None = None,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.ttl = ttl
        self.clock = clock
        self.passwords = passwords or Passwords()
        self.throttle = throttle or FailureThrottle(clock)
        self._signer: tokens.TokenSigner | None = None
        self._verifier: tokens.TokenVerifier | None = None
        self._trusted_stamp: Stamp | None = None
        self._own_key_id = ""
        self._revocations = tokens.RevocationList()
        self._revocations_json = "[]"

    def bootstrap_blocking(self) -> str | None:
        """Load (or make, at first start) the signing key and the admin credential.

        Returns the new admin secret, which the caller prints once, or None when the
        credential existed already.
        """
        pem = self.store.get_meta(SIGNING_KEY_META)
        if pem is None:
            pem = tokens.private_key_pem(tokens.generate_signing_key()).decode()
            self.store.set_meta(SIGNING_KEY_META, pem)
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        self._signer = tokens.TokenSigner(key)
        self._own_key_id = self._signer.key_id
        self.reload_trust_blocking()
        self._load_revocations_blocking()
        if self.store.get_credential(ADMIN) is not None:
            return None
        secret = new_secret("atls_")
        if not self.store.add_credential(ADMIN, self.passwords.hash_now(secret)):
            return None
        return secret

    def reload_trust_blocking(self) -> None:
        """Trust our own key, plus the hub's once ``hub_public_key.pem`` is in the data dir."""
        assert self._signer is not None
        keys = [self._signer_public()]
        hub_key = self.data_dir / HUB_KEY_FILE
        self._trusted_stamp = self._hub_key_stamp()
        if hub_key.exists():
            keys.append(tokens.load_public_key(hub_key))
        self._verifier = tokens.TokenVerifier(keys)

    def _load_revocations_blocking(self) -> None:
        saved = self.store.get_meta(REVOCATIONS_META) or "[]"
        try:
            entries = json.loads(saved)
        except ValueError:
            log.warning("the saved hub revocations are unreadable; waiting for the hub's list")
            return
        if isinstance(entries, list):
            self._revocations = tokens.RevocationList.from_entries(entries)
            self._revocations_json = saved

    def set_revocations_blocking(self, entries: list[Any]) -> int:
        """Replace the hub's revocation list (``GET /v1/revocations`` items) and keep it in
        the store; how many entries it holds. Malformed entries are dropped."""
        fresh = tokens.RevocationList()
        kept = [e for e in entries if fresh.add_entry(e)]
        text = json.dumps(kept, sort_keys=True, separators=(",", ":"))
        if text != self._revocations_json:
            self.store.set_meta(REVOCATIONS_META, text)
            self._revocations_json = text
            self._revocations = fresh
        return len(kept)

    def _signer_public(self) -> Any:
        pem = self.store.get_meta(SIGNING_KEY_META) or ""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key.public_key()

    @property
    def joined(self) -> bool:
        return (self.data_dir / HUB_KEY_FILE).exists()

    async def issue(self, name: str, secret: str, source: str) -> dict[str, Any]:
        """Exchange a local credential for a local token; ``source`` is the caller's address
        (failures are throttled per address, and per address and credential name)."""
        await self.throttle.admit(source, name)
        self.passwords.check_room(source)  # before using the store's thread, not after
        stored = await self.store.call(self.store.get_credential, name)
        if not await self.passwords.verify(stored, secret, source) or self._signer is None:
            log.info("local credential %s: wrong secret from %s", name, source)
            self.throttle.failed(source, name)
            raise Unauthenticated("wrong credential name or secret")
        self.throttle.succeeded(source, name)
        now = self.clock()
        claims = tokens.Claims(
            token_id=tokens.new_token_id(),
            user=f"local:{name}",
            project=None,
            system=True,
            roles=("admin",),
            issued_at=now,
            expires_at=now + self.ttl,
        )
        return {"token": self._signer.sign(claims), "expires_at": claims.expires_at}

    def verify(self, token: str) -> tokens.Claims:
        """Claims of a valid, unrevoked token. When a token fails and the hub's key file
        appeared or changed since it was read (the site joined a hub meanwhile), trust is
        reloaded and the token checked once more. Hub tokens are checked against the hub's
        revocations; the agent's own local tokens are not the hub's to revoke."""
        if self._verifier is None:
            raise Unauthenticated("the agent is still starting; try again")
        try:
            claims = self._verifier.verify(token, self.clock())
        except Unauthenticated:
            if self._hub_key_stamp() == self._trusted_stamp:
                raise
            self.reload_trust_blocking()
            claims = self._verifier.verify(token, self.clock())
        if claims.key_id != self._own_key_id and self._revocations.is_revoked(claims):
            raise Unauthenticated("the token has been revoked; log in again")
        return claims

    def _hub_key_stamp(self) -> Stamp | None:
        return file_stamp(self.data_dir / HUB_KEY_FILE)


def authorize(claims: tokens.Claims, write: bool) -> None:
    """The local API's policy: system-scoped tokens only (the site is run by its operators,
    not by tenants); reading takes admin, member or reader, changing takes admin or member."""
    if not claims.system:
        raise Forbidden(
            "the site's local API takes system-scoped tokens only (operators, not projects)"
        )
    allowed = WRITE_ROLES if write else READ_ROLES
    if not allowed.intersection(claims.roles):
        need = "admin or member" if write else "admin, member or reader"
        raise Forbidden(
            f"this call needs the role {need} (the token has {', '.join(claims.roles) or 'none'})"
        )
