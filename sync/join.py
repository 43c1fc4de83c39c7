"""What joining a site to a hub needs on both ends: the join code and the CA discovery MAC.

A **join code** (:class:`JoinCode`) is the one line a field engineer pastes into ``atoll
site-agent join``: the hub's URL, the one-time token ``<id>.<secret>`` and the hub CA's pin
``sha256:<hex of its SubjectPublicKeyInfo>`` (kubeadm's token plus
``discovery-token-ca-cert-hash``, in one string). :meth:`JoinCode.encode` gives
``atoll-join1.<base64url of a small JSON map>`` (no padding, no spaces: it survives a
terminal, a chat message and a shell without quoting); :meth:`JoinCode.decode` reads it back
or says what is wrong with it (:class:`~atoll.errors.InvalidInput`).

A joiner that has only the token (the hub found by zeroconf) cannot pin the CA; it checks
the **discovery MAC** instead: ``GET /v1/sync/ca?token_id=`` answers the CA PEM with
``HMAC-SHA256(sha256(token secret), PEM)`` (:func:`discovery_mac`), which only a hub that holds the
token can compute (:func:`mac_matches`, constant time). See sync/PROTOCOL.md, "Identity and
join".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from atoll.errors import InvalidInput, Problem

PREFIX = "atoll-join1."
TOKEN_PATTERN = re.compile(r"^(?P<id>[0-9a-f]{16})\.(?P<secret>[A-Za-z0-9_-]{16,128})$")
PIN_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_CODE = 2048  # characters: a code is a few hundred


def split_token(token: str, where: str = "token") -> tuple[str, str]:
    """``(id, secret)`` of a join token ``<16 hex>.<secret>``, or InvalidInput."""
    match = TOKEN_PATTERN.match(token.strip())
    if match is None:
        raise InvalidInput(
            "this is not a join token",
            [Problem(where, "a join token is <16 hex digits>.<secret> (from 'atoll site token')")],
        )
    return match["id"], match["secret"]


def check_pin(pin: str, where: str = "ca pin") -> str:
    if not PIN_PATTERN.match(pin):
        raise InvalidInput(
            "this is not a CA pin", [Problem(where, "a pin is sha256:<64 hex digits>")]
        )
    return pin


def check_hub_url(url: str, where: str = "hub url") -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(
            "the hub URL must be https://host[:port]", [Problem(where, f"got {url[:100]!r}")]
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class JoinCode:
    hub_url: str  # https://host:port
    token: str  # <id>.<secret>, one use
    ca_pin: str  # sha256:<hex SPKI of the hub CA>

    def __post_init__(self) -> None:
        check_hub_url(self.hub_url)
        split_token(self.token)
        check_pin(self.ca_pin)

    def __repr__(self) -> str:  # never show the secret
        return f"JoinCode(hub_url={self.hub_url!r}, token_id={self.token_id!r}, ...)"

    @property
    def token_id(self) -> str:
        return split_token(self.token)[0]

    @property
    def secret(self) -> str:
        return split_token(self.token)[1]

    def encode(self) -> str:
        """One pasteable line."""
        data = json.dumps(
            {"u": self.hub_url, "t": self.token, "p": self.ca_pin}, separators=(",", ":")
        ).encode()
        return PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> JoinCode:
        """The code in ``text`` (surrounding white space ignored), or InvalidInput naming
        what is wrong with it."""
        code = "".join(text.split())
        if not code.startswith(PREFIX):
            raise InvalidInput(
                "this is not a join code",
                [Problem("join code", f"a join code starts with {PREFIX!r}; got {code[:16]!r}")],
            )
        if len(code) > MAX_CODE:
            raise InvalidInput(
                "the join code is too long", [Problem("join code", f"over {MAX_CODE} characters")]
            )
        body = code[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                "the join code is damaged (cut short or mistyped?)",
                [Problem("join code", "its text after the prefix does not decode")],
            ) from exc
        if not isinstance(data, dict):
            raise InvalidInput("the join code is damaged", [Problem("join code", "not a map")])
        missing = [
            Problem(f"join code: {name}", "missing")
            for key, name in (("u", "hub url"), ("t", "token"), ("p", "ca pin"))
            if not isinstance(data.get(key), str)
        ]
        if missing:
            raise InvalidInput("the join code is incomplete", missing)
        check_hub_url(data["u"], "join code: hub url")
        split_token(data["t"], "join code: token")
        check_pin(data["p"], "join code: ca pin")
        return cls(data["u"].rstrip("/"), data["t"], data["p"])


def token_digest(secret: str) -> str:
    """What the hub keeps of a join token's secret (hex sha256), and the discovery MAC key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def discovery_mac(digest: str, ca_pem: bytes) -> str:
    """HMAC-SHA256 keyed by the token's digest (:func:`token_digest`) over the CA PEM, hex."""
    return hmac.new(digest.encode(), ca_pem, hashlib.sha256).hexdigest()


def mac_matches(digest: str, ca_pem: bytes, mac: str) -> bool:
    """Whether ``mac`` is :func:`discovery_mac` of the CA (constant-time compare)."""
    return hmac.compare_digest(discovery_mac(digest, ca_pem), mac.strip().lower())
