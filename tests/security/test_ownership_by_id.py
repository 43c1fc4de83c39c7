"""Ownership by project id: a project deleted and created again under the same name is a new
tenant, and its members see nothing the old one owned (images, packages, flavors); a data
dir written when owners were recorded by name opens with owners by id."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from atoll.hub.bootstrap import seed_store
from atoll.hub.store.sqlite import SQLiteStore
from atoll.passwords import Passwords
from tests.security.daemons import RunningHub

PACKAGES = "/vnfpkgm/v1/vnf_packages"


def test_a_recreated_project_inherits_nothing(hub: RunningHub) -> None:
    old = hub.tenant("pz", "pz-old", "admin")
    image = hub.ok("POST", "/v1/images", {"name": "pz-secret", "disk_format": "raw"}, token=old)
    package = hub.ok("POST", PACKAGES, {}, token=old)
    flavor = hub.ok(
        "POST", "/v1/flavors", {"name": "pz-flavor", "vcpus": 1, "ram_mb": 64, "disk_gb": 1},
        token=old,
    )  # fmt: skip
    assert hub.call("DELETE", "/v1/projects/pz").status == 204

    new = hub.tenant("pz", "pz-new", "admin")
    assert hub.call("GET", f"/v1/images/{image['id']}", token=new).status == 404
    assert image["id"] not in {i["id"] for i in hub.ok("GET", "/v1/images", token=new)["items"]}
    assert hub.call("GET", f"{PACKAGES}/{package['id']}", token=new).status == 404
    assert package["id"] not in {p["id"] for p in hub.ok("GET", PACKAGES, token=new)}
    assert hub.call("GET", "/v1/flavors/pz-flavor", token=new).status == 404
    assert flavor["id"] not in {f["id"] for f in hub.ok("GET", "/v1/flavors", token=new)["items"]}
    # and the new members cannot delete or write over them either
    assert hub.call("DELETE", f"/v1/images/{image['id']}", token=new).status == 404
    assert hub.call("DELETE", "/v1/flavors/pz-flavor", token=new).status == 404

    # the old project's objects are gone, even for the system administrator
    assert hub.call("GET", f"/v1/images/{image['id']}").status == 404
    assert hub.call("GET", f"{PACKAGES}/{package['id']}").status == 404
    assert flavor["id"] not in {f["id"] for f in hub.ok("GET", "/v1/flavors")["items"]}


def test_a_token_of_the_old_project_does_not_reach_the_new_one(hub: RunningHub) -> None:
    old = hub.tenant("py", "py-old", "member")
    assert hub.call("DELETE", "/v1/projects/py").status == 204
    new = hub.tenant("py", "py-new", "member")
    mine = hub.ok("POST", "/v1/images", {"name": "py-new-img", "disk_format": "raw"}, token=new)
    assert hub.call("GET", f"/v1/images/{mine['id']}", token=old).status == 401
    assert hub.call("GET", "/v1/images", token=old).status == 401


LEGACY_PROJECT_ID = "1" * 32
LEGACY_USER_ID = "2" * 32
IMAGE_IDS = {"legacy": "a" * 32, "gone": "b" * 32}


def legacy_data_dir(data_dir: Path) -> None:
    """Records as the previous hub wrote them: owners by project name only (and grants'
    users by name only), and the leftovers of a project "gone" deleted before the name-to-id
    change (an orphan grant, an image)."""

    async def write() -> None:
        store = SQLiteStore(data_dir / "hub.db")
        await seed_store(store, data_dir)  # its admin, as its first start made it
        now = "2026-01-01T00:00:00Z"
        await store.put("project", "legacy", {"id": LEGACY_PROJECT_ID, "name": "legacy",
                                              "description": "", "created_at": now})  # fmt: skip
        password_hash = Passwords(1, 8, 1).hash_now("lm-password-1")
        await store.put("user", "lm", {"id": LEGACY_USER_ID, "name": "lm", "description": "",
                        "enabled": True, "created_at": now,
                        "_password_hash": password_hash})  # fmt: skip
        for project in ("legacy", "gone"):
            key = f"lm:project:{project}:member"
            await store.put("role_assignment", key, {"id": key, "user": "lm", "project": project,
                            "system": False, "role": "member", "created_at": now})  # fmt: skip
            image: dict[str, Any] = {"id": IMAGE_IDS[project], "name": f"{project}-img",
                     "project": project,
                     "visibility": "private", "disk_format": "raw", "container_format": "bare",
                     "status": "queued", "properties": {}, "source": "upload",
                     "created_at": now}  # fmt: skip
            await store.put("image", IMAGE_IDS[project], image)
        flavor = {"id": "f" * 32, "name": "lflavor", "description": "", "vcpus": 1,
                  "ram_mb": 64, "disk_gb": 1, "extra_specs": {}, "public": False,
                  "projects": ["legacy"], "owner": "legacy", "created_at": now}  # fmt: skip
        await store.put("flavor", "lflavor", flavor)
        await store.close()

    asyncio.run(write())


def test_a_data_dir_of_the_previous_version_opens_owned_by_id(tmp_path: Path) -> None:
    hub = RunningHub.start(tmp_path, before_serve=legacy_data_dir)
    try:
        member = hub.login("lm", "lm-password-1", "legacy")
        images = hub.ok("GET", "/v1/images", token=member)["items"]
        assert [(i["name"], i["project_id"]) for i in images] == [("legacy-img", LEGACY_PROJECT_ID)]
        flavor = hub.ok("GET", "/v1/flavors/lflavor", token=member)
        assert flavor["project_id"] == LEGACY_PROJECT_ID
        assert flavor["project_ids"] == [LEGACY_PROJECT_ID]
        grants = hub.ok("GET", "/v1/role_assignments?user=lm")["items"]
        assert [(g["project"], g["project_id"], g["user_id"]) for g in grants] == [
            ("legacy", LEGACY_PROJECT_ID, LEGACY_USER_ID)
        ]  # the orphan grant on "gone" is gone

        hub.ok("POST", "/v1/projects", {"name": "gone"})  # the old name, a new project
        login = {"user": "lm", "password": "lm-password-1", "project": "gone"}
        assert hub.call("POST", "/v1/auth/tokens", login, token="").status == 401
        orphan = hub.ok("GET", f"/v1/images/{IMAGE_IDS['gone']}")
        assert orphan["project_id"] is None  # kept for the system admin, owned by no project
    finally:
        hub.stop()
