"""Who is on the other end of a request: a site agent, by the certificate it presented.

The hub's listener asks every client for a certificate signed by the hub CA, optionally
(:func:`atoll.certs.server_ssl_context`); a site agent presents the one it got when it
joined. :func:`site_peer` turns that certificate into the site it belongs to, or None when
the client presented none. A certificate for a site that no longer exists, or one the site
has since replaced (its serial is not the site's current or previous one), is refused with
Unauthenticated: the TLS handshake proved only that the hub CA signed it once.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from cryptography import x509

from atoll import certs
from atoll.errors import Unauthenticated
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import ListQuery, Store
from atoll.jsonbody import JSON


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


async def site_peer(request: web.Request, store: Store) -> SitePeer | None:
    """The site whose certificate this connection presented; None without a certificate."""
    cert = peer_certificate(request)
    if cert is None:
        return None
    site_id = certs.site_id_of(cert)
    if site_id is None:
        raise Unauthenticated("the client certificate is not a site certificate")
    page = await store.list(ListQuery(SITE_KIND, filters={"id": site_id}, limit=1))
    if not page.items:
        raise Unauthenticated("the site this certificate was issued to no longer exists")
    record = page.items[0].value
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
