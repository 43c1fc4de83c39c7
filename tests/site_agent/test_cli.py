"""``atoll server|network|volume ... --site-url``: the CLI against a local API on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from atoll.cli import main
from atoll.site_agent.api.app import build_app
from tests.site_agent.api_harness import make_context


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
    finally:
        await server.close()
        await store.close()
