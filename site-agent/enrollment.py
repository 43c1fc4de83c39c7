"""Joining a hub (``atoll site-agent join``) and keeping the site certificate fresh.

:func:`join`, with a join code (:class:`atoll.sync.join.JoinCode`) or only its token:

1. finds the hub: the code's URL, or (token only) every ``_atoll-hub._tcp`` zeroconf advert
   on the local network, tried in turn;
2. fetches the hub's CA (``GET /v1/sync/ca?token_id=``, before any trust) and accepts it only
   if its key matches the code's pin and the MAC keyed by the token matches (a rogue hub
   has neither the CA key nor the token): otherwise nothing is sent;
3. makes the site's key if it has none (0600) and a CSR, and presents token and CSR to
   ``POST /v1/sync/join`` over TLS verified against that CA;
4. writes ``hub/ca.pem``, ``hub/site.pem``, ``hub/link.json`` (last) and the hub's token
   verification key ``hub_public_key.pem`` (what :mod:`.auth` trusts offline).

It touches nothing else, so a site joining again (its certificate expired while it was cut
off) keeps all its state, and a running agent picks the new files up (:mod:`.hub_link`
reloads its TLS context when they change; the daemon notices a first join by itself).

:class:`CertRenewer` renews the certificate at 2/3 of its lifetime through ``POST
/v1/sync/renew`` (the current certificate authenticates the request), on
:class:`atoll.background.Loop`.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from atoll import __version__, certs
from atoll.background import Loop, LoopSettings
from atoll.client.aio import AsyncClient
from atoll.errors import AtollError, NotFound, TemporaryError, Unauthenticated
from atoll.private_files import write_atomically
from atoll.site_agent.auth import HUB_KEY_FILE
from atoll.site_agent.hub_link import (
    CA_FILE,
    CERT_FILE,
    LINK_FILE,
    HubLink,
    fingerprint,
    hub_dir,
    site_key,
)
from atoll.sync import discovery, join
from atoll.sync.join import JoinCode
from atoll.timestamps import now_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discovered:
    url: str
    ca_pem: bytes


def _unverified() -> ssl.SSLContext:
    """For the CA fetch only: nothing from it is trusted until the pin/MAC check passes."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def fetch_ca(url: str, token: str, pin: str | None) -> Discovered:
    """The hub CA at ``url``, if it matches ``pin`` (when given) and the token's MAC."""
    token_id, secret = join.split_token(token)
    client = AsyncClient(url, "", _unverified(), timeout=15.0)
    try:
        data = await client.request("GET", "/v1/sync/ca", query={"token_id": token_id}, auth=False)
    finally:
        await client.close()
    try:
        ca_pem = str(data["ca"]).encode()
        ca = x509.load_pem_x509_certificate(ca_pem)
        mac = str(data["mac"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Unauthenticated(f"{url} did not answer with a CA certificate") from exc
    if pin is not None and certs.ca_pin(ca) != pin:
        raise Unauthenticated(
            f"the hub at {url} has CA {certs.ca_pin(ca)}, not the join code's {pin}: "
            "not the hub the code was made for; nothing was sent to it"
        )
    if not join.mac_matches(join.token_digest(secret), ca_pem, mac):
        if pin is not None:  # the right hub: the secret is what is wrong
            raise Unauthenticated(
                f"the join token is not valid at {url}: its secret does not match (mistyped? "
                "take the code as 'atoll site token create' printed it); nothing was sent"
            )
        raise Unauthenticated(
            f"the hub at {url} could not prove it knows the join token (its CA's MAC does not "
            "match); nothing was sent to it"
        )
    return Discovered(url, ca_pem)


async def find_hub(token: str, wait: float) -> Discovered:
    """The hub advertised by zeroconf that proves it knows ``token``. Every advert is asked
    (each refusal logged), so a rogue's advert is seen and refused whatever the order."""
    found = await discovery.browse(discovery.HUB_SERVICE, wait)
    proven: list[Discovered] = []
    refusals = []
    for advert in found:
        for address in advert.addresses:
            url = f"https://{address}:{advert.port}"
            try:
                proven.append(await fetch_ca(url, token, None))
                break
            except AtollError as exc:
                log.warning("hub advert %s at %s refused: %s", advert.name, url, exc)
                refusals.append(f"{url}: {exc}")
    if proven:
        return proven[0]
    if not found:
        raise NotFound(f"no hub advertised itself by zeroconf within {wait:g} s; use a join code")
    raise Unauthenticated("no advertised hub knows this token:\n  " + "\n  ".join(refusals))


async def join_hub(data_dir: Path, hub: Discovered, token: str) -> HubLink:
    """Present ``token`` and a CSR to the hub whose CA was checked; write the link files."""
    key = site_key(data_dir)
    directory = hub_dir(data_dir)
    ca_file = directory / f".{CA_FILE}.joining"
    write_atomically(ca_file, hub.ca_pem)
    client = AsyncClient(hub.url, "", certs.client_ssl_context(ca_file), timeout=30.0)
    body = {
        "token": token,
        "csr": certs.new_csr(key, "atoll-site").decode(),
        "agent_version": __version__,
        "fingerprint": fingerprint(key),
    }
    try:
        data = await client.request("POST", "/v1/sync/join", body, auth=False)
    finally:
        await client.close()
        ca_file.unlink(missing_ok=True)
    cert_pem = str(data["certificate"]).encode()
    cert = x509.load_pem_x509_certificate(cert_pem)
    if cert.public_key() != key.public_key() or str(data["ca"]).encode() != hub.ca_pem:
        raise Unauthenticated("the hub answered with a certificate that is not for this site")
    write_atomically(directory / CA_FILE, hub.ca_pem)
    write_atomically(directory / CERT_FILE, cert_pem)
    keys = [str(k) for k in data.get("token_keys", [])]
    if keys:
        write_atomically(data_dir / HUB_KEY_FILE, keys[0].encode(), private=True)
    link = {
        "hub_url": hub.url,
        "site_id": str(data["site_id"]),
        "site_name": str(data["site_name"]),
        "joined_at": now_iso(),
    }
    write_atomically(directory / LINK_FILE, json.dumps(link, indent=2).encode())
    loaded = HubLink.load(data_dir)
    assert loaded is not None
    return loaded


async def join_with(
    data_dir: Path, code: JoinCode | None = None, token: str | None = None, wait: float = 5.0
) -> HubLink:
    """Join with a join code, or with a token and the hub found by zeroconf."""
    if code is not None:
        hub = await fetch_ca(code.hub_url, code.token, code.ca_pin)
        return await join_hub(data_dir, hub, code.token)
    if token is None:
        raise ValueError("join_with needs a code or a token")
    join.split_token(token)
    return await join_hub(data_dir, await find_hub(token, wait), token)


# -- renewal -------------------------------------------------------------------------------

RENEW_AT = 2 / 3  # of the certificate's lifetime
LINK_CHECK = 60.0  # seconds between looks for a link while not joined


def renewal_due(cert: x509.Certificate) -> float:
    """When (epoch seconds) a certificate should be renewed: 2/3 into its lifetime."""
    start = cert.not_valid_before_utc.timestamp()
    end = cert.not_valid_after_utc.timestamp()
    return start + (end - start) * RENEW_AT


async def renew(link: HubLink) -> x509.Certificate:
    """A new certificate for the site's key from the hub, written in place."""
    key = site_key(link.data_dir)
    client = link.client(timeout=30.0)
    try:
        body = {"csr": certs.new_csr(key, link.site_name).decode()}
        data = await client.request("POST", "/v1/sync/renew", body, auth=False)
    finally:
        await client.close()
    pem = str(data["certificate"]).encode()
    cert = x509.load_pem_x509_certificate(pem)
    if cert.public_key() != key.public_key():
        raise TemporaryError("the hub's renewed certificate is not for this site's key")
    write_atomically(link.cert_file, pem)
    log.info("site certificate renewed; valid until %s", cert.not_valid_after_utc.isoformat())
    return cert


class CertRenewer:
    """Renews the site certificate at 2/3 of its lifetime (retrying while the hub is away)."""

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
        max_wait: float = 3600.0,
    ) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self.max_wait = max_wait
        self._loop = Loop(
            "renewing the site certificate",
            self._pass,
            LoopSettings(interval=max_wait, retry=30.0, backoff=2.0, max_retry=max_wait),
            logger=log,
        )

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> float:
        return await self.renew_if_due()

    async def renew_if_due(self) -> float:
        """Renew if 2/3 of the certificate's lifetime has passed; seconds until the next look."""
        link = HubLink.load(self.data_dir)
        if link is None:
            return LINK_CHECK
        due = renewal_due(link.certificate())
        now = self.clock()
        if now < due:
            return min(due - now, self.max_wait)
        cert = await renew(link)
        return min(max(renewal_due(cert) - self.clock(), 1.0), self.max_wait)
