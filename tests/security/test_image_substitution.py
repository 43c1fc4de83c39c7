"""Cross-tenant image substitution at onboarding: a VNFD's image is bound only to an image
whose checksum matches, the caller's own image before a public one, and only system
administrators publish public images."""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

from tests.nfv.packages import copy_package, zip_dir
from tests.security.daemons import RunningHub

PACKAGES = "/vnfpkgm/v1/vnf_packages"
VNFD = "Definitions/sample_free5gc_df_simple.yaml"
DECLARED = (
    "1bb61bd4f6f7dd9461eccb73d54979177e170b34ba4ac47396532f3e8b5cb51270a42a1e084343f7fee1a1ba9f"
    "b642d7df54678f620ca897b5e42afc4594a18b"
)


def image(hub: RunningHub, token: str | None, name: str, data: bytes, **extra: Any) -> str:
    """An image uploaded by ``token`` (private), or by the system admin (public)."""
    visibility = {"visibility": "public"} if token is None else {}
    body = {"name": name, "disk_format": "raw", **visibility, **extra}
    created = hub.ok("POST", "/v1/images", body, token=token)
    headers = {"Content-Type": "application/octet-stream"}
    hub.ok("PUT", f"/v1/images/{created['id']}/file", raw=data, headers=headers, token=token)
    return str(created["id"])


def csar(tmp_path: Path, sha512: str) -> bytes:
    """The free5gc conformance package, its VNFD declaring the image's sha-512 ``sha512``."""
    root = copy_package("free5gc", tmp_path / secrets.token_hex(4))
    vnfd = root / VNFD
    vnfd.write_text(vnfd.read_text().replace(DECLARED, sha512))
    return zip_dir(root)


def onboard(hub: RunningHub, token: str, content: bytes, image_map: str = "") -> dict[str, Any]:
    package = hub.ok("POST", PACKAGES, {}, token=token)
    query = f"?image_map={image_map}" if image_map else ""
    headers = {"Content-Type": "application/zip"}
    path = f"{PACKAGES}/{package['id']}/package_content{query}"
    hub.ok("PUT", path, raw=content, headers=headers, token=token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        shown: dict[str, Any] = hub.ok("GET", f"{PACKAGES}/{package['id']}", token=token)
        if shown["onboardingState"] not in ("CREATED", "PROCESSING"):
            return shown
        time.sleep(0.1)
    raise AssertionError(f"package {package['id']} did not finish onboarding")


def bound(package: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["catalogImage"] for i in package.get("softwareImages") or []}


def test_a_project_admin_cannot_publish(hub: RunningHub) -> None:
    admin = hub.tenant("sa", "sa-admin", "admin")
    body = {"name": "free5gc-img", "disk_format": "raw", "visibility": "public"}
    reply = hub.call("POST", "/v1/images", body, token=admin)
    assert reply.status == 403, reply
    listed = hub.ok("GET", "/v1/images", token=admin)["items"]
    assert "free5gc-img" not in {i["name"] for i in listed}


def test_a_checksum_mismatch_is_never_bound(hub: RunningHub, tmp_path: Path) -> None:
    victim = hub.tenant("sv", "sv-member", "member")
    planted = image(hub, None, "free5gc-img", b"planted " + secrets.token_bytes(64))
    package = onboard(hub, victim, csar(tmp_path, DECLARED))
    assert planted not in bound(package).values()
    assert package["onboardingState"] == "ERROR", package
    (problem,) = package["onboardingFailureDetails"]["problems"]
    assert "free5gc" in problem["where"]

    # an explicit map to a mismatching image is refused, naming the VDU and the mismatch
    mapped = onboard(hub, victim, csar(tmp_path, DECLARED), f"free5gc={planted}")
    assert mapped["onboardingState"] == "ERROR", mapped
    (problem,) = mapped["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "image_map.free5gc"
    assert "free5gc" in problem["what"] and "sha-512" in problem["what"]
    assert "does not match" in problem["what"]


def test_the_callers_own_matching_image_comes_first(hub: RunningHub, tmp_path: Path) -> None:
    owner = hub.tenant("so", "so-member", "member")
    data = b"the real free5gc image " + secrets.token_bytes(64)
    sha512 = hashlib.sha512(data).hexdigest()
    public = image(hub, None, "free5gc-img", data)
    mine = image(hub, owner, "my-free5gc", data)
    package = onboard(hub, owner, csar(tmp_path, sha512))
    assert package["onboardingState"] == "ONBOARDED", package
    assert bound(package) == {"free5gc": mine}

    other = hub.tenant("sp", "sp-member", "member")  # no image of its own: the public one
    package = onboard(hub, other, csar(tmp_path, sha512))
    assert package["onboardingState"] == "ONBOARDED", package
    assert bound(package) == {"free5gc": public}
