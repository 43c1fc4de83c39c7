"""Ownership by project id: a project deleted and created again under the same name is a new
tenant, and its members see nothing the old one owned (images, packages, flavors)."""

from __future__ import annotations

from tests.security.daemons import RunningHub

PACKAGES = "/vnfpkgm/v2/vnf_packages"


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
    assert package["id"] not in {p["id"] for p in hub.ok("GET", PACKAGES, token=new)["items"]}
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
