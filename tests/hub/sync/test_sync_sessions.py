"""The hub's end of ``GET /v1/sync`` over real TLS with site certificates from its CA."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from atoll import ids
from atoll.hub.sites import intent
from atoll.hub.store.base import Change, Record
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.sync import antientropy
from atoll.hub.telemetry.keeper import FIELDS
from atoll.sync import codec, digest, frames
from tests.hub.sync.synchub import SyncHub, sync_hub

pytestmark = pytest.mark.integration


async def project_member(hub: SyncHub, project: str = "acme") -> str:
    await hub.ok("POST", "/v1/projects", {"name": project})
    user = f"{project}-ops"
    await hub.ok("POST", "/v1/users", {"name": user, "password": f"{user}-password"})
    await hub.ok(
        "POST", "/v1/role_assignments", {"user": user, "project": project, "role": "member"}
    )
    reply = await hub.ok(
        "POST",
        "/v1/auth/tokens",
        {"user": user, "password": f"{user}-password", "project": project},
    )
    return str(reply["token"])


async def network(hub: SyncHub, site: str, name: str, token: str) -> Any:
    body = {
        "name": name,
        "spec": {"mtu": 1500},
    }
    return await hub.ok("POST", f"/v1/sites/{site}/networks", body, token)


async def eventually(check: Any, within: float = 15.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def test_placed_objects_arrive_as_snapshot_then_live_changes(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        await hub.add_site("edge-2")
        net = await network(hub, "edge-1", "net-a", token)
        await network(hub, "edge-2", "elsewhere", token)
        flavor = {"name": "small", "vcpus": 1, "ram_mb": 256, "disk_gb": 1}
        await hub.ok("POST", "/v1/flavors", flavor)
        image = await hub.active_image("cirros")
        site = await hub.connect(edge)
        welcome = await site.hello()
        assert isinstance(welcome, frames.Welcome) and welcome.acked_seq == 0
        assert welcome.reconnect_spread == 1.0  # a small fleet: back within a second
        first = await site.intent(1)
        assert set(first) == {f"network/{net['id']}"}  # only this site's objects
        assert first[f"network/{net['id']}"].object["hub_revision"] == net["hub_revision"]
        spec = {"flavor": "small", "image": "cirros", "nics": [{"network": "net-a"}]}
        server = await hub.ok(
            "POST", "/v1/sites/edge-1/servers", {"name": "vm-1", "spec": spec}, token
        )
        more = await site.intent(3)
        spec = more[f"server/{server['id']}"].object["spec"]
        assert set(more) == {f"server/{server['id']}", f"image/{image}", f"flavor/{spec['flavor']}"}
        assert spec["image"] == image and spec["nics"][0]["network"] == net["id"]
        record = await eventually(lambda: _acked(hub, "edge-1", server["hub_revision"]))
        assert record["state"] == "online" and record["sync"]["sessions"] == 1
        await site.close()


async def _acked(hub: SyncHub, name: str, revision: int) -> Any:
    record = await hub.site_record(name)
    acked = record["sync"].get("acked_revision") or 0
    return record if acked >= revision else None


async def test_a_reconnecting_site_resumes_from_its_acked_revision(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        one = await network(hub, "edge-1", "one", token)
        site = await hub.connect(edge)
        await site.hello()
        await site.intent(1)
        await site.close()
        two = await network(hub, "edge-1", "two", token)  # made while the site is away
        await hub.ok("DELETE", f"/v1/sites/edge-1/networks/{one['id']}", token=token)
        site = await hub.connect(edge)
        await site.hello(applied_revision=one["hub_revision"])
        seen: dict[str, str] = {}
        async with asyncio.timeout(10):
            while f"network/{two['id']}" not in seen or f"network/{one['id']}" not in seen:
                frame = await site.recv()
                assert not isinstance(frame, frames.Snapshot), "a resume is not a snapshot"
                if isinstance(frame, frames.Changes):
                    seen.update({f"{c.kind}/{c.id}": c.op for c in frame.items})
                    await site.send(frames.Ack(v=1, revision=frame.revision))
        assert seen == {f"network/{two['id']}": "put", f"network/{one['id']}": "delete"}
        await site.close()


async def test_a_catch_up_reads_only_its_own_sites_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconnecting site's catch-up reads its own share of the history (the objects placed
    at it), not every write since its revision: with a thousand sites connecting at once,
    decoding everyone's writes for each of them was most of the hub's CPU and memory. It
    still tells the site it is past the others' writes."""
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        await hub.add_site("edge-2")
        one = await network(hub, "edge-1", "one", token)
        for i in range(3):  # another site's, while edge-1 is away
            await network(hub, "edge-2", f"n{i}", token)
        two = await network(hub, "edge-1", "two", token)
        await network(hub, "edge-2", "last", token)
        read: list[Change] = []
        original = hub.store.changes

        async def spy(*args: Any, **kwargs: Any) -> list[Change]:
            found = await original(*args, **kwargs)
            read.extend(found)
            return found

        # the session's reads (the feed's watch took the store's own method at start)
        monkeypatch.setattr(hub.store, "changes", spy)
        revision = await hub.store.revision()
        site = await hub.connect(edge)
        await site.hello(applied_revision=one["hub_revision"])
        seen: dict[str, int] = {}
        at = 0
        async with asyncio.timeout(10):
            while at < revision:
                frame = await site.recv()
                if isinstance(frame, frames.Changes):
                    seen.update({f"{c.kind}/{c.id}": c.revision for c in frame.items})
                    at = max(at, frame.revision)
                    await site.send(frames.Ack(v=1, revision=frame.revision))
        assert seen == {f"network/{two['id']}": two["hub_revision"]}
        assert [c.key for c in read] == [intent.object_key(edge.site_id, "network", two["id"])]
        await site.close()


def status(object_id: str, seq: int, state: str = "ACTIVE") -> dict[str, Any]:
    return {"kind": "network", "id": object_id, "seq": seq, "state": state}


async def test_facts_sent_twice_are_recorded_once(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        net = await network(hub, "edge-1", "net-a", token)
        facts = frames.Facts(
            v=1,
            items=(
                frames.Fact(seq=1, type="status", body=status(net["id"], 1, "BUILD")),
                frames.Fact(
                    seq=2,
                    type="event",
                    body={"kind": "network", "id": net["id"], "reason": "created", "at": 1.0},
                ),
                frames.Fact(seq=3, type="status", body=status(net["id"], 3, "ACTIVE")),
                frames.Fact(
                    seq=4,
                    type="telemetry",
                    body={
                        "step": 60,
                        "fields": FIELDS,
                        "points": [["host_cpu_seconds_total", {}, 60.0, 1.0, 1.0, 1.0, 6]],
                    },
                ),
            ),
        )
        site = await hub.connect(edge)
        await site.hello(sent_seq=4)
        await site.send(facts)
        ack = await site.until(frames.Ack)
        assert ack.seq == 4
        await site.close()
        await eventually(lambda: _seq_flushed(hub, 4))
        site = await hub.connect(edge)  # as after a lost ack: the same facts again
        welcome = await site.hello(sent_seq=4)
        assert isinstance(welcome, frames.Welcome) and welcome.acked_seq == 4
        await site.send(facts)
        assert (await site.until(frames.Ack)).seq == 4
        stale = frames.Facts(
            v=1, items=(frames.Fact(seq=5, type="status", body=status(net["id"], 2, "BUILD")),)
        )
        await site.send(stale)
        assert (await site.until(frames.Ack)).seq == 5
        events = await hub.store.list(_query(intent.SITE_EVENT))
        assert [e.value["event"]["reason"] for e in events.items] == ["created"]
        shown = await hub.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", token=token)
        assert shown["status"]["state"] == "BUILD" and shown["status"]["seq"] == 2  # newest fact
        await site.close()


async def test_an_acked_seq_no_site_counts_to_is_taken_as_unknown_at_the_hello(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hub from before ``bad_seq`` recorded a fact seq 2^64-1 as the site's acked_seq (and
    took every later fact for one recorded already): the next hello heals the record, once,
    and the welcome asks the site for all it holds."""
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        site_value = await hub.site_record("edge-1")
        await hub.store.put("site", "edge-1", {
            **site_value, "sync": {**site_value["sync"], "acked_seq": 2**64 - 1}})  # fmt: skip
        # the welcome's acked_seq: 0 (all the site holds, from seq 1), then what it recorded
        for acked, seq, reason in ((0, 1, "resent"), (1, 2, "next")):
            site = await hub.connect(edge)
            welcome = await site.hello(sent_seq=5)
            assert isinstance(welcome, frames.Welcome) and welcome.acked_seq == acked
            body = {"kind": "network", "id": ids.hub_id(), "reason": reason, "at": 1.0}
            await site.send(frames.Facts(v=1, items=(frames.Fact(seq=seq, type="event",
                                                                  body=body),)))  # fmt: skip
            assert (await site.until(frames.Ack)).seq == seq
            await site.close()
            await eventually(lambda seq=seq: _seq_flushed(hub, seq))
        events = await hub.store.list(_query(intent.SITE_EVENT))
        assert [e.value["event"]["reason"] for e in events.items] == ["resent", "next"]
    healed = [r for r in caplog.records if "taken as unknown" in r.getMessage()]
    assert len(healed) == 1 and str(2**64 - 1) in healed[0].getMessage()


async def _seq_flushed(hub: SyncHub, seq: int) -> bool:
    return bool((await hub.site_record("edge-1"))["sync"]["acked_seq"] >= seq)


def _query(kind: str) -> Any:
    from atoll.hub.store.base import ListQuery

    return ListQuery(kind)


def operation(op: str, kind: str, object_id: str, base: int | None, desired: Any) -> Any:
    return {
        "op": op,
        "kind": kind,
        "id": object_id,
        "base_hub_revision": base,
        "desired": desired,
        "at": "2030-01-01T00:00:00Z",
        "actor": "field-engineer",
    }


async def test_site_changes_are_adopted_or_become_conflicts(tmp_path: Path) -> None:
    # the test site is silent while the CLI runs (seconds on a loaded machine): no dead peer
    async with sync_hub(tmp_path, sync_dead_after=60.0) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        net = await network(hub, "edge-1", "net-a", token)
        other = await network(hub, "edge-1", "net-b", token)
        desired = await _desired(hub, edge.site_id, net["id"])
        local_id = ids.site_id(ids.site_tag("edge-1"))
        local = {
            **desired,
            "meta": {**desired["meta"], "id": local_id, "name": "local"},
            "origin": "site",
        }
        local.pop("hub_revision", None)
        changed = {**desired, "spec": {**desired["spec"], "mtu": 9000}, "origin": "hub"}
        # net-b changes at the hub after the site based its own change on it
        other_desired = await _desired(hub, edge.site_id, other["id"])
        key_b = intent.object_key(edge.site_id, "network", other["id"])
        value_b = (await hub.store.get(intent.SITE_OBJECT, key_b)).value
        value_b["desired"]["spec"]["mtu"] = 1600
        await hub.store.put(intent.SITE_OBJECT, key_b, value_b)
        site_b = {**other_desired, "spec": {**other_desired["spec"], "mtu": 1400}}
        site = await hub.connect(edge)
        await site.hello(sent_seq=3)
        await site.send(
            frames.Facts(
                v=1,
                items=(
                    frames.Fact(
                        seq=1,
                        type="operation",
                        body=operation("create", "network", local_id, None, local),
                    ),
                    frames.Fact(
                        seq=2,
                        type="operation",
                        body=operation(
                            "update", "network", net["id"], net["hub_revision"], changed
                        ),
                    ),
                    frames.Fact(
                        seq=3,
                        type="operation",
                        body=operation(
                            "update", "network", other["id"], other["hub_revision"], site_b
                        ),
                    ),
                ),
            )
        )
        assert (await site.until(frames.Ack)).seq == 3
        adopted = await hub.ok("GET", f"/v1/sites/edge-1/networks/{local_id}", token=token)
        assert adopted["origin"] == "site" and adopted["name"] == "local"
        updated = await hub.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", token=token)
        assert updated["spec"]["mtu"] == 9000 and updated["conflict"] is None
        held = await hub.ok("GET", f"/v1/sites/edge-1/networks/{other['id']}", token=token)
        assert held["conflict"] is not None and held["spec"]["mtu"] == 1600
        conflicts = await hub.ok("GET", "/v1/conflicts?state=open", token=token)
        assert [c["id"] for c in conflicts["items"]] == [held["conflict"]]
        listed = await atoll(hub, token, "conflict", "list", "--state", "open", "-f", "json")
        assert [c["id"] for c in json.loads(listed)] == [held["conflict"]]
        resolved = json.loads(
            await atoll(hub, token, "conflict", "resolve", held["conflict"], "--keep", "hub",
                        "-f", "json")
        )  # fmt: skip
        assert resolved["state"] == "resolved"
        assert resolved["resolution"]["keep"] == "hub"
        down = await site.intent(3)  # the adopted ones come back, the hub's wins with override
        assert down[f"network/{other['id']}"].override is True
        assert down[f"network/{other['id']}"].object["spec"]["mtu"] == 1600
        assert down[f"network/{local_id}"].object["origin"] == "site"
        again = await hub.call(
            "POST", f"/v1/conflicts/{held['conflict']}/resolve", {"keep": "site"}, token
        )
        assert again.status == 409
        await site.close()


async def atoll(hub: SyncHub, token: str, *args: str) -> str:
    """The real CLI against the hub (its output)."""
    env = {**os.environ, "ATOLL_URL": hub.url, "ATOLL_TOKEN": token,
           "ATOLL_CA_FILE": str(hub.ca_file), "HOME": str(hub.data_dir.parent)}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "atoll", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def _desired(hub: SyncHub, site_id: str, object_id: str) -> Any:
    record = await hub.store.get(
        intent.SITE_OBJECT, intent.object_key(site_id, "network", object_id)
    )
    return intent.desired_wire(record)


async def test_a_newer_session_supersedes_the_older(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        old = await hub.connect(edge)
        await old.hello()
        new = await hub.connect(edge)
        welcome = await new.hello()
        assert isinstance(welcome, frames.Welcome)
        assert await old.closed_with() == "superseded"
        await new.send(frames.Ping(v=1))
        assert isinstance(await new.until(frames.Pong), frames.Pong)
        record = await eventually(lambda: _flushed_session(hub, welcome.session))
        assert record["state"] == "online"  # the old one's cleanup did not end the new one
        await new.close()


async def _flushed_session(hub: SyncHub, epoch: str) -> Any:
    record = await hub.site_record("edge-1")
    return (
        record if record["sync"]["session"] == epoch and record["sync"]["sessions"] == 2 else None
    )


async def test_a_garbage_frame_closes_only_that_connection(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        one, two = await hub.add_site("edge-1"), await hub.add_site("edge-2")
        bad, good = await hub.connect(one), await hub.connect(two)
        await bad.hello()
        await good.hello()
        await bad.send_raw(b"\xc1 not msgpack")
        assert await bad.closed_with() == "bad_frame"
        await good.send(frames.Ping(v=1))
        assert isinstance(await good.until(frames.Pong), frames.Pong)
        late = await hub.connect(one)  # and the site may come back
        await late.hello()
        await late.send(frames.Ping(v=1))
        await late.send(frames.Ping(v=1, n=99))  # numbered out of order
        assert isinstance(await late.until(frames.Pong), frames.Pong)
        late.n = 98
        await late.send(frames.Ping(v=1))
        assert await late.closed_with() == "out_of_order"
        await good.close()


async def test_no_site_certificate_no_sync(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await hub.http.ws_connect(hub.url + "/v1/sync", ssl=hub.client_ssl())
        assert refused.value.status == 401
        reply = await hub.call("GET", "/v1/sync")
        assert reply.status == 401 and reply.body["error"]["code"] == "unauthenticated"
        site = await hub.connect(edge)  # a certificate, but another site's id in the hello
        refusal = await site.hello(site_id=ids.hub_id())
        assert isinstance(refusal, frames.Error) and refusal.code == "wrong_site"


async def test_a_silent_site_goes_offline_and_online_when_it_returns(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        site = await hub.connect(edge)
        await site.hello()
        await eventually(lambda: _state(hub, "online"))
        # the site says nothing more: the hub closes the session and marks it offline
        assert await site.closed_with(within=20) == "dead"
        await eventually(lambda: _state(hub, "offline"))
        site = await hub.connect(edge)
        await site.hello()
        await eventually(lambda: _state(hub, "online"))
        listed = await hub.ok("GET", "/v1/sites")
        assert listed["items"][0]["sync"]["sessions"] == 2
        table = (await atoll(hub, hub.admin_token, "site", "list")).splitlines()
        assert "OUTBOX" in table[0] and "SESSIONS" in table[0]
        assert table[-1].split()[0] == "edge-1" and table[-1].split()[-1] == "2"
        await site.close()


async def _state(hub: SyncHub, state: str) -> bool:
    return bool((await hub.site_record("edge-1"))["state"] == state)


async def test_a_site_offline_past_compaction_gets_a_snapshot_without_what_went(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "hub.db", history=5, durable=False)
    async with sync_hub(tmp_path, store=store) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        one = await network(hub, "edge-1", "one", token)
        site = await hub.connect(edge)
        await site.hello()
        await site.intent(1)
        await site.close()
        await hub.ok("DELETE", f"/v1/sites/edge-1/networks/{one['id']}", token=token)
        kept = [await network(hub, "edge-1", f"n{i}", token) for i in range(6)]  # past history
        site = await hub.connect(edge)
        await site.hello(applied_revision=one["hub_revision"])
        names: set[str] = set()
        async with asyncio.timeout(10):
            while True:
                frame = await site.recv()
                if isinstance(frame, frames.Snapshot):
                    names |= {item.id for item in frame.items}
                    await site.send(frames.Ack(v=1, revision=frame.revision))
                    if frame.last:
                        break
        assert names == {n["id"] for n in kept}  # the delete is not lost: one is not named
        await site.close()


async def test_a_slow_site_does_not_stall_others(tmp_path: Path) -> None:
    async with sync_hub(tmp_path, sync_window=2) as hub:
        token = await project_member(hub)
        slow_id, quick_id = await hub.add_site("slow"), await hub.add_site("quick")
        slow = await hub.connect(slow_id)
        await slow.hello()
        placed = [await network(hub, "slow", f"n{i}", token) for i in range(6)]
        await eventually(lambda: _window_full(hub, slow_id))
        quick = await hub.connect(quick_id)
        await quick.hello()
        mine = await network(hub, "quick", "q", token)
        assert set(await quick.intent(1)) == {f"network/{mine['id']}"}
        assert hub.session(slow_id).window.in_flight <= 2  # the slow one never got more
        seen = await slow.intent(6)  # it acks now, and gets the rest
        assert set(seen) == {f"network/{p['id']}" for p in placed}
        await slow.close()
        await quick.close()


async def _window_full(hub: SyncHub, site: Any) -> bool:
    return hub.session(site).window.in_flight == 2


async def test_a_restarted_hub_resumes_where_the_site_left(tmp_path: Path) -> None:
    async with sync_hub(tmp_path, store=SQLiteStore(tmp_path / "hub.db", durable=False)) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        one = await network(hub, "edge-1", "one", token)
        site = await hub.connect(edge)
        await site.hello()
        await site.intent(1)
        event = {"kind": "network", "id": one["id"], "reason": "created", "at": 1.0}
        await site.send(frames.Facts(v=1, items=(frames.Fact(seq=1, type="event", body=event),)))
        assert (await site.until(frames.Ack)).seq == 1
    async with sync_hub(tmp_path, store=SQLiteStore(tmp_path / "hub.db", durable=False)) as hub:
        assert await site.closed_with() in ("shutdown", "closed-without-error")
        two = await network(hub, "edge-1", "two", token)
        site = await hub.connect(edge)
        welcome = await site.hello(applied_revision=one["hub_revision"], sent_seq=1)
        assert isinstance(welcome, frames.Welcome) and welcome.acked_seq == 1
        frame = await site.until(frames.Changes)
        assert [(c.id, c.op) for c in frame.items] == [(two["id"], "put")]
        await site.close()


async def test_mutated_frames_close_only_their_own_connection(tmp_path: Path) -> None:
    """Valid frames with bytes flipped, cut or padded: each connection ends with an error
    frame or goes on (a mutation may still be a valid frame); another site is unaffected."""
    async with sync_hub(tmp_path) as hub:
        victim, bystander = await hub.add_site("edge-1"), await hub.add_site("edge-2")
        other = await hub.connect(bystander)
        await other.hello()
        body = status(ids.hub_id(), 1)
        good = codec.encode(
            frames.Facts(v=1, n=2, items=(frames.Fact(seq=1, type="status", body=body),))
        )
        rng = random.Random(11)
        codes: set[str] = set()
        for round_ in range(24):
            data = bytearray(good)
            if round_ % 3 == 0:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif round_ % 3 == 1:
                data = data[: rng.randrange(1, len(data))]
            else:
                data += rng.randbytes(rng.randrange(1, 16))
            site = await hub.connect(victim)
            await site.hello()
            await site.send_raw(bytes(data))  # numbered 2 inside
            site.n = 2
            await site.send(frames.Ping(v=1))
            frame = await site.recv()
            while not isinstance(frame, frames.Error | frames.Ack | frames.Pong):
                frame = await site.recv()
            codes.add(frame.code if isinstance(frame, frames.Error) else frame.TYPE)
            await site.close()
            await other.send(frames.Ping(v=1))
            assert isinstance(await other.until(frames.Pong), frames.Pong)
        assert "bad_frame" in codes  # most mutations are refused by the codec
        assert codes <= {"bad_frame", "out_of_order", "ack", "pong"}, codes
        await other.close()


async def test_anti_entropy_repairs_what_a_site_lost_or_kept_by_mistake(tmp_path: Path) -> None:
    async with sync_hub(tmp_path, sync_digest_interval=0.3) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        kept = await network(hub, "edge-1", "kept", token)
        lost = await network(hub, "edge-1", "lost", token)
        site = await hub.connect(edge)
        await site.hello()
        await site.intent(2)
        phantom = digest.key_of("network", ids.hub_id())  # a delete the site never applied
        mine = digest.Items([(digest.key_of("network", kept["id"]), kept["hub_revision"]),
                             (phantom, 3)])  # fmt: skip
        repairs: list[frames.Change] = []
        async with asyncio.timeout(15):
            while not repairs:
                frame = await site.recv()
                if isinstance(frame, frames.Digest):
                    answer = digest.respond(mine, frame.ranges)
                    await site.send(
                        frames.Digest(v=2, round=frame.round, reply=True, ranges=answer)
                    )
                elif isinstance(frame, frames.Changes):
                    repairs = [item for item in frame.items if item.repair]
                    await site.send(frames.Ack(v=2, revision=frame.revision))
        found = {(c.op, digest.key_of(c.kind, c.id)) for c in repairs}
        assert found == {("put", digest.key_of("network", lost["id"])), ("delete", phantom)}
        put = next(c for c in repairs if c.op == "put")
        assert put.object["hub_revision"] == lost["hub_revision"] == put.revision
        record = await eventually(lambda: _repairs(hub, 2))
        assert record["sync"]["repairs"] == 2
        await site.close()


async def _repairs(hub: SyncHub, count: int) -> Any:
    record = await hub.site_record("edge-1")
    return record if record["sync"]["repairs"] >= count else None


def test_repairs_never_touch_what_a_conflict_holds() -> None:
    def record(key: str, revision: int, **value: Any) -> Record:
        base = {"kind": "network", "id": key.split("/")[1], "desired": {"spec": {}}}
        return Record("site_object", f"s/{key}", {**base, **value}, revision, 1)

    held, tomb, kept = (digest.key_of("network", ids.hub_id()) for _ in range(3))
    records = {
        held: record(held, 9, conflict=ids.hub_id()),
        tomb: record(tomb, 8, desired=None),
        kept: record(kept, 7, origin="site"),
    }
    stray = digest.key_of("network", ids.hub_id())
    found = (
        digest.Difference(held, None, 4),  # held: left out of the hub's items, never repaired
        digest.Difference(tomb, None, 2),  # the hub deleted it
        digest.Difference(kept, 7, 5),  # adopted, and newer at the hub
        digest.Difference(stray, None, 1),  # the hub never had it
    )
    repairs = antientropy.plan(found, records)
    assert [r.revision for r in repairs.puts] == [7]
    assert sorted(repairs.deletes) == sorted([tomb, stray])


async def test_a_site_one_version_older_works_with_this_hub(tmp_path: Path) -> None:
    """A site that speaks only protocol version 1 (no anti-entropy) gets a version-1 session:
    its intent and acks work, its facts are recorded, and no digest is ever sent to it."""
    async with sync_hub(tmp_path, sync_digest_interval=0.2) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        net = await network(hub, "edge-1", "net-a", token)
        site = await hub.connect(edge)
        welcome = await site.hello(speaks=(1,))
        assert isinstance(welcome, frames.Welcome) and welcome.v == 1
        first = await site.intent(1)
        assert set(first) == {f"network/{net['id']}"}
        fact = frames.Fact(seq=1, type="status", body=status(net["id"], 1, "ACTIVE"))
        await site.send(frames.Facts(v=1, items=(fact,)))
        seen: list[frames.Frame] = []
        with contextlib.suppress(TimeoutError):
            while True:  # a second of the session: several digest intervals
                frame = await site.recv(within=1.0)
                seen.append(frame)
                assert frame.v == 1
        assert not [f for f in seen if isinstance(f, frames.Digest)]
        assert [f.seq for f in seen if isinstance(f, frames.Ack) and f.seq is not None] == [1]


async def test_a_deleted_objects_status_goes_once_the_site_has_the_delete(
    tmp_path: Path,
) -> None:
    """Until the site acknowledges the delete, it may still report the object (it has not
    heard, or tears it down): acknowledged, not kept, not refused. Its ack of the delete's
    revision removes the status record for good; a status of it after that is refused."""
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        net = await network(hub, "edge-1", "net-a", token)
        key = intent.object_key(edge.site_id, "network", net["id"])
        site = await hub.connect(edge)
        await site.hello()
        await site.intent(1)

        async def facts(seq: int, state: str) -> None:
            fact = frames.Fact(seq=seq, type="status", body=status(net["id"], seq, state))
            await site.send(frames.Facts(v=1, items=(fact,)))
            assert (await site.until(frames.Ack)).seq == seq

        await facts(1, "ACTIVE")
        await hub.ok("DELETE", f"/v1/sites/edge-1/networks/{net['id']}", token=token)
        delete = await site.until(frames.Changes)
        assert [(c.op, c.id) for c in delete.items] == [("delete", net["id"])]
        await facts(2, "ERROR")  # sent before the site had the delete
        assert (await hub.store.get(intent.SITE_STATUS, key)).value["state"] == "ACTIVE"
        assert not (await hub.store.list(_query(intent.SITE_EVENT))).items
        await site.send(frames.Ack(v=1, revision=delete.revision))

        async def forgotten() -> bool:
            return not (await hub.store.list(_query(intent.SITE_STATUS))).items

        await eventually(forgotten)
        await facts(3, "ERROR")
        refused = (await hub.store.list(_query(intent.SITE_EVENT))).items
        assert [e.value["event"]["reason"] for e in refused] == ["refused_fact"]
        assert f"network {net['id']}" in refused[0].value["event"]["message"]
        await site.close()
