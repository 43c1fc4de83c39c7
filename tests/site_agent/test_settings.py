"""The site agent's grouped settings: TOML sections, ``ATOLL_<SECTION>_<KEY>``, flags, the
old flat ``[site_agent]`` keys still read (with a warning) and ``atoll site-agent config show``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from atoll.errors import ConfigError
from atoll.site_agent.settings import MOVED, SiteAgentSettings, load_settings

ATOLL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "atoll"

GROUPED = """
[site_agent]
data_dir = "/srv/site"
port = 9000
[compute]
virt_type = "qemu"
shutdown_timeout = 12.5
[network]
integration_bridge = "br-edge"
physical_networks = ["physnet1:eth1"]
[storage]
image_cache_max_gb = 5
[telemetry]
interval = 2
[hub]
url = "https://hub:8470"
password = "hunter2-file"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


def test_defaults_pick_one_value_per_setting() -> None:
    s = load_settings(env={})
    assert s == SiteAgentSettings()
    assert s.compute.shutdown_timeout == 60.0
    assert s.network.integration_bridge == "br-int"
    assert s.network.ovsdb_remote == "unix:/run/openvswitch/db.sock"
    assert s.storage.image_cache_bytes == 20 * 1024**3
    assert s.storage.root == Path("/var/lib/atoll/site-agent/storage")


def test_groups_from_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = _write(tmp_path, GROUPED)
    env = {"ATOLL_COMPUTE_SHUTDOWN_TIMEOUT": "7", "ATOLL_SITE_AGENT_PORT": "9100"}
    s = load_settings(cfg, {"site_agent": {"port": 9200}}, env=env)
    assert s.site_agent.data_dir == Path("/srv/site")
    assert s.site_agent.port == 9200  # flag beats env beats file
    assert s.compute.virt_type == "qemu"
    assert s.compute.shutdown_timeout == 7.0  # env beats file
    assert s.network.integration_bridge == "br-edge"
    assert s.network.mappings("physical_networks") == {"physnet1": "eth1"}
    assert s.storage.root == Path("/srv/site/storage")  # follows data_dir
    assert s.storage.image_cache_bytes == 5 * 1024**3
    assert s.telemetry.interval == 2.0
    assert s.hub.url == "https://hub:8470"
    assert "hunter2-file" not in repr(s)


def test_config_file_from_atoll_config(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "[telemetry]\nraw_retention = 60\n")
    assert load_settings(env={"ATOLL_CONFIG": str(cfg)}).telemetry.raw_retention == 60.0


def test_old_flat_site_agent_keys_are_read_at_their_new_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _write(
        tmp_path,
        '[site_agent]\nport = 9000\nstop_timeout = 5.0\ndomain_prefix = "old-"\n'
        'ovsdb_remote = "unix:/tmp/db.sock"\nstorage_capacity_gb = 2\nhub_url = "https://h"\n'
        "telemetry_interval = 3\n",
    )
    with caplog.at_level(logging.WARNING, logger="atoll.settings"):
        s = load_settings(cfg, env={})
    assert s.site_agent.port == 9000
    assert s.compute.shutdown_timeout == 5.0
    assert s.compute.name_prefix == "old-"
    assert s.network.ovsdb_remote == "unix:/tmp/db.sock"
    assert s.storage.capacity_bytes == 2 * 1024**3
    assert s.hub.url == "https://h"
    assert s.telemetry.interval == 3.0
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 6  # one per moved key, none for port
    assert any(
        "[site_agent].stop_timeout is deprecated" in w and "[compute] shutdown_timeout" in w
        for w in warnings
    )
    assert any("[hub] url" in w for w in warnings)


def test_the_new_place_wins_over_the_old_one(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "[site_agent]\nstop_timeout = 5.0\n[compute]\nshutdown_timeout = 9\n")
    assert load_settings(cfg, env={}).compute.shutdown_timeout == 9.0
    env = {"ATOLL_SITE_AGENT_HUB_URL": "https://old", "ATOLL_HUB_URL": "https://new"}
    assert load_settings(env=env).hub.url == "https://new"


def test_old_site_agent_env_vars_are_read_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"ATOLL_SITE_AGENT_HUB_PASSWORD": "pw", "ATOLL_SITE_AGENT_INTEGRATION_BRIDGE": "br-x"}
    with caplog.at_level(logging.WARNING, logger="atoll.settings"):
        s = load_settings(env=env)
    assert s.hub.password == "pw"
    assert s.network.integration_bridge == "br-x"
    warnings = sorted(r.getMessage() for r in caplog.records)
    assert warnings == [
        "environment ATOLL_SITE_AGENT_HUB_PASSWORD is deprecated: it is now [hub] password",
        "environment ATOLL_SITE_AGENT_INTEGRATION_BRIDGE is deprecated: "
        "it is now [network] integration_bridge",
    ]


def test_every_old_key_has_a_new_home() -> None:
    groups = SiteAgentSettings()
    for (old_section, _), new in MOVED.items():
        assert old_section == "site_agent"
        assert hasattr(getattr(groups, new.section), new.key)


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[compute]\nshutdown_timeout = 'soon'\n", {}, r"site.toml: \[compute\].shutdown_timeout"),
        ("[compute]\nvirt_type = 'xen'\n", {}, r"\[compute\].virt_type: 'xen' is not one of"),
        (
            "[site_agent]\nstop_timeout = 'soon'\n",
            {},
            r"\[site_agent\].stop_timeout \(now \[compute\].shutdown_timeout\): expected float",
        ),
        ("[storage]\nrot = '/x'\n", {}, r"\[storage\] has unknown keys rot"),
        ("", {"ATOLL_NETWORK_OVSDB_TIMEOUT": "x"}, "environment ATOLL_NETWORK_OVSDB_TIMEOUT"),
        (
            "",
            {"ATOLL_SITE_AGENT_STOP_TIMEOUT": "x"},
            r"ATOLL_SITE_AGENT_STOP_TIMEOUT \(now ATOLL_COMPUTE_SHUTDOWN_TIMEOUT\)",
        ),
    ],
)
def test_a_wrong_value_names_its_section_key_and_source(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    cfg = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected):
        load_settings(cfg, env=env)


def _atoll(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATOLL_")}
    return subprocess.run(
        [str(ATOLL), *argv], capture_output=True, text=True, env={**clean, **env}, check=False
    )


def test_config_show_groups_sources_and_hides_secrets(tmp_path: Path) -> None:
    cfg = _write(tmp_path, GROUPED + 'token = "tok-file-secret"\n')
    env = {"ATOLL_HUB_USER": "site-edge", "ATOLL_SITE_AGENT_HUB_PASSWORD": "hunter2-env"}
    argv = ("site-agent", "config", "show", "--config", str(cfg), "--port", "9300")
    done = _atoll(*argv, "-f", "json", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert set(shown) == {"site_agent", "compute", "network", "storage", "telemetry", "hub"}
    assert shown["site_agent"]["port"] == {"value": 9300, "source": "flag"}
    assert shown["site_agent"]["host"] == {"value": "127.0.0.1", "source": "default"}
    assert shown["compute"]["virt_type"] == {"value": "qemu", "source": "file"}
    assert shown["hub"]["user"] == {"value": "site-edge", "source": "env"}
    assert shown["hub"]["password"] == {"value": "***", "source": "env"}  # old env name wins
    assert shown["hub"]["token"] == {"value": "***", "source": "file"}
    assert "ATOLL_SITE_AGENT_HUB_PASSWORD is deprecated: it is now [hub] password" in done.stderr
    table = _atoll(*argv, env=env)
    assert table.returncode == 0, table.stderr
    assert "[compute]" in table.stdout
    assert 'virt_type = "qemu"  # file' in table.stdout
    assert "port = 9300  # flag" in table.stdout
    for out in (done.stdout + done.stderr, table.stdout + table.stderr):
        assert "hunter2" not in out
        assert "tok-file-secret" not in out


def test_config_show_reports_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    cfg = _write(tmp_path, "[network]\novsdb_timeout = 'x'\n")
    done = _atoll("site-agent", "config", "show", "--config", str(cfg), env={})
    assert done.returncode == 1
    assert "[network].ovsdb_timeout: expected float" in done.stderr
    assert "Traceback" not in done.stderr
