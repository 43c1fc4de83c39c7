"""``atoll server|network|volume ... --site-url``: the CLI against a local API on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from atoll.cli import main
from atoll.site_agent.api.app import build_app
from atoll.site_agent.api.context import ApiContext
from atoll.site_agent.auth import Authenticator
from atoll.site_agent.catalog import StorageCatalog
from tests.fixtures import assert_refused_busy_port
from tests.site_agent.api_harness import make_context
from tests.site_agent.site_harness import make_site


async def _atoll(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_cli_drives_one_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctx, store, secret = await make_context(tmp_path)
    server = TestServer(build_app(ctx))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        code, out, _ = await _atoll(
            capsys, "site-agent", "token", "--site-url", url, "--secret", secret
        )
        assert code == 0
        site = ["--site-url", url, "--token", out.strip()]
        image = tmp_path / "kernel.bin"
        image.write_bytes(b"\x7fELF" + bytes(4096))
        code, out, err = await _atoll(
            capsys, "site-agent", "image-add", "k1", str(image), *site, "-f", "json"
        )
        assert code == 0, err
        assert json.loads(out)["id"] == "k1"
        assert image.read_bytes()[:4] == b"\x7fELF"  # uploaded, left where it was
        (tmp_path / "import" / "k2.bin").write_bytes(image.read_bytes())
        sha = hashlib.sha256(image.read_bytes()).hexdigest()
        code, out, err = await _atoll(
            capsys, "site-agent", "image-import", "k2", "k2.bin", "--sha256", sha, *site
        )
        assert code == 0, err
        code, out, _ = await _atoll(capsys, "site-agent", "images", *site, "-f", "json")
        assert {i["id"] for i in json.loads(out)} == {"cirros", "k1", "k2"}
        code, out, _ = await _atoll(capsys, "network", "create", "lan", *site, "-f", "json")
        assert code == 0 and json.loads(out)["name"] == "lan"
        code, out, _ = await _atoll(
            capsys, "network", "subnet-create", "lan", "10.7.0.0/24", *site, "-f", "json"
        )
        assert code == 0 and json.loads(out)["cidr"] == "10.7.0.0/24"
        args = [
            "server",
            "create",
            "vm1",
            "--flavor",
            "tiny",
            "--image",
            "cirros",
            "--network",
            "lan",
        ]
        code, out, _ = await _atoll(capsys, *args, *site, "-f", "json")
        assert code == 0, out
        created: dict[str, Any] = json.loads(out)
        assert created["networks"][0]["ip"] == "10.7.0.2"
        code, out, _ = await _atoll(capsys, "server", "list", *site, "-f", "json")
        assert [s["name"] for s in json.loads(out)] == ["vm1"]
        code, out, _ = await _atoll(capsys, "server", "show", "vm1", *site)
        assert "vm1" in out and created["id"] in out  # the human table
        code, _, err = await _atoll(
            capsys, "server", "create", "vm2", "--flavor", "huge", "--image", "cirros", *site
        )
        assert code == 1
        assert "unknown flavor 'huge'" in err and "body.flavor" in err
        code, _, err = await _atoll(
            capsys, "server", "list", "--site-url", url, "--token", "atl1.x.y"
        )
        assert code == 1 and "error:" in err
        code, out, _ = await _atoll(
            capsys, "volume", "create", "data", "--size-gb", "2", *site, "-f", "json"
        )
        assert code == 0 and json.loads(out)["size_gb"] == 2
        code, out, _ = await _atoll(capsys, "volume", "attach", "data", "vm1", *site, "-f", "json")
        assert code == 0 and json.loads(out)["server"] == created["id"]
        code, out, err = await _atoll(capsys, "server", "console", "vm1", *site)
        assert code == 0 and out == f"console of {created['id']}", err
    finally:
        await server.close()
        await store.close()


async def test_cli_reaches_a_site_through_the_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--site NAME`` goes to the hub's ``/v1/sites/{NAME}/...`` with the hub connection.

    The hub side is a stand-in on loopback answering the per-site routes' documented shapes
    (the hub's own routes are tested by the hub's suite; the lead runs both end to end)."""
    seen: list[tuple[str, str, str, Any]] = []
    made: dict[str, dict[str, Any]] = {}

    def view(kind: str, body: dict[str, Any], obj_id: str) -> dict[str, Any]:
        return {
            "id": obj_id, "name": body["name"], "project_id": "p" * 32, "site": "edge-1",
            "kind": kind, "origin": "hub", "hub_revision": 7, "spec": body["spec"],
            "status": None, "conflict": None,
        }  # fmt: skip

    async def handle(request: web.Request) -> web.Response:
        body: Any = await request.json() if request.can_read_body else None
        seen.append((request.method, request.path, request.headers["Authorization"], body))
        plural, ref = request.match_info["plural"], request.match_info.get("ref")
        if request.method == "POST" and ref is None:
            obj = view(plural.removesuffix("s"), body, f"{len(made) + 1:032x}")
            made[obj["id"]] = obj
            return web.json_response(obj, status=201)
        if request.method == "GET" and ref is None:
            items = [o for o in made.values() if o["kind"] == plural.removesuffix("s")]
            return web.json_response({"items": items, "next_marker": None})
        if request.method == "DELETE":
            return web.Response(status=204)
        obj = made[ref or ""]
        if request.match_info.get("action") == "console":
            return web.json_response({"server": obj["id"], "site": "edge-1", "lines": 2,
                                      "output": "boot\r\n\x1b]0;owned\x07up\n",
                                      "truncated": True})  # fmt: skip
        if request.match_info.get("action"):
            obj["spec"] = {**obj["spec"], "reboots": 1}
        return web.json_response(obj)

    app = web.Application()
    app.router.add_route("*", "/v1/sites/edge-1/{plural}", handle)
    app.router.add_route("*", "/v1/sites/edge-1/{plural}/{ref}", handle)
    app.router.add_route("POST", "/v1/sites/edge-1/{plural}/{ref}/{action}", handle)
    hub = TestServer(app)
    await hub.start_server()
    monkeypatch.setenv("ATOLL_TOKEN", "hub-token")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-login"))
    try:
        via = ["--site", "edge-1", "--url", str(hub.make_url("")).rstrip("/")]
        code, out, err = await _atoll(
            capsys, "server", "create", "vm1", "--flavor", "small", "--image", "cirros",
            "--network", "lan", "--project", "demo", *via, "-f", "json",
        )  # fmt: skip
        assert code == 0, err
        server = json.loads(out)
        method, path, auth, body = seen[-1]
        assert (method, path, auth) == ("POST", "/v1/sites/edge-1/servers", "Bearer hub-token")
        assert body == {
            "name": "vm1", "project": "demo",
            "spec": {"flavor": "small", "image": "cirros", "nics": [{"network": "lan"}],
                     "volumes": []},
        }  # fmt: skip
        code, out, err = await _atoll(capsys, "server", "list", *via, "-f", "json")
        assert code == 0, err
        rows = json.loads(out)
        assert [(r["name"], r["status"], r["flavor"]) for r in rows] == [
            ("vm1", "PENDING", "small")
        ]
        # once the site reported it: its addresses in the networks column, as an agent's list
        address = {"network": "a" * 32, "port": "b" * 32, "mac": "fa:16:3e:00:00:01",
                   "ip": "10.8.0.2", "vnic_type": "normal"}  # fmt: skip
        made[server["id"]]["status"] = {
            "state": "ACTIVE", "message": "", "seq": 3, "observed_generation": 1,
            "facts": {"power_state": "running", "restarts": 0, "addresses": [address]},
        }  # fmt: skip
        code, out, err = await _atoll(capsys, "server", "list", *via, "-f", "json")
        assert code == 0, err
        assert json.loads(out)[0]["networks"] == [address]
        code, out, err = await _atoll(
            capsys, "server", "list", *via, "-f", "value", "-c", "status", "-c", "networks"
        )
        assert code == 0 and out.startswith("ACTIVE ") and "ip=10.8.0.2" in out, err
        code, out, err = await _atoll(capsys, "server", "reboot", server["id"], *via, "-f", "json")
        assert code == 0, err
        assert seen[-1][:2] == ("POST", f"/v1/sites/edge-1/servers/{server['id']}/reboot")
        code, _, err = await _atoll(capsys, "server", "rebuild", "vm1", *via)
        assert code == 1 and "--site-url" in err  # not a hub route: said, not sent
        code, out, err = await _atoll(capsys, "server", "console", server["id"], "--lines", "5",
                                      *via)  # fmt: skip
        assert code == 0, err
        assert seen[-1][:2] == ("POST", f"/v1/sites/edge-1/servers/{server['id']}/console")
        assert seen[-1][3] == {"length": 5}
        assert out == "boot\n\\x1b]0;owned\\x07up\n"  # the guest does not drive the terminal
        assert "older lines did not fit" in err
        sent = len(seen)
        code, _, err = await _atoll(capsys, "server", "console", "vm1", "--tail", "9", *via)
        assert code == 1 and "--tail" in err and "--lines" in err and len(seen) == sent
        code, out, err = await _atoll(
            capsys, "network", "subnet-create", "lan", "10.8.0.0/24", "--name", "lan-v4", *via
        )
        assert code == 0, err
        assert seen[-1][1] == "/v1/sites/edge-1/subnets"
        assert seen[-1][3]["spec"] == {"network": "lan", "cidr": "10.8.0.0/24"}
        code, out, err = await _atoll(capsys, "volume", "delete", "data", *via)
        assert code == 0 and seen[-1][:2] == ("DELETE", "/v1/sites/edge-1/volumes/data")
        code, _, err = await _atoll(capsys, "server", "list", *via, "--site-url", "http://x:1")
        assert code == 1 and "not both" in err
    finally:
        await hub.close()


async def test_wait_follows_creates_and_deletes_until_they_settle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--wait``: the CLI follows a create until the object is ready and a delete until it
    is gone, with progress on stderr, against an agent core whose reconciler runs."""
    site = await make_site(tmp_path)
    auth = Authenticator(site.store, tmp_path)
    secret = await site.store.call(auth.bootstrap_blocking)
    assert secret is not None

    async def console(server_id: str, tail: int) -> str:
        return ""

    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    ctx = ApiContext(site.resources, auth, StorageCatalog(site.storage), console, health)
    api = TestServer(build_app(ctx))
    await api.start_server()
    held = asyncio.Lock()  # held by the test: the reconciler makes no pass

    async def reconcile() -> None:
        while True:
            async with held:
                await site.converge(1)
            await asyncio.sleep(0.05)

    loop = asyncio.create_task(reconcile())
    try:
        url = str(api.make_url("")).rstrip("/")
        code, out, _ = await _atoll(capsys, "site-agent", "token", "--site-url", url,
                                    "--secret", secret)  # fmt: skip
        site_args = ["--site-url", url, "--token", out.strip(), "-f", "json"]
        code, out, err = await _atoll(capsys, "network", "create", "lan", "--wait", *site_args)
        assert code == 0 and json.loads(out)["status"] == "ACTIVE", err
        code, out, err = await _atoll(
            capsys, "network", "subnet-create", "lan", "10.8.0.0/24", "--wait", *site_args
        )
        assert code == 0 and json.loads(out)["status"] == "ACTIVE", err
        create = ["server", "create", "vm", "--flavor", "tiny", "--image", "cirros"]
        code, out, err = await _atoll(capsys, *create, "--network", "lan", "--wait", *site_args)
        assert code == 0, err
        made = json.loads(out)
        assert made["status"] == "ACTIVE" and made["networks"][0]["ip"] == "10.8.0.2"
        progress = [line for line in err.splitlines() if line.startswith("server ")]
        first = progress[0].removeprefix(f"server {made['id']}: ")
        assert first.split()[0] in ("PENDING", "BUILDING"), progress  # the reconciler runs
        assert progress[-1].startswith(f"server {made['id']}: ACTIVE")

        async with held:  # nothing settles
            create = ["volume", "create", "data", "--size-gb", "1", "--wait", "--timeout", "0.5"]
            code, _, err = await _atoll(capsys, *create, *site_args)
            assert code == 1 and "is still PENDING after 0.5s" in err
        delete = ["server", "delete", "vm", *site_args[:-2]]
        code, out, err = await _atoll(capsys, *delete, "--wait")
        assert code == 0 and out.strip() == "server vm is deleted", err
        assert f"server {made['id']}: gone" in err
    finally:
        loop.cancel()
        await api.close()
        await site.close()


@pytest.mark.parametrize("sha", [[], ["--sha256", "0" * 64]])
def test_image_add_of_a_missing_file_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sha: list[str]
) -> None:
    """An error naming the file (exit 1), not an internal error (exit 70)."""
    missing = tmp_path / "vmlinuz"
    site = ["--site-url", "http://127.0.0.1:9", "--token", "atl1.x.y"]
    code = main(["site-agent", "image-add", "k1", str(missing), *sha, *site])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err == f"error: {missing} is not a file\n"


def test_an_agent_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    """Not 'internal error: OSError' (exit 70): the address, the reason and the flag."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "ATOLL_SITE_AGENT_DRIVERS": "fake", "ATOLL_HUB_ADVERTISE": "false"}
        run = [sys.executable, "-m", "atoll", "site-agent", "run", "--data-dir", str(tmp_path)]
        done = subprocess.run([*run, "--port", str(port)], env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
    assert_refused_busy_port(done, port)
