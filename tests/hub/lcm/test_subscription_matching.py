"""Which subscriptions a notification goes to (project, creation time, filter), and the
outbox's once-only record."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.hub.lcm import outbox, subscriptions
from atoll.hub.lcm.callbacks import CallbackRefused, check_address
from atoll.hub.lcm.outbox import Notification, emit
from atoll.hub.store.base import Record
from atoll.hub.store.memory import MemoryStore
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest
from tests.hub.lcm.notification_cases import instance, occ

pytestmark = pytest.mark.unit


def subscription(project: str = "p1", after: int = 10, **filter_: Any) -> Record:
    wire: dict[str, Any] = {"callbackUri": "http://vnfm.example/cb"}
    if filter_:
        wire["filter"] = filter_
    request = LccnSubscriptionRequest.from_wire(wire, strict=True)
    value = {"id": "s1", "project_id": project, "request": request.to_wire(), "after": after}
    return Record(subscriptions.KIND, "s1", value, after + 1, after + 1)


def started(project: str = "p1") -> Notification:
    return Notification.of_op(project, instance(), occ(state="STARTING"))


def test_a_subscription_without_filter_takes_its_projects_notifications_after_it() -> None:
    sub = subscription()
    assert subscriptions.takes(sub, started(), 11)
    assert not subscriptions.takes(sub, started(), 10)  # recorded before it was created
    assert not subscriptions.takes(sub, started("p2"), 11)  # another project's


@pytest.mark.parametrize(
    ("filter_", "taken"),
    [
        ({"vnfInstanceSubscriptionFilter": {"vnfInstanceIds": ["inst-1"]}}, True),
        ({"vnfInstanceSubscriptionFilter": {"vnfInstanceIds": ["inst-2"]}}, False),
        ({"vnfInstanceSubscriptionFilter": {"vnfdIds": ["vnfd-1", "x"]}}, True),
        ({"vnfInstanceSubscriptionFilter": {"vnfdIds": ["vnfd-2"]}}, False),
        ({"notificationTypes": ["VnfLcmOperationOccurrenceNotification"]}, True),
        ({"notificationTypes": ["VnfIdentifierCreationNotification"]}, False),
        ({"operationTypes": ["INSTANTIATE"]}, True),
        ({"operationTypes": ["TERMINATE", "HEAL"]}, False),
        ({"operationStates": ["STARTING"]}, True),
        ({"operationStates": ["COMPLETED"]}, False),
        ({"operationTypes": ["INSTANTIATE"], "operationStates": ["COMPLETED"]}, False),
    ],
)
def test_the_filter_decides_within_the_project(filter_: dict[str, Any], taken: bool) -> None:
    assert subscriptions.takes(subscription(**filter_), started(), 11) is taken


def test_identifier_notifications_match_on_instance_and_type_not_on_operation() -> None:
    created = Notification.of_identifier(
        "VnfIdentifierCreationNotification", "p1", instance(), "2026-11-30T23:00:00+00:00"
    )
    assert subscriptions.takes(subscription(operationStates=["COMPLETED"]), created, 11)
    only_ops = subscription(notificationTypes=["VnfLcmOperationOccurrenceNotification"])
    assert not subscriptions.takes(only_ops, created, 11)


async def test_emitting_the_same_event_twice_records_it_once() -> None:
    store = MemoryStore()
    note = started()
    await emit(store, note)
    revision = await store.revision()
    await emit(store, Notification.of_op("p1", instance(), occ(state="STARTING")))
    assert await store.revision() == revision
    record = await store.get(outbox.KIND, note.id)
    assert Notification.from_record(record) == note
    later = Notification.of_op("p1", instance(), occ(state="PROCESSING"))
    assert later.id != note.id


@settings(max_examples=300, deadline=None)
@given(rest=st.text(max_size=80), scheme=st.sampled_from(["http://", "https://", ""]))
def test_a_callback_url_is_refused_in_words_whatever_it_holds(rest: str, scheme: str) -> None:
    """Whatever a tenant writes, the address check answers CallbackRefused (422) or lets it
    through; never another error (a 500). Names are not looked up here (the lab setting)."""
    with contextlib.suppress(CallbackRefused):
        asyncio.run(check_address(scheme + rest, "body.callbackUri", allow_loopback=True))
