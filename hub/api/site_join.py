"""``/v1/sync/ca``, ``/v1/sync/join``, ``/v1/sync/renew``: a site agent joins, and renews.

See sync/PROTOCOL.md, "Identity and join". The first two take no bearer token: the join
token is the credential, and every refusal (unknown, used, expired or revoked token) is a
401, a log line naming the caller's address and the token's id (never its secret), and a
failure counted against the address by the login throttle (too many: 429). A join consumes
its token, signs the agent's CSR with the hub CA (:func:`atoll.certs.issue_site_cert`: CN =
the site's name, SAN ``urn:atoll:site:<site id>``) for ``site_cert_days``, and records the
certificate's serial on the site, so an earlier certificate of the site stops working
(:mod:`atoll.hub.sites.peers`). Renewal needs the site's certificate (current or previous)
and rotates the serials; a site renews at most ``site_renewals_per_hour`` times in any hour
(each signs a certificate and writes the store), one more is a 429 with ``Retry-After``
before anything is signed. The renewals are counted in the site's record
(:func:`atoll.hub.sites.registry.take_renewal`), so hubs sharing a store count them together.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from atoll import certs
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import Unauthenticated
from atoll.hub.api.context import Hub, hub_of, source_of
from atoll.hub.api.replies import query_filters, read_body, reply
from atoll.hub.sites import registry
from atoll.hub.sites.peers import site_peer
from atoll.jsonbody import JSON
from atoll.sync import join
from atoll.timestamps import iso

log = logging.getLogger(__name__)

THROTTLE_KEY = "<join>"  # failures per (address, this) as well as per address
TOKEN_ID = Field("string", required=True, pattern=r"^[0-9a-f]{16}$", max_length=16)
CSR = Field("string", required=True, min_length=1, max_length=16384, description="PEM")
CA_QUERY = {"token_id": TOKEN_ID}
CA_REPLY = Shape(
    "JoinDiscovery",
    {
        "ca": Field("string", required=True, description="the hub CA certificate, PEM"),
        "mac": Field(
            "string",
            required=True,
            description="hex HMAC-SHA256 over the PEM keyed by the token's digest "
            "(atoll.sync.join.discovery_mac)",
        ),
    },
)
JOIN_REQUEST = Shape(
    "JoinRequest",
    {
        "token": Field("string", required=True, min_length=1, max_length=256),
        "csr": CSR,
        "agent_version": Field("string", required=True, max_length=64),
        "fingerprint": Field("string", required=True, pattern=r"^sha256:[0-9a-f]{64}$"),
    },
)
JOIN_REPLY = Shape(
    "JoinReply",
    {
        "site_id": Field("string", required=True),
        "site_name": Field("string", required=True),
        "certificate": Field("string", required=True, description="the site certificate, PEM"),
        "ca": Field("string", required=True, description="the hub CA certificate, PEM"),
        "token_keys": Field(
            "array", required=True, items=Field("string"), description="token public keys, PEM"
        ),
        "hub_url": Field("string", required=True),
    },
)
RENEW_REQUEST = Shape("RenewRequest", {"csr": CSR})
RENEW_REPLY = Shape(
    "RenewReply",
    {"certificate": Field("string", required=True, description="the site certificate, PEM")},
)


def site_ca(hub: Hub) -> certs.KeyAndCert:
    return certs.load_key_and_cert(hub.settings.ca_key, hub.settings.ca_cert)


def _loggable_id(token: str) -> str:
    """The token's id for a log line, or ``malformed`` (the text is the caller's)."""
    head = token.partition(".")[0]
    return head if re.fullmatch(r"[0-9a-f]{16}", head) else "malformed"


def _refused(request: web.Request, token_id: str, exc: Unauthenticated) -> None:
    source = source_of(request)
    hub_of(request).issuer.throttle.failed(source, THROTTLE_KEY)
    log.warning("join refused from %s (token %s): %s", source, token_id, exc)


async def discover_ca(request: web.Request) -> web.Response:
    hub = hub_of(request)
    await hub.issuer.throttle.admit(source_of(request), THROTTLE_KEY)
    token_id = query_filters(request, CA_QUERY).get("token_id")
    if token_id is None:
        raise Unauthenticated("CA discovery needs ?token_id= (the join token's id)")
    try:
        record = await registry.usable_join_token(hub.store, token_id, hub.clock())
    except Unauthenticated as exc:
        _refused(request, token_id, exc)
        raise
    ca_pem = site_ca(hub).cert_pem()
    mac = join.discovery_mac(str(record.value["_secret_hash"]), ca_pem)
    return reply({"ca": ca_pem.decode(), "mac": mac})


async def join_site(request: web.Request) -> web.Response:
    hub = hub_of(request)
    source = source_of(request)
    await hub.issuer.throttle.admit(source, THROTTLE_KEY)
    body = await read_body(request, JOIN_REQUEST)
    token_id = _loggable_id(body["token"])
    try:
        await registry.check_join_token(hub.store, body["token"], hub.clock())
        certs.read_csr(body["csr"].encode())  # a bad CSR must not use the token up
        name = await registry.consume_join_token(hub.store, body["token"], hub.clock())
        site = (await hub.store.get(registry.SITE_KIND, name)).value
    except Unauthenticated as exc:
        _refused(request, token_id, exc)
        raise
    ca = site_ca(hub)
    cert = _issue(hub, ca, body["csr"], site)
    joined: JSON = {
        "agent_fingerprint": body["fingerprint"],
        "agent_version": body["agent_version"],
        "joined_at": iso(hub.clock()),
    }
    await _record(hub, name, cert, joined)
    log.info("site %s (%s) joined from %s with token %s", name, site["id"], source, token_id)
    keys = [k["public_key_pem"] for k in hub.verifier.public_keys()]
    return reply(
        {
            "site_id": site["id"],
            "site_name": name,
            "certificate": _pem(cert),
            "ca": ca.cert_pem().decode(),
            "token_keys": keys,
            "hub_url": hub.settings.advertised_url(),
        }
    )


async def renew(request: web.Request) -> web.Response:
    hub = hub_of(request)
    peer = await site_peer(request, hub.site_names)
    if peer is None:
        raise Unauthenticated("renewal needs the site certificate (TLS client certificate)")
    # counted in the site's record before anything is signed: 429 beyond the rate
    await registry.take_renewal(hub.store, peer.site_name, hub.renewals, hub.clock())
    body = await read_body(request, RENEW_REQUEST)
    cert = _issue(hub, site_ca(hub), body["csr"], peer.record)
    await _record(hub, peer.site_name, cert, None)
    log.info("site %s renewed its certificate (serial %x)", peer.site_name, cert.serial_number)
    return reply({"certificate": _pem(cert)})


def _issue(hub: Hub, ca: certs.KeyAndCert, csr: str, site: JSON) -> x509.Certificate:
    days = hub.settings.site_cert_days
    return certs.issue_site_cert(ca, csr.encode(), str(site["id"]), str(site["name"]), days)


async def _record(hub: Hub, name: str, cert: x509.Certificate, joined: JSON | None) -> None:
    serial = f"{cert.serial_number:x}"  # as peers.site_peer compares
    not_after = cert.not_valid_after_utc.timestamp()
    await registry.record_certificate(hub.store, name, serial, not_after, joined=joined)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


ROUTES = [
    Route(
        "GET",
        "/v1/sync/ca",
        "sync.ca",
        discover_ca,
        "The hub CA for a joining site, with a MAC keyed by its join token",
        response=CA_REPLY,
        query=CA_QUERY,
        public=True,
        description="For an agent that found the hub by zeroconf and holds only the token: "
        "it trusts the CA only if the MAC matches. A used, expired or unknown token id: 401.",
    ),
    Route(
        "POST",
        "/v1/sync/join",
        "sync.join",
        join_site,
        "Join a site: consume its one-time token, sign its CSR, hand it what it needs offline",
        body=JOIN_REQUEST,
        response=JOIN_REPLY,
        public=True,
        description="The token is used up by the first join that presents it. Refusals are "
        "401 and counted per address like failed logins (429 beyond the limit).",
    ),
    Route(
        "POST",
        "/v1/sync/renew",
        "sync.renew",
        renew,
        "Renew the calling site's certificate (the site's TLS client certificate required)",
        body=RENEW_REQUEST,
        response=RENEW_REPLY,
        description="The presented certificate must be the site's current or previous one; "
        "after renewal the new one is current and the presented one previous. A site renews "
        "at most site_renewals_per_hour times in any hour: one more is a 429 with Retry-After.",
    ),
]
