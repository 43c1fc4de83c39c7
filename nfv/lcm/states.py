"""The SOL003 v2 op occurrence state machine: pure functions over frozen ``VnfLcmOpOcc``.

Pure, no I/O, no clock (``now`` is passed in). The hub's engine calls these and stores what
they return; a refused move raises before anything is written. The rules are Tacker v2's
(see ``lcm-lessons.md`` §1), with Atoll's stricter lock::

    start ──> STARTING ──process──> PROCESSING ──complete──> COMPLETED
                 │                    │    ^
    grant_refused│  fail_temp / cancel│    │retry
     / restart   │                    │    │
     / cancel    v                    v    │
             ROLLED_BACK <──rolled_back── ROLLING_BACK <──rollback── FAILED_TEMP ──fail──> FAILED
                                          │ rollback_failed / restart  ^
                                          │ / cancel                   │
                                          └────────────────────────────┘
    PROCESSING ──restart──> FAILED_TEMP

* **One operation at a time** (:func:`check_can_start`): an instance with a non-terminal op
  occurrence (STARTING, PROCESSING, FAILED_TEMP, ROLLING_BACK) takes no new operation:
  ``Conflict`` (409) naming it. ``Conflict`` too for the wrong ``instantiationState``:
  INSTANTIATE needs NOT_INSTANTIATED, MODIFY_INFO either, every other operation INSTANTIATED.
* **Task moves** (``retry``, ``rollback``, ``fail``) need FAILED_TEMP, else ``Conflict``.
  ``rollback`` exists for INSTANTIATE, SCALE with SCALE_OUT, MODIFY_INFO and CHANGE_VNFPKG
  only; for the others (heal, scale in, scale to level, terminate)
  :class:`~atoll.nfv.errors.RollbackNotSupported` (422) before anything changes.
  ``retry`` re-runs the whole operation (the intent it writes is idempotent).
* **Cancel** (SOL003 ``POST .../cancel``, in STARTING, PROCESSING or ROLLING_BACK, else
  ``Conflict``) is two moves: :func:`request_cancel` records the intent
  (``isCancelPending`` true, ``cancelMode``; the state does not change), then the
  ``cancel`` event, when the engine acts on it: STARTING → ROLLED_BACK (nothing was done),
  PROCESSING and ROLLING_BACK → FAILED_TEMP (retry, rollback or fail from there). Every
  move clears a pending cancel: ``cancelMode`` is there only while one is pending.
* **A hub restart** (:func:`recover`): STARTING → ROLLED_BACK (nothing was done yet),
  PROCESSING and ROLLING_BACK → FAILED_TEMP, unless the engine can resume the work
  (``resume=True`` leaves them, to be driven on); terminal and FAILED_TEMP are untouched.
* **error** is ProblemDetails, set on entering FAILED_TEMP and ROLLED_BACK, carried into
  FAILED and through ROLLING_BACK (the failure being rolled back), cleared on PROCESSING;
  never set in STARTING, PROCESSING or COMPLETED. **resourceChanges** are written on
  COMPLETED only (never in FAILED_TEMP).
* **instantiationState** changes on COMPLETED only (:func:`instance_state_after`):
  INSTANTIATE → INSTANTIATED, TERMINATE → NOT_INSTANTIATED; a failed, rolled back or
  abandoned operation leaves it as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Literal, get_args

from atoll.errors import Conflict
from atoll.nfv.errors import RollbackNotSupported
from atoll.nfv.lcm.instance import (
    CancelModeType,
    InstantiationState,
    Operation,
    OperationState,
    ResourceChanges,
    VnfInstance,
    VnfLcmOpOcc,
)
from atoll.nfv.lcm.wire import ProblemDetails

Event = Literal[
    "process",
    "grant_refused",
    "complete",
    "fail_temp",
    "retry",
    "rollback",
    "rolled_back",
    "rollback_failed",
    "fail",
    "restart",
    "cancel",
]
EVENTS: tuple[Event, ...] = get_args(Event)

TERMINAL: frozenset[OperationState] = frozenset({"COMPLETED", "FAILED", "ROLLED_BACK"})
WITH_ERROR: frozenset[OperationState] = frozenset(
    {"FAILED_TEMP", "FAILED", "ROLLED_BACK", "ROLLING_BACK"}
)

TRANSITIONS: Mapping[tuple[OperationState, Event], OperationState] = MappingProxyType(
    {
        ("STARTING", "process"): "PROCESSING",
        ("STARTING", "grant_refused"): "ROLLED_BACK",
        ("STARTING", "restart"): "ROLLED_BACK",
        ("PROCESSING", "complete"): "COMPLETED",
        ("PROCESSING", "fail_temp"): "FAILED_TEMP",
        ("PROCESSING", "restart"): "FAILED_TEMP",
        ("FAILED_TEMP", "retry"): "PROCESSING",
        ("FAILED_TEMP", "rollback"): "ROLLING_BACK",
        ("FAILED_TEMP", "fail"): "FAILED",
        ("ROLLING_BACK", "rolled_back"): "ROLLED_BACK",
        ("ROLLING_BACK", "rollback_failed"): "FAILED_TEMP",
        ("ROLLING_BACK", "restart"): "FAILED_TEMP",
        ("STARTING", "cancel"): "ROLLED_BACK",
        ("PROCESSING", "cancel"): "FAILED_TEMP",
        ("ROLLING_BACK", "cancel"): "FAILED_TEMP",
    }
)
"""Every move SOL003 allows: (state, event) -> next state. Nothing else moves."""

_NEEDS_ERROR: frozenset[Event] = frozenset({"grant_refused", "fail_temp", "rollback_failed"})
_MAY_TAKE_ERROR: frozenset[Event] = frozenset({"cancel"})  # else one saying it was cancelled
CANCELLABLE: frozenset[OperationState] = frozenset({"STARTING", "PROCESSING", "ROLLING_BACK"})
_TASKS: frozenset[Event] = frozenset({"retry", "rollback", "fail"})
ROLLBACK_OPERATIONS: frozenset[Operation] = frozenset(
    {"INSTANTIATE", "SCALE", "MODIFY_INFO", "CHANGE_VNFPKG"}
)


def required_state(operation: Operation) -> InstantiationState | None:
    """The ``instantiationState`` an operation needs (None: either)."""
    if operation == "INSTANTIATE":
        return "NOT_INSTANTIATED"
    if operation == "MODIFY_INFO":
        return None
    return "INSTANTIATED"


def instance_state_after(operation: Operation, current: InstantiationState) -> InstantiationState:
    """The instance's ``instantiationState`` once ``operation`` COMPLETED."""
    if operation == "INSTANTIATE":
        return "INSTANTIATED"
    if operation == "TERMINATE":
        return "NOT_INSTANTIATED"
    return current


def active_op(ops: Iterable[VnfLcmOpOcc]) -> VnfLcmOpOcc | None:
    """The instance's non-terminal op occurrence, if any (there is at most one)."""
    return next((op for op in ops if op.operation_state not in TERMINAL), None)


def check_can_start(
    instance: VnfInstance, operation: Operation, ops: Iterable[VnfLcmOpOcc]
) -> None:
    """Raise ``Conflict`` if ``instance`` cannot take ``operation`` now (``ops``: its op
    occurrences, any order; only a non-terminal one matters)."""
    busy = active_op(o for o in ops if o.vnf_instance_id == instance.id)
    if busy is not None:
        raise Conflict(
            f"VNF instance {instance.id} has operation {busy.id} ({busy.operation}) in "
            f"{busy.operation_state}; finish it first"
            + (" (retry, rollback or fail it)" if busy.operation_state == "FAILED_TEMP" else "")
        )
    needed = required_state(operation)
    if needed is not None and instance.instantiation_state != needed:
        raise Conflict(
            f"{operation} needs a {needed} VNF instance; {instance.id} is "
            f"{instance.instantiation_state}"
        )


def start(
    op_id: str,
    instance: VnfInstance,
    operation: Operation,
    ops: Iterable[VnfLcmOpOcc],
    now: str,
    *,
    params: object = None,
    automatic: bool = False,
) -> VnfLcmOpOcc:
    """A new op occurrence in STARTING, after :func:`check_can_start`. ``params`` is the
    request body as the client sent it (``operationParams``; a SCALE's ``type`` decides
    whether it can roll back)."""
    check_can_start(instance, operation, ops)
    return VnfLcmOpOcc(
        id=op_id,
        operation_state="STARTING",
        state_entered_time=now,
        start_time=now,
        vnf_instance_id=instance.id,
        operation=operation,
        is_automatic_invocation=automatic,
        operation_params=params,
    )


def request_cancel(occ: VnfLcmOpOcc, mode: CancelModeType) -> VnfLcmOpOcc:
    """``occ`` with a cancel pending (the intent; the ``cancel`` event is the act).
    ``Conflict`` unless STARTING, PROCESSING or ROLLING_BACK. A second request while one is
    pending may make it FORCEFUL, never GRACEFUL again (work stopped is not resumed)."""
    if occ.operation_state not in CANCELLABLE:
        raise Conflict(
            f"operation {occ.id} is {occ.operation_state}; cancel needs it in STARTING, "
            "PROCESSING or ROLLING_BACK"
        )
    if occ.is_cancel_pending and occ.cancel_mode == "FORCEFUL":
        mode = "FORCEFUL"
    return dataclasses.replace(occ, is_cancel_pending=True, cancel_mode=mode)


def cancelled_error(occ: VnfLcmOpOcc, detail: str = "") -> ProblemDetails:
    """The ``error`` a cancelled operation is left with (``detail``: what was in flight)."""
    mode = occ.cancel_mode or "FORCEFUL"
    what = "the rollback of " if occ.operation_state == "ROLLING_BACK" else ""
    text = f"{what}operation {occ.id} ({_named(occ)}) was cancelled ({mode}) in "
    text += f"{occ.operation_state}"
    if occ.operation_state == "STARTING":
        text += ": nothing was done"
    return ProblemDetails(
        status=409, title="cancelled", detail=f"{text}; {detail}" if detail else text
    )


def rollback_allowed(occ: VnfLcmOpOcc) -> bool:
    """Whether ``rollback`` exists for this operation (scale: only SCALE_OUT)."""
    if occ.operation not in ROLLBACK_OPERATIONS:
        return False
    if occ.operation == "SCALE":
        params = occ.operation_params
        return isinstance(params, Mapping) and params.get("type") == "SCALE_OUT"
    return True


def advance(
    occ: VnfLcmOpOcc,
    event: Event,
    now: str,
    *,
    error: ProblemDetails | None = None,
    changes: ResourceChanges | None = None,
) -> VnfLcmOpOcc:
    """``occ`` moved by ``event``; ``Conflict`` (or ``RollbackNotSupported``) if it cannot.

    ``error`` is required by the failing events (grant_refused, fail_temp,
    rollback_failed), may be given to ``cancel`` (else :func:`cancelled_error`) and is
    taken by no other; ``changes`` only by ``complete`` (none given: an empty
    ResourceChanges, as a MODIFY_INFO writes). Every move clears a pending cancel.
    """
    state = occ.operation_state
    target = TRANSITIONS.get((state, event))
    if target is None:
        if event in _TASKS:
            raise Conflict(f"operation {occ.id} is {state}; {event} needs it in FAILED_TEMP")
        raise Conflict(f"operation {occ.id} is {state}; it cannot {event.replace('_', ' ')}")
    if event == "rollback" and not rollback_allowed(occ):
        raise RollbackNotSupported(
            f"operation {occ.id} ({_named(occ)}) cannot be rolled back; retry or fail it"
        )
    if event not in _MAY_TAKE_ERROR and (event in _NEEDS_ERROR) != (error is not None):
        raise TypeError(f"{event}: an error is {'required' if error is None else 'not taken'}")
    if changes is not None and event != "complete":
        raise TypeError("resource changes are written on complete only")
    if event == "restart":
        error = ProblemDetails(
            status=503,
            title="hub_restart",
            detail=f"the hub restarted while operation {occ.id} was {state}",
        )
    if event == "cancel" and error is None:
        error = cancelled_error(occ)
    if event == "complete" and changes is None:
        changes = ResourceChanges()
    kept = occ.error if target in WITH_ERROR else None
    return dataclasses.replace(
        occ,
        operation_state=target,
        state_entered_time=now,
        error=error if error is not None else kept,
        resource_changes=changes if target == "COMPLETED" else occ.resource_changes,
        is_cancel_pending=False,
        cancel_mode=None,
    )


def recover(occ: VnfLcmOpOcc, now: str, *, resume: bool = False) -> VnfLcmOpOcc:
    """What a hub restart does to ``occ`` (see the module docstring). A cancel asked for
    before the restart is what ends it where the restart would (the same state, the
    user's reason); one the engine resumes keeps its cancel pending, for the engine."""
    if occ.operation_state in TERMINAL or occ.operation_state == "FAILED_TEMP":
        return occ
    if resume and occ.operation_state in ("PROCESSING", "ROLLING_BACK"):
        return occ
    return advance(occ, "cancel" if occ.is_cancel_pending else "restart", now)


def notification_status(state: OperationState) -> Literal["START", "RESULT"]:
    """SOL003 ``notificationStatus``: START on entering STARTING, PROCESSING or
    ROLLING_BACK; RESULT on every result (final or FAILED_TEMP)."""
    return "START" if state in ("STARTING", "PROCESSING", "ROLLING_BACK") else "RESULT"


def notified_error(occ: VnfLcmOpOcc) -> ProblemDetails | None:
    """The ``error`` a notification carries: only in FAILED_TEMP, FAILED and ROLLED_BACK."""
    return occ.error if occ.operation_state in ("FAILED_TEMP", "FAILED", "ROLLED_BACK") else None


def _named(occ: VnfLcmOpOcc) -> str:
    params = occ.operation_params
    if occ.operation == "SCALE" and isinstance(params, Mapping) and "type" in params:
        return f"SCALE {params['type']}"
    return occ.operation
