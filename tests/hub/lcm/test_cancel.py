"""``POST /vnflcm/v2/vnf_lcm_op_occs/{id}/cancel`` (SOL003 CancelMode) with fake sites: in
STARTING (ROLLED_BACK, nothing done), PROCESSING and ROLLING_BACK (FAILED_TEMP), GRACEFUL
(the sites in flight finish, none starts) against FORCEFUL (at once), the refusals (400,
404, 409), a hub restart with a cancel pending, and a cancel (or a hub stop) landing
between a site's write and the op occurrence's record of it.

The engine's own loop is stopped in each test: only the test moves the operations
(``run_once``), so an operation stays where the test holds it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import CIMultiDict

from atoll.errors import NotFound
from atoll.hub.lcm import records
from atoll.hub.lcm.engine import Engine
from atoll.hub.sites import intent
from atoll.hub.store.base import Store, Write
from atoll.hub.store.query import list_all
from atoll.hub.store.timed import Observe, TimedStore
from tests.hub.api.vnf_packages import package_api
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import TEST_SETTINGS
from tests.hub.lcm.lcmtest import INSTANCES, OCCS, Lcm, lcm_hub

TWO_SITES = {"placement": {"sites": ["s1", "s2"]}}


@pytest.fixture
async def lcm(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path) -> Lcm:
    lcm = await lcm_hub(await package_api(aiohttp_client, signing_key, tmp_path / "hub"))
    await lcm.engine.stop()
    return lcm


async def cancel(
    lcm: Lcm, op_id: str, body: Any = None, token: str | None = None
) -> tuple[int, Any, CIMultiDict[str]]:
    body = {"cancelMode": "GRACEFUL"} if body is None else body
    return await lcm.call("POST", f"{OCCS}/{op_id}/cancel", body, token=token)


async def accepted(lcm: Lcm, op_id: str, mode: str) -> dict[str, Any]:
    """Cancel; the op occurrence as shown right after (the intent, not yet the act)."""
    status, body, _ = await cancel(lcm, op_id, {"cancelMode": mode})
    assert status == 202 and body is None, (status, body)  # SOL003: 202, no body
    return await lcm.occ(op_id)


async def sites_written(lcm: Lcm) -> set[str]:
    """Names of the sites holding a live object (what the engine wrote)."""
    return {
        r.value["site"]
        for r in await list_all(lcm.api.store, intent.SITE_OBJECT, {})
        if r.value.get("desired") and r.value["kind"] in intent.PLACEABLE
    }


async def processing(lcm: Lcm, **params: Any) -> tuple[str, str]:
    """An instantiate on s1 and s2, PROCESSING: s1 done, s2 offline (applying)."""
    lcm.sites.offline.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {**TWO_SITES, **params}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    for _ in range(3):
        await lcm.engine.run_once()
        await lcm.sites.settle()
    await lcm.engine.run_once()
    occ = await lcm.occ(op_id)
    by_site = {s["siteName"]: s["state"] for s in occ["sites"]}
    assert occ["operationState"] == "PROCESSING" and by_site == {"s1": "done", "s2": "applying"}
    return instance_id, op_id


async def test_a_starting_operation_is_rolled_back_with_nothing_done(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    assert (await lcm.occ(op_id))["_links"]["cancel"]["href"].endswith(f"{op_id}/cancel")
    occ = await accepted(lcm, op_id, "GRACEFUL")
    assert occ["operationState"] == "STARTING"
    assert occ["isCancelPending"] is True and occ["cancelMode"] == "GRACEFUL"
    await lcm.engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "ROLLED_BACK"
    assert occ["isCancelPending"] is False and "cancelMode" not in occ
    assert occ["error"]["title"] == "cancelled" and "nothing was done" in occ["error"]["detail"]
    assert "cancel" not in occ["_links"]
    assert occ["sites"] and all(
        s["state"] == "pending" and "not started" in s["message"] for s in occ["sites"]
    )
    assert await sites_written(lcm) == set()
    assert sorted(await lcm.notified_states(op_id)) == ["ROLLED_BACK", "STARTING"]
    with pytest.raises(NotFound):  # the lock went with it: the instance takes a new operation
        await lcm.api.store.get(records.LOCK, instance_id)
    await lcm.instantiate(instance_id)


async def test_forceful_stops_at_once_and_rollback_cleans_the_sites(lcm: Lcm) -> None:
    _, op_id = await processing(lcm)
    occ = await accepted(lcm, op_id, "FORCEFUL")
    assert occ["operationState"] == "PROCESSING" and occ["isCancelPending"] is True
    assert occ["cancelMode"] == "FORCEFUL"
    await lcm.engine.run_once()  # s2 never answered: no waiting for it
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "FAILED_TEMP" and occ["isCancelPending"] is False
    assert "cancelMode" not in occ
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site["s1"]["state"] == "done"
    assert by_site["s2"]["state"] == "failed" and "stopped" in by_site["s2"]["message"]
    error = occ["error"]
    assert error["title"] == "cancelled" and "FORCEFUL" in error["detail"]
    assert "done: s1" in error["detail"] and "failed: s2" in error["detail"]
    assert set(occ["_links"]) >= {"retry", "rollback", "fail"} and "cancel" not in occ["_links"]
    assert "FAILED_TEMP" in await lcm.notified_states(op_id)
    # what s2 was told stays told; the rollback settles it once s2 is back
    lcm.sites.offline.clear()
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/rollback")
    assert status == 202
    await lcm.until(op_id, "ROLLED_BACK")
    assert await sites_written(lcm) == set()


async def test_graceful_lets_the_site_in_flight_finish_and_starts_no_other(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {**TWO_SITES, "maxParallel": 1}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    await lcm.engine.run_once()  # PROCESSING: one site written, the other pending
    occ = await lcm.occ(op_id)
    states = sorted(s["state"] for s in occ["sites"])
    assert occ["operationState"] == "PROCESSING" and states == ["applying", "pending"]
    (first,) = [s["siteName"] for s in occ["sites"] if s["state"] == "applying"]
    await accepted(lcm, op_id, "GRACEFUL")
    await lcm.engine.run_once()  # the site has not answered yet: the engine waits
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "PROCESSING" and occ["isCancelPending"] is True
    assert await sites_written(lcm) == {first}
    await lcm.sites.settle()
    await lcm.engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "FAILED_TEMP" and occ["isCancelPending"] is False
    by_site = {s["siteName"]: s for s in occ["sites"]}
    (second,) = set(by_site) - {first}
    assert by_site[first]["state"] == "done"
    assert by_site[second]["state"] == "pending" and "cancelled" in by_site[second]["message"]
    assert "GRACEFUL" in occ["error"]["detail"]
    assert await sites_written(lcm) == {first}  # the other was never written
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/retry")
    assert status == 202
    await lcm.until(op_id, "COMPLETED")
    assert await sites_written(lcm) == {"s1", "s2"}


async def test_graceful_on_a_site_that_never_answers_waits_then_forceful_stops(
    lcm: Lcm,
) -> None:
    _, op_id = await processing(lcm)
    await accepted(lcm, op_id, "GRACEFUL")
    for _ in range(3):
        await lcm.sites.settle()
        await lcm.engine.run_once()
    assert (await lcm.occ(op_id))["operationState"] == "PROCESSING"  # s2 is in flight
    occ = await accepted(lcm, op_id, "FORCEFUL")  # made harder while pending
    assert occ["cancelMode"] == "FORCEFUL"
    occ = await accepted(lcm, op_id, "GRACEFUL")  # never softer again
    assert occ["cancelMode"] == "FORCEFUL"
    await lcm.engine.run_once()
    assert (await lcm.occ(op_id))["operationState"] == "FAILED_TEMP"


async def test_cancel_while_rolling_back_then_retry_completes_everywhere(lcm: Lcm) -> None:
    lcm.sites.failing.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": TWO_SITES}
    op_id = await lcm.task(instance_id, "instantiate", body)
    await lcm.until(op_id, "FAILED_TEMP")
    lcm.sites.failing.clear()
    lcm.sites.offline.add("s2")  # the rollback waits for s2
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/rollback")
    assert status == 202
    for _ in range(3):
        await lcm.engine.run_once()
        await lcm.sites.settle()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "ROLLING_BACK" and "cancel" in occ["_links"]
    assert {s["siteName"]: s["state"] for s in occ["sites"]}["s1"] == "done"  # rolled back
    await accepted(lcm, op_id, "FORCEFUL")
    await lcm.engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "FAILED_TEMP"
    assert "the rollback of operation" in occ["error"]["detail"]
    # a retry runs the operation again at every site, those the rollback had undone too
    lcm.sites.offline.clear()
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/retry")
    assert status == 202
    await lcm.until(op_id, "COMPLETED")
    assert await sites_written(lcm) == {"s1", "s2"}
    instance = await lcm.ok("GET", f"{INSTANCES}/{instance_id}?all_fields")
    vnfcs = instance["instantiatedVnfInfo"]["vnfcResourceInfo"]
    assert len({v["computeResource"]["vimConnectionId"] for v in vnfcs}) == 2


class AfterSiteWrite(TimedStore):
    """The store, but the first commit writing site objects runs ``then`` once it is in (as
    a request served meanwhile would land there, before the engine's next write)."""

    def __init__(self, store: Store, then: Callable[[], Awaitable[object]]) -> None:
        super().__init__(store, self)
        self.then: Callable[[], Awaitable[object]] | None = then

    def store_timer(self, backend: str, operation: str) -> Observe:
        return lambda seconds: None

    async def commit(self, writes: Sequence[Write]) -> int:
        revision = await self.inner.commit(writes)
        if self.then is not None and any(w.kind == intent.SITE_OBJECT for w in writes):
            then, self.then = self.then, None
            await then()
        return revision


async def test_a_cancel_landing_between_a_site_write_and_its_record_waits_for_that_site(
    lcm: Lcm, tmp_path: Path
) -> None:
    """The engine records a site as applying before writing it (intent before act): a
    GRACEFUL cancel that lands right after the write (the engine's next save of the op
    occurrence then loses its compare-and-set) finds that site in flight, waits for it and
    says it was done, not "not started"."""
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {**TWO_SITES, "maxParallel": 1}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    store = AfterSiteWrite(lcm.api.store, lambda: accepted(lcm, op_id, "GRACEFUL"))
    engine = Engine(replace(TEST_SETTINGS, data_dir=tmp_path / "hub"), store)
    await engine.run_once()  # PROCESSING; one site written, and the cancel lands at once
    assert store.then is None  # the cancel did land between the write and the save
    (first,) = await sites_written(lcm)
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "PROCESSING" and occ["isCancelPending"] is True
    by_site = {s["siteName"]: s["state"] for s in occ["sites"]}
    (second,) = set(by_site) - {first}
    assert by_site == {first: "applying", second: "pending"}
    for _ in range(3):
        await lcm.sites.settle()
        await engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "FAILED_TEMP" and occ["isCancelPending"] is False
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site[first]["state"] == "done", by_site[first]
    assert by_site[second]["state"] == "pending" and "cancelled" in by_site[second]["message"]
    assert f"done: {first}" in occ["error"]["detail"]
    assert f"not started: {second}" in occ["error"]["detail"]
    assert await sites_written(lcm) == {first}  # the other was never written


class HubStops(Exception):
    """The hub 'dies' here: the engine's pass goes no further."""


async def hub_stops() -> None:
    raise HubStops


async def test_a_hub_stopping_between_a_site_write_and_its_record_finds_the_site_in_flight(
    lcm: Lcm, tmp_path: Path
) -> None:
    """A hub that stops right after writing a site (before the op occurrence says what the
    write answered) carries on with that site applying: a GRACEFUL cancel then waits for it,
    and the site that was never written is the one "not started"."""
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {**TWO_SITES, "maxParallel": 1}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub")
    with pytest.raises(HubStops):
        await Engine(settings, AfterSiteWrite(lcm.api.store, hub_stops)).run_once()
    (first,) = await sites_written(lcm)
    engine = Engine(settings, lcm.api.store)  # `atoll hub serve` again
    await engine.recover()
    await accepted(lcm, op_id, "GRACEFUL")
    for _ in range(3):
        await lcm.sites.settle()
        await engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "FAILED_TEMP" and occ["error"]["title"] == "cancelled"
    by_site = {s["siteName"]: s for s in occ["sites"]}
    (second,) = set(by_site) - {first}
    assert by_site[first]["state"] == "done", by_site[first]
    assert by_site[second]["state"] == "pending" and "cancelled" in by_site[second]["message"]
    assert await sites_written(lcm) == {first}


async def test_only_starting_processing_and_rolling_back_take_a_cancel(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    done = await lcm.instantiate(instance_id)
    status, body, headers = await cancel(lcm, done)
    assert status == 409 and "is COMPLETED" in body["detail"] and body["status"] == 409
    assert headers["Content-Type"].startswith("application/problem+json")
    lcm.sites.failing.add("s2")
    body = {"flavourId": "simple", "additionalParams": TWO_SITES}
    op_id = await lcm.task(await lcm.instance("second"), "instantiate", body)
    await lcm.until(op_id, "FAILED_TEMP")
    status, body, _ = await cancel(lcm, op_id, {"cancelMode": "FORCEFUL"})
    assert status == 409 and "is FAILED_TEMP" in body["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "body.cancelMode"),
        ({"cancelMode": "SOFT"}, "body.cancelMode"),
        ({"cancelMode": None}, "body.cancelMode"),
        ({"cancelMode": "GRACEFUL", "timeout": 5}, "body.timeout"),
        ([], "body"),
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field(lcm: Lcm, body: Any, where: str) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    status, problem, headers = await cancel(lcm, op_id, body)
    assert status == 400 and problem["status"] == 400 and where in problem["detail"], problem
    assert headers["Content-Type"].startswith("application/problem+json")
    assert (await lcm.occ(op_id))["isCancelPending"] is False


async def test_another_projects_operation_is_not_found(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    other = await lcm.other_member()
    status, _, _ = await cancel(lcm, op_id, token=other)
    assert status == 404
    reader = await lcm.api.user_with_role("ar", "a", "reader")
    status, _, _ = await cancel(lcm, op_id, token=reader)
    assert status == 403  # the policy of retry, rollback and fail: writers only
    assert (await lcm.occ(op_id))["isCancelPending"] is False


async def test_a_hub_restart_with_a_cancel_pending_carries_it_out(lcm: Lcm, tmp_path: Path) -> None:
    """The cancel is in the store before anything stops: a hub that restarts in between
    finds it and acts on it (GRACEFUL still waits for the site in flight)."""
    _, graceful = await processing(lcm)
    await accepted(lcm, graceful, "GRACEFUL")
    starting = await lcm.task(await lcm.instance("second"), "instantiate", {"flavourId": "simple"})
    await accepted(lcm, starting, "FORCEFUL")
    # a new engine on the same store: what `atoll hub serve` does when it starts again
    engine = Engine(replace(TEST_SETTINGS, data_dir=tmp_path / "hub"), lcm.api.store)
    assert await engine.recover() == 1
    occ = await lcm.occ(starting)
    assert occ["operationState"] == "ROLLED_BACK" and occ["error"]["title"] == "cancelled"
    occ = await lcm.occ(graceful)
    assert occ["operationState"] == "PROCESSING" and occ["cancelMode"] == "GRACEFUL"
    await engine.run_once()
    assert (await lcm.occ(graceful))["operationState"] == "PROCESSING"  # s2 still in flight
    lcm.sites.offline.clear()
    for _ in range(3):
        await lcm.sites.settle()
        await engine.run_once()
    occ = await lcm.occ(graceful)
    assert occ["operationState"] == "FAILED_TEMP" and occ["error"]["title"] == "cancelled"
    assert all(s["state"] == "done" for s in occ["sites"])  # s2 finished what it was doing
    assert "FAILED_TEMP" in await lcm.notified_states(graceful)


async def test_python_tackerclients_v1_path_cancels_the_same_operation(lcm: Lcm) -> None:
    """``openstack vnflcm op cancel`` exists for the client's v1 API only: it posts to
    /vnflcm/v1/... with no Version header. The hub serves that one task there (no other v1
    resource, and api_versions names no v1)."""
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    path = f"/vnflcm/v1/vnf_lcm_op_occs/{op_id}/cancel"
    status, body, _ = await lcm.api.call("POST", path, lcm.token, {"cancelMode": "FORCEFUL"})
    assert status == 202 and body is None
    occ = await lcm.occ(op_id)
    assert occ["isCancelPending"] is True and occ["cancelMode"] == "FORCEFUL"
    status, problem, _ = await lcm.api.call("POST", path, lcm.token, {"cancelMode": "x"})
    assert status == 400 and "body.cancelMode" in problem["detail"]
    status, _, _ = await lcm.api.call("GET", f"/vnflcm/v1/vnf_lcm_op_occs/{op_id}", lcm.token)
    assert status == 404
    status, versions, _ = await lcm.api.call("GET", "/vnflcm/api_versions")
    assert status == 200 and [v["version"] for v in versions["apiVersions"]] == ["2.0.0"]
