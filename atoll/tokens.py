"""Signed, expiring bearer tokens that anyone holding the hub's public key can verify offline.

The hub issues them; the hub and every site agent verify them (a site keeps verifying while
it is cut off from the hub), so the format lives here in the core, not in the hub.

Format (text, URL-safe, no padding)::

    atl1.<payload>.<signature>

- ``payload`` is base64url of compact JSON :class:`Claims` (``jti``, ``sub``, ``prj``,
  ``sys``, ``roles``, ``iat``, ``exp``, ``kid``; ``pid``, the project's immutable id, in
  project-scoped tokens issued since it was added; ``uid``, the user's immutable id, in
  tokens issued since it was added; and, for tokens from an application credential,
  ``acr``);
- ``signature`` is base64url of the Ed25519 signature over the ASCII bytes ``atl1.<payload>``;
- ``kid`` names the signing key (:func:`key_id` of its public key), so keys can rotate: a
  :class:`TokenVerifier` holds every public key still trusted.

:class:`RevocationList` is the pure-data side of revocation (by token id, or everything a
user, project or application credential held before a moment), and the one place a token
is matched against it: the hub checks every call with it, and so does every site agent
verifying hub tokens offline. The hub stores its entries as ordinary objects, in the wire
form :meth:`RevocationList.add_entry` reads (what ``GET /v1/revocations`` lists), so sites
can fetch them (and sync can carry them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from atoll import ids
from atoll.errors import ConfigError, Unauthenticated

PREFIX = "atl1"
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class Claims:
    """Who a token speaks for, in which scope, with which roles, until when.

    ``project`` is set for a project-scoped token; ``system`` is true for a fleet (system)
    scoped one; a token with neither is unscoped (it can only list the caller's projects and
    be exchanged for a scoped token). ``project_id`` is the project's immutable id: a name
    can be reused after a project is deleted, an id cannot, so the hub checks it against the
    project of that name (tokens issued before the claim existed carry none). ``user_id`` is
    the user's immutable id, for the same reason (a user deleted and made again under its
    name is another user): roles are looked up by it.
    """

    token_id: str
    user: str
    project: str | None
    system: bool
    roles: tuple[str, ...]
    issued_at: float
    expires_at: float
    key_id: str = ""
    app_credential: str | None = None
    project_id: str | None = None
    user_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jti": self.token_id,
            "sub": self.user,
            "prj": self.project,
            "sys": self.system,
            "roles": list(self.roles),
            "iat": self.issued_at,
            "exp": self.expires_at,
            "kid": self.key_id,
        }
        if self.app_credential is not None:
            out["acr"] = self.app_credential
        if self.project_id is not None:
            out["pid"] = self.project_id
        if self.user_id is not None:
            out["uid"] = self.user_id
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Claims:
        try:
            roles = data["roles"]
            claims = cls(
                token_id=data["jti"],
                user=data["sub"],
                project=data["prj"],
                system=data["sys"],
                roles=tuple(roles) if isinstance(roles, list) else (),
                issued_at=float(data["iat"]),
                expires_at=float(data["exp"]),
                key_id=data["kid"],
                app_credential=data.get("acr"),
                project_id=data.get("pid"),
                user_id=data.get("uid"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Unauthenticated("the token's claims are malformed; log in again") from exc
        texts = [claims.token_id, claims.user, claims.key_id, *claims.roles]
        optional = [claims.project, claims.app_credential, claims.project_id, claims.user_id]
        if not all(isinstance(t, str) for t in texts) or not isinstance(claims.system, bool):
            raise Unauthenticated("the token's claims are malformed; log in again")
        if not all(o is None or isinstance(o, str) for o in optional):
            raise Unauthenticated("the token's claims are malformed; log in again")
        return claims


def new_token_id() -> str:
    return ids.hub_id()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short stable name for a signing key: the start of the SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class TokenSigner:
    """Issues tokens with the hub's private key (only the hub has one)."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())

    def sign(self, claims: Claims) -> str:
        body = json.dumps(
            {**claims.to_json(), "kid": self.key_id}, separators=(",", ":"), sort_keys=True
        )
        signed = f"{PREFIX}.{_b64encode(body.encode())}"
        return f"{signed}.{_b64encode(self._key.sign(signed.encode('ascii')))}"


class TokenVerifier:
    """Checks a token's signature (against any trusted key) and expiry, offline.

    With ``cache_size`` > 0 it remembers the claims of the last tokens whose signature it
    checked (a busy client sends the same token many times), so a repeat costs a dict
    lookup; expiry is still checked on every call. Only good signatures are remembered.
    """

    def __init__(self, public_keys: Iterable[Ed25519PublicKey], cache_size: int = 0) -> None:
        self._keys = {key_id(k): k for k in public_keys}
        if not self._keys:
            raise ConfigError("a token verifier needs at least one public key")
        self._cache_size = cache_size
        self._cache: dict[str, Claims] = {}

    def public_keys(self) -> list[dict[str, str]]:
        """The trusted keys as ``{"kid", "algorithm", "public_key_pem"}`` (for publishing)."""
        return [
            {"kid": kid, "algorithm": "Ed25519", "public_key_pem": public_key_pem(key).decode()}
            for kid, key in self._keys.items()
        ]

    def verify(self, token: str, now: float) -> Claims:
        """The token's claims, or :class:`~atoll.errors.Unauthenticated` saying why not."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._check_signature(token)
            if self._cache_size:
                if len(self._cache) >= self._cache_size:
                    del self._cache[next(iter(self._cache))]
                self._cache[token] = claims
        if claims.expires_at <= now:
            raise Unauthenticated("the token has expired; log in again")
        return claims

    def _check_signature(self, token: str) -> Claims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("the token is too long to be an Atoll token")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise Unauthenticated("the token is not an Atoll token (expected atl1.<...>.<...>)")
        try:
            payload = _b64decode(parts[1])
            signature = _b64decode(parts[2])
            data = json.loads(payload)
        except (binascii.Error, ValueError) as exc:
            raise Unauthenticated("the token is not valid base64url JSON; log in again") from exc
        if _b64encode(payload) != parts[1] or _b64encode(signature) != parts[2]:
            raise Unauthenticated("the token is not in canonical form; log in again")
        if not isinstance(data, dict):
            raise Unauthenticated("the token's payload is not an object; log in again")
        key = self._keys.get(str(data.get("kid")))
        if key is None:
            raise Unauthenticated("the token was signed by a key this party does not trust")
        try:
            key.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
        except (InvalidSignature, UnicodeEncodeError) as exc:
            raise Unauthenticated("the token's signature is not valid; log in again") from exc
        return Claims.from_json(data)


RevocationSubject = Literal["token", "user", "project", "application_credential", "user_project"]
REVOCATION_SUBJECTS: tuple[str, ...] = get_args(RevocationSubject)


def user_project(user: str, project_id: str) -> str:
    """The value of a ``user_project`` revocation: one user's tokens on one project (by the
    project's id), what removing that user's role on that project must end, and no more."""
    return f"{project_id}/{user}"


@dataclass
class RevocationList:
    """Revoked tokens: by id, or all tokens of a user/project/app credential, or of one user on
    one project (``user_project``, :func:`user_project`), issued up to a time.

    ``entries`` maps ``(subject, value)`` to the revocation time (epoch seconds). A token is
    revoked when its id is listed, or when its user, project or application credential is
    listed with a time at or after the token's ``issued_at``.
    """

    entries: dict[tuple[RevocationSubject, str], float] = field(default_factory=dict)

    def add(self, subject: RevocationSubject, value: str, revoked_at: float) -> None:
        key = (subject, value)
        self.entries[key] = max(revoked_at, self.entries.get(key, revoked_at))

    def add_entry(self, entry: Any) -> bool:
        """Add one revocation in its wire form, ``{"subject", "value", "revoked_at", ...}``
        (other keys, such as ``prune_after``, are ignored); False, and nothing added, when
        the entry is malformed."""
        if not isinstance(entry, Mapping):
            return False
        subject, value, at = entry.get("subject"), entry.get("value"), entry.get("revoked_at")
        if subject not in REVOCATION_SUBJECTS or not isinstance(value, str):
            return False
        if isinstance(at, bool) or not isinstance(at, int | float):
            return False
        self.add(cast(RevocationSubject, subject), value, float(at))
        return True

    @classmethod
    def from_entries(cls, entries: Iterable[Any]) -> RevocationList:
        """The list holding every well-formed entry of ``entries`` (see :meth:`add_entry`)."""
        revoked = cls()
        for entry in entries:
            revoked.add_entry(entry)
        return revoked

    def discard(self, subject: RevocationSubject, value: str) -> None:
        self.entries.pop((subject, value), None)

    def is_revoked(self, claims: Claims) -> bool:
        if ("token", claims.token_id) in self.entries:
            return True
        mine = None if claims.project_id is None else user_project(claims.user, claims.project_id)
        scoped: list[tuple[RevocationSubject, str | None]] = [
            ("user", claims.user),
            ("project", claims.project),
            ("application_credential", claims.app_credential),
            ("user_project", mine),
        ]
        for subject, value in scoped:
            if value is None:
                continue
            at = self.entries.get((subject, value))
            if at is not None and claims.issued_at <= at:
                return True
        return False


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """A public key published by the hub (``GET /v1/auth/keys``)."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError("the data is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError("the public key is not an Ed25519 key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = _load(path, private=True)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = _load(path, private=False)
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} does not hold an Ed25519 public key")
    return key


def _load(path: Path, *, private: bool) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from exc
    try:
        if private:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM key file") from exc
