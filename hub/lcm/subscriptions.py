"""LCM subscriptions (SOL003 ``/vnflcm/v2/subscriptions``) in the store, and which of them
a notification goes to.

A subscription is a record of kind ``lcm_subscription`` keyed by its id::

    {"id", "project_id", "request": the LccnSubscriptionRequest as sent (its credentials
     included: delivery needs them; never shown), "after": the store revision at creation}

Its delivery state is a record of kind ``lcm_delivery`` under the same key,
``{"cursor": R}``: every notification recorded at a revision up to ``R`` is settled for it
(delivered, not for it, or given up). The two are created and removed in one commit.

:func:`takes` decides: a notification goes to a subscription when both belong to the same
project, the notification was recorded after the subscription was created, and the
subscription's filter wants it (:func:`atoll.nfv.lcm.notifications.wants`).
"""

from __future__ import annotations

from typing import Any

from atoll import ids
from atoll.errors import NotFound
from atoll.hub.lcm.outbox import Notification
from atoll.hub.store.base import Delete, Put, Record, Store
from atoll.hub.store.query import list_all
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest, subscription_view, wants

KIND = "lcm_subscription"
DELIVERY_KIND = "lcm_delivery"


def request_of(record: Record) -> LccnSubscriptionRequest:
    return LccnSubscriptionRequest.from_wire(record.value["request"])


def takes(
    subscription: Record,
    notification: Notification,
    recorded_at: int,
    request: LccnSubscriptionRequest | None = None,
) -> bool:
    """Whether ``notification`` (recorded at store revision ``recorded_at``) goes to
    ``subscription`` (``request``: its request, decoded already)."""
    value = subscription.value
    if value["project_id"] != notification.project or recorded_at <= value["after"]:
        return False
    return wants(
        (request or request_of(subscription)).filter,
        notification.notification_type,
        notification.instance,
        notification.occ,
    )


def view(record: Record, base_url: str) -> dict[str, Any]:
    """What a client reads back (no credentials)."""
    return subscription_view(record.key, request_of(record), base_url)


async def create(store: Store, project_id: str, request: LccnSubscriptionRequest) -> Record:
    """A new subscription of ``project_id``; it takes notifications recorded from now on."""
    key = ids.hub_id()
    after = await store.revision()
    value = {"id": key, "project_id": project_id, "request": request.to_wire(), "after": after}
    await store.commit(
        [
            Put(KIND, key, value, expect_revision=0),
            Put(DELIVERY_KIND, key, {"cursor": after}, expect_revision=0),
        ]
    )
    return await store.get(KIND, key)


async def find(store: Store, key: str, project_id: str | None) -> Record:
    """The subscription ``key``, if ``project_id`` owns it (None: any project)."""
    try:
        record = await store.get(KIND, key)
    except NotFound:
        record = None
    if record is None or project_id not in (None, record.value["project_id"]):
        raise NotFound(f"subscription {key} does not exist")
    return record


async def listed(store: Store, project_id: str | None) -> list[Record]:
    """The subscriptions of ``project_id`` (None: every project), oldest first."""
    filters = {} if project_id is None else {"project_id": project_id}
    records = await list_all(store, KIND, filters)
    return sorted(records, key=lambda r: r.created_revision)


async def remove(store: Store, record: Record) -> None:
    writes: list[Put | Delete] = [Delete(KIND, record.key, expect_revision=record.revision)]
    try:
        await store.get(DELIVERY_KIND, record.key)
        writes.append(Delete(DELIVERY_KIND, record.key))
    except NotFound:
        pass
    await store.commit(writes)


async def cursor(store: Store, key: str) -> Record:
    """The delivery state of subscription ``key`` (NotFound once it is removed)."""
    return await store.get(DELIVERY_KIND, key)


async def advance(store: Store, state: Record, revision: int) -> Record:
    """Record that every notification up to ``revision`` is settled for the subscription."""
    return await store.put(
        DELIVERY_KIND,
        state.key,
        {**state.value, "cursor": revision},
        expect_revision=state.revision,
    )
