"""VNF packages at the hub: upload, onboarding, images, VNFD, isolation and the delete rules."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import ids
from atoll.errors import InvalidInput, NotFound
from atoll.hub.api.context import HUB
from atoll.hub.bootstrap import seed_admin
from atoll.hub.catalog.vnf_packages import new_package
from atoll.hub.store.memory import MemoryStore
from atoll.nfv.artifacts import image_needs, vnfd_files
from atoll.nfv.package import load_package
from atoll.passwords import Passwords
from tests.hub.api.vnf_packages import (
    BASE,
    MAX_PACKAGE,
    ONE_FILE_VNFD,
    catalog_image,
    conformance_zip,
    create,
    fetch,
    images_for,
    package_api,
    put_content,
    upload,
    wait_onboarded,
)
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, Api
from tests.nfv.packages import (
    IMAGE,
    NAMES,
    PACKAGES,
    carry,
    carrying,
    copy_package,
    to_zip,
    zip_dir,
)

IMAGE_PATH = IMAGE  # what getting-started's VDU1 boots


@pytest.fixture
async def papi(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> Api:
    return await package_api(aiohttp_client, signing_key, tmp_path / "hub")


def package_dir(api: Api) -> Path:
    app = api.client.app
    assert app is not None
    data_dir: Path = app[HUB].settings.data_dir
    return data_dir / "vnf_packages"


async def projects(api: Api) -> dict[str, str]:
    admin = await api.admin()
    for name in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": name})
    return {
        "admin": admin,
        "a": await api.user_with_role("am", "a", "member"),
        "b": await api.user_with_role("bm", "b", "member"),
        "reader": await api.user_with_role("ar", "a", "reader"),
    }


@pytest.mark.parametrize("name", NAMES)
async def test_every_conformance_package_onboards_and_gives_back_its_vnfd(
    papi: Api, name: str
) -> None:
    who = await projects(papi)
    images = await images_for(papi, "a", name)
    content = conformance_zip(name)
    package = await upload(papi, who["a"], content)
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    model = load_package(PACKAGES / name)
    vnfd = model.vnfd
    assert package["operationalState"] == "ENABLED"
    assert package["usageState"] == "NOT_IN_USE"
    assert package["project"] == "a"
    assert (package["vnfdId"], package["vnfProvider"], package["vnfProductName"]) == (
        vnfd.descriptor_id,
        vnfd.provider,
        vnfd.product_name,
    )
    assert package["vnfSoftwareVersion"] == vnfd.software_version
    assert package["vnfdVersion"] == vnfd.descriptor_version
    assert [f["id"] for f in package["flavours"]] == [f.id for f in vnfd.flavours]
    assert package["checksum"] == {
        "algorithm": "SHA-256",
        "hash": hashlib.sha256(content).hexdigest(),
    }
    assert package["size"] == len(content)
    assert package["softwareImages"]
    for image in package["softwareImages"]:
        assert image["catalogImage"] == images[image["name"]]
        assert image["carried"] is False

    vnfd_path = f"{BASE}/{package['id']}/vnfd"
    status, raw, media = await fetch(papi, vnfd_path, who["reader"], "application/zip")
    assert status == 200 and media == "application/zip"
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        got = {n: archive.read(n) for n in archive.namelist()}
    assert got == vnfd_files(PACKAGES / name, model)
    status, _, _ = await fetch(papi, vnfd_path, who["a"], "text/plain")
    assert status == 406  # several files: SOL005 says text/plain is not acceptable
    status, raw, media = await fetch(papi, f"{BASE}/{package['id']}/package_content", who["a"])
    assert status == 200 and media == "application/zip" and raw == content

    for path in (f"{BASE}/{package['id']}", f"{BASE}/{package['id']}/vnfd"):
        assert (await papi.call("GET", path, who["b"]))[0] == 404
    assert (await papi.ok("GET", BASE, who["b"])) == []
    listed = await papi.ok("GET", BASE, who["admin"])
    assert [p["id"] for p in listed] == [package["id"]]


async def test_readers_see_packages_but_cannot_create_upload_or_delete(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"], {"team": "core"})
    assert package["userDefinedData"] == {"team": "core"}
    assert package["onboardingState"] == "CREATED"
    assert package["operationalState"] == "DISABLED"
    reader = who["reader"]
    assert (await papi.ok("GET", BASE, reader))[0]["id"] == package["id"]
    assert (await papi.call("POST", BASE, reader, {}))[0] == 403
    status, _ = await put_content(papi, reader, package["id"], conformance_zip("practical"))
    assert status == 403
    assert (await papi.call("DELETE", f"{BASE}/{package['id']}", reader))[0] == 403
    status, _ = await put_content(papi, who["b"], package["id"], conformance_zip("practical"))
    assert status == 404
    status, _, _ = await papi.call("POST", BASE, who["admin"], {})
    assert status == 403  # system scope: a package needs a project to belong to


async def test_a_broken_package_goes_to_error_with_every_problem(papi: Api, tmp_path: Path) -> None:
    who = await projects(papi)
    root = copy_package("getting-started", tmp_path)
    meta = root / "TOSCA-Metadata" / "TOSCA.meta"
    meta.write_text(meta.read_text().replace("sample_vnfd_top.yaml", "missing.yaml"))
    content = zip_dir(root)
    with pytest.raises(InvalidInput) as refused:
        load_package(content)
    package = await upload(papi, who["a"], content)
    assert package["onboardingState"] == "ERROR"
    assert package["operationalState"] == "DISABLED"
    details = package["onboardingFailureDetails"]
    assert details["detail"] == refused.value.summary
    assert details["problems"] == [
        {"where": p.where, "what": p.what} for p in refused.value.problems
    ]
    assert "Entry-Definitions names Definitions/missing.yaml" in details["problems"][0]["what"]
    # fixed content may be uploaded again to the same package
    await images_for(papi, "a", "getting-started")
    status, _ = await put_content(papi, who["a"], package["id"], conformance_zip("getting-started"))
    assert status == 202
    assert (await wait_onboarded(papi, who["a"], package["id"]))["onboardingState"] == "ONBOARDED"


ONE_FILE_SHA256 = "00" * 31 + "aa"  # what ONE_FILE_VNFD declares
FREE5GC_SHA512 = (
    "1132fb747c2473162ee757596ee1444c84e32edb05c931fb4762aa84f03cdae698837d6bb4da97f2fff439c7c1"
    "9ef907eb55aa7df54c6410d2060419831732ea"
)
VDU2_SHA256 = "a8dd75ecffd4cdd96072d60c2237b448e0c8b2bc94d57f10fdbc8c481d9005b8"


async def test_a_vdu_without_an_image_fails_naming_it_until_mapped(papi: Api) -> None:
    who = await projects(papi)
    await catalog_image(papi, "a", "free5gc-img", sha512=FREE5GC_SHA512)
    await catalog_image(papi, "a", "cirros-0.4.0-x86_64-disk")  # the name, not the checksum
    other = await catalog_image(papi, "b", "b-cirros", sha256=VDU2_SHA256)  # not a's to use
    content = conformance_zip("free5gc-anti-affinity-zone")
    package = await upload(papi, who["a"], content)
    assert package["onboardingState"] == "ERROR"
    problems = package["onboardingFailureDetails"]["problems"]
    assert [p["where"] for p in problems] == ["flavour simple: VDU2.sw_image_data"]
    assert "VDU2 has no image" in problems[0]["what"]
    assert "--image-map VDU2=IMAGE" in problems[0]["what"]

    status, _ = await put_content(papi, who["a"], package["id"], content, (f"VDU2={other}",))
    assert status == 202
    failed = await wait_onboarded(papi, who["a"], package["id"])
    assert failed["onboardingFailureDetails"]["problems"][0]["where"] == "image_map.VDU2"

    wrong = ("VDU2=cirros-0.4.0-x86_64-disk",)  # a's, but its checksum is not the VNFD's
    status, _ = await put_content(papi, who["a"], package["id"], content, wrong)
    assert status == 202
    failed = await wait_onboarded(papi, who["a"], package["id"])
    (problem,) = failed["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "image_map.VDU2" and "does not match" in problem["what"]

    mine = await catalog_image(papi, "a", "my-cirros", sha256=VDU2_SHA256)
    status, _ = await put_content(papi, who["a"], package["id"], content, ("VDU2=my-cirros",))
    assert status == 202
    done = await wait_onboarded(papi, who["a"], package["id"])
    assert done["onboardingState"] == "ONBOARDED"
    by_node = {i["id"]: i["catalogImage"] for i in done["softwareImages"]}
    assert by_node["VDU2"] == mine
    status, data, _ = await papi.call(
        "PUT", f"{BASE}/{package['id']}/package_content", who["a"], None
    )
    assert status == 409 and "uploaded once" in data["detail"]


async def test_images_are_matched_by_sha256_never_by_name(papi: Api) -> None:
    who = await projects(papi)
    sha = "932fcae93574e242dc3d772d5235061747dfe537668443a1f0567d893614b464"
    by_sum = await catalog_image(papi, "a", "renamed-cirros", sha256=sha, visibility="private")
    await catalog_image(papi, "b", "cirros-0.5.2-x86_64-disk")  # b's: invisible to a
    queued = await catalog_image(papi, "a", "cirros-0.5.2-x86_64-disk", sha256=sha)
    record = await papi.store.get("image", queued)
    await papi.store.put("image", queued, {**record.value, "status": "queued"})  # no bits yet
    package = await upload(papi, who["a"], conformance_zip("helloworld3-functional"))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert {i["catalogImage"] for i in package["softwareImages"]} == {by_sum}


async def test_a_carried_image_is_registered_in_the_catalog(papi: Api) -> None:
    who = await projects(papi)
    bits = b"\x00qcow-ish" * 1000
    content = to_zip(carrying(bits))
    package = await upload(papi, who["a"], content)
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    (image,) = package["softwareImages"]
    assert image["carried"] is True and image["imagePath"] == IMAGE_PATH
    sha512 = hashlib.sha512(bits).hexdigest()
    assert image["checksum"] == {"algorithm": "SHA-512", "hash": sha512}
    record = (await papi.store.get("image", image["catalogImage"])).value
    assert record["checksum_sha256"] == hashlib.sha256(bits).hexdigest()
    assert record["checksum_sha512"] == sha512
    assert record["size"] == len(bits)
    assert record["project"] == "a" and record["visibility"] == "private"
    assert record["status"] == "active"
    assert record["source"] == f"vnf_package:{package['id']}"
    assert (record["disk_format"], record["container_format"]) == ("qcow2", "bare")

    path = f"{BASE}/{package['id']}"
    status, data, _ = await papi.call("DELETE", path, who["a"])
    assert status == 409 and "disable it first" in data["detail"]
    status, data, headers = await papi.call("GET", path, who["a"])
    stale = await papi.call(
        "PATCH", path, who["a"], {"operationalState": "DISABLED"}, {"If-Match": '"1"'}
    )
    assert stale[0] == 409
    status, data, _ = await papi.call(
        "PATCH", path, who["a"], {"operationalState": "DISABLED"}, {"If-Match": headers["ETag"]}
    )
    assert status == 200 and data == {"operationalState": "DISABLED"}  # SOL005: the changes
    assert (await papi.call("DELETE", path, who["a"]))[0] == 204
    assert (await papi.call("GET", path, who["a"]))[0] == 404
    with pytest.raises(NotFound):
        await papi.store.get("image", image["catalogImage"])
    assert not list(package_dir(papi).glob("*"))


def dot_slash_zip(root: Path, extra: dict[str, bytes]) -> bytes:
    """The package as ``bsdtar -a -cf pkg.zip ./`` writes it: ``./``, then ``./NAME`` each."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("./", b"")
        for name, data in {**files, **extra}.items():
            archive.writestr(f"./{name}", data)
    return buffer.getvalue()


async def test_a_package_zipped_with_dot_slash_names_onboards_and_serves_its_files(
    papi: Api, tmp_path: Path
) -> None:
    who = await projects(papi)
    bits = b"\x00qcow-ish" * 1000
    script = b"#!/bin/sh\necho configured\n"
    root = carry(copy_package("getting-started", tmp_path), bits)
    package = await upload(papi, who["a"], dot_slash_zip(root, {"Scripts//install.sh": script}))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    (image,) = package["softwareImages"]
    assert image["carried"] is True and image["imagePath"] == IMAGE_PATH
    record = (await papi.store.get("image", image["catalogImage"])).value
    assert (record["checksum_sha256"], record["size"]) == (
        hashlib.sha256(bits).hexdigest(),
        len(bits),
    )
    assert package["additionalArtifacts"] == [
        {
            "artifactPath": "Scripts/install.sh",
            "checksum": {"algorithm": "SHA-256", "hash": hashlib.sha256(script).hexdigest()},
        }
    ]
    item = f"{BASE}/{package['id']}"
    assert await fetch(papi, f"{item}/artifacts/Scripts/install.sh", who["a"]) == (
        200,
        script,
        "application/octet-stream",
    )
    status, raw, _ = await fetch(papi, f"{item}/artifacts/{IMAGE_PATH}", who["a"])
    assert (status, raw) == (200, bits)


def corrupt(files: dict[str, bytes], name: str) -> bytes:
    """``files`` zipped uncompressed, one byte of ``name``'s data flipped (its CRC-32 fails)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    content = bytearray(buffer.getvalue())
    content[content.index(files[name]) + 7] ^= 0xFF
    return bytes(content)


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        # the reader reads a carried image whole to check the checksum its VNFD declares
        (IMAGE_PATH, "the VNF package is invalid"),
        # an artifact nothing lists a hash of is first read whole when the hub hashes it
        ("Scripts/install.sh", "a file of the VNF package cannot be read"),
    ],
)
async def test_a_carried_file_with_corrupt_zip_data_fails_naming_it(
    papi: Api, name: str, detail: str
) -> None:
    who = await projects(papi)
    files = {**carrying(b"carried image bits " * 100), "Scripts/install.sh": b"#!/bin/sh\n" * 9}
    package = await upload(papi, who["a"], corrupt(files, name))
    assert package["onboardingState"] == "ERROR"
    details = package["onboardingFailureDetails"]
    assert (details["status"], details["detail"]) == (422, detail)
    (problem,) = details["problems"]
    assert problem["where"] == name
    assert problem["what"].startswith("cannot be read: Bad CRC-32")


async def test_enabling_needs_an_onboarded_package(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    path = f"{BASE}/{package['id']}"
    status, data, _ = await papi.call("PATCH", path, who["a"], {"operationalState": "ENABLED"})
    assert status == 409 and "only an ONBOARDED package" in data["detail"]
    status, data, _ = await papi.call("GET", path + "/vnfd", who["a"])
    assert status == 409
    assert (await papi.call("DELETE", path, who["a"]))[0] == 204


async def test_an_oversized_upload_is_refused_and_the_package_stays_created(
    papi: Api,
) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    status, body = await put_content(papi, who["a"], package["id"], b"x" * (MAX_PACKAGE + 1))
    assert status == 413, body
    assert "max_vnf_package_bytes" in body["detail"]

    async def chunks() -> Any:  # no Content-Length: refused while streaming
        for _ in range(40):
            yield b"y" * 65536

    resp = await papi.client.put(
        f"{BASE}/{package['id']}/package_content",
        data=chunks(),
        headers={"Authorization": f"Bearer {who['a']}", "Content-Type": "application/zip"},
    )
    assert resp.status == 413
    again = await papi.ok("GET", f"{BASE}/{package['id']}", who["a"])
    assert again["onboardingState"] == "CREATED"
    assert not list(package_dir(papi).glob("*"))


async def test_upload_checks_media_type_and_image_map(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    path = f"{BASE}/{package['id']}/package_content"
    auth = {"Authorization": f"Bearer {who['a']}"}
    resp = await papi.client.put(path, data=b"{}", headers={**auth, "Content-Type": "text/csv"})
    assert resp.status == 415
    status, body = await put_content(papi, who["a"], package["id"], b"PK", ("nonsense",))
    assert status == 400 and body["problems"][0]["where"] == "query.image_map[0]"
    status, _ = await put_content(papi, who["a"], package["id"], b"not a zip")
    assert status == 202
    failed = await wait_onboarded(papi, who["a"], package["id"])
    assert failed["onboardingState"] == "ERROR"
    assert failed["onboardingFailureDetails"]["problems"]


async def test_a_one_file_vnfd_is_served_as_yaml_when_accepted(papi: Api) -> None:
    who = await projects(papi)
    await catalog_image(papi, "a", "one-file-image", sha256=ONE_FILE_SHA256)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vnfd.yaml", ONE_FILE_VNFD)
    package = await upload(papi, who["a"], buffer.getvalue())
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    path = f"{BASE}/{package['id']}/vnfd"
    for accept in ("text/plain", "*/*", "text/plain, application/zip"):
        status, raw, media = await fetch(papi, path, who["a"], accept)
        assert status == 200 and media == "text/plain", accept
        assert raw.decode() == ONE_FILE_VNFD
    status, raw, media = await fetch(papi, path, who["a"], "application/zip")
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert archive.namelist() == ["vnfd.yaml"]
    status, data, _ = await papi.call("GET", path, who["a"], headers={"Accept": "application/json"})
    assert status == 406 and "text/plain" in data["detail"]


async def test_packages_filter_by_state(papi: Api) -> None:
    who = await projects(papi)
    created = await create(papi, who["a"])
    await catalog_image(papi, "a", "one-file-image", sha256=ONE_FILE_SHA256)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vnfd.yaml", ONE_FILE_VNFD)
    onboarded = await upload(papi, who["a"], buffer.getvalue())

    async def ids(query: str) -> list[str]:
        page = await papi.ok("GET", f"{BASE}?{query}", who["a"])
        return [p["id"] for p in page]

    assert await ids("filter=(eq,onboardingState,CREATED)") == [created["id"]]
    assert await ids("filter=(eq,operationalState,ENABLED)") == [onboarded["id"]]
    both = sorted([created["id"], onboarded["id"]])
    assert sorted(await ids("filter=(eq,usageState,NOT_IN_USE)")) == both
    assert await ids("filter=(eq,vnfProductName,One File)") == [onboarded["id"]]
    assert await ids("filter=(eq,onboardingState,DONE)") == []
    status, body, _ = await papi.call("GET", f"{BASE}?filter=(eq,colour,red)", who["a"])
    assert status == 400 and "'colour'" in body["problems"][0]["what"]


async def test_a_hub_restarted_mid_onboarding_finishes_the_job(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    files = tmp_path / "hub" / "vnf_packages"
    files.mkdir(parents=True)
    now = "2030-01-01T00:00:00Z"
    for n, with_file in ((1, True), (2, False)):
        package_id = f"00000000-0000-4000-8000-00000000000{n}"
        value = {**new_package(package_id, "a", "a" * 32, {}, now), "onboardingState": "PROCESSING"}
        await store.put("vnf_package", package_id, value)
        if with_file:
            (files / f"{package_id}.zip").write_bytes(conformance_zip("getting-started"))
    api = await package_api(aiohttp_client, signing_key, tmp_path / "hub", store)
    admin = await api.admin()
    done = await wait_onboarded(api, admin, "00000000-0000-4000-8000-000000000001")
    assert done["onboardingState"] == "ERROR"  # read again; its image is not in the catalog
    assert "VDU1 has no image" in done["onboardingFailureDetails"]["problems"][0]["what"]
    back = await api.ok("GET", f"{BASE}/00000000-0000-4000-8000-000000000002", admin)
    assert back["onboardingState"] == "CREATED"  # its upload never arrived: upload again


async def test_a_package_being_onboarded_takes_no_upload_and_no_delete(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    record = await papi.store.get("vnf_package", package["id"])
    processing = {**record.value, "onboardingState": "PROCESSING"}
    await papi.store.put("vnf_package", package["id"], processing)
    path = f"{BASE}/{package['id']}"
    status, data, _ = await papi.call("DELETE", path, who["a"])
    assert status == 409 and "being onboarded" in data["detail"]
    status, body = await put_content(papi, who["a"], package["id"], b"PK")
    assert status == 409 and "PROCESSING" in body["detail"]


async def test_package_ids_are_hub_ids_and_older_dashed_ids_still_resolve(papi: Api) -> None:
    """New packages get the one id form; a package stored with the dashed UUID the hub gave
    before keeps answering under that id (the path pattern takes both forms)."""
    who = await projects(papi)
    package = await create(papi, who["a"], {"k": "v"})
    assert ids.is_id(package["id"]) and ids.origin_of(package["id"]) == "hub"
    assert uuid.UUID(package["id"]).version == 4 and "-" not in package["id"]
    legacy = str(uuid.uuid4())
    record = await papi.store.get("vnf_package", package["id"])
    await papi.store.put("vnf_package", legacy, {**record.value, "id": legacy})
    shown = await papi.ok("GET", f"{BASE}/{legacy}", who["a"])
    assert shown["id"] == legacy and shown["userDefinedData"] == {"k": "v"}
    status, problem, _ = await papi.call("GET", f"{BASE}/not-an-id", who["a"])
    assert status == 400 and "vnfPkgId" in str(problem), problem


async def uploaded_image(api: Api, token: str, name: str, data: bytes) -> dict[str, Any]:
    """An image uploaded through the image service (``PUT .../file``): its answer."""
    created = await api.ok("POST", "/v1/images", token, {"name": name, "disk_format": "raw"})
    resp = await api.client.put(
        f"/v1/images/{created['id']}/file",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/octet-stream"},
    )
    answered: dict[str, Any] = await resp.json()
    assert resp.status == 200 and answered["status"] == "active", answered
    return answered


def free5gc_declaring(tmp_path: Path, sha512: str) -> bytes:
    """The free5gc conformance package, its VNFD declaring the sha-512 ``sha512`` for the one
    image it needs (and does not carry)."""
    root = copy_package("free5gc", tmp_path / uuid.uuid4().hex)
    (need,) = image_needs(load_package(root))
    assert need.image.checksum.algorithm == "sha-512" and not need.carried
    for vnfd in (root / "Definitions").glob("*.yaml"):
        vnfd.write_text(vnfd.read_text().replace(need.image.checksum.hash, sha512))
    return zip_dir(root)


async def test_a_package_declaring_the_sha512_of_an_image_uploaded_just_before_binds_it(
    papi: Api, tmp_path: Path
) -> None:
    who = await projects(papi)
    data = b"free5gc, uploaded just now " + os.urandom(100_000)
    image = await uploaded_image(papi, who["a"], "fresh-free5gc", data)
    sha512 = hashlib.sha512(data).hexdigest()
    package = await upload(papi, who["a"], free5gc_declaring(tmp_path, sha512))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert {i["id"]: i["catalogImage"] for i in package["softwareImages"]} == {
        "free5gc": image["id"]
    }

    # one whose sha-512 is not recorded and no computation runs for: onboarding computes it
    other = b"another free5gc " + os.urandom(100_000)
    image = await uploaded_image(papi, who["a"], "other-free5gc", other)
    sha512 = hashlib.sha512(other).hexdigest()
    for _ in range(300):
        record = await papi.store.get("image", image["id"])
        if record.value["checksum_sha512"] is not None:
            break
        await asyncio.sleep(0.05)
    assert record.value["checksum_sha512"] == sha512
    await papi.store.put("image", image["id"], {**record.value, "checksum_sha512": None})
    package = await upload(papi, who["a"], free5gc_declaring(tmp_path, sha512))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert package["softwareImages"][0]["catalogImage"] == image["id"]
    assert (await papi.store.get("image", image["id"])).value["checksum_sha512"] == sha512


async def test_an_image_whose_sha512_another_hub_process_computes_is_named_retry_later(
    papi: Api, tmp_path: Path
) -> None:
    who = await projects(papi)
    image_id = await catalog_image(papi, "a", "elsewhere-free5gc")  # its data is not here
    record = await papi.store.get("image", image_id)
    await papi.store.put("image", image_id, {**record.value, "checksum_sha512": None})
    package = await upload(papi, who["a"], free5gc_declaring(tmp_path, "ab" * 64))
    assert package["onboardingState"] == "ERROR", package
    (problem,) = package["onboardingFailureDetails"]["problems"]
    assert "free5gc has no image" in problem["what"]
    assert f"image {image_id} is still being computed" in problem["what"]
    assert "upload the package again in a moment" in problem["what"]

    mapped = await upload(
        papi, who["a"], free5gc_declaring(tmp_path, "ab" * 64), (f"free5gc={image_id}",)
    )
    (problem,) = mapped["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "image_map.free5gc"
    assert "its sha-512 is still being computed" in problem["what"], problem
