"""A hub with a private data dir for VNF package tests, and calls to upload and wait."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store.base import Store
from atoll.hub.store.memory import MemoryStore
from atoll.nfv.artifacts import image_needs
from atoll.nfv.package import load_package
from atoll.passwords import Passwords
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import (
    ADMIN,
    ADMIN_PASSWORD,
    CHECKER,
    JSON_TYPES,
    TEST_SETTINGS,
    Api,
    FakeClock,
)
from tests.nfv.packages import PACKAGES, zip_dir

BASE = "/vnfpkgm/v1/vnf_packages"
ONE_FILE_VNFD = """\
tosca_definitions_version: tosca_simple_yaml_1_2
description: A one-file VNFD
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
node_types:
  example.OneFile:
    derived_from: tosca.nodes.nfv.VNF
    properties:
      flavour_id:
        type: string
        default: simple
topology_template:
  substitution_mappings:
    node_type: example.OneFile
    properties:
      flavour_id: simple
  node_templates:
    VNF:
      type: example.OneFile
      properties:
        descriptor_id: 0c6a9c4e-1c57-4b1e-9b6a-1f0a7e3f5a01
        descriptor_version: '1.0'
        provider: Example
        product_name: One File
        software_version: '1.0'
        vnfm_info: [ Atoll ]
        flavour_id: simple
        flavour_description: the only flavour
    VDU1:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: VDU1
        description: the only VDU
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 2
        sw_image_data:
          name: one-file-image
          version: '1.0'
          checksum:
            algorithm: sha-256
            hash: 00000000000000000000000000000000000000000000000000000000000000aa
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
"""
MAX_PACKAGE = 1024 * 1024


async def package_api(
    aiohttp_client: AiohttpClient,
    signing_key: Any,
    data_dir: Path,
    store: MemoryStore | None = None,
    **settings: Any,
) -> Api:
    if store is None:
        store = MemoryStore()
        await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    hub_settings = replace(
        TEST_SETTINGS,
        data_dir=data_dir,
        max_vnf_package_bytes=MAX_PACKAGE,
        nfv_page_size=2,
        **settings,
    )
    clock = FakeClock()
    app = build_app(hub_settings, store, signing_key, clock)
    return Api(await aiohttp_client(app), clock)


def conformance_zip(name: str, extra: dict[str, bytes] | None = None) -> bytes:
    return zip_dir(PACKAGES / name, extra)


class HasStore(Protocol):
    """An :class:`Api`, or a bench holding the store its hub serves."""

    @property
    def store(self) -> Store: ...


async def catalog_image(
    api: HasStore,
    project: str,
    name: str,
    sha256: str | None = None,
    visibility: str = "private",
    sha512: str | None = None,
) -> str:
    """A catalog image record as the image service writes it (kind ``image``)."""
    image_id = secrets.token_hex(16)
    project_id = (await api.store.get("project", project)).value["id"]
    await api.store.put(
        "image",
        image_id,
        {
            "id": image_id,
            "name": name,
            "project": project,
            "project_id": project_id,
            "visibility": visibility,
            "disk_format": "qcow2",
            "container_format": "bare",
            "checksum_sha256": sha256 or hashlib.sha256(name.encode()).hexdigest(),
            "checksum_sha512": sha512 or hashlib.sha512(name.encode()).hexdigest(),
            "size": 1024,
            "status": "active",
            "source": "upload",
            "min_disk": 0,
            "min_ram": 0,
        },
        expect_revision=0,
    )
    return image_id


async def images_for(api: HasStore, project: str, name: str) -> dict[str, str]:
    """Catalog images for every image a conformance package needs, each with the checksum
    its VNFD declares (as if the real image had been uploaded)."""
    needs = image_needs(load_package(PACKAGES / name))
    ids: dict[str, str] = {}
    for need in sorted(needs, key=lambda n: n.image.name):
        checksum = need.image.checksum
        sha: dict[str, str | None] = {"sha256": None, "sha512": None}
        sha[checksum.algorithm.lower().replace("-", "")] = checksum.hash.lower()
        if need.image.name not in ids:
            ids[need.image.name] = await catalog_image(
                api, project, need.image.name, sha256=sha["sha256"], sha512=sha["sha512"]
            )
    return ids


async def create(api: Api, token: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"userDefinedData": data} if data is not None else {}
    status, package, _ = await api.call("POST", BASE, token, body)
    assert status == 201, package
    created: dict[str, Any] = package
    return created


async def put_content(
    api: Api, token: str, package_id: str, content: bytes, image_map: tuple[str, ...] = ()
) -> tuple[int, Any]:
    resp = await api.client.put(
        f"{BASE}/{package_id}/package_content",
        data=content,
        params=[("image_map", entry) for entry in image_map],
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/zip"},
    )
    body = await resp.json(content_type=None) if resp.content_type in JSON_TYPES else None
    return resp.status, body


async def wait_onboarded(api: Api, token: str, package_id: str) -> dict[str, Any]:
    for _ in range(600):
        package: dict[str, Any] = await api.ok("GET", f"{BASE}/{package_id}", token)
        if package["onboardingState"] not in ("CREATED", "PROCESSING"):
            return package
        await asyncio.sleep(0.05)
    raise AssertionError(f"package {package_id} still {package['onboardingState']}")


async def upload(
    api: Api, token: str, content: bytes, image_map: tuple[str, ...] = ()
) -> dict[str, Any]:
    package = await create(api, token)
    status, body = await put_content(api, token, package["id"], content, image_map)
    assert status == 202, body
    return await wait_onboarded(api, token, package["id"])


async def fetch(api: Api, path: str, token: str, accept: str = "*/*") -> tuple[int, bytes, str]:
    """A GET whose reply may be binary, checked against the OpenAPI document like any other."""
    headers = {"Authorization": f"Bearer {token}", "Accept": accept}
    resp = await api.client.get(path, headers=headers)
    raw = await resp.read()
    data = json.loads(raw) if resp.content_type in JSON_TYPES else None
    CHECKER.check("GET", path, resp.status, data, resp.content_type)
    return resp.status, raw, resp.content_type
