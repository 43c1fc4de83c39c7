"""VNF lifecycle end to end on real sites: a testbed hub and two real agents (libvirt TCG,
private OVS), the getting-started package with its image mapped to the reference VNF.

One module-scoped testbed for every test here (they run in order): instantiate on both sites
with zone anti-affinity (each VNFC answers HTTP on its site's LAN), scale out one step, heal
a VNFC whose VM was destroyed behind the agent's back (rebuilt, same VNFC id), terminate
(``virsh`` and ``ovs-vsctl`` show what the op occurrences say, then nothing); an instantiate
during which one site's agent is killed: FAILED_TEMP at the site timeout, and after the site
is back, rollback leaves nothing at either site; an instantiate during which one site is
partitioned waits (PROCESSING, the site's state visible) and completes when it returns, and
a VNFC's VM that vanishes while that site is cut off again is recreated by the site alone
and joins the instance's history on the hub (an automatic HEAL, source site) on reconnect.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.client import HubClient
from atoll.testbed.bed import procs
from atoll.testbed.bed.bringup import hub_client
from atoll.testbed.bed.state import BedState
from atoll.testbed.demo.packages import Aspect, spread_package, spread_policies
from atoll.testbed.demo.site import http_get
from atoll.testbed.services.ovs import PrivateOVS

pytestmark = [pytest.mark.e2e, pytest.mark.private_ovs]  # real sites: the host's one private OVS
V = {"Version": "2.0.0"}
INSTANCES = "/vnflcm/v2/vnf_instances"
OCCS = "/vnflcm/v2/vnf_lcm_op_occs"
# getting-started as a vendor might extend it: VDU1 twice, one per site (zone anti-affinity),
# a VDU2 that the aspect "extra" adds, both on the external link, 256 MB guests
# (spread_package); the VDU2 and its port:
NODES = """
    VDU2:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: VDU2
        description: VDU2 compute node
        vdu_profile:
          min_number_of_instances: 0
          max_number_of_instances: 1
        sw_image_data:
          name: Software of VDU2
          version: '0.5.2'
          checksum:
            algorithm: sha-512
            hash: {sha512}
          container_format: bare
          disk_format: qcow2
          min_disk: 1 GB
          size: 1 GB
      capabilities:
        virtual_compute:
          properties:
            virtual_memory:
              virtual_mem_size: 256 MB
            virtual_cpu:
              num_virtual_cpu: 1

    CP2:
      type: tosca.nodes.nfv.VduCp
      properties:
        layer_protocols: [ ipv4 ]
      requirements:
        - virtual_binding: VDU2
"""


def atoll(directory: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(directory / "config"), **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "atoll", *argv], capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


class Bed:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.state = BedState.load(directory)
        self.admin = hub_client(self.state)
        self.hub: HubClient = hub_client(self.state)  # re-scoped to the project below
        self.vnfd_id = ""  # the onboarded package's

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.hub.request(method, path, body, headers=V)

    def task(self, instance_id: str, task: str, body: dict[str, Any]) -> str:
        reply = self.call("POST", f"{INSTANCES}/{instance_id}/{task}", body)
        assert reply.status == 202 and not reply.raw
        return str(reply.headers["Location"].rsplit("/", 1)[1])

    def until(self, op_id: str, *states: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            occ: dict[str, Any] = self.call("GET", f"{OCCS}/{op_id}").data
            if occ["operationState"] in states:
                return occ
            assert occ["operationState"] not in ("FAILED_TEMP", "FAILED", "ROLLED_BACK") or (
                set(states) & {"FAILED_TEMP", "FAILED", "ROLLED_BACK"}
            ), f"{occ['operationState']}: {json.dumps(occ.get('error'))}"
            assert time.monotonic() < deadline, f"still {occ['operationState']}: {occ}"
            time.sleep(1)

    def domains(self) -> set[str]:
        """UUIDs of every libvirt domain on the host (a domain's UUID is its server id)."""
        out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--uuid"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        return {line.strip().replace("-", "") for line in out.splitlines() if line.strip()}

    def domain(self, server_id: str) -> dict[str, str]:
        """``virsh dominfo`` of the server's domain (``Id``, ``State``, ``Persistent``...),
        empty when there is none."""
        proc = subprocess.run(["virsh", "-c", "qemu:///system", "dominfo", _uuid(server_id)],
                              capture_output=True, text=True)  # fmt: skip
        pairs = (line.split(":", 1) for line in proc.stdout.splitlines() if ":" in line)
        return {k.strip(): v.strip() for k, v in pairs} if proc.returncode == 0 else {}

    def site_heals(self, instance_id: str) -> list[dict[str, Any]]:
        """The instance's HEAL op occurrences that a site made (in full)."""
        listed = self.call("GET", f"{OCCS}?filter=(eq,vnfInstanceId,{instance_id})").data
        occs = [self.call("GET", f"{OCCS}/{o['id']}").data for o in listed
                if o["operation"] == "HEAL"]  # fmt: skip
        return [o for o in occs if o["operationParams"]["additionalParams"].get("source") == "site"]

    def placed_servers(self) -> set[str]:
        """Ids of the servers the hub places at either site."""
        return {s["id"] for site in ("site-1", "site-2")
                for s in self.hub.list_all(f"/v1/sites/{site}/servers")}  # fmt: skip

    def ovs_servers(self) -> set[str]:
        """Server ids that OVS interfaces carry in their external_ids (vm-uuid)."""
        ovs = PrivateOVS(self.state.ovs_dir)
        raw = ovs.vsctl("--format=json", "--columns=external_ids", "list", "Interface")
        found = set()
        for row in json.loads(raw)["data"]:
            for key, value in row[0][1]:
                if key == "vm-uuid":
                    found.add(value.replace("-", ""))
        return found


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    directory = tmp_path_factory.mktemp("lcm") / "bed"
    started = time.monotonic()
    try:  # down even after an interrupted up (a timeout kills `up` before its own cleanup)
        atoll(directory, "testbed", "up", "--sites", "2", "--dir", str(directory))
        bed = Bed(directory)
        _prepare(bed, directory.parent)
        print(f"testbed and package ready in {time.monotonic() - started:.0f}s")
        yield bed
    finally:
        atoll(directory, "testbed", "down", "--dir", str(directory))


def _prepare(bed: Bed, work: Path) -> None:
    admin = bed.admin
    ref = json.loads(atoll(bed.dir, "image", "build-reference", str(work / "ref"), "--register",
                           "--public", "-f", "json"))  # fmt: skip
    kernel = ref["kernel_image_id"]
    sha512 = hashlib.sha512(Path(ref["kernel"]).read_bytes()).hexdigest()
    admin.post("/v1/projects", {"name": "telco"})
    admin.post("/v1/users", {"name": "noc", "password": "noc-password"})
    admin.post("/v1/role_assignments", {"user": "noc", "project": "telco", "role": "member"})
    for site in bed.state.sites:  # the project's LAN: a provider network, the admin's to place
        net = f"10.{64 + site.index}.0"
        lan = admin.post(f"/v1/sites/{site.name}/networks", {"name": "lan", "project": "telco",
                         "spec": {"segment_type": "flat", "physical_network": "lan"}})  # fmt: skip
        admin.post(f"/v1/sites/{site.name}/subnets", {"name": "lan-v4", "project": "telco",
                   "spec": {"network": lan["id"], "cidr": f"{net}.0/24",
                            "gateway": f"{net}.1"}})  # fmt: skip
    issued = bed.hub.post(
        "/v1/auth/tokens", {"user": "noc", "password": "noc-password", "project": "telco"}
    )
    bed.hub.token = str(issued["token"])
    policies = spread_policies(
        {"VDU1": 2, "VDU2": 0}, [Aspect("extra", "VDU2", 1, "one more VNFC")]
    )
    package = spread_package(
        work / "getting-started", sha512, policies, nodes=NODES.format(sha512=sha512)
    )
    as_noc = {"ATOLL_URL": bed.state.hub_url, "ATOLL_TOKEN": str(bed.hub.token),
              "ATOLL_CA_FILE": str(bed.state.hub_data / "ca.pem")}  # fmt: skip
    onboarded = json.loads(atoll(bed.dir, "vnf", "package", "upload", str(package),
                                 "--image-map", f"VDU1={kernel}", "--image-map",
                                 f"VDU2={kernel}", "-f", "json", env=as_noc))  # fmt: skip
    assert onboarded["onboardingState"] == "ONBOARDED", onboarded
    bed.vnfd_id = onboarded["vnfdId"]


def _uuid(server_id: str) -> str:
    h = server_id
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ext() -> list[dict[str, Any]]:
    return [{"id": "lan", "resourceId": "lan", "extCps": [{"cpdId": "CP1"}, {"cpdId": "CP2"}]}]


def _answers(bed: Bed, vnfc: dict[str, Any]) -> str:
    """The VNFC's page, fetched from its site's LAN."""
    site_id = vnfc["computeResource"]["vimConnectionId"]
    site = next(s for s in bed.state.sites if bed.admin.get(f"/v1/sites/{s.name}")["id"] == site_id)
    ip = next(a["ip"] for a in vnfc["metadata"]["addresses"] if a.get("ip"))
    deadline = time.monotonic() + 180
    while True:
        page = http_get(site.lan_netns, f"http://{ip}/")  # "" until the guest answers
        if page:
            return page
        assert time.monotonic() < deadline, f"{vnfc['id']} at {ip} never answered"
        time.sleep(1)


def test_instantiate_on_two_sites_scale_heal_and_terminate(bed: Bed) -> None:
    instance = bed.call("POST", INSTANCES, {"vnfdId": bed.vnfd_id, "vnfInstanceName": "gs"}).data
    sites = [s.name for s in bed.state.sites]
    op = bed.task(instance["id"], "instantiate", {
        "flavourId": "simple", "extVirtualLinks": _ext(),
        "additionalParams": {"placement": {"sites": sites}}})  # fmt: skip
    occ = bed.until(op, "COMPLETED")
    servers = {v["computeResource"]["resourceId"] for v in occ["resourceChanges"]["affectedVnfcs"]}
    assert len({v["computeResource"]["vimConnectionId"]
                for v in occ["resourceChanges"]["affectedVnfcs"]}) == 2  # fmt: skip
    assert servers <= bed.domains() and servers <= bed.ovs_servers()
    refused = [e for site in sites for e in bed.admin.list_all(f"/v1/sites/{site}/events")
               if e["event"].get("reason") == "refused_fact"]  # fmt: skip
    assert refused == []  # every fact of the joins and the servers was the hub's to keep
    info = bed.call("GET", f"{INSTANCES}/{instance['id']}?all_fields").data["instantiatedVnfInfo"]
    for vnfc in info["vnfcResourceInfo"]:
        assert _answers(bed, vnfc).startswith("hostname=")

    op = bed.task(instance["id"], "scale", {"type": "SCALE_OUT", "aspectId": "extra"})
    occ = bed.until(op, "COMPLETED")
    (added,) = occ["resourceChanges"]["affectedVnfcs"]
    assert added["id"] == "VDU2-0" and added["changeType"] == "ADDED"
    servers.add(added["computeResource"]["resourceId"])
    assert servers <= bed.domains()
    info = bed.call("GET", f"{INSTANCES}/{instance['id']}?all_fields").data["instantiatedVnfInfo"]
    (vdu2,) = [v for v in info["vnfcResourceInfo"] if v["vduId"] == "VDU2"]
    assert _answers(bed, vdu2).startswith("hostname=")

    # a VM destroyed behind the agent's back; heal rebuilds it, same VNFC id, answering again
    vnfc = info["vnfcResourceInfo"][0]
    server = vnfc["computeResource"]["resourceId"]
    subprocess.run(["virsh", "-c", "qemu:///system", "destroy", _uuid(server)], check=True,
                   capture_output=True)  # fmt: skip
    op = bed.task(instance["id"], "heal", {"vnfcInstanceId": [vnfc["id"]], "cause": "destroyed"})
    occ = bed.until(op, "COMPLETED")
    assert [(v["id"], v["changeType"]) for v in occ["resourceChanges"]["affectedVnfcs"]] == [
        (vnfc["id"], "MODIFIED")
    ]
    info = bed.call("GET", f"{INSTANCES}/{instance['id']}?all_fields").data["instantiatedVnfInfo"]
    (healed,) = [v for v in info["vnfcResourceInfo"] if v["id"] == vnfc["id"]]
    assert healed["computeResource"]["resourceId"] == server
    assert _answers(bed, healed).startswith("hostname=")

    op = bed.task(instance["id"], "terminate", {"terminationType": "FORCEFUL"})
    occ = bed.until(op, "COMPLETED")
    removed = {v["computeResource"]["resourceId"] for v in occ["resourceChanges"]["affectedVnfcs"]}
    assert removed == servers
    procs.wait_for("no domain or OVS port of the VNF", lambda: not (
        servers & bed.domains() or servers & bed.ovs_servers()), 120)  # fmt: skip
    assert bed.call("DELETE", f"{INSTANCES}/{instance['id']}").status == 204


def test_a_site_lost_mid_instantiate_fails_temp_and_rollback_leaves_nothing(bed: Bed) -> None:
    before = bed.placed_servers()  # an earlier test's, if it failed before it cleaned up
    instance = bed.call("POST", INSTANCES, {"vnfdId": bed.vnfd_id}).data
    sites = [s.name for s in bed.state.sites]
    atoll(bed.dir, "testbed", "kill", "site-2", "--dir", str(bed.dir))
    op = bed.task(instance["id"], "instantiate", {
        "flavourId": "simple", "extVirtualLinks": _ext(),
        "additionalParams": {"placement": {"sites": sites}, "siteTimeout": 20}})  # fmt: skip
    occ = bed.until(op, "FAILED_TEMP", timeout=240)
    by_site = {s["siteName"]: s for s in occ["sites"]}
    assert by_site["site-1"]["state"] == "done" and by_site["site-2"]["state"] == "failed"
    made = {s["resourceChanges"]["affectedVnfcs"][0]["computeResource"]["resourceId"]
            for s in occ["sites"]}  # fmt: skip
    atoll(bed.dir, "testbed", "restart", "site-2", "--dir", str(bed.dir))
    reply = bed.call("POST", f"{OCCS}/{op}/rollback")
    assert reply.status == 202
    occ = bed.until(op, "ROLLED_BACK", timeout=240)
    procs.wait_for("nothing of the VNF at either site", lambda: not (
        made & bed.domains() or made & bed.ovs_servers()), 120)  # fmt: skip
    assert bed.placed_servers() - before == set()
    assert bed.call("DELETE", f"{INSTANCES}/{instance['id']}").status == 204


def test_a_site_partitioned_mid_instantiate_completes_on_return_and_its_offline_heal_is_kept(
    bed: Bed,
) -> None:
    instance = bed.call("POST", INSTANCES, {"vnfdId": bed.vnfd_id}).data
    sites = [s.name for s in bed.state.sites]
    atoll(bed.dir, "testbed", "partition", "site-2", "--dir", str(bed.dir))
    try:
        op = bed.task(instance["id"], "instantiate", {
            "flavourId": "simple", "extVirtualLinks": _ext(),
            "additionalParams": {"placement": {"sites": sites}}})  # fmt: skip

        def waiting_for_site_2() -> dict[str, Any] | None:
            occ: dict[str, Any] = bed.call("GET", f"{OCCS}/{op}").data
            by_site = {s["siteName"]: s for s in occ["sites"]}
            offline = "offline" in by_site["site-2"]["message"]
            return occ if offline and by_site["site-1"]["state"] == "done" else None

        occ = procs.wait_for("the operation to wait for site-2, offline", waiting_for_site_2, 120)
        assert isinstance(occ, dict) and occ["operationState"] == "PROCESSING"
    finally:
        atoll(bed.dir, "testbed", "heal", "site-2", "--dir", str(bed.dir))
    occ = bed.until(op, "COMPLETED", timeout=240)
    made = {v["computeResource"]["resourceId"] for v in occ["resourceChanges"]["affectedVnfcs"]}
    assert len(made) == 2 and made <= bed.domains()

    # cut off again, site-2 finds its VNFC's VM gone (undefined while it ran, then destroyed,
    # behind the agent's back) and recreates it alone; the hub hears of it on reconnect
    site_2 = bed.admin.get("/v1/sites/site-2")["id"]
    info = bed.call("GET", f"{INSTANCES}/{instance['id']}?all_fields").data["instantiatedVnfInfo"]
    (vnfc,) = [v for v in info["vnfcResourceInfo"]
               if v["computeResource"]["vimConnectionId"] == site_2]  # fmt: skip
    server = vnfc["computeResource"]["resourceId"]
    before = bed.domain(server)
    assert before["State"] == "running" and before["Persistent"] == "yes", before
    atoll(bed.dir, "testbed", "partition", "site-2", "--dir", str(bed.dir))
    try:
        for verb in ("undefine", "destroy"):
            subprocess.run(["virsh", "-c", "qemu:///system", verb, _uuid(server)], check=True,
                           capture_output=True)  # fmt: skip

        def recreated() -> dict[str, str] | None:
            now = bed.domain(server)
            return now if now.get("State") == "running" and now.get("Persistent") == "yes" else None

        now = procs.wait_for("site-2 to recreate the VNFC's domain", recreated, 120)
        assert isinstance(now, dict) and now["Id"] != before["Id"]  # a new domain
        assert bed.site_heals(instance["id"]) == []  # the hub cannot know yet
    finally:
        atoll(bed.dir, "testbed", "heal", "site-2", "--dir", str(bed.dir))
    heals = procs.wait_for("the site's heal in the instance's history",
                           lambda: bed.site_heals(instance["id"]), 120)  # fmt: skip
    assert isinstance(heals, list) and len(heals) == 1, heals
    (heal,) = heals
    assert heal["operation"] == "HEAL" and heal["operationState"] == "COMPLETED"
    assert heal["isAutomaticInvocation"] is True
    assert heal["operationParams"]["vnfcInstanceId"] == [vnfc["id"]]
    extra = heal["operationParams"]["additionalParams"]
    assert (extra["site"], extra["action"], extra["serverId"]) == ("site-2", "recreate", server)
    assert [(v["id"], v["changeType"]) for v in heal["resourceChanges"]["affectedVnfcs"]] == [
        (vnfc["id"], "MODIFIED")
    ]
    info = bed.call("GET", f"{INSTANCES}/{instance['id']}?all_fields").data["instantiatedVnfInfo"]
    (kept,) = [v for v in info["vnfcResourceInfo"] if v["id"] == vnfc["id"]]
    assert kept["computeResource"] == vnfc["computeResource"]  # the domain running now
    assert bed.domain(server)["Id"] == now["Id"]

    op = bed.task(instance["id"], "terminate", {"terminationType": "FORCEFUL"})
    bed.until(op, "COMPLETED")
    procs.wait_for("nothing of the VNF at either site", lambda: not (
        made & bed.domains() or made & bed.ovs_servers()), 120)  # fmt: skip
    assert bed.call("DELETE", f"{INSTANCES}/{instance['id']}").status == 204
