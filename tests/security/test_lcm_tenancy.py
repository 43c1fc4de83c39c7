"""The VNF lifecycle API keeps tenants apart where a request names another's objects.

Before: ``instantiate`` resolved an external virtual link's ``resourceId`` given as an id
with no check of whose network it was (by name it was the caller's project only, and so was
``POST /v1/sites/S/servers``), so a tenant that learnt another's network id put its VNF's
port on that tenant's segment, and the answer (202 or 400) told whether an id existed.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
import zipfile
from typing import Any

from tests.hub.lcm.lcmtest import IMAGE_SHA256, VNFD, VNFD_ID
from tests.security.daemons import Reply, RunningHub

INSTANCES = "/vnflcm/v2/vnf_instances"
PACKAGES = "/vnfpkgm/v1/vnf_packages"
VERSION = {"Version": "2.0.0"}


def lcm(hub: RunningHub, method: str, path: str, body: Any, token: str) -> Reply:
    return hub.call(method, path, body, token=token, headers=VERSION)


def onboard_with_external_cp(hub: RunningHub, token: str) -> None:
    """The LCM tests' VNFD, its image the tenant's own, with an external CP on VDU1."""
    data = b"lcm tenancy image " + secrets.token_bytes(64)
    vnfd = VNFD.replace(IMAGE_SHA256, hashlib.sha256(data).hexdigest())
    vnfd = vnfd.replace("disk_format: qcow2", "disk_format: raw")
    vnfd = vnfd.replace(
        "    VL1:\n",
        "    CP2:\n      type: tosca.nodes.nfv.VduCp\n      properties:\n"
        "        layer_protocols: [ ipv4 ]\n      requirements:\n"
        "        - virtual_binding: VDU1\n    VL1:\n",
        1,
    )
    image = hub.ok("POST", "/v1/images", {"name": "tenancy", "disk_format": "raw"}, token=token)
    octets = {"Content-Type": "application/octet-stream"}
    hub.ok("PUT", f"/v1/images/{image['id']}/file", raw=data, headers=octets, token=token)
    package = hub.ok("POST", PACKAGES, {}, token=token)
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as archive:
        archive.writestr("vnfd.yaml", vnfd)
    hub.ok("PUT", f"{PACKAGES}/{package['id']}/package_content", raw=content.getvalue(),
           headers={"Content-Type": "application/zip"}, token=token)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown = hub.ok("GET", f"{PACKAGES}/{package['id']}", token=token)
        if shown["onboardingState"] not in ("CREATED", "PROCESSING"):
            assert shown["onboardingState"] == "ONBOARDED", shown
            return
        time.sleep(0.1)
    raise AssertionError("the package did not onboard")


def test_an_instantiate_cannot_use_another_projects_network_by_id(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    sites = [f"lcm-{tag}-1", f"lcm-{tag}-2"]  # the VNFD spreads its two VDU1s over two
    alice = hub.tenant(f"lcm-a-{tag}", f"lcm-alice-{tag}")
    bob = hub.tenant(f"lcm-b-{tag}", f"lcm-bob-{tag}")
    onboard_with_external_cp(hub, alice)
    for site in sites:
        hub.ok("POST", "/v1/sites", {"name": site})
        hub.ok("POST", f"/v1/sites/{site}/networks", {"name": "a-net", "spec": {}}, token=alice)
    bobs = hub.ok("POST", f"/v1/sites/{sites[0]}/networks", {"name": "b-net", "spec": {}},
                  token=bob)  # fmt: skip

    def instantiate(network: str) -> Reply:
        instance = lcm(hub, "POST", INSTANCES, {"vnfdId": VNFD_ID}, alice).body["id"]
        links = [
            {
                "id": f"ext{i}",
                "vimConnectionId": site,
                "resourceId": ref,
                "extCps": [{"cpdId": "CP2"}],
            }
            for i, (site, ref) in enumerate(zip(sites, (network, "a-net"), strict=True))
        ]
        body = {"flavourId": "simple", "extVirtualLinks": links,
                "additionalParams": {"placement": {"sites": sites}}}  # fmt: skip
        return lcm(hub, "POST", f"{INSTANCES}/{instance}/instantiate", body, alice)

    for ref in (bobs["id"], "b-net", secrets.token_hex(16)):  # by id, by name, no such id
        refused = instantiate(ref)
        assert refused.status == 400, (ref, refused)
        assert f"no network {ref!r} of the project" in refused.raw.decode(), refused
    servers = hub.ok("GET", f"/v1/sites/{sites[0]}/servers", token=alice)["items"]
    assert not any(n["network"] == bobs["id"] for s in servers for n in s["spec"]["nics"])
    assert instantiate("a-net").status == 202  # the caller's own network still serves
