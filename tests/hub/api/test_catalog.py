"""Flavors: telco extra specs, and who sees private flavors."""

from __future__ import annotations

from typing import Any

from tests.hub.hubtest import Api

SMALL = {"vcpus": 4, "ram_mb": 4096, "disk_gb": 20}


async def test_extra_specs_are_checked_and_defaulted(api: Api) -> None:
    admin = await api.admin()
    made = await api.ok(
        "POST",
        "/v1/flavors",
        admin,
        {
            "name": "nfv",
            **SMALL,
            "extra_specs": {
                "dedicated_cpus": True,
                "hugepages": "1G",
                "numa_nodes": 2,
                "sriov_ports": 2,
            },
        },
    )
    assert made["extra_specs"] == {
        "dedicated_cpus": True,
        "hugepages": "1G",
        "numa_nodes": 2,
        "sriov_ports": 2,
    }
    assert made["public"] is True
    plain = await api.ok("POST", "/v1/flavors", admin, {"name": "plain", **SMALL})
    assert plain["extra_specs"]["hugepages"] == "none"
    bad: list[tuple[dict[str, Any], str]] = [
        ({"ram_mb": 1000, "extra_specs": {"hugepages": "1G"}}, "body.ram_mb"),
        ({"vcpus": 3, "extra_specs": {"numa_nodes": 2}}, "body.vcpus"),
        ({"extra_specs": {"numa_nodes": 9}}, "body.extra_specs.numa_nodes"),
        ({"extra_specs": {"hugepages": "4K"}}, "body.extra_specs.hugepages"),
        ({"extra_specs": {"turbo": True}}, "body.extra_specs.turbo"),
        ({"vcpus": 0}, "body.vcpus"),
        ({"vcpus": True}, "body.vcpus"),
    ]
    for i, (change, where) in enumerate(bad):
        status, data, _ = await api.call(
            "POST", "/v1/flavors", admin, {"name": f"b{i}", **SMALL, **change}
        )
        assert status == 400, change
        assert where in [p["where"] for p in data["error"]["problems"]], data


async def test_private_flavors_are_seen_only_by_their_projects(api: Api) -> None:
    admin = await api.admin()
    for name in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": name})
    a = await api.user_with_role("am", "a", "member")
    b = await api.user_with_role("bm", "b", "member")
    await api.ok("POST", "/v1/flavors", admin, {"name": "pub", **SMALL})
    await api.ok(
        "POST", "/v1/flavors", admin, {"name": "for-b", "public": False, "projects": ["b"], **SMALL}
    )
    mine = await api.ok("POST", "/v1/flavors", a, {"name": "a-own", **SMALL})
    assert mine["public"] is False and mine["owner"] == "a" and mine["projects"] == ["a"]
    status, _, _ = await api.call("POST", "/v1/flavors", a, {"name": "x", "public": True, **SMALL})
    assert status == 403

    def names(page: Any) -> list[str]:
        return [f["name"] for f in page["items"]]

    assert names(await api.ok("GET", "/v1/flavors", a)) == ["a-own", "pub"]
    assert names(await api.ok("GET", "/v1/flavors", b)) == ["for-b", "pub"]
    assert names(await api.ok("GET", "/v1/flavors", admin)) == ["a-own", "for-b", "pub"]
    assert (await api.call("GET", "/v1/flavors/a-own", b))[0] == 404
    assert (await api.call("DELETE", "/v1/flavors/pub", a))[0] == 403
    assert (await api.call("DELETE", "/v1/flavors/a-own", a))[0] == 204
