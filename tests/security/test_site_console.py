"""A server's console log through the hub: the real hub and a real site agent (libvirt TCG,
a private OVS) joined to it, over the site's mTLS sync session.

A tenant places a server through the hub (the tiny guest's kernel uploaded to the hub's
catalog, pulled by the site, booted by libvirt); its console log, as the agent's own API
reads it, is what ``POST /v1/sites/{site}/servers/{id}/console`` and ``atoll server console
NAME --site SITE`` show. Who may read it is who may read the server: another project's
tenant gets the 404 a GET of the server gives it, a call without a token a 401, and a site's
certificate (which reaches image data and revocations) nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.security.daemons import ATOLL, RunningHub, RunningSite, running_site, site_join
from tests.site_agent.drivers import tinyguest

pytestmark = pytest.mark.private_ovs  # a real site agent: the host's one private OVS


@dataclass(frozen=True)
class Scene:
    site: RunningSite
    name: str  # the site's name at the hub
    project: str
    token: str  # a member of the project that owns the server
    server: Any  # as the hub placed it

    @property
    def path(self) -> str:
        return f"/v1/sites/{self.name}/servers/{self.server['id']}/console"


def until(check: Any, what: str, within: float = 120.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := check()):
        assert time.monotonic() < deadline, f"no {what} within {within:g} s"
        time.sleep(0.25)
    return found


@pytest.fixture(scope="module")
def scene(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    tag = secrets.token_hex(3)
    name, project = f"console-{tag}", f"owner-{tag}"
    work = tmp_path_factory.mktemp("sec-console-site")
    joined = site_join(work / "agent", hub.join_token(name)["code"])
    assert joined.returncode == 0, joined.stderr
    token = hub.tenant(project, f"owner-user-{tag}")
    kernel = tinyguest.build(tmp_path_factory.mktemp("sec-console-guest")).read_bytes()
    image = hub.ok("POST", "/v1/images", {"name": "tiny-kernel", "disk_format": "aki"},
                   token=token)  # fmt: skip
    hub.ok("PUT", f"/v1/images/{image['id']}/file", raw=kernel, token=token,
           headers={"Content-Type": "application/octet-stream",
                    "X-Image-Sha256": hashlib.sha256(kernel).hexdigest()})  # fmt: skip
    hub.ok("POST", "/v1/flavors", {"name": "tiny-k", "vcpus": 1, "ram_mb": 64, "disk_gb": 0},
           token=token)  # fmt: skip
    link = {"image_poll_interval": 0.5, "revocation_poll_interval": 0.5}
    with running_site(work, {"hub": link}) as site:
        spec = {"flavor": "tiny-k", "kernel": "tiny-kernel"}
        server = hub.ok("POST", f"/v1/sites/{name}/servers", {"name": "web1", "spec": spec},
                        token=token)  # fmt: skip

        def active() -> bool:
            shown = hub.ok("GET", f"/v1/sites/{name}/servers/{server['id']}", token=token)
            return (shown["status"] or {}).get("state") == "ACTIVE"

        until(active, "ACTIVE report of the server at the hub")
        local = f"/v1/servers/{server['id']}/console"
        until(lambda: tinyguest.UP_LINE in site.ok("GET", local)["console"]["output"],
              "boot line on the guest's console")  # fmt: skip
        yield Scene(site, name, project, token, server)


def test_the_owner_reads_the_console_through_the_hub_as_the_agent_reads_it(
    hub: RunningHub, scene: Scene, tmp_path: Path
) -> None:
    local = scene.site.ok("GET", f"/v1/servers/{scene.server['id']}/console?lines=100")
    got = hub.ok("POST", scene.path, {}, token=scene.token)
    assert got["output"] == local["console"]["output"]  # one way to read a console
    assert tinyguest.UP_LINE in got["output"] and not got["truncated"]
    assert got["server"] == scene.server["id"] and got["site"] == scene.name
    one = hub.ok("POST", scene.path, {"length": 1}, token=scene.token)
    assert one["lines"] == 1 and got["output"].endswith(one["output"])
    too_many = hub.call("POST", scene.path, {"length": 10001}, token=scene.token)
    assert too_many.status == 400, too_many
    assert [p["where"] for p in too_many.body["error"]["problems"]] == ["body.length"]

    env = {**os.environ, "ATOLL_URL": hub.url, "ATOLL_TOKEN": scene.token,
           "ATOLL_CA_FILE": str(hub.ca_file), "XDG_CONFIG_HOME": str(tmp_path)}  # fmt: skip
    for key in ("ATOLL_SITE_URL", "ATOLL_SITE_TOKEN"):
        env.pop(key, None)
    done = subprocess.run([str(ATOLL), "server", "console", "web1", "--site", scene.name,
                           "--lines", "3"], capture_output=True, text=True, env=env,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    three = hub.ok("POST", scene.path, {"length": 3}, token=scene.token)["output"]
    assert done.stdout == three.replace("\r\n", "\n") and tinyguest.UP_LINE in done.stdout


def test_another_projects_tenant_and_strangers_cannot_read_it(
    hub: RunningHub, scene: Scene
) -> None:
    tag = secrets.token_hex(3)
    rival = hub.tenant(f"rival-{tag}", f"rival-user-{tag}")
    show = f"/v1/sites/{scene.name}/servers/{scene.server['id']}"
    assert hub.call("GET", show, token=rival).status == 404
    for ref in (scene.server["id"], "web1"):
        path = f"/v1/sites/{scene.name}/servers/{ref}/console"
        hidden = hub.call("POST", path, {"length": 5}, token=rival)
        assert hidden.status == 404, hidden
        assert tinyguest.UP_LINE not in hidden.raw.decode(errors="replace")
    nobody = hub.call("POST", scene.path, {}, token="")
    assert nobody.status == 401 and nobody.body["error"]["code"] == "unauthenticated", nobody
    forged = hub.call("POST", scene.path, {}, token="atl1.forged.token")
    assert forged.status == 401, forged
    by_certificate = hub.as_site(scene.site.data_dir).call("POST", scene.path, {})
    assert by_certificate.status == 401, by_certificate  # a site reaches no console
    # a reader of the project sees the server, not what its guest printed (as Nova's default)
    reader = hub.tenant(scene.project, f"reader-{tag}", role="reader")
    refused = hub.call("POST", scene.path, {}, token=reader)
    assert refused.status == 403, refused
    assert tinyguest.UP_LINE not in refused.raw.decode(errors="replace")
