"""A hub with an onboarded test VNF package, fake sites, and calls to /vnflcm/v2."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from atoll.hub.api.vnflcm import ENGINE
from atoll.hub.lcm import outbox
from atoll.hub.lcm.engine import Engine
from atoll.testbed.demo.packages import Aspect, spread_policies
from tests.hub.api.vnf_packages import catalog_image, upload
from tests.hub.hubtest import Api
from tests.hub.lcm.fake_sites import FakeSites

IMAGE_SHA256 = "00" * 31 + "bb"
VNFD_ID = "7d2b8e0c-0e2f-4b8a-9d55-2f0d1c9a6e10"
# One VDU (two instances at level "default", one more per step of aspect "workers", up to
# two steps), spread over sites by a zone anti-affinity rule, on an internal link.
VNFD = f"""\
tosca_definitions_version: tosca_simple_yaml_1_2
description: A scalable VNF spread over sites
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
node_types:
  example.Spread:
    derived_from: tosca.nodes.nfv.VNF
    properties:
      flavour_id:
        type: string
        default: simple
topology_template:
  substitution_mappings:
    node_type: example.Spread
    properties:
      flavour_id: simple
  node_templates:
    VNF:
      type: example.Spread
      properties:
        descriptor_id: {VNFD_ID}
        descriptor_version: '1.0'
        provider: Example
        product_name: Spread
        software_version: '1.0'
        vnfm_info: [ Atoll ]
        flavour_id: simple
        flavour_description: the only flavour
    VDU1:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: VDU1
        description: the worker
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 4
        sw_image_data:
          name: spread-image
          version: '1.0'
          checksum:
            algorithm: sha-256
            hash: {IMAGE_SHA256}
          container_format: bare
          disk_format: qcow2
          min_disk: 1 GB
          size: 1 GB
      capabilities:
        virtual_compute:
          properties:
            virtual_memory:
              virtual_mem_size: 512 MB
            virtual_cpu:
              num_virtual_cpu: 1
    CP1:
      type: tosca.nodes.nfv.VduCp
      properties:
        layer_protocols: [ ipv4 ]
      requirements:
        - virtual_binding: VDU1
        - virtual_link: VL1
    VL1:
      type: tosca.nodes.nfv.VnfVirtualLink
      properties:
        connectivity_type:
          layer_protocols: [ ipv4 ]
        vl_profile:
          max_bitrate_requirements:
            root: 1048576
          min_bitrate_requirements:
            root: 1048576
          virtual_link_protocol_data:
            - associated_layer_protocol: ipv4
              l3_protocol_data:
                ip_version: ipv4
                cidr: 10.9.0.0/24
""" + spread_policies({"VDU1": 2}, [Aspect("workers", "VDU1", 2, "more workers")])
V = {"Version": "2.0.0"}
INSTANCES = "/vnflcm/v2/vnf_instances"
OCCS = "/vnflcm/v2/vnf_lcm_op_occs"


@dataclass
class Lcm:
    api: Api
    token: str  # project a's member
    sites: FakeSites

    @property
    def engine(self) -> Engine:
        app = self.api.client.app
        assert app is not None
        engine: Engine = app[ENGINE]
        return engine

    async def other_member(self) -> str:
        """The token of a member of project b, which owns nothing here."""
        admin = await self.api.admin()
        await self.api.ok("POST", "/v1/projects", admin, {"name": "b"})
        return await self.api.user_with_role("bm", "b", "member")

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any, CIMultiDict[str]]:
        return await self.api.call(method, path, token or self.token, body, headers=V)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, data, _ = await self.call(method, path, body)
        assert 200 <= status < 300, (status, data)
        return data

    async def task(self, instance_id: str, task: str, body: dict[str, Any]) -> str:
        """POST the task; the op occurrence id from the 202's Location."""
        status, data, headers = await self.call("POST", f"{INSTANCES}/{instance_id}/{task}", body)
        assert status == 202, (status, data)
        assert data is None  # SOL013: an empty 202
        return headers["Location"].rsplit("/", 1)[1]

    async def occ(self, op_id: str) -> dict[str, Any]:
        occ: dict[str, Any] = await self.ok("GET", f"{OCCS}/{op_id}")
        return occ

    async def until(self, op_id: str, *states: str, rounds: int = 40) -> dict[str, Any]:
        """Let the fake sites report and the engine pass until the op is in ``states``."""
        for _ in range(rounds):
            await self.sites.settle()
            await self.engine.run_once()
            occ = await self.occ(op_id)
            if occ["operationState"] in states:
                return occ
        raise AssertionError(f"operation {op_id} is {occ['operationState']}: {occ}")

    async def notified_states(self, op_id: str | None = None) -> list[str]:
        """The operation states the LCM notifications said (of ``op_id``'s occurrence, or
        any), each record once, in the order recorded. Read from the store's history: with
        no subscription to wait for, the delivery loop (every second) removes each record
        once it has passed over it, maybe before the test looks."""
        said: dict[str, str] = {}
        for change in await self.api.store.changes(0, limit=10_000, kind=outbox.KIND):
            occ = (change.value or {}).get("vnfLcmOpOcc", {})
            if op_id is None or occ.get("id") == op_id:
                said.setdefault(change.key, occ.get("operationState", ""))
        return list(said.values())

    async def instance(self, name: str = "vnf") -> str:
        body = {"vnfdId": VNFD_ID, "vnfInstanceName": name}
        status, data, headers = await self.call("POST", INSTANCES, body)
        assert status == 201, data
        assert headers["Location"].endswith(data["id"])
        return str(data["id"])

    async def instantiate(self, instance_id: str, **extra: Any) -> str:
        body = {"flavourId": "simple", **extra}
        op_id = await self.task(instance_id, "instantiate", body)
        await self.until(op_id, "COMPLETED")
        return op_id


async def lcm_hub(api: Api, sites: tuple[str, ...] = ("s1", "s2", "s3"), vnfd: str = VNFD) -> Lcm:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("am", "a", "member")
    for name in sites:
        await api.ok("POST", "/v1/sites", admin, {"name": name})
    fake = FakeSites(api.store)
    await fake.online(*sites)
    await catalog_image(api, "a", "spread-image", sha256=IMAGE_SHA256)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vnfd.yaml", vnfd)
    package = await upload(api, token, buffer.getvalue())
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    return Lcm(api, token, fake)
