"""Flavor names live in the owner's namespace: a project's private flavor neither blocks nor
reveals a name in another project or in the public namespace."""

from __future__ import annotations

from tests.security.daemons import RunningHub

SIZE = {"vcpus": 1, "ram_mb": 64, "disk_gb": 1}


def test_private_flavor_names_do_not_collide_or_leak(hub: RunningHub) -> None:
    fa = hub.tenant("fa", "fa-user", "member")
    fb = hub.tenant("fb", "fb-user", "member")
    fc = hub.tenant("fc", "fc-user", "member")
    mine = hub.ok("POST", "/v1/flavors", {"name": "gold", **SIZE}, token=fa)
    # another project may use the same name: no 409 telling it fa has a "gold"
    theirs = hub.call("POST", "/v1/flavors", {"name": "gold", **SIZE, "vcpus": 2}, token=fb)
    assert theirs.status == 201, theirs
    assert [f["id"] for f in hub.ok("GET", "/v1/flavors", token=fb)["items"]] == [theirs.body["id"]]
    # a tenant's private name does not squat the public namespace
    public = hub.call("POST", "/v1/flavors", {"name": "gold", **SIZE, "vcpus": 4, "public": True})
    assert public.status == 201, public
    # a project's own flavor comes first, then the public one
    assert hub.ok("GET", "/v1/flavors/gold", token=fa)["id"] == mine["id"]
    assert hub.ok("GET", "/v1/flavors/gold", token=fb)["id"] == theirs.body["id"]
    assert hub.ok("GET", "/v1/flavors/gold", token=fc)["id"] == public.body["id"]
    assert hub.ok("GET", "/v1/flavors/gold")["id"] == public.body["id"]
    # twice in one namespace is still a conflict, and says nothing of other projects
    again = hub.call("POST", "/v1/flavors", {"name": "gold", **SIZE}, token=fa)
    assert again.status == 409
    said = again.body["error"]["message"]  # not the request id: random hex may hold "fb"
    assert "fb" not in said and theirs.body["id"] not in said, said
    # fb deletes its own gold only; fa's and the public one stay
    assert hub.call("DELETE", "/v1/flavors/gold", token=fb).status == 204
    assert hub.ok("GET", "/v1/flavors/gold", token=fb)["id"] == public.body["id"]
    assert hub.call("DELETE", "/v1/flavors/gold", token=fb).status == 403
    assert hub.ok("GET", "/v1/flavors/gold", token=fa)["id"] == mine["id"]
