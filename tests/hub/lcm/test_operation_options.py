"""How the engine works an operation (``additionalParams`` maxParallel, siteTimeout,
stopOnFailure): checked at the request, and never an op occurrence nothing can end.

Before: the engine read the three raw (``int()``, ``float()``, ``bool()``), so a string
was a 500, ``"stopOnFailure": "false"`` was true, ``maxParallel: -1`` left the op
occurrence PROCESSING forever with no site written (retry, rollback and fail need
FAILED_TEMP, terminate and delete need no active operation: nothing could end it), and
``siteTimeout: 1e300`` let an offline site hold an operation for good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.lcm import records
from atoll.hub.store.query import list_all
from tests.hub.api.vnf_packages import package_api
from tests.hub.conftest import AiohttpClient
from tests.hub.lcm.lcmtest import INSTANCES, VNFD_ID, Lcm, lcm_hub

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
