"""Data at rest: another local user reads none of a daemon's secrets.

The site agent's data dir (SQLite with the local Ed25519 signing key, and its WAL), storage
and instances dirs are 0700 and every secret-bearing file 0600: the database, its -wal and
-shm, servers' config drives (user data). The hub's data dir likewise: hub.db and its WAL,
the token signing key, the CA and server keys, uploaded image chunks. Modes are enforced at
start on an existing install too. The token ``atoll login`` saves is 0600 as well, also
when it replaces a login file someone left readable.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.security.daemons import ATOLL, HUB_ADMIN_PASSWORD, RunningHub, RunningSite
from tests.site_agent import real_site


def _private(path: Path) -> None:
    mode = path.stat().st_mode
    assert mode & 0o077 == 0, f"{path} is {oct(mode & 0o777)}"


def test_site_data_dir_and_database_are_private(site: RunningSite) -> None:
    site.ok("POST", "/v1/networks", {"name": "rest-probe"})  # the WAL has content
    data = site.data_dir
    for path in (data, data / "storage", data / "instances", data / "agent.db",
                 data / "agent.db-wal", data / "agent.db-shm"):  # fmt: skip
        _private(path)


def test_config_drive_is_private(site: RunningSite, tmp_path: Path) -> None:
    kernel, blank = real_site.test_images(tmp_path)
    for image in (kernel, blank):
        assert site.upload_image(image.id, image.path).status == 201
    site.ok("POST", "/v1/networks", {"name": "rest-lan"})
    site.ok("POST", "/v1/subnets", {"network": "rest-lan", "cidr": "10.72.0.0/24"})
    body = {"name": "rest-vm", "flavor": "tiny", "image": "blank", "kernel": "tiny-kernel",
            "nics": [{"network": "rest-lan"}],
            "user_data": "#cloud-config\npassword: s3cret\n"}  # fmt: skip
    server = site.ok("POST", "/v1/servers", body)["server"]
    site.wait_status("server", server["id"], "ACTIVE")
    instance = site.data_dir / "instances" / server["id"]
    _private(instance)
    _private(instance / "config.iso")
    _private(site.data_dir / "storage" / "disks" / f"{server['id']}.qcow2")
    site.ok("DELETE", f"/v1/servers/{server['id']}")


def test_site_restart_tightens_an_existing_install(site: RunningSite) -> None:
    data = site.data_dir
    site.agent.stop()
    data.chmod(0o755)
    (data / "agent.db").chmod(0o644)
    (data / "storage").chmod(0o755)
    site.agent.start()
    for path in (data, data / "storage", data / "agent.db", data / "agent.db-wal"):
        _private(path)


def test_hub_data_dir_and_keys_are_private(hub: RunningHub) -> None:
    hub.ok("POST", "/v1/projects", {"name": "rest-probe"})
    data = hub.data_dir
    secrets = [data / "hub.db", data / "hub.db-wal", data / "seed.json"]
    secrets += [p for p in data.iterdir() if p.name.endswith("key.pem")]
    assert len(secrets) >= 6, sorted(p.name for p in data.iterdir())  # token, CA, server keys
    for path in (data, *secrets):
        _private(path)


def test_hub_uploaded_image_chunks_are_private(hub: RunningHub) -> None:
    image = hub.ok("POST", "/v1/images", {"name": "rest-image", "disk_format": "raw"})
    headers = {"Content-Type": "application/octet-stream"}
    hub.ok("PUT", f"/v1/images/{image['id']}/file", raw=os.urandom(70000), headers=headers)
    stored = [p for p in (hub.data_dir / "images").rglob("*")]
    assert any(p.is_file() for p in stored)
    for path in stored:
        _private(path)


def test_the_saved_login_is_private_even_over_a_readable_file(
    hub: RunningHub, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    saved = config / "atoll" / "login.json"
    saved.parent.mkdir(parents=True)
    saved.write_text("{}")
    saved.chmod(0o644)  # an older login, or one copied in by hand
    env = {**os.environ, "XDG_CONFIG_HOME": str(config), "ATOLL_PASSWORD": HUB_ADMIN_PASSWORD}
    argv = [str(ATOLL), "login", "--url", hub.url, "--ca-file", str(hub.ca_file)]
    done = subprocess.run([*argv, "--user", "admin"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"token": "atl1.' in saved.read_text()
    _private(saved)
