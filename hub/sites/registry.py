"""Sites and join tokens in the store, and the state rules the API and sync share.

A site is ``enrolling`` from its creation (or its join token's) until its agent first
reports; then ``online`` while it reports, ``offline`` when it stops; an operator may put it
in ``maintenance`` (and take it out: it goes ``offline`` until it next reports). Capacity,
usage, last seen and the sync figures are written by the sync side (:func:`record_report`).

Join tokens are ``<id>.<secret>``: the secret is shown once and stored as a digest.
:func:`consume_join_token` is what enrollment calls: it checks the token and marks it used
with a compare-and-swap, so one token enrolls one site once.

A site's certificate renewals are counted in its record (:func:`take_renewal`: the times of
the latest, ``_renewals``, never shown), with a compare-and-swap, so every hub process on
one store counts the same renewals and a site renews ``site_renewals_per_hour`` times an
hour in all, not that many at each hub.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from atoll import ids
from atoll.errors import Conflict, InvalidInput, NotFound, Problem, StaleRevision, Unauthenticated
from atoll.hub.identity.issuing import secret_digest
from atoll.hub.store.base import Record, Store
from atoll.jsonbody import JSON
from atoll.throttle import RateLimit
from atoll.timestamps import iso

SITE_KIND = "site"
PURGE_KIND = "site_purge"  # a deleted site's leftovers to remove, by the site's id
JOIN_TOKEN_KIND = "join_token"  # noqa: S105 (a kind name, not a secret)
RENEWALS = "_renewals"  # a site's latest certificate renewals (epoch seconds; not shown)
STATES = ("enrolling", "online", "offline", "maintenance")
OPERATOR_STATES = ("maintenance", "offline")  # what PATCH may set
ZERO = {"vcpus": 0, "ram_mb": 0, "disk_gb": 0}
# A site's sync figures (written by the hub side of sync, :mod:`atoll.hub.sync`): the newest
# hub revision the site acknowledged and the changes it has not yet; when it last synced and
# was last heard (``last_heard``: epoch seconds); the newest fact sequence the hub recorded
# (``acked_seq``) and the newest the site says it sent (``sent_seq``: their difference is its
# outbox); repairs made by anti-entropy; sessions opened; telemetry batches received; the
# open session's epoch (``session``, null when none) and protocol version.
SYNC_FIGURES: dict[str, Any] = {
    "acked_revision": None,
    "pending_changes": None,
    "last_sync": None,
    "last_heard": None,
    "acked_seq": 0,
    "sent_seq": 0,
    "repairs": 0,
    "sessions": 0,
    "telemetry_batches": 0,
    "session": None,
    "protocol_version": None,
}


def new_site(name: str, fields: JSON, now: float) -> JSON:
    return {
        "id": ids.hub_id(),
        "name": name,
        "description": fields.get("description", ""),
        "region": fields.get("region", "default"),
        "labels": fields.get("labels", {}),
        "location": fields.get("location"),
        "capacity": dict(ZERO),
        "usage": dict(ZERO),
        "state": "enrolling",
        "last_seen": None,
        "sync": dict(SYNC_FIGURES),
        "created_at": iso(now),
    }


def operator_transition(current: str, wanted: str, where: str = "body.state") -> str:
    """The state an operator's PATCH leads to, or InvalidInput."""
    if wanted not in OPERATOR_STATES:
        raise InvalidInput(
            "sites report their own state",
            [Problem(where, f"an operator may set only {' or '.join(OPERATOR_STATES)}")],
        )
    if wanted == "offline" and current != "maintenance":
        raise Conflict(
            f"the site is {current}: an operator sets 'offline' only to end maintenance "
            "(the site reports its own state otherwise)"
        )
    return wanted


def reported(site: JSON, capacity: JSON, usage: JSON, now: float) -> JSON:
    """``site`` as a report of its capacity and usage leaves it: figures stored, seen now,
    ``online`` unless in maintenance (the sync session writes it in its own edit of the
    site record, :mod:`atoll.hub.sync.server`)."""
    state = site["state"] if site["state"] == "maintenance" else "online"
    return {**site, "capacity": dict(capacity), "usage": dict(usage), "last_seen": iso(now),
            "reported_at": iso(now), "state": state}  # fmt: skip


async def record_report(
    store: Store, name: str, capacity: JSON, usage: JSON, now: float, sync: JSON | None = None
) -> JSON:
    """A site agent reported: store its figures, mark it seen, and online unless in maintenance."""
    for _ in range(5):
        record = await store.get(SITE_KIND, name)
        value = reported(dict(record.value), capacity, usage, now)
        if sync is not None:
            value["sync"] = {**value["sync"], **sync}
        try:
            await store.put(SITE_KIND, name, value, expect_revision=record.revision)
            return value
        except StaleRevision:
            continue
    raise Conflict(f"site {name} kept changing while its report was recorded; retry")


async def edit_site(store: Store, name: str, change: Callable[[JSON], JSON | None]) -> JSON | None:
    """Rewrite site ``name`` as ``change(value)`` says, with a compare-and-swap, retrying a
    lost race; ``change`` returns None to leave it as it is (then so does this)."""
    for _ in range(20):
        record = await store.get(SITE_KIND, name)
        value = change(dict(record.value))
        if value is None:
            return None
        try:
            await store.put(SITE_KIND, name, value, expect_revision=record.revision)
            return value
        except StaleRevision:
            continue
    raise Conflict(f"site {name} kept changing while its sync figures were recorded; retry")


def new_join_token(site: str, ttl: int, created_by: str, now: float) -> tuple[str, JSON]:
    """The token text (shown once) and the stored object (digest only)."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    value = {
        "id": token_id,
        "site": site,
        "created_by": created_by,
        "created_at": iso(now),
        "expires_at": iso(now + ttl),
        "used_at": None,
        "_expires_epoch": now + ttl,
        "_secret_hash": secret_digest(secret),
    }
    return f"{token_id}.{secret}", value


async def usable_join_token(store: Store, token_id: str, now: float) -> Record:
    """The join token with this id if it can still be used (unused, unexpired), else
    Unauthenticated saying why (never whether a wrong secret was close)."""
    try:
        record = await store.get(JOIN_TOKEN_KIND, token_id)
    except NotFound:
        raise Unauthenticated("the join token is not valid") from None
    if record.value["used_at"] is not None:
        raise Unauthenticated("the join token has already been used")
    if record.value["_expires_epoch"] <= now:
        raise Unauthenticated("the join token has expired; create a new one")
    return record


async def check_join_token(store: Store, presented: str, now: float) -> Record:
    """The join token ``presented`` (``<id>.<secret>``) if it is right and usable, else
    Unauthenticated; it is not used up (:func:`consume_join_token` does that)."""
    token_id, _, secret = presented.partition(".")
    try:
        record = await store.get(JOIN_TOKEN_KIND, token_id)
    except NotFound:
        record = None
    value: dict[str, Any] = record.value if record else {}
    if record is None or not hmac.compare_digest(
        str(value.get("_secret_hash")), secret_digest(secret)
    ):
        raise Unauthenticated("the join token is not valid")
    return await usable_join_token(store, token_id, now)


async def consume_join_token(store: Store, presented: str, now: float) -> str:
    """Check a join token and mark it used; returns the site it enrolls."""
    record = await check_join_token(store, presented, now)
    used = {**record.value, "used_at": iso(now)}
    try:
        await store.put(JOIN_TOKEN_KIND, record.key, used, expect_revision=record.revision)
    except StaleRevision as exc:
        raise Unauthenticated("the join token has already been used") from exc
    return str(record.value["site"])


async def record_certificate(
    store: Store, name: str, serial: str, not_after: float, *, joined: JSON | None = None
) -> JSON:
    """A certificate was issued to site ``name``: on a join (``joined``: the agent's
    fingerprint and version) it replaces every earlier one; on a renewal the current one
    becomes ``previous_cert_serial`` (still accepted until the next renewal)."""
    for _ in range(5):
        record = await store.get(SITE_KIND, name)
        value = dict(record.value)
        if joined is not None:
            value.update(joined, previous_cert_serial=None)
        else:
            value["previous_cert_serial"] = value.get("cert_serial")
        value.update(cert_serial=serial, cert_not_after=iso(not_after))
        try:
            await store.put(SITE_KIND, name, value, expect_revision=record.revision)
            return value
        except StaleRevision:
            continue
    raise Conflict(f"site {name} kept changing while its certificate was recorded; retry")


async def take_renewal(store: Store, name: str, limit: RateLimit, now: float) -> None:
    """Count one certificate renewal of site ``name`` in its record, or
    :class:`~atoll.errors.TooManyRequests` (with the seconds to wait) if it had
    ``limit.limit`` within the window, whichever hub counted them: then nothing is written.
    NotFound if the site is gone."""
    if limit.limit <= 0:
        return

    def take(site: JSON) -> JSON:
        return {**site, RENEWALS: limit.take(site.get(RENEWALS) or [], now, f"site {name}")}

    await edit_site(store, name, take)
