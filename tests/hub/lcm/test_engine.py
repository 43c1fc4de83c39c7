"""The hub's LCM engine with fake sites: operations, one at a time, per-site results,
FAILED_TEMP and its tasks, offline sites, recovery."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.errors import NotFound
from atoll.hub.lcm import outbox, records
from atoll.hub.lcm.engine import Engine
from atoll.hub.sites import intent, registry
from atoll.hub.store.query import list_all
from atoll.hub.sync.operations import record_operation
from tests.hub.api.vnf_packages import package_api, upload
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import TEST_SETTINGS
from tests.hub.lcm.lcmtest import INSTANCES, OCCS, VNFD, VNFD_ID, Lcm, lcm_hub


@pytest.fixture
async def lcm(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path) -> Lcm:
    return await lcm_hub(await package_api(aiohttp_client, signing_key, tmp_path / "hub"))


async def objects_at(lcm: Lcm, kind: str | None = None) -> dict[str, list[str]]:
    """Site name -> ids of the live site objects of ``kind`` (all placeable kinds)."""
    out: dict[str, list[str]] = {}
    for r in await list_all(lcm.api.store, intent.SITE_OBJECT, {}):
        live = r.value.get("desired") and r.value["kind"] in intent.PLACEABLE
        if live and (kind or r.value["kind"]) == r.value["kind"]:
            out.setdefault(r.value["site"], []).append(r.value["id"])
    return out


async def test_instantiate_spreads_over_sites_and_reports_each(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    package = (await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages", lcm.token))[0]
    assert package["usageState"] == "IN_USE"
    op_id = await lcm.instantiate(instance_id)
    occ = await lcm.occ(op_id)
    assert occ["operation"] == "INSTANTIATE" and "error" not in occ
    vnfcs = occ["resourceChanges"]["affectedVnfcs"]
    assert sorted(v["changeType"] for v in vnfcs) == ["ADDED", "ADDED"]
    assert len({v["computeResource"]["vimConnectionId"] for v in vnfcs}) == 2  # anti-affinity
    done = [s for s in occ["sites"] if s["state"] == "done"]
    assert len(done) == 2 and all(s["resourceChanges"]["affectedVnfcs"] for s in done)
    instance = await lcm.ok("GET", f"{INSTANCES}/{instance_id}?all_fields")
    assert instance["instantiationState"] == "INSTANTIATED"
    info = instance["instantiatedVnfInfo"]
    assert [v["id"] for v in info["vnfcResourceInfo"]] == ["VDU1-0", "VDU1-1"]
    assert all(v["metadata"]["addresses"] for v in info["vnfcResourceInfo"])
    servers = await objects_at(lcm, "server")
    assert sorted(len(v) for v in servers.values()) == [1, 1]
    assert {"STARTING", "PROCESSING", "COMPLETED"} <= set(await lcm.notified_states())


async def test_a_package_not_on_this_hub_is_said_so_naming_no_path(
    lcm: Lcm, tmp_path: Path
) -> None:
    """Each hub keeps the package files it received; a hub without them names none of its
    own paths to the tenant."""
    instance_id = await lcm.instance()
    for stored in (tmp_path / "hub" / "vnf_packages").glob("*.zip"):
        stored.unlink()
    status, body, _ = await lcm.call(
        "POST", f"{INSTANCES}/{instance_id}/instantiate", {"flavourId": "simple"}
    )
    assert status == 404, body
    assert "is not on this hub" in body["detail"]
    assert str(tmp_path) not in str(body)


async def test_one_operation_at_a_time_is_the_stores_rule(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    status, body, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/terminate",
                                     {"terminationType": "FORCEFUL"})  # fmt: skip
    assert status == 409 and op_id in body["detail"]
    # even when the engine's own check is passed by: the lock record refuses the commit
    lock = await lcm.api.store.get(records.LOCK, instance_id)
    assert lock.value["op_id"] == op_id
    await lcm.until(op_id, "COMPLETED")
    with pytest.raises(NotFound):
        await lcm.api.store.get(records.LOCK, instance_id)
    status, body, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/instantiate",
                                     {"flavourId": "simple"})  # fmt: skip
    assert status == 409 and "NOT_INSTANTIATED" in body["detail"]


async def test_two_concurrent_requests_get_one_202_and_one_409(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    path = f"{INSTANCES}/{instance_id}/instantiate"
    replies = await asyncio.gather(
        *(lcm.call("POST", path, {"flavourId": "simple"}) for _ in range(4))
    )
    assert sorted(status for status, _, _ in replies) == [202, 409, 409, 409]


async def test_scale_out_terminate_and_delete_leave_nothing(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    op_id = await lcm.task(
        instance_id, "scale", {"type": "SCALE_OUT", "aspectId": "workers", "numberOfSteps": 1}
    )
    occ = await lcm.until(op_id, "COMPLETED")
    added = occ["resourceChanges"]["affectedVnfcs"]
    assert [(v["id"], v["changeType"]) for v in added] == [("VDU1-2", "ADDED")]
    assert sorted(len(v) for v in (await objects_at(lcm, "server")).values()) == [1, 1, 1]
    instance = await lcm.ok("GET", f"{INSTANCES}/{instance_id}?fields=instantiatedVnfInfo")
    assert instance["instantiatedVnfInfo"]["scaleStatus"] == [
        {"aspectId": "workers", "scaleLevel": 1}
    ]
    # past max_scale_level: 400, and no op occurrence
    status, body, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/scale",
                                     {"type": "SCALE_OUT", "aspectId": "workers",
                                      "numberOfSteps": 5})  # fmt: skip
    assert status == 400, body
    status, _, _ = await lcm.call("DELETE", f"{INSTANCES}/{instance_id}")
    assert status == 409  # INSTANTIATED
    op_id = await lcm.task(instance_id, "terminate", {"terminationType": "FORCEFUL"})
    occ = await lcm.until(op_id, "COMPLETED")
    assert {v["changeType"] for v in occ["resourceChanges"]["affectedVnfcs"]} == {"REMOVED"}
    assert await objects_at(lcm) == {}
    status, _, _ = await lcm.call("DELETE", f"{INSTANCES}/{instance_id}")
    assert status == 204
    package = (await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages", lcm.token))[0]
    assert package["usageState"] == "NOT_IN_USE"


async def test_a_scale_past_max_number_of_instances_is_refused_before_any_site_work(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    """A package whose aspect reaches past a vdu_profile onboards with a warning (vendors
    ship those); the scale that would go past the bound is a 400 naming the VDU, the count
    and the bound, with no op occurrence and nothing sent to a site."""
    tight = VNFD.replace("max_number_of_instances: 4", "max_number_of_instances: 3")
    api = await package_api(aiohttp_client, signing_key, tmp_path / "hub")
    lcm = await lcm_hub(api, vnfd=tight)
    package = (await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages?all_fields", lcm.token))[0]
    assert package["onboardingState"] == "ONBOARDED"
    assert any(
        "scaling it past level 1 will be refused" in w["what"] for w in package["warnings"]
    ), package["warnings"]
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    servers = await objects_at(lcm, "server")
    out = {"type": "SCALE_OUT", "aspectId": "workers"}
    asks: list[tuple[str, dict[str, object]]] = [
        ("scale", out | {"numberOfSteps": 2}),
        ("scale_to_level", {"scaleInfo": [{"aspectId": "workers", "scaleLevel": 2}]}),
    ]
    for task, body in asks:
        status, problem, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/{task}", body)
        assert status == 400, problem
        assert "4 instances of VDU1 asked for" in problem["detail"], problem
        assert "max_number_of_instances is 3" in problem["detail"]
    assert [o["operation"] for o in await lcm.ok("GET", OCCS)] == ["INSTANTIATE"]
    assert await objects_at(lcm, "server") == servers
    # within the bound the same package scales
    op_id = await lcm.task(instance_id, "scale", out | {"numberOfSteps": 1})
    await lcm.until(op_id, "COMPLETED")


async def test_graceful_terminate_stops_the_servers_first(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    body = {"terminationType": "GRACEFUL", "gracefulTerminationTimeout": 600}
    op_id = await lcm.task(instance_id, "terminate", body)
    await lcm.engine.run_once()  # STARTING -> PROCESSING, the stop written
    await lcm.engine.run_once()
    servers = [
        r.value for r in await list_all(lcm.api.store, intent.SITE_OBJECT, {"kind": "server"})
    ]
    assert {s["desired"]["spec"]["power"] for s in servers} == {"stopped"}
    await lcm.until(op_id, "COMPLETED")
    assert await objects_at(lcm) == {}


async def test_a_failure_at_one_site_leaves_failed_temp_and_rollback_leaves_nothing(
    lcm: Lcm,
) -> None:
    lcm.sites.failing.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple",
            "additionalParams": {"placement": {"sites": ["s1", "s2"]}}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    occ = await lcm.until(op_id, "FAILED_TEMP")
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site["s1"]["state"] == "done"  # the other site went on
    assert by_site["s2"]["state"] == "failed" and "injected" in by_site["s2"]["message"]
    assert "s2" in occ["error"]["detail"] and "resourceChanges" not in occ
    assert set(occ["_links"]) >= {"retry", "rollback", "fail"}
    status, _, headers = await lcm.call("POST", f"{OCCS}/{op_id}/rollback")
    assert status == 202 and headers["Location"].endswith(op_id)
    occ = await lcm.until(op_id, "ROLLED_BACK")
    assert await objects_at(lcm) == {}
    instance = await lcm.ok("GET", f"{INSTANCES}/{instance_id}")
    assert instance["instantiationState"] == "NOT_INSTANTIATED"
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/retry")
    assert status == 409  # ROLLED_BACK is final


async def test_retry_after_the_site_is_fixed_completes(lcm: Lcm) -> None:
    lcm.sites.failing.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple",
            "additionalParams": {"placement": {"sites": ["s1", "s2"]}}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    await lcm.until(op_id, "FAILED_TEMP")
    lcm.sites.failing.clear()
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/retry")
    assert status == 202
    occ = await lcm.until(op_id, "COMPLETED")
    assert all(s["state"] == "done" for s in occ["sites"])
    # the server the site left in ERROR was asked to build again (a new spec)
    servers = await list_all(lcm.api.store, intent.SITE_OBJECT, {"kind": "server"})
    rebuilds = {r.value["site"]: r.value["desired"]["spec"].get("rebuilds", 0) for r in servers}
    assert rebuilds == {"s1": 0, "s2": 1}


async def test_retry_after_a_failed_rollback_runs_the_operation_at_every_site(lcm: Lcm) -> None:
    """A rollback that undid one site and timed out at the other is FAILED_TEMP; a retry
    then makes the operation again at both (the undone site is not "done" for it)."""
    lcm.sites.failing.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {
        "placement": {"sites": ["s1", "s2"]}, "siteTimeout": 20}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    await lcm.until(op_id, "FAILED_TEMP")
    lcm.sites.failing.clear()
    lcm.sites.offline.add("s2")
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/rollback")
    assert status == 202
    for _ in range(3):
        await lcm.sites.settle()
        await lcm.engine.run_once()
    lcm.api.clock.now += 21
    occ = await lcm.until(op_id, "FAILED_TEMP")
    assert occ["error"]["title"] == "rollback_failed" and "s1" not in await objects_at(lcm)
    lcm.sites.offline.clear()
    status, _, _ = await lcm.call("POST", f"{OCCS}/{op_id}/retry")
    assert status == 202
    await lcm.until(op_id, "COMPLETED")
    servers = await objects_at(lcm, "server")
    assert sorted(servers) == ["s1", "s2"]


async def test_fail_gives_up_and_the_instance_is_not_deleted_with_leftovers(lcm: Lcm) -> None:
    lcm.sites.failing.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple",
            "additionalParams": {"placement": {"sites": ["s1", "s2"]}}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    await lcm.until(op_id, "FAILED_TEMP")
    occ = await lcm.ok("POST", f"{OCCS}/{op_id}/fail")
    assert occ["operationState"] == "FAILED" and occ["error"]["detail"]
    status, body, _ = await lcm.call("DELETE", f"{INSTANCES}/{instance_id}")
    assert status == 409 and "still has" in body["detail"]


async def test_an_offline_site_keeps_the_operation_processing_and_says_so(lcm: Lcm) -> None:
    lcm.sites.offline.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple",
            "additionalParams": {"placement": {"sites": ["s1", "s2"]}}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    for _ in range(5):
        await lcm.sites.settle()
        await lcm.engine.run_once()
    occ = await lcm.occ(op_id)
    assert occ["operationState"] == "PROCESSING"
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site["s1"]["state"] == "done"
    assert by_site["s2"]["state"] == "applying" and "offline" in by_site["s2"]["message"]
    lcm.sites.offline.clear()
    await lcm.until(op_id, "COMPLETED")


async def test_max_parallel_works_one_site_at_a_time(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {"maxParallel": 1}}
    op_id = await lcm.task(instance_id, "instantiate", body)
    seen = []
    for _ in range(20):
        await lcm.engine.run_once()
        occ = await lcm.occ(op_id)
        seen.append(sum(s["state"] == "applying" for s in occ["sites"]))
        if occ["operationState"] == "COMPLETED":
            break
        await lcm.sites.settle()
    assert max(seen) == 1 and occ["operationState"] == "COMPLETED"


async def test_heal_rebuilds_the_server_keeping_its_vnfc_id(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    op_id = await lcm.task(instance_id, "heal", {"vnfcInstanceId": ["VDU1-1"], "cause": "dead"})
    occ = await lcm.until(op_id, "COMPLETED")
    assert [(v["id"], v["changeType"]) for v in occ["resourceChanges"]["affectedVnfcs"]] == [
        ("VDU1-1", "MODIFIED")
    ]
    servers = await list_all(lcm.api.store, intent.SITE_OBJECT, {"kind": "server"})
    rebuilds = sorted(r.value["desired"]["spec"].get("rebuilds", 0) for r in servers)
    assert rebuilds == [0, 1]


async def test_a_hub_restart_rolls_back_starting_and_resumes_processing(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path, lcm: Lcm
) -> None:
    await lcm.engine.stop()  # the hub "stops": only this test moves the operations
    first = await lcm.instance("first")
    second = await lcm.instance("second")
    starting = await lcm.task(first, "instantiate", {"flavourId": "simple"})
    processing = await lcm.task(second, "instantiate", {"flavourId": "simple"})
    await lcm.engine.drive(await lcm.api.store.get(records.OP_OCC, processing))
    assert (await lcm.occ(processing))["operationState"] == "PROCESSING"
    # a new engine on the same store: what `atoll hub serve` does when it starts again
    engine = Engine(replace(TEST_SETTINGS, data_dir=tmp_path / "hub"), lcm.api.store)
    assert await engine.recover() == 1
    occ = await lcm.occ(starting)
    assert occ["operationState"] == "ROLLED_BACK" and occ["error"]["title"] == "hub_restart"
    for _ in range(10):
        await lcm.sites.settle()
        await engine.run_once()
    assert (await lcm.occ(processing))["operationState"] == "COMPLETED"


async def test_a_site_that_stays_away_fails_the_operation_at_the_site_timeout(lcm: Lcm) -> None:
    lcm.sites.offline.add("s2")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "additionalParams": {
        "placement": {"sites": ["s1", "s2"]}, "siteTimeout": 20}}  # fmt: skip
    op_id = await lcm.task(instance_id, "instantiate", body)
    for _ in range(3):
        await lcm.sites.settle()
        await lcm.engine.run_once()
    assert (await lcm.occ(op_id))["operationState"] == "PROCESSING"
    lcm.api.clock.now += 21
    occ = await lcm.until(op_id, "FAILED_TEMP")
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site["s2"]["state"] == "failed" and "within 20 s" in by_site["s2"]["message"]


async def test_scale_to_level_and_change_to_another_package_of_the_vnfd(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    body = {"scaleInfo": [{"aspectId": "workers", "scaleLevel": 1}]}
    occ = await lcm.until(await lcm.task(instance_id, "scale_to_level", body), "COMPLETED")
    assert [v["id"] for v in occ["resourceChanges"]["affectedVnfcs"]] == ["VDU1-2"]
    first = (await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages", lcm.token))[0]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vnfd.yaml", VNFD)
    second = await upload(lcm.api, lcm.token, buffer.getvalue())  # the same VNFD, newer
    op_id = await lcm.task(instance_id, "change_vnfpkg", {"vnfdId": VNFD_ID})
    occ = await lcm.until(op_id, "COMPLETED")
    packages = {p["id"]: p for p in await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages", lcm.token)}
    assert packages[second["id"]]["usageState"] == "IN_USE"
    assert packages[first["id"]]["usageState"] == "NOT_IN_USE"
    instance = await lcm.ok("GET", f"{INSTANCES}/{instance_id}?all_fields")
    assert instance["instantiatedVnfInfo"]["scaleStatus"][0]["scaleLevel"] == 1  # kept


async def test_placement_uses_reported_capacity_and_refuses_a_full_site(lcm: Lcm) -> None:
    """Sites report capacity and usage over sync (:func:`registry.record_report`): a site
    without room for a VNFC is not a candidate, and when none has room the request is
    refused naming each site and the resource it is short of."""
    capacity = {"vcpus": 4, "ram_mb": 4096, "disk_gb": 100}
    full = {"vcpus": 4, "ram_mb": 1024, "disk_gb": 0}
    await registry.record_report(lcm.api.store, "s1", capacity, full, time.time())
    await registry.record_report(lcm.api.store, "s2", capacity, full, time.time())
    await registry.record_report(lcm.api.store, "s3", capacity, {**full, "vcpus": 3}, time.time())
    instance_id = await lcm.instance()
    status, body, _ = await lcm.call("POST", f"{INSTANCES}/{instance_id}/instantiate",
                                     {"flavourId": "simple"})  # fmt: skip
    assert 400 <= status < 500, (status, body)
    text = str(body)
    assert "site s1: needs 1 vCPUs" in text and "vCPUs short by 1" in text, text
    assert "site s2" in text
    assert not await list_all(lcm.api.store, records.OP_OCC, {})  # refused: no op occurrence
    # room at two sites (one VNFC each, anti-affinity): placed there, not at the full one
    await registry.record_report(lcm.api.store, "s2", capacity, {**full, "vcpus": 0}, time.time())
    await lcm.instantiate(instance_id)
    assert sorted(await objects_at(lcm, "server")) == ["s2", "s3"]


async def test_a_local_heal_by_a_site_appears_in_the_instance_history(lcm: Lcm) -> None:
    """A site that recreated a VNFC's VM while offline sends the operation record when it
    is back; the hub records it (as its sync session does) and the engine puts it in the
    instance's history as a completed, automatic HEAL marked as the site's."""
    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    servers = await list_all(lcm.api.store, intent.SITE_OBJECT, {"kind": "server"})
    server = servers[0].value
    site = (await lcm.api.store.get(registry.SITE_KIND, server["site"])).value
    body = {"op": "action", "kind": "server", "id": server["id"], "base_hub_revision": None,
            "desired": None, "at": time.time(), "actor": "reconciler",
            "action": "recreate"}  # fmt: skip
    assert await record_operation(lcm.api.store, site, 7, body, "now") == "recorded"
    assert await record_operation(lcm.api.store, site, 7, body, "now") == "duplicate"
    await lcm.engine.run_once()
    await lcm.engine.run_once()  # adopted once
    occs = await lcm.ok("GET", f"{OCCS}?filter=(eq,vnfInstanceId,{instance_id})")
    heals = [o for o in occs if o["operation"] == "HEAL"]
    assert len(heals) == 1, occs
    heal = await lcm.occ(heals[0]["id"])  # a list leaves operationParams out (SOL013)
    assert heal["operationState"] == "COMPLETED" and heal["isAutomaticInvocation"] is True
    extra = heal["operationParams"]["additionalParams"]
    assert extra["source"] == "site" and extra["site"] == server["site"]
    assert extra["action"] == "recreate" and extra["siteOperationSeq"] == 7
    vnfc = heal["operationParams"]["vnfcInstanceId"]
    assert vnfc and vnfc[0].startswith("VDU1-")
    assert heal["resourceChanges"]["affectedVnfcs"][0]["changeType"] == "MODIFIED"
    assert [s["siteName"] for s in heal["sites"]] == [server["site"]]
    # subscribers hear of it (SOL003: an automatic invocation), once
    notes = [n.value for n in await list_all(lcm.api.store, outbox.KIND, {})]
    told = [n for n in notes if n.get("vnfLcmOpOcc", {}).get("id") == heal["id"]]
    assert len(told) == 1, notes
    assert told[0]["notificationType"] == "VnfLcmOperationOccurrenceNotification"
    assert told[0]["vnfLcmOpOcc"]["operationState"] == "COMPLETED"
    assert told[0]["vnfLcmOpOcc"]["isAutomaticInvocation"] is True
    assert told[0]["project"] == server["project_id"]
    # it takes no lock: the instance takes a new operation at once
    op_id = await lcm.task(instance_id, "scale", {"type": "SCALE_OUT", "aspectId": "workers"})
    await lcm.until(op_id, "COMPLETED")


async def test_instance_show_names_the_sites_of_its_vnfcs(
    lcm: Lcm, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``atoll vnf instance show`` (its table) places each VNFC at its site's name, as ``site
    list`` names sites; ``-f json`` keeps SOL003's ``vimConnectionId`` (the site's id)."""
    from atoll.cli import main

    instance_id = await lcm.instance()
    await lcm.instantiate(instance_id)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ATOLL_URL", str(lcm.api.client.make_url("")).rstrip("/"))
    monkeypatch.setenv("ATOLL_TOKEN", lcm.token)
    for var in ("ATOLL_CA_FILE", "ATOLL_CLOUD", "ATOLL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    argv = ["vnf", "instance", "show", instance_id, "-f", "value", "-c", "vnfcs"]
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    placed = dict(v.split("@") for v in out.strip().split(", "))
    assert sorted(placed) == ["VDU1-0", "VDU1-1"]
    assert set(placed.values()) <= {"s1", "s2", "s3"} and len(set(placed.values())) == 2
