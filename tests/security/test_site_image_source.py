"""Image sources at a site: a caller never names a host path, and nothing is moved or disclosed.

An image enters the site's cache only from the hub, as bytes uploaded through the local API
(``PUT /v1/images/{id}/file``, checked against the declared sha256), or by *file name* from
the agent's ``image_import_dir`` (copied, never moved). A host path in the body is refused
before anything is read: no other host file is copied into the cache, no volume or cached
image is taken out from under its owner, and no answer carries a file's hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.security.daemons import Reply, RunningSite
from tests.site_agent import real_site


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache(site: RunningSite) -> Path:
    return site.data_dir / "storage" / "images"


def _image_ids(site: RunningSite) -> set[str]:
    return {i["id"] for i in site.ok("GET", "/v1/images")["items"]}


def _refused(reply: Reply, *secrets: str) -> None:
    assert 400 <= reply.status < 500, reply
    for secret in secrets:
        assert secret not in reply.raw.decode(errors="replace"), reply


@pytest.fixture(scope="module")
def images(site: RunningSite, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    kernel, blank = real_site.test_images(tmp_path_factory.mktemp("sec-images"))
    for image in (kernel, blank):
        assert site.upload_image(image.id, image.path).status == 201
    return {kernel.id: kernel.path, blank.id: blank.path}


def test_host_file_is_not_read_or_copied(site: RunningSite) -> None:
    shadow = Path("/etc/shadow")
    actual = _sha(shadow)
    for sha in ("0" * 64, actual):
        reply = site.call(
            "POST", "/v1/images", {"id": "shadow", "path": str(shadow), "sha256": sha}
        )
        _refused(reply, actual, actual.upper())
    assert "shadow" not in _image_ids(site)
    assert not list(_cache(site).glob("shadow*"))


def test_volume_file_is_not_taken(site: RunningSite) -> None:
    volume = site.ok("POST", "/v1/volumes", {"name": "victim", "size_gb": 1})["volume"]
    site.wait_status("volume", volume["id"], "AVAILABLE")
    path = site.data_dir / "storage" / "volumes" / f"{volume['id']}.qcow2"
    before = _sha(path)
    body = {"id": "stolen", "path": str(path), "sha256": before}
    _refused(site.call("POST", "/v1/images", body), before)
    assert path.is_file() and _sha(path) == before
    assert "stolen" not in _image_ids(site)
    site.ok("POST", f"/v1/volumes/{volume['id']}/actions/extend", {"size_gb": 2})
    assert site.wait_status("volume", volume["id"], "AVAILABLE")["size_gb"] == 2


def test_running_servers_image_is_not_taken(site: RunningSite, images: dict[str, Path]) -> None:
    site.ok("POST", "/v1/networks", {"name": "img-lan"})
    site.ok("POST", "/v1/subnets", {"network": "img-lan", "cidr": "10.71.0.0/24"})
    body = {"name": "img-vm", "flavor": "tiny", "image": "blank", "kernel": "tiny-kernel",
            "nics": [{"network": "img-lan"}]}  # fmt: skip
    server = site.ok("POST", "/v1/servers", body)["server"]
    site.wait_status("server", server["id"], "ACTIVE")
    cached = _cache(site) / "blank.qcow2"
    before = _sha(cached)
    for target in (cached, _cache(site) / "tiny-kernel.raw"):
        reply = site.call(
            "POST", "/v1/images", {"id": "again", "path": str(target), "sha256": before}
        )
        _refused(reply, _sha(target))
    assert cached.is_file() and _sha(cached) == before
    assert site.wait_status("server", server["id"], "ACTIVE")
    site.ok("DELETE", f"/v1/servers/{server['id']}")


def test_upload_mismatch_does_not_disclose_the_hash(site: RunningSite, tmp_path: Path) -> None:
    data = tmp_path / "data.raw"
    data.write_bytes(os.urandom(65536))
    reply = site.upload_image("mismatch", data, sha256="a" * 64)
    _refused(reply, _sha(data))
    assert reply.body["error"]["code"] == "checksum_mismatch"
    assert "mismatch" not in _image_ids(site)
    assert not list((site.data_dir / "storage" / "tmp").iterdir())


def test_import_takes_a_name_in_the_import_dir_and_copies(site: RunningSite) -> None:
    source = site.import_dir / "imported.raw"
    source.write_bytes(os.urandom(131072))
    sha = _sha(source)
    image = site.ok("POST", "/v1/images", {"id": "imported", "file": source.name, "sha256": sha})
    assert image["image"]["sha256"] == sha
    assert source.is_file() and _sha(source) == sha  # copied, not moved
    cached = _cache(site) / "imported.raw"
    assert cached.stat().st_mode & 0o077 == 0, oct(cached.stat().st_mode)


@pytest.mark.parametrize("name", ["../agent/agent.db", "/etc/shadow", "sub/x.raw", "..", ""])
def test_import_refuses_anything_but_a_plain_name(site: RunningSite, name: str) -> None:
    reply = site.call("POST", "/v1/images", {"id": "escape", "file": name, "sha256": "0" * 64})
    _refused(reply)
    assert "escape" not in _image_ids(site)


def test_import_refuses_symlinks(site: RunningSite) -> None:
    link = site.import_dir / "shadow.raw"
    link.symlink_to("/etc/shadow")
    actual = _sha(Path("/etc/shadow"))
    reply = site.call("POST", "/v1/images", {"id": "linked", "file": link.name, "sha256": actual})
    _refused(reply, actual)
    assert "linked" not in _image_ids(site)


def test_cached_images_are_not_world_readable(site: RunningSite, images: dict[str, Path]) -> None:
    files = [p for p in _cache(site).iterdir() if p.suffix in (".raw", ".qcow2")]
    assert {p.stem for p in files} >= set(images)
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path}: {oct(path.stat().st_mode)}"
