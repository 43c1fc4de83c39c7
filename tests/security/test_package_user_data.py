"""A VNF package's ``userDefinedData`` stays as small as one request could make it.

Creating a package takes at most 64 entries of ``userDefinedData`` in a body of at most
``max_body_bytes``; a merge patch (``PATCH .../vnf_packages/{id}``) adds to what is there.
Were only each patch checked, a project member could grow one package record without end,
64 keys (or a megabyte) per request, and every read, list and rewrite of it with it. What a
patch leaves must be what a create could have set: 400 naming ``body.userDefinedData``
otherwise, and the package keeps what it had.
"""

from __future__ import annotations

from typing import Any

from tests.security.daemons import RunningHub

PACKAGES = "/vnfpkgm/v1/vnf_packages"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def patch(hub: RunningHub, token: str, package: str, data: dict[str, Any]) -> Any:
    body = {"userDefinedData": data}
    return hub.call("PATCH", f"{PACKAGES}/{package}", body, token=token, headers=MERGE_PATCH)


def user_data(hub: RunningHub, token: str, package: str) -> dict[str, Any]:
    return dict(hub.ok("GET", f"{PACKAGES}/{package}", token=token)["userDefinedData"])


def test_patches_cannot_add_more_entries_than_a_package_may_hold(hub: RunningHub) -> None:
    token = hub.tenant("udd", "udd-member")
    package = hub.ok("POST", PACKAGES, {}, token=token)["id"]
    assert patch(hub, token, package, {f"a{i}": "x" for i in range(64)}).status == 200
    reply = patch(hub, token, package, {f"b{i}": "x" for i in range(64)})
    assert reply.status == 400, reply
    assert reply.body["problems"][0]["where"] == "body.userDefinedData", reply
    assert len(user_data(hub, token, package)) == 64
    # replacing and removing entries within the bound still works
    swap = {**{f"a{i}": None for i in range(32)}, **{f"b{i}": "y" for i in range(32)}}
    assert patch(hub, token, package, swap).status == 200
    held = user_data(hub, token, package)
    assert len(held) == 64 and held["b0"] == "y" and "a0" not in held


def test_patches_cannot_grow_the_data_past_what_one_request_holds(hub: RunningHub) -> None:
    token = hub.tenant("udd", "udd-grower")
    package = hub.ok("POST", PACKAGES, {}, token=token)["id"]
    statuses = []
    for round_ in range(100):  # ~960 KiB a patch, nested under one key: 96 MiB if unbounded
        nested = {f"k{round_}-{i}": "x" * 15000 for i in range(64)}
        statuses.append(patch(hub, token, package, {"grown": nested}).status)
        if statuses[-1] != 200:
            break
    assert statuses[-1] == 400, statuses
    shown = hub.call("GET", f"{PACKAGES}/{package}", token=token)
    assert len(shown.raw) < 2 * 1024 * 1024, len(shown.raw)
