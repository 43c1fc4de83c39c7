"""How the engine works an operation (``additionalParams`` maxParallel, siteTimeout,
stopOnFailure): checked at the request, and never an op occurrence nothing can end.

Before: the engine read the three raw (``int()``, ``float()``, ``bool()``), so a string
was a 500, ``"stopOnFailure": "false"`` was true, ``maxParallel: -1`` left the op
occurrence PROCESSING forever with no site written (retry, rollback and fail need
FAILED_TEMP, terminate and delete need no active operation: nothing could end it), and
``siteTimeout: 1e300`` let an offline site hold an operation for good.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.lcm import records
from atoll.hub.store.query import list_all
from tests.hub.api.vnf_packages import package_api
from tests.hub.conftest import AiohttpClient
from tests.hub.lcm.lcmtest import INSTANCES, OCCS, VNFD_ID, Lcm, lcm_hub

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"maxParallel": "abc"}, "maxParallel", "must be an integer"),
    ({"maxParallel": [1]}, "maxParallel", "must be an integer"),
    ({"maxParallel": 1.5}, "maxParallel", "must be an integer"),
    ({"maxParallel": -1}, "maxParallel", "must be in 1..10000"),
    ({"maxParallel": 0}, "maxParallel", "must be in 1..10000"),
    ({"maxParallel": 10**400}, "maxParallel", "must be in 1..10000"),
    ({"siteTimeout": "abc"}, "siteTimeout", "must be a number"),
    ({"siteTimeout": {}}, "siteTimeout", "must be a number"),
    ({"siteTimeout": 0}, "siteTimeout", "must be in 1..86400"),
    ({"siteTimeout": -5}, "siteTimeout", "must be in 1..86400"),
    ({"siteTimeout": 1e300}, "siteTimeout", "must be in 1..86400"),
    ({"stopOnFailure": "false"}, "stopOnFailure", "must be true or false"),
    ({"stopOnFailure": 0}, "stopOnFailure", "must be true or false"),
]
TASKS: list[tuple[str, dict[str, Any]]] = [
    ("instantiate", {"flavourId": "simple"}),
    ("scale", {"type": "SCALE_OUT", "aspectId": "workers"}),
    ("scale_to_level", {"scaleInfo": [{"aspectId": "workers", "scaleLevel": 1}]}),
    ("heal", {}),
    ("change_vnfpkg", {"vnfdId": VNFD_ID}),
    ("terminate", {"terminationType": "FORCEFUL"}),
]


@pytest.fixture
async def lcm(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path) -> Lcm:
    return await lcm_hub(await package_api(aiohttp_client, signing_key, tmp_path / "hub"))


async def test_every_task_refuses_a_bad_option_with_a_400_naming_it(lcm: Lcm) -> None:
    fresh = await lcm.instance("fresh")
    running = await lcm.instance("running")
    await lcm.instantiate(running)
    for task, body in TASKS:
        instance_id = fresh if task == "instantiate" else running
        for params, key, message in BAD:
            sent = {**body, "additionalParams": {"vnfOwn": {"x": "y"}, **params}}
            status, reply, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/{task}", sent)
            assert status == 400, (task, params, status, reply)
            assert f"body.additionalParams.{key}: {message}" in reply["detail"], (task, reply)
    occs = await list_all(lcm.api.store, records.OP_OCC, {})
    assert len(occs) == 1  # the instantiate that ran; none of the refused made one


async def test_good_options_are_taken_and_the_vnfs_own_params_left_alone(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    params = {"maxParallel": 1, "siteTimeout": 60, "stopOnFailure": True, "vnfOwn": [1, "a"]}
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple",
                                                        "additionalParams": params})  # fmt: skip
    work = (await lcm.api.store.get(records.OP_OCC, op_id)).value["work"]
    assert (work["max_parallel"], work["site_timeout"], work["stop_on_failure"]) == (1, 60, True)
    occ = await lcm.until(op_id, "COMPLETED")
    assert occ["operationParams"]["additionalParams"] == params


async def stored_as_an_earlier_hub_did(lcm: Lcm, op_id: str, **work: Any) -> None:
    """The op occurrence's work with ``work`` set, as a hub before the checks stored it."""
    record = await lcm.api.store.get(records.OP_OCC, op_id)
    value = {**record.value, "work": {**record.value["work"], **work}}
    await lcm.api.store.put(records.OP_OCC, op_id, value, expect_revision=record.revision)


async def test_an_operation_that_can_start_no_site_fails_and_its_tasks_end_it(lcm: Lcm) -> None:
    await lcm.engine.stop()  # only this test moves the operations
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    await stored_as_an_earlier_hub_did(lcm, op_id, max_parallel=-1)
    occ = await lcm.until(op_id, "FAILED_TEMP", rounds=3)
    assert occ["error"]["title"] == "no_progress"
    assert "no site could be started (maxParallel -1)" in occ["error"]["detail"]
    assert all(s["state"] == "pending" for s in occ["sites"])
    assert {"retry", "rollback", "fail"} <= set(occ["_links"])
    # retry runs it again with the hub's own setting (0: every site at once)
    await lcm.ok("POST", f"{OCCS}/{op_id}/retry")
    assert (await lcm.until(op_id, "COMPLETED"))["operationState"] == "COMPLETED"

    # and fail ends one for good: the instance is free again, and can be deleted
    other = await lcm.instance("other")
    op_id = await lcm.task(other, "instantiate", {"flavourId": "simple"})
    await stored_as_an_earlier_hub_did(lcm, op_id, max_parallel="abc")
    await lcm.until(op_id, "FAILED_TEMP", rounds=3)
    failed = await lcm.ok("POST", f"{OCCS}/{op_id}/fail")
    assert failed["operationState"] == "FAILED"
    status, _, _ = await lcm.call("DELETE", f"{INSTANCES}/{other}")
    assert status == 204


async def test_the_hubs_own_negative_max_parallel_fails_the_operation_too(lcm: Lcm) -> None:
    lcm.engine.settings = replace(lcm.engine.settings, lcm_max_parallel=-3)
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    occ = await lcm.until(op_id, "FAILED_TEMP", rounds=3)
    assert "maxParallel -3" in occ["error"]["detail"]
    await lcm.ok("POST", f"{OCCS}/{op_id}/rollback")
    occ = await lcm.until(op_id, "ROLLED_BACK", "FAILED_TEMP", rounds=3)
    assert occ["operationState"] == "FAILED_TEMP"  # the setting still starts nothing
    assert (await lcm.ok("POST", f"{OCCS}/{op_id}/fail"))["operationState"] == "FAILED"


async def test_a_stored_site_timeout_beyond_a_day_is_a_day(lcm: Lcm) -> None:
    await lcm.engine.stop()
    lcm.sites.offline.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {"placement": {"sites": ["s1", "s2"]}}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    await stored_as_an_earlier_hub_did(lcm, op_id, site_timeout=1e300)
    for _ in range(3):
        await lcm.sites.settle()
        await lcm.engine.run_once()
    lcm.api.clock.now += 86_399  # (read from the store: a day later the token has expired)
    await lcm.engine.run_once()
    record = await lcm.api.store.get(records.OP_OCC, op_id)
    assert record.value["operationState"] == "PROCESSING"
    lcm.api.clock.now += 2
    await lcm.engine.run_once()
    record = await lcm.api.store.get(records.OP_OCC, op_id)
    assert record.value["operationState"] == "FAILED_TEMP"
    s2 = next(s for s in record.value["work"]["sites"].values() if s["site"] == "s2")
    assert s2["state"] == "failed" and "within 86400 s" in s2["message"]
