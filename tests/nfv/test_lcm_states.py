"""The SOL003 v2 op occurrence state machine: every state and move, and random operation
sequences that never leave what SOL003 allows."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import Conflict
from atoll.nfv.errors import RollbackNotSupported
from atoll.nfv.lcm.instance import (
    OPERATION_STATES,
    OPERATIONS,
    Operation,
    OperationState,
    ResourceChanges,
    VnfInstance,
    VnfLcmOpOcc,
)
from atoll.nfv.lcm.states import (
    EVENTS,
    TERMINAL,
    TRANSITIONS,
    Event,
    active_op,
    advance,
    check_can_start,
    instance_state_after,
    notification_status,
    notified_error,
    recover,
    request_cancel,
    rollback_allowed,
    start,
)
from atoll.nfv.lcm.wire import ProblemDetails

NOW = "2026-11-30T18:00:00Z"
LATER = "2026-11-30T18:05:00Z"
BOOM = ProblemDetails(status=500, detail="site s1 refused the server")

# SOL003 figure 5.6.2.2-1 (written out again here, independently of the code's table).
SOL003_MOVES = {
    ("STARTING", "PROCESSING"),
    ("STARTING", "ROLLED_BACK"),
    ("PROCESSING", "COMPLETED"),
    ("PROCESSING", "FAILED_TEMP"),
    ("FAILED_TEMP", "PROCESSING"),
    ("FAILED_TEMP", "ROLLING_BACK"),
    ("FAILED_TEMP", "FAILED"),
    ("ROLLING_BACK", "ROLLED_BACK"),
    ("ROLLING_BACK", "FAILED_TEMP"),
}
ERROR_EVENTS = {"grant_refused", "fail_temp", "rollback_failed"}


def instance(state: str = "NOT_INSTANTIATED") -> VnfInstance:
    return VnfInstance.from_wire(
        {
            "id": "inst-1",
            "vnfdId": "vnfd-1",
            "vnfProvider": "Company",
            "vnfProductName": "Sample VNF",
            "vnfSoftwareVersion": "1.0",
            "vnfdVersion": "1.0",
            "instantiationState": state,
        }
    )


def occ(
    state: OperationState, operation: Operation = "INSTANTIATE", params: object = None
) -> VnfLcmOpOcc:
    return VnfLcmOpOcc(
        id="op-1",
        operation_state=state,
        state_entered_time=NOW,
        start_time=NOW,
        vnf_instance_id="inst-1",
        operation=operation,
        operation_params=params,
        error=BOOM if state in ("FAILED_TEMP", "FAILED", "ROLLED_BACK", "ROLLING_BACK") else None,
    )


def move(o: VnfLcmOpOcc, event: Event) -> VnfLcmOpOcc:
    error = BOOM if event in ERROR_EVENTS else None
    changes = ResourceChanges() if event == "complete" else None
    return advance(o, event, LATER, error=error, changes=changes)


def test_the_table_holds_exactly_the_sol003_moves() -> None:
    assert {(a, b) for (a, _), b in TRANSITIONS.items()} == SOL003_MOVES | {
        ("PROCESSING", "FAILED_TEMP")  # a hub restart (also a SOL003 move)
    }
    reached = {b for b in TRANSITIONS.values()} | {"STARTING"}
    assert reached == set(OPERATION_STATES)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(OPERATION_STATES, EVENTS)))
def test_every_state_and_event(state: OperationState, event: Event) -> None:
    """Each (state, event) either moves as the table says or is a 409, and nothing else."""
    before = occ(state)
    target = TRANSITIONS.get((state, event))
    if target is None:
        with pytest.raises(Conflict, match=state):
            move(before, event)
        return
    after = move(before, event)
    assert after.operation_state == target
    assert after.state_entered_time == LATER and after.start_time == NOW
    assert (after.error is not None) == (
        target in ("FAILED_TEMP", "FAILED", "ROLLED_BACK", "ROLLING_BACK")
    )
    assert (after.resource_changes is not None) == (target == "COMPLETED")


def test_task_moves_need_failed_temp() -> None:
    for state in ("STARTING", "PROCESSING", "COMPLETED", "FAILED", "ROLLED_BACK"):
        for event in ("retry", "rollback", "fail"):
            with pytest.raises(Conflict, match=f"{event} needs it in FAILED_TEMP"):
                move(occ(state), event)


@pytest.mark.parametrize(
    ("operation", "params", "allowed"),
    [
        ("INSTANTIATE", None, True),
        ("SCALE", {"type": "SCALE_OUT", "aspectId": "a"}, True),
        ("SCALE", {"type": "SCALE_IN", "aspectId": "a"}, False),
        ("SCALE_TO_LEVEL", {"instantiationLevelId": "l"}, False),
        ("HEAL", None, False),
        ("CHANGE_VNFPKG", {"vnfdId": "x"}, True),
        ("TERMINATE", {"terminationType": "FORCEFUL"}, False),
        ("MODIFY_INFO", {}, True),
    ],
)
def test_which_operations_roll_back(operation: Operation, params: object, allowed: bool) -> None:
    failed = occ("FAILED_TEMP", operation, params)
    assert rollback_allowed(failed) is allowed
    if allowed:
        assert move(failed, "rollback").operation_state == "ROLLING_BACK"
    else:
        with pytest.raises(RollbackNotSupported, match="cannot be rolled back") as caught:
            move(failed, "rollback")
        assert caught.value.http_status == 422


def test_errors_are_taken_only_where_sol003_sets_them() -> None:
    with pytest.raises(TypeError):
        advance(occ("PROCESSING"), "fail_temp", LATER)
    with pytest.raises(TypeError):
        advance(occ("STARTING"), "process", LATER, error=BOOM)
    with pytest.raises(TypeError):
        advance(occ("FAILED_TEMP"), "retry", LATER, changes=ResourceChanges())
    retried = move(occ("FAILED_TEMP"), "retry")
    assert retried.error is None  # PROCESSING carries no error
    rolled = move(move(occ("FAILED_TEMP"), "rollback"), "rolled_back")
    assert rolled.error == BOOM  # the failure that was rolled back


def test_a_hub_restart() -> None:
    assert recover(occ("STARTING"), LATER).operation_state == "ROLLED_BACK"
    for state in ("PROCESSING", "ROLLING_BACK"):
        after = recover(occ(state), LATER)
        assert after.operation_state == "FAILED_TEMP"
        assert after.error is not None and "restarted" in after.error.detail
        assert recover(occ(state), LATER, resume=True) == occ(state)
    for state in ("FAILED_TEMP", *TERMINAL):
        assert recover(occ(state), LATER) == occ(state)
    assert recover(occ("STARTING"), LATER, resume=True).operation_state == "ROLLED_BACK"


@pytest.mark.parametrize("state", OPERATION_STATES)
def test_a_cancel_is_asked_for_then_done(state: OperationState) -> None:
    """SOL003: STARTING, PROCESSING and ROLLING_BACK take a cancel (the intent first: the
    state stays, isCancelPending and cancelMode show it); its move is ROLLED_BACK from
    STARTING, FAILED_TEMP from the others, with an error saying so and the flag cleared."""
    before = occ(state)
    if state not in ("STARTING", "PROCESSING", "ROLLING_BACK"):
        with pytest.raises(Conflict, match=f"is {state}; cancel needs it in STARTING"):
            request_cancel(before, "GRACEFUL")
        return
    pending = request_cancel(before, "GRACEFUL")
    assert pending.is_cancel_pending and pending.cancel_mode == "GRACEFUL"
    assert pending.operation_state == state and pending.state_entered_time == NOW
    wire = pending.to_wire()
    assert wire["isCancelPending"] is True and wire["cancelMode"] == "GRACEFUL"
    assert request_cancel(pending, "FORCEFUL").cancel_mode == "FORCEFUL"  # made harder
    forceful = request_cancel(pending, "FORCEFUL")
    assert request_cancel(forceful, "GRACEFUL").cancel_mode == "FORCEFUL"  # never softer
    done = advance(pending, "cancel", LATER)
    assert done.operation_state == {"STARTING": "ROLLED_BACK"}.get(state, "FAILED_TEMP")
    assert done.error is not None and done.error.title == "cancelled"
    assert "GRACEFUL" in done.error.detail and state in done.error.detail
    assert not done.is_cancel_pending and done.cancel_mode is None
    wire = done.to_wire()
    assert wire["isCancelPending"] is False and "cancelMode" not in wire
    # any other move clears a pending cancel too (it was for the state it was asked in)
    if state == "STARTING":
        assert not advance(pending, "process", LATER).is_cancel_pending


def test_a_hub_restart_with_a_cancel_pending() -> None:
    pending = request_cancel(occ("STARTING"), "GRACEFUL")
    after = recover(pending, LATER, resume=True)
    assert after.operation_state == "ROLLED_BACK" and after.error is not None
    assert after.error.title == "cancelled"  # the user's reason, not the restart's
    for state in ("PROCESSING", "ROLLING_BACK"):
        pending = request_cancel(occ(state), "FORCEFUL")
        assert recover(pending, LATER, resume=True) == pending  # the engine acts on it
        stopped = recover(pending, LATER)
        assert stopped.operation_state == "FAILED_TEMP" and not stopped.is_cancel_pending


@pytest.mark.parametrize("operation", OPERATIONS)
def test_instantiation_state_rules(operation: Operation) -> None:
    for state in ("NOT_INSTANTIATED", "INSTANTIATED"):
        inst = instance(state)
        allowed = operation == "MODIFY_INFO" or (operation == "INSTANTIATE") == (
            state == "NOT_INSTANTIATED"
        )
        if allowed:
            started = start("op-2", inst, operation, [], NOW)
            assert started.operation_state == "STARTING" and started.vnf_instance_id == inst.id
        else:
            with pytest.raises(Conflict, match=f"{operation} needs a"):
                check_can_start(inst, operation, [])
    assert instance_state_after("INSTANTIATE", "NOT_INSTANTIATED") == "INSTANTIATED"
    assert instance_state_after("TERMINATE", "INSTANTIATED") == "NOT_INSTANTIATED"


def test_one_operation_at_a_time() -> None:
    inst = instance("INSTANTIATED")
    for state in OPERATION_STATES:
        other = dataclasses.replace(occ(state, "HEAL"), id="op-9")
        if state in TERMINAL:
            start("op-2", inst, "SCALE", [other], NOW)
            continue
        with pytest.raises(Conflict, match="op-9") as caught:
            start("op-2", inst, "SCALE", [other], NOW)
        assert caught.value.http_status == 409
        if state == "FAILED_TEMP":
            assert "retry, rollback or fail" in caught.value.message
    # Another instance's operation does not block this one.
    elsewhere = dataclasses.replace(occ("PROCESSING"), vnf_instance_id="inst-2")
    start("op-2", inst, "SCALE", [elsewhere], NOW)


def test_notifications() -> None:
    for state in OPERATION_STATES:
        o = occ(state)
        expected = "START" if state in ("STARTING", "PROCESSING", "ROLLING_BACK") else "RESULT"
        assert notification_status(state) == expected
        assert (notified_error(o) is not None) == (
            state in ("FAILED_TEMP", "FAILED", "ROLLED_BACK")
        )


def test_the_op_occurrence_on_the_wire() -> None:
    done = move(move(occ("STARTING", "SCALE", {"type": "SCALE_OUT"}), "process"), "complete")
    wire = done.to_wire()
    assert wire["operationState"] == "COMPLETED"
    assert wire["vnfInstanceId"] == "inst-1" and wire["resourceChanges"]["affectedVnfcs"] == []
    assert "error" not in wire and "grantId" not in wire  # absent, not null
    assert VnfLcmOpOcc.from_wire(wire) == done


# -- random operation sequences ---------------------------------------------------------------

ACTIONS = st.one_of(
    st.tuples(
        st.just("start"), st.sampled_from(OPERATIONS), st.sampled_from(["SCALE_OUT", "SCALE_IN"])
    ),
    st.tuples(st.just("event"), st.sampled_from(EVENTS), st.just("")),
    st.tuples(st.just("restart"), st.booleans(), st.just("")),
    st.tuples(st.just("cancel"), st.sampled_from(["GRACEFUL", "FORCEFUL"]), st.just("")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ACTIONS, max_size=40))
def test_random_sequences_stay_within_sol003(actions: list[tuple[object, object, object]]) -> None:
    inst = instance()
    ops: list[VnfLcmOpOcc] = []
    for n, (kind, what, how) in enumerate(actions):
        current = active_op(ops)
        if kind == "start":
            operation: Operation = what  # type: ignore[assignment]
            params = {"type": how} if operation == "SCALE" else None
            try:
                new = start(f"op-{n}", inst, operation, ops, NOW, params=params)
            except Conflict:
                needed_ok = operation == "MODIFY_INFO" or (operation == "INSTANTIATE") == (
                    inst.instantiation_state == "NOT_INSTANTIATED"
                )
                assert current is not None or not needed_ok
                continue
            assert current is None
            ops.append(new)
        elif current is None:
            continue
        elif kind == "event":
            event: Event = what  # type: ignore[assignment]
            try:
                after = move(current, event)
            except RollbackNotSupported:
                assert event == "rollback" and not rollback_allowed(current)
                continue
            except Conflict:
                assert (current.operation_state, event) not in TRANSITIONS
                continue
            assert (current.operation_state, after.operation_state) in SOL003_MOVES
            ops[ops.index(current)] = after
            if after.operation_state == "COMPLETED":
                inst = dataclasses.replace(
                    inst,
                    instantiation_state=instance_state_after(
                        after.operation, inst.instantiation_state
                    ),
                )
        elif kind == "cancel":
            try:
                after = request_cancel(current, what)  # type: ignore[arg-type]
            except Conflict:
                assert current.operation_state in ("FAILED_TEMP", *TERMINAL)
                continue
            assert after.operation_state == current.operation_state
            ops[ops.index(current)] = after
        else:
            after = recover(current, LATER, resume=bool(what))
            ops[ops.index(current)] = after
        # Invariants after every step.
        assert sum(1 for o in ops if o.operation_state not in TERMINAL) <= 1
        for o in ops:
            assert o.operation_state in OPERATION_STATES
            has_error = o.operation_state in (
                "FAILED_TEMP",
                "FAILED",
                "ROLLED_BACK",
                "ROLLING_BACK",
            )
            assert (o.error is not None) == has_error
            assert (o.resource_changes is not None) == (o.operation_state == "COMPLETED")
            assert (o.cancel_mode is not None) == o.is_cancel_pending
            if o.is_cancel_pending:
                assert o.operation_state in ("STARTING", "PROCESSING", "ROLLING_BACK")
        completed = [o.operation for o in ops if o.operation_state == "COMPLETED"]
        lifecycle = [op for op in completed if op in ("INSTANTIATE", "TERMINATE")]
        expected = (
            "INSTANTIATED" if lifecycle and lifecycle[-1] == "INSTANTIATE" else "NOT_INSTANTIATED"
        )
        assert inst.instantiation_state == expected


def test_every_move_is_reachable_from_a_started_operation() -> None:
    """Walking the functions themselves from ``start`` (not hand-built states) reaches every
    state and every move of the table, for an operation that can roll back."""
    first = start("op-1", instance(), "INSTANTIATE", [], NOW)
    seen: set[tuple[OperationState, Event]] = set()
    frontier = [first]
    visited = {first.operation_state}
    while frontier:
        current = frontier.pop()
        for event in EVENTS:
            try:
                after = move(current, event)
            except Conflict:
                continue
            seen.add((current.operation_state, event))
            if after.operation_state not in visited:
                visited.add(after.operation_state)
                frontier.append(after)
    assert seen == set(TRANSITIONS)
    assert visited == set(OPERATION_STATES)


def test_a_completed_operation_always_lists_its_changes() -> None:
    done = advance(occ("PROCESSING", "MODIFY_INFO"), "complete", LATER)
    assert done.resource_changes == ResourceChanges()


def test_errors_as_problem_details() -> None:
    from atoll.errors import InvalidInput, Problem
    from atoll.nfv.lcm.wire import problem_details

    details = problem_details(InvalidInput("bad request", [Problem("body.x", "is required")]))
    assert details.to_wire() == {
        "status": 400,
        "detail": "bad request: body.x: is required",
        "title": "invalid_input",
    }
    assert problem_details(Conflict("busy")).status == 409
