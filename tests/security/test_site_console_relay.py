"""A server's console read through either process of a scale-out hub: two ``atoll hub
serve`` on one private etcd store, and a real site agent joined to the first, whose sync
session the first holds. The second holds none: it relays the request through the store
(``atoll.hub.sync.relay``) to the first, which asks the site. Before, the second answered
503 ("another one holds its sync session") to every such call, and a load balancer in
front of the hub made reading a console a matter of luck.

The agent runs on the drivers' in-memory fakes (its console is the fake's boot lines): the
real console, read from a TCG guest through libvirt, is ``test_site_console.py``'s.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any

from tests.security.daemons import RunningHub, hubs_on_etcd, running_site, site_join

FAST = "[hub]\nsync_heartbeat_interval = 1.0\nsync_dead_after = 5.0\n"  # offline soon


def until(check: Any, what: str, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} within {within:g} s"
        time.sleep(0.2)
    return found


def place_server(hub: RunningHub, site: str, token: str) -> Any:
    """A server a tenant places at ``site``: a kernel (any bytes do for the fake driver)
    and a flavor from the hub's catalog. (The kernel's data is kept in ``hub``'s data dir:
    the site pulls it from the hub process it joined.)"""
    kernel = secrets.token_bytes(64 * 1024)
    image = hub.ok("POST", "/v1/images", {"name": "relay-kernel", "disk_format": "aki"},
                   token=token)  # fmt: skip
    hub.ok("PUT", f"/v1/images/{image['id']}/file", raw=kernel, token=token,
           headers={"Content-Type": "application/octet-stream",
                    "X-Image-Sha256": hashlib.sha256(kernel).hexdigest()})  # fmt: skip
    hub.ok("POST", "/v1/flavors", {"name": "relay-tiny", "vcpus": 1, "ram_mb": 64,
                                   "disk_gb": 0}, token=token)  # fmt: skip
    spec = {"flavor": "relay-tiny", "kernel": "relay-kernel"}
    return hub.ok("POST", f"/v1/sites/{site}/servers", {"name": "web1", "spec": spec},
                  token=token)  # fmt: skip


def test_the_hub_process_without_the_sites_session_reads_its_console(tmp_path: Path) -> None:
    tag = secrets.token_hex(3)
    name, project = f"relay-{tag}", f"relay-owner-{tag}"
    with hubs_on_etcd(tmp_path, config=FAST) as (first, second):
        work = tmp_path / "site"
        joined = site_join(work / "agent", first.join_token(name)["code"])  # the first's URL
        assert joined.returncode == 0, joined.stderr
        token = first.tenant(project, f"relay-user-{tag}")
        rival = second.tenant(f"rival-{tag}", f"rival-user-{tag}")
        link = {"image_poll_interval": 0.5, "revocation_poll_interval": 0.5}
        with running_site(work, {"hub": link}, drivers="fake") as site:
            until(lambda: second.ok("GET", f"/v1/sites/{name}")["state"] == "online",
                  "online site")  # fmt: skip
            server = place_server(first, name, token)
            shown = f"/v1/sites/{name}/servers/{server['id']}"
            until(lambda: (second.ok("GET", shown, token=token)["status"] or {}).get("state")
                  == "ACTIVE", "ACTIVE report of the server")  # fmt: skip
            opened = f"site {name} sync session"
            assert opened in first.log and opened not in second.log  # the first holds it

            local = site.ok("GET", f"/v1/servers/{server['id']}/console")["console"]["output"]
            assert f"[fake] {server['id']} booted" in local
            path = f"/v1/sites/{name}/servers/{server['id']}/console"
            there = second.ok("POST", path, {}, token=token)
            here = first.ok("POST", path, {}, token=token)
            assert there == here and there["output"] == local and not there["truncated"]
            assert second.ok("POST", path, {"length": 1}, token=token)["lines"] == 1

            # the process without the session refuses another project's tenant as the
            # other does: the request never reaches the store, nor the site
            for hub in (second, first):
                hidden = hub.call("POST", path, {"length": 5}, token=rival)
                assert hidden.status == 404, hidden
                assert "booted" not in hidden.raw.decode(errors="replace")
            reader = second.tenant(project, f"relay-reader-{tag}", role="reader")
            assert second.call("POST", path, {}, token=reader).status == 403
        # the site is gone: its record says so once a hub process marks it offline
        until(lambda: second.ok("GET", f"/v1/sites/{name}")["state"] == "offline",
              "offline site")  # fmt: skip
        gone = second.call("POST", path, {}, token=token)
        assert gone.status == 503, gone
        assert gone.body["error"]["code"] == "site_not_connected"
        assert gone.message.startswith(f"site {name} is not connected (last seen ")
