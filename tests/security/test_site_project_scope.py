"""A joined site's operation records act only for its own scope and the projects placed at it.

The attacker holds one site's certificate (a stolen or compromised site: ``site_join``, no
agent needed) and speaks the sync protocol to the running hub itself. Project ids are no
secret, so it names a victim project that has nothing at its site: creating an object in it,
moving an object the hub placed there into it, and changing an object the hub does not have
(which would open a conflict in the victim's name). Each record is refused (kept with the
reason for the NOC, acknowledged), the victim sees nothing, the placed object is untouched,
and the session stays up; what a site legitimately reports still goes through.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from atoll import ids
from atoll.sync import frames
from tests.hub.sync.synchub import SiteEnd, SiteIdentity
from tests.security.daemons import RunningHub, site_join, site_tls


@dataclass(frozen=True)
class Scene:
    site: SiteIdentity
    data_dir: Path  # the joined site's data dir (its certificate under hub/)
    victim: str  # a member's token of a project with nothing at the site
    victim_id: str
    served: str  # a member's token of a project with a network at the site
    served_id: str
    network: Any  # the served project's network at the site, as the hub placed it


@pytest.fixture(scope="module")
def scene(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    tag = secrets.token_hex(3)
    name = f"sec-scope-{tag}"
    data_dir = tmp_path_factory.mktemp("sec-scope-site") / "agent"
    joined = site_join(data_dir, hub.join_token(name)["code"])
    assert joined.returncode == 0, joined.stderr
    link = json.loads((data_dir / "hub" / "link.json").read_text())
    hub_dir = data_dir / "hub"
    site = SiteIdentity(
        link["site_name"], link["site_id"], hub_dir / "site.pem", hub_dir / "site.key"
    )
    victim = hub.tenant(f"victim-{tag}", f"victim-user-{tag}")
    served = hub.tenant(f"served-{tag}", f"served-user-{tag}")
    network = hub.ok("POST", f"/v1/sites/{name}/networks", {"name": "served-net", "spec": {}},
                     token=served)  # fmt: skip
    return Scene(
        site, data_dir, victim, hub.ok("GET", f"/v1/projects/victim-{tag}")["id"],
        served, hub.ok("GET", f"/v1/projects/served-{tag}")["id"], network,
    )  # fmt: skip


def _network(object_id: str, name: str, project_id: str | None, mtu: int = 1500) -> Any:
    return {"kind": "network", "meta": {"id": object_id, "name": name, "project_id": project_id},
            "spec": {"mtu": mtu}, "origin": "site"}  # fmt: skip


def _operation(op: str, object_id: str, desired: Any, base: int | None = None) -> Any:
    return {"op": op, "kind": "network", "id": object_id, "base_hub_revision": base,
            "desired": desired, "at": 1.0, "actor": "field-engineer"}  # fmt: skip


async def _send(hub: RunningHub, scene: Scene, operations: list[Any]) -> int:
    """Open a session by the site's own certificate, send ``operations`` as facts after what
    the hub has recorded, and check the session is still up after they are acknowledged (a
    ping is answered); the seq of the first."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{hub.url}/v1/sync", ssl=site_tls(scene.data_dir))
        site = SiteEnd(ws, scene.site)
        welcome = await site.hello()
        assert isinstance(welcome, frames.Welcome), welcome
        first = welcome.acked_seq + 1
        items = tuple(
            frames.Fact(seq=first + i, type="operation", body=body)
            for i, body in enumerate(operations)
        )
        await site.send(frames.Facts(v=site.v, items=items))
        assert (await site.until(frames.Ack)).seq == first + len(operations) - 1
        await site.send(frames.Ping(v=site.v))
        assert isinstance(await site.until(frames.Pong), frames.Pong)  # still connected
        await ws.close()
    return first


def _recorded(hub: RunningHub, scene: Scene, first: int, count: int) -> list[Any]:
    page = hub.ok("GET", f"/v1/sites/{scene.site.name}/operations?limit=1000")
    by_seq = {o["seq"]: o for o in page["items"]}
    return [by_seq[seq] for seq in range(first, first + count)]


def _names(hub: RunningHub, scene: Scene, token: str) -> list[str]:
    page = hub.ok("GET", f"/v1/sites/{scene.site.name}/networks", token=token)
    return sorted(n["name"] for n in page["items"])


async def test_a_site_cannot_plant_objects_in_a_project_it_does_not_serve(
    hub: RunningHub, scene: Scene
) -> None:
    planted = ids.hub_id()
    unknown = ids.hub_id()
    net = scene.network
    moved = _network(net["id"], "served-net", scene.victim_id, 9000)
    attack = [
        _operation("create", planted, _network(planted, "planted-by-site", scene.victim_id)),
        _operation("update", net["id"], moved, net["hub_revision"]),
        _operation("update", unknown, _network(unknown, "conflicted", scene.victim_id, 9000), 1),
    ]
    first = await _send(hub, scene, attack)
    records = _recorded(hub, scene, first, len(attack))
    assert [r["outcome"] for r in records] == ["refused"] * len(attack), records
    assert all(scene.victim_id in r["reason"] for r in records), records
    assert _names(hub, scene, scene.victim) == []
    assert hub.ok("GET", "/v1/conflicts", token=scene.victim)["items"] == []
    kept = hub.ok("GET", f"/v1/sites/{scene.site.name}/networks/{net['id']}", token=scene.served)
    assert kept["project_id"] == scene.served_id
    assert (kept["hub_revision"], kept["spec"]) == (net["hub_revision"], net["spec"])
    assert f"site {scene.site.name} operation {first} refused" in hub.log


async def test_what_a_site_may_do_still_goes_through(hub: RunningHub, scene: Scene) -> None:
    """Its own objects (no project), and objects of a project the hub placed something for
    at the site."""
    tag = ids.site_tag(scene.site.name)
    local, for_served = ids.site_id(tag), ids.site_id(tag)
    legit = [
        _operation("create", local, _network(local, "field-net", None)),
        _operation("create", for_served, _network(for_served, "served-local", scene.served_id)),
    ]
    first = await _send(hub, scene, legit)
    assert [r["outcome"] for r in _recorded(hub, scene, first, len(legit))] == ["adopted"] * 2
    assert _names(hub, scene, scene.served) == ["served-local", "served-net"]
    local_net = hub.ok("GET", f"/v1/sites/{scene.site.name}/networks/{local}")
    assert local_net["project_id"] is None and local_net["origin"] == "site"
    assert _names(hub, scene, scene.victim) == []
