"""The dashboard in real headless Chromium against a testbed with two sites: sign in and
see both online; partition one and watch it go offline and come back (live, no reload);
resolve a conflict the offline site made; open a VNF instance's timeline; acknowledge an
alarm. One testbed for the whole module.

The sites are real agents in network namespaces of their own, joined by zeroconf and one-time
codes, syncing over real mTLS sessions across the testbed's WAN, on the drivers' in-memory
fakes: the dashboard sees only the hub, and what it shows does not depend on libvirt or OVS
(the demo's fleet act screenshots it over real guests). So this module needs no private OVS
and runs beside the tests that do."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from atoll.client import HubClient
from atoll.testbed.bed import faults, procs
from atoll.testbed.bed.bringup import hub_client, site_token
from atoll.testbed.bed.state import BedState
from atoll.testbed.demo.dashboard import goto
from atoll.testbed.demo.packages import file_sha512, getting_started

pytestmark = pytest.mark.e2e
LIVENESS = 8.0  # the testbed hub's sync_dead_after (testbed.bed.bringup.HUB_CONFIG)
PROJECT = "noc"
WAIT_MS = 60_000  # how long a page may take to show what the hub knows (generous: 2 cores)


def atoll(env: dict[str, str], *argv: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "atoll", *argv], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BedState]:
    directory = tmp_path_factory.mktemp("dash") / "bed"
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(directory / "config")}
    try:
        atoll(env, "testbed", "up", "--sites", "0", "--fake-sites", "2", "--dir", str(directory))
        yield BedState.load(directory)
    finally:
        atoll(env, "testbed", "down", "--dir", str(directory))


@pytest.fixture(scope="module")
def hub(bed: BedState) -> HubClient:
    return hub_client(bed)


def cli(bed: BedState, *argv: str) -> str:
    return atoll(procs.clean_env(bed.env), *argv)


def sign_in(page: Page, bed: BedState) -> None:
    goto(page, f"{bed.hub_url}/ui/")
    page.fill("input[name=user]", "admin")
    page.fill("input[name=password]", bed.admin_password)
    page.click("#signin button[type=submit]")
    expect(page.locator("#who")).to_contain_text("admin")
    expect(page.locator("#live")).to_have_class("live on")  # the event stream is open


def site_state(page: Page, name: str) -> Any:
    return page.locator(f'tr[data-site="{name}"] .state')


def test_sign_in_see_both_sites_online_and_sign_out(page: Page, bed: BedState) -> None:
    sign_in(page, bed)
    expect(site_state(page, "site-1")).to_have_text("online")
    expect(site_state(page, "site-2")).to_have_text("online")
    expect(page.locator("#count-online")).to_have_text("2")
    page.click("#signout")
    expect(page.locator("#signin")).to_be_visible()
    page.reload()  # the cookie is gone and its token revoked: still signed out
    expect(page.locator("#signin")).to_be_visible()
    assert page.context.cookies() == []


def test_a_partitioned_site_turns_offline_and_back_without_a_reload(
    page: Page, bed: BedState
) -> None:
    sign_in(page, bed)
    expect(site_state(page, "site-2")).to_have_text("online")
    page.evaluate("window.__same_page = true")  # gone if anything reloads the page
    faults.partition(bed, "site-2")
    try:
        expect(site_state(page, "site-2")).to_have_text("offline", timeout=WAIT_MS)
        expect(page.locator("#count-offline")).to_have_text("1", timeout=WAIT_MS)
        expect(site_state(page, "site-1")).to_have_text("online")
    finally:
        faults.heal(bed, "site-2")
    expect(site_state(page, "site-2")).to_have_text("online", timeout=WAIT_MS)
    assert page.evaluate("window.__same_page") is True


@pytest.fixture(scope="module")
def catalog(
    bed: BedState, hub: HubClient, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A project, a flavor and a public image (a blank disk), for the tests that place a
    server."""
    blank = tmp_path_factory.mktemp("images") / "blank.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", str(blank), "64M"], check=True, capture_output=True
    )
    cli(bed, "project", "create", PROJECT)
    cli(bed, "flavor", "create", "tiny", "--vcpus", "1", "--ram", "64", "--disk", "1")
    cli(
        bed,
        "image",
        "upload",
        str(blank),
        "--name",
        "blank-disk",
        "--disk-format",
        "qcow2",
        "--public",
    )
    image = next(i for i in hub.list_all("/v1/images") if i["name"] == "blank-disk")
    # as a VNFD's author takes it: the hub records its own copy moments after the upload
    return {"image": image, "sha512": file_sha512(blank)}


def test_resolve_a_conflict_from_offline_work(
    page: Page, bed: BedState, hub: HubClient, catalog: dict[str, Any]
) -> None:
    """site-1 is cut off; the NOC stops a server at the hub while a field engineer reboots it
    at the site; after the heal the conflict shows on the page and "Keep hub" settles it."""
    cli(
        bed,
        "server",
        "create",
        "probe",
        "--flavor",
        "tiny",
        "--image",
        catalog["image"]["id"],
        "--site",
        "site-1",
        "--project",
        PROJECT,
    )

    def active() -> bool:
        servers = hub.list_all("/v1/sites/site-1/servers")
        return any((s.get("status") or {}).get("state") == "ACTIVE" for s in servers)

    procs.wait_for("the probe server ACTIVE at site-1", active, 120)
    sign_in(page, bed)
    goto(page, f"{bed.hub_url}/ui/#/conflicts")
    expect(page.locator("#conflicts")).to_contain_text("none")
    site = bed.site("site-1")
    local = {
        **procs.clean_env(bed.env),
        "ATOLL_SITE_URL": site.url,
        "ATOLL_SITE_CA_FILE": str(bed.ca_file),
        "ATOLL_SITE_TOKEN": site_token(bed, site),
    }
    faults.partition(bed, "site-1")
    try:
        cli(bed, "server", "stop", "probe", "--site", "site-1")
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                site.netns,
                sys.executable,
                "-m",
                "atoll",
                "server",
                "reboot",
                "probe",
            ],
            check=True,
            capture_output=True,
            env=local,
            timeout=120,
        )
    finally:
        faults.heal(bed, "site-1")
    row = page.locator("tr[data-conflict]")
    expect(row).to_have_count(1, timeout=WAIT_MS)  # arrives live, by the event stream
    expect(row).to_contain_text("site-1")
    conflict_id = row.get_attribute("data-conflict")
    row.get_by_role("button", name="Keep hub").click()
    expect(page.locator("tr[data-conflict]")).to_have_count(0, timeout=WAIT_MS)
    resolved = hub.get(f"/v1/conflicts/{conflict_id}")
    assert resolved["state"] == "resolved" and resolved["resolution"]["keep"] == "hub"
    assert resolved["resolution"]["by"] == "admin"


def test_open_a_vnf_instance_timeline(
    page: Page, bed: BedState, hub: HubClient, catalog: dict[str, Any], tmp_path: Path
) -> None:
    """Needs the lcm lane's ``POST /vnflcm/v2/vnf_instances``,
    ``POST /vnflcm/v2/vnf_instances/{id}/instantiate`` and ``GET /vnflcm/v2/vnf_lcm_op_occs``
    (and ``GET /vnflcm/v2/vnf_instances``, which the page lists)."""
    package = getting_started(tmp_path / "getting-started", catalog["sha512"])
    member = HubClient(bed.hub_url, ca_file=str(bed.hub_data / "ca.pem"))
    password = "dash-vnf-" + bed.admin_password
    hub.post("/v1/users", {"name": "vnf-op", "password": password})
    hub.post("/v1/role_assignments", {"user": "vnf-op", "project": PROJECT, "role": "member"})
    member.token = member.post(
        "/v1/auth/tokens", {"user": "vnf-op", "password": password, "project": PROJECT}
    )["token"]
    env = {**procs.clean_env(bed.env), "ATOLL_TOKEN": member.token}
    onboarded = json.loads(
        atoll(
            env,
            "vnf",
            "package",
            "upload",
            str(package),
            "--image-map",
            "VDU1=blank-disk",
            "-f",
            "json",
        )
    )
    sol003 = {"Version": "2.0.0"}
    instance = member.request(
        "POST", "/vnflcm/v2/vnf_instances",
        {"vnfdId": onboarded["vnfdId"], "vnfInstanceName": "dash-vnf"}, headers=sol003,
    ).data  # fmt: skip
    placed = {"flavourId": "simple", "additionalParams": {"placement": {"sites": ["site-1"]}}}
    member.request("POST", f"/vnflcm/v2/vnf_instances/{instance['id']}/instantiate", placed,
                   headers=sol003)  # fmt: skip
    sign_in(page, bed)
    goto(page, f"{bed.hub_url}/ui/#/vnf")
    page.locator(f'tr[data-vnf="{instance["id"]}"] a').click()
    timeline = page.locator("#timeline li[data-occ]")
    expect(timeline.first).to_contain_text("INSTANTIATE", timeout=WAIT_MS)


def test_acknowledge_an_alarm(page: Page, bed: BedState, hub: HubClient) -> None:
    """Needs the alarms lane's ``POST /v1/alarms`` (a ``site_state`` rule, body below),
    ``GET /v1/alarms[/{id}]`` and ``POST /v1/alarms/{id}/acknowledge``."""
    alarm = hub.post(
        "/v1/alarms",
        {
            "name": "site-2-offline",
            "type": "site_state",
            "site": "site-2",
            "severity": "critical",
            "rule": {"state": "offline", "period": 1},
        },
    )
    faults.partition(bed, "site-2")
    try:
        procs.wait_for(
            "the alarm firing",
            lambda: hub.get(f"/v1/alarms/{alarm['id']}")["state"] == "alarm",
            10 * LIVENESS,
        )
    finally:
        faults.heal(bed, "site-2")
    sign_in(page, bed)
    goto(page, f"{bed.hub_url}/ui/#/alarms")
    row = page.locator(f'tr[data-alarm="{alarm["id"]}"]')
    row.get_by_role("button", name="Acknowledge").click()
    expect(row.locator(".acknowledged")).to_be_visible(timeout=WAIT_MS)
    assert hub.get(f"/v1/alarms/{alarm['id']}")["acknowledged"] is True


def test_no_browser_was_downloaded() -> None:
    assert not any((Path.home() / ".cache" / "ms-playwright").glob("chromium*"))
