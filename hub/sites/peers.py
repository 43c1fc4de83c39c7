"""Who is on the other end of a request: a site agent, by the certificate it presented.

The hub's listener asks every client for a certificate signed by the hub CA, optionally
(:func:`atoll.certs.server_ssl_context`); a site agent presents the one it got when it
joined. :func:`site_peer` turns that certificate into the site it belongs to, or None when
the client presented none. A certificate for a site that no longer exists, or one the site
has since replaced (its serial is not the site's current or previous one), is refused with
Unauthenticated: the TLS handshake proved only that the hub CA signed it once.

The store keys sites by name and a certificate names the site's id, so :class:`SiteNames`
remembers the name each id was found under: a request from a known site is one read by key,
checked against the id it finds there, not a scan of every site record (one per sync
connection and per image chunk request; with 10,000 sites the scans were most of the hub's
CPU).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509

from atoll import certs
from atoll.errors import NotFound, Unauthenticated
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import ListQuery, Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON

RELOAD_AFTER = 10.0  # seconds: an unknown id reads every site's name again after this


@dataclass(frozen=True)
class SitePeer:
    site_id: str
    site_name: str
    serial: str  # the certificate's serial number, hex
    not_after: float  # when the certificate expires (epoch seconds)
    record: JSON  # the site as the store holds it


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate of this connection (already verified by TLS), if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


class SiteNames:
    """Site records by id: the name each id was last found under, checked on every use.

    A name is only a hint: the record read under it must carry the id asked for (a site
    deleted, renamed, or deleted and made again under its name does not), else the id is
    looked for again. An id not known yet reads every site's id and name at once (one
    listing, at most every :data:`RELOAD_AFTER` seconds, one at a time: after a hub restart
    its whole fleet reconnects), then, if it is still not there, searches the kind for that
    id alone. Only ids found in the store are kept (one entry per site). Each hub process
    keeps its own; nothing here needs to be shared.
    """

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._names: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._loading = asyncio.Lock()

    async def find(self, site_id: str) -> JSON | None:
        """The site whose id is ``site_id``, or None."""
        record = await self._known(site_id)
        if record is not None:
            return record
        async with self._loading:  # the others wait for this load, then find theirs in it
            loaded = self._loaded_at
            if loaded is None or self.clock() - loaded > RELOAD_AFTER:
                for found in await list_all(self.store, SITE_KIND, {}):
                    if isinstance(found.value.get("id"), str):
                        self._names[found.value["id"]] = found.key
                self._loaded_at = self.clock()
        record = await self._known(site_id)
        if record is not None:
            return record
        page = await self.store.list(ListQuery(SITE_KIND, filters={"id": site_id}, limit=1))
        if not page.items:
            return None
        self._names[site_id] = page.items[0].key
        return page.items[0].value

    async def _known(self, site_id: str) -> JSON | None:
        """The site under the name ``site_id`` was last found under, if it still has it."""
        name = self._names.get(site_id)
        if name is None:
            return None
        with suppress(NotFound):
            record = (await self.store.get(SITE_KIND, name)).value
            if record.get("id") == site_id:
                return record
        self._names.pop(site_id, None)
        return None


async def site_peer(request: web.Request, sites: SiteNames) -> SitePeer | None:
    """The site whose certificate this connection presented; None without a certificate."""
    cert = peer_certificate(request)
    if cert is None:
        return None
    site_id = certs.site_id_of(cert)
    if site_id is None:
        raise Unauthenticated("the client certificate is not a site certificate")
    record = await sites.find(site_id)
    if record is None:
        raise Unauthenticated("the site this certificate was issued to no longer exists")
    serial = f"{cert.serial_number:x}"
    known = {record.get("cert_serial"), record.get("previous_cert_serial")} - {None}
    if serial not in known:
        raise Unauthenticated(
            "this site certificate has been replaced; use the current one or join again"
        )
    return SitePeer(
        site_id,
        str(record["name"]),
        serial,
        cert.not_valid_after_utc.timestamp(),
        record,
    )
