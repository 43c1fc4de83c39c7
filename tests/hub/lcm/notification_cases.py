"""Shared pieces of the LCM notification tests: instances, op occurrences, notifications."""

from __future__ import annotations

from atoll.hub.lcm.outbox import Notification
from atoll.nfv.lcm.instance import OperationState, VnfInstance, VnfLcmOpOcc


def instance(key: str = "inst-1", vnfd: str = "vnfd-1", name: str = "web") -> VnfInstance:
    return VnfInstance(
        id=key,
        vnf_instance_name=name,
        vnfd_id=vnfd,
        vnf_provider="Acme",
        vnf_product_name="Web",
        vnf_software_version="1.0",
        vnfd_version="1.0",
    )


def occ(
    key: str = "occ-1",
    state: OperationState = "STARTING",
    at: str = "2026-11-30T23:00:00+00:00",
    instance_id: str = "inst-1",
) -> VnfLcmOpOcc:
    return VnfLcmOpOcc(
        id=key,
        operation_state=state,
        state_entered_time=at,
        start_time="2026-11-30T23:00:00+00:00",
        vnf_instance_id=instance_id,
        operation="INSTANTIATE",
    )


def op_notification(
    project: str, n: int, state: OperationState = "PROCESSING", inst: VnfInstance | None = None
) -> Notification:
    """The ``n``-th distinct op notification of an instance (distinct entry times)."""
    inst = inst or instance()
    at = f"2026-11-30T23:{n // 60:02d}:{n % 60:02d}+00:00"
    return Notification.of_op(project, inst, occ(f"occ-{n}", state, at, inst.id))
