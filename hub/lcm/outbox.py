"""The LCM notification outbox: what the engine calls when something a subscriber may
want to hear about happens (an op occurrence enters a state, an instance is created or
deleted).

:func:`emit` records a :class:`Notification` durably, as a store record of kind
``lcm_notification`` keyed by the notification's id, before anything is delivered. The id
is a pure function of the event (op occurrence, state, the time it entered it; or the
instance and the identifier notification type), so emitting the same event again (the
engine re-running a step after a hub restart) records nothing new. Delivery reads these
records in the order they were written (``created_revision``) and builds each matching
subscriber's SOL003 body with :mod:`atoll.nfv.lcm.notifications`; a notification only ever
goes to subscriptions of its ``project``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from atoll import ids
from atoll.errors import StaleRevision
from atoll.hub.store.base import Put, Record, Store
from atoll.nfv.lcm.instance import VnfInstance, VnfLcmOpOcc
from atoll.nfv.lcm.notifications import NotificationType

KIND = "lcm_notification"
OP_NOTIFICATION: NotificationType = "VnfLcmOperationOccurrenceNotification"
IdentifierType = Literal["VnfIdentifierCreationNotification", "VnfIdentifierDeletionNotification"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Notification:
    """One event, for every subscriber of ``project`` whose filter takes it.

    ``occ`` is set for a VnfLcmOperationOccurrenceNotification (``time_stamp`` is then the
    op occurrence's ``stateEnteredTime``); ``instance`` is the instance as it is at the
    event (the subscription filters read its vnfdId, name and product).
    """

    project: str
    notification_type: NotificationType
    instance: VnfInstance
    occ: VnfLcmOpOcc | None = None
    time_stamp: str

    @classmethod
    def of_op(cls, project: str, instance: VnfInstance, occ: VnfLcmOpOcc) -> Notification:
        """``occ`` has entered its current state."""
        return cls(
            project=project,
            notification_type=OP_NOTIFICATION,
            instance=instance,
            occ=occ,
            time_stamp=occ.state_entered_time,
        )

    @classmethod
    def of_identifier(
        cls, kind: IdentifierType, project: str, instance: VnfInstance, at_time: str
    ) -> Notification:
        """``instance`` was created or deleted at ``at_time`` (ISO 8601)."""
        return cls(project=project, notification_type=kind, instance=instance, time_stamp=at_time)

    @property
    def id(self) -> str:
        """Stable across re-emission of the same event."""
        if self.occ is not None:
            return ids.derived_hub_id(
                KIND, self.occ.id, self.occ.operation_state, self.occ.state_entered_time
            )
        return ids.derived_hub_id(KIND, self.notification_type, self.instance.id)

    def to_record(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "id": self.id,
            "project": self.project,
            "notificationType": self.notification_type,
            "timeStamp": self.time_stamp,
            "vnfInstance": self.instance.to_wire(),
        }
        if self.occ is not None:
            value["vnfLcmOpOcc"] = self.occ.to_wire()
        return value

    @classmethod
    def from_record(cls, record: Record) -> Notification:
        value = record.value
        assert isinstance(value, dict)
        occ = value.get("vnfLcmOpOcc")
        return cls(
            project=value["project"],
            notification_type=value["notificationType"],
            instance=VnfInstance.from_wire(value["vnfInstance"]),
            occ=None if occ is None else VnfLcmOpOcc.from_wire(occ),
            time_stamp=value["timeStamp"],
        )


def recording(notification: Notification) -> Put:
    """The write that records ``notification``, for a commit that also makes the change it
    reports (so neither is ever without the other); such a commit fails with
    :class:`StaleRevision` if the notification is recorded already."""
    return Put(KIND, notification.id, notification.to_record(), expect_revision=0)


async def emit(store: Store, notification: Notification) -> None:
    """Record ``notification`` for delivery (once: the same event again is a no-op)."""
    try:
        await store.commit([recording(notification)])
    except StaleRevision:
        return  # recorded already: emitting the same event twice is not two notifications
