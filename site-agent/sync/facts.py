"""What goes up: the site's facts in its own sequence order.

Two sources share one counter (:func:`atoll.site_agent.store.database.next_seq`):

- the ``status`` table, which is its own compacted queue: one row per object, the newest
  state with its seq (a status that changed three times while offline goes up once);
- the ``outbox``: events, operation records and telemetry batches, one row each.

:func:`facts_after` merges both after a seq, oldest first, as :class:`~atoll.sync.frames.Fact`
items. What the hub acks leaves the outbox (:meth:`LocalStore.outbox_acked`); statuses stay:
they are the observed table.
"""

from __future__ import annotations

from atoll.errors import NotFound
from atoll.jsonbody import JSON
from atoll.resources import clip
from atoll.site_agent.store import LocalStore, ObservedStatus
from atoll.sync.frames import Fact

BATCH = 200  # facts read at a time (a frame holds at most frames.MAX_ITEMS)


def status_body(status: ObservedStatus, addresses: list[JSON] | None = None) -> JSON:
    """An observed status as :class:`atoll.resources.Observed` writes it on the wire; a
    server's ``addresses`` (its NICs as the site made them: network, port, MAC, IP) go in
    its facts, so the hub shows where to reach it."""
    body: JSON = {
        "kind": status.kind,
        "id": status.id,
        "seq": status.seq,
        "state": status.state,
        "message": clip(status.message),  # the hub refuses a longer one
        "observed_generation": status.observed_generation,
        "facts": None,
    }
    if status.kind == "server":
        detail = status.detail
        body["facts"] = {
            "power_state": str(detail.get("power_state", "")),
            "restarts": int(detail.get("restarts", 0)),
            "addresses": addresses or [],
        }
    return body


def server_addresses_blocking(store: LocalStore, server_id: str) -> list[JSON]:
    """The NICs of a server as :class:`atoll.resources.AddressFact` writes them."""
    try:
        server = store.get_object("server", server_id)
    except NotFound:
        return []
    out: list[JSON] = []
    for port_id in server.spec.get("ports") or []:
        try:
            port = store.get_object("port", port_id).spec
        except NotFound:
            continue
        address: JSON = {"network": port.get("network"), "port": port_id, "mac": port.get("mac")}
        if port.get("ip"):
            address["ip"] = port["ip"]
        if port.get("vnic_type", "normal") != "normal":
            address["vnic_type"] = port["vnic_type"]
        out.append(address)
    return out


def facts_after_blocking(store: LocalStore, seq: int, limit: int = BATCH) -> list[Fact]:
    """Facts after ``seq`` (statuses and outbox rows merged by seq), at most ``limit``."""
    statuses = store.statuses_after(seq, limit)
    queued = store.outbox_after(seq, limit)
    merged = [
        Fact(seq=s.seq, type="status", body=status_body(
            s, server_addresses_blocking(store, s.id) if s.kind == "server" else None))
        for s in statuses
    ]  # fmt: skip
    merged += [Fact(seq=q.seq, type=q.type, body=q.body) for q in queued]
    merged.sort(key=lambda f: f.seq)
    return merged[:limit]
