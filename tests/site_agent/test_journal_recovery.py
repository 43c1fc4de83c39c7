"""``kill -9`` at every journal step, simulated: the restarted agent finishes or undoes it.

A clean run counts the journal steps of a create (and of a delete). Then, for every step and
both sides of its driver action (after the intent is durable; after the action, before it
is marked done), a fresh site "dies" right there and a new agent starts on the same host.
After recovery and a few passes there is exactly one domain, running, and nothing orphaned;
deleting then leaves no residue at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.site_agent.drivers.compute.base import DomainState
from atoll.site_agent.journal import SimulatedCrash
from tests.site_agent.site_harness import Site, lan, make_site

EMPTY: dict[str, list[str]] = {
    "domains": [],
    "ports": [],
    "devices": [],
    "networks": [],
    "storage": [],
    "instance_dirs": [],
}


class CrashAt:
    """Counts journal events; raises SimulatedCrash at event number ``at`` (0-based)."""

    def __init__(self, at: int | None = None) -> None:
        self.at = at
        self.seen = 0

    def __call__(self, phase: str, seq: int) -> None:
        n = self.seen
        self.seen += 1
        if n == self.at:
            raise SimulatedCrash(f"{phase} {seq}")


async def _create(site: Site) -> str:
    await site.resources.create_volume({"name": "data", "size_gb": 1})
    body = {
        "name": "vm",
        "flavor": "tiny",
        "image": "cirros",
        "nics": [{"network": "lan"}],
        "volumes": ["data"],
    }
    return str((await site.resources.create_server(body))["id"])


async def _count_events(tmp: Path, phase: str) -> int:
    hook = CrashAt()
    site = await make_site(tmp, hook)
    try:
        await lan(site)
        await _create(site)
        before = hook.seen
        await site.converge()
        if phase == "create":
            return hook.seen - before
        before = hook.seen
        await _delete_all(site)
        return hook.seen - before
    finally:
        await site.close()


async def _delete_all(site: Site) -> None:
    """Delete every server, then volumes and networks (again, after a crash: by id)."""
    for kind in ("server", "volume", "network"):
        for obj in await site.resources.list_kind(kind):
            await site.resources.delete(kind, obj["id"])
        if kind == "server":
            await site.converge()
    await site.converge()


async def _assert_one_healthy_server(site: Site, sid: str) -> None:
    domains = await site.domains()
    assert list(domains) == [sid]
    assert domains[sid].state == DomainState.RUNNING
    server = await site.resources.show("server", sid)
    assert server["status"] == "ACTIVE", server
    ports = [p.port_id for p in await site.network.list_ports()]
    assert ports == [n["port"] for n in server["networks"]]
    report = await site.reconciler.audit()
    assert report.removed == [], report


@pytest.mark.parametrize("phase", ["create", "delete"])
async def test_kill_at_every_journal_step(tmp_path: Path, phase: str) -> None:
    total = await _count_events(tmp_path / "count", phase)
    # intent+acted for: network, volume, disk, port device, drive, define, start, port plug
    # (create); domain, port, disk, files, volume, network (delete)
    assert total >= (16 if phase == "create" else 12)
    for at in range(total):
        hook = CrashAt()
        site = await make_site(tmp_path / f"{phase}-{at}", hook)
        try:
            await lan(site)
            sid = await _create(site)
            if phase == "delete":
                await site.converge()
            hook.at = hook.seen + at
            with pytest.raises(SimulatedCrash):
                if phase == "create":
                    await site.converge()
                else:
                    await _delete_all(site)
            await site.restart()
            await site.converge()
            if phase == "create":
                await _assert_one_healthy_server(site, sid)
            await _delete_all(site)
            assert await site.residue() == EMPTY, f"crash at journal event {at}"
            assert await site.store.call(site.store.journal_open) == []
        finally:
            await site.close()


async def test_audit_removes_orphans_and_keeps_desired(tmp_path: Path) -> None:
    from atoll.site_agent.drivers.compute.base import DiskBoot, DomainSpec
    from atoll.site_agent.drivers.network.base import NetworkSpec, PortSpec

    site = await make_site(tmp_path)
    try:
        await lan(site)
        sid = await _create(site)
        await site.converge()
        # things carrying our tags with no desired object (a crash long ago, a bug, a person)
        await site.compute.define(DomainSpec("orphan-1", "orphan", 1, 64, DiskBoot(Path("/x"))))
        await site.network.ensure_network(NetworkSpec("net-orphan", "gone"))
        await site.network.plug_port(
            NetworkSpec("net-orphan", "gone"),
            PortSpec("port-orphan", "net-orphan", "fa:16:3f:00:00:01"),
        )
        await site.storage.create_root_disk("orphan-1", "cirros")
        await site.storage.create_volume("vol-orphan", 1024 * 1024 * 1024)
        (site.host.instances_dir / "orphan-1").mkdir(parents=True)
        # an address lease whose port is no longer desired (a crash between purge steps)
        (subnet,) = await site.store.call(site.store.list_objects, "subnet")
        await site.store.call(site.store.lease, subnet.id, "port-orphan", iter(["10.0.0.250"]))
        report = await site.reconciler.audit()
        assert sorted(report.removed) == sorted([
            "domain orphan-1", "port port-orphan", "network net-orphan", "root_disk orphan-1",
            "volume vol-orphan", "files orphan-1",
        ])  # fmt: skip
        assert report.leases_released == 1
        leases = await site.store.call(site.store.leases, subnet.id)
        assert "10.0.0.250" not in leases and len(leases) == 1  # the server's own is kept
        assert (await site.reconciler.audit()).leases_released == 0
        await _assert_one_healthy_server(site, sid)
    finally:
        await site.close()
