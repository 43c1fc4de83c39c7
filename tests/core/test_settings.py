from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from atoll import settings
from atoll.errors import ConfigError


@dataclass(frozen=True)
class DemoSettings:
    port: int = 8470
    data_dir: Path = Path("/var/lib/atoll")
    store: str = "sqlite"
    debug: bool = False
    mode: Literal["auto", "kvm", "qemu"] = "auto"
    peers: tuple[str, ...] = ()
    ratio: float | None = None


def test_defaults_when_nothing_is_given() -> None:
    s = settings.load(DemoSettings, "demo", env={})
    assert s == DemoSettings()


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "atoll.toml"
    cfg.write_text('[demo]\nport = 9000\nstore = "etcd://a:1"\npeers = ["x", "y"]\n')
    env = {"ATOLL_DEMO_PORT": "9100", "ATOLL_DEMO_DEBUG": "yes"}
    s = settings.load(DemoSettings, "demo", config_file=cfg, env=env, flags={"mode": "qemu"})
    assert s.port == 9100  # env beats file
    assert s.store == "etcd://a:1"  # file beats default
    assert s.debug is True
    assert s.mode == "qemu"
    assert s.peers == ("x", "y")
    s2 = settings.load(DemoSettings, "demo", config_file=cfg, env=env, flags={"port": 1})
    assert s2.port == 1  # flags beat env


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[demo]\nratio = 0.5\n")
    s = settings.load(DemoSettings, "demo", env={"ATOLL_CONFIG": str(cfg)})
    assert s.ratio == 0.5


def test_settings_are_frozen() -> None:
    s = settings.load(DemoSettings, "demo", env={})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ATOLL_DEMO_PORT": "eighty"}, "environment ATOLL_DEMO_PORT: expected int"),
        ({"ATOLL_DEMO_DEBUG": "maybe"}, "environment ATOLL_DEMO_DEBUG: expected true or false"),
        ({"ATOLL_DEMO_MODE": "xen"}, "environment ATOLL_DEMO_MODE: 'xen' is not one of"),
        ({"ATOLL_DEMO_PORT": "-1"}, "ATOLL_DEMO_PORT: expected a number from 0 up, got '-1'"),
        ({"ATOLL_DEMO_RATIO": "nan"}, "ATOLL_DEMO_RATIO: expected a number from 0 up"),
        ({"ATOLL_DEMO_RATIO": "inf"}, "ATOLL_DEMO_RATIO: expected a number from 0 up"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        settings.load(DemoSettings, "demo", env=env)


def test_unknown_and_mistyped_file_keys_name_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[demo]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"c.toml: \[demo\] has unknown keys prot"):
        settings.load(DemoSettings, "demo", config_file=cfg, env={})
    cfg.write_text('[demo]\nport = "x"\n')
    with pytest.raises(ConfigError, match=r"c.toml: \[demo\].port: expected int"):
        settings.load(DemoSettings, "demo", config_file=cfg, env={})
    cfg.write_text("[demo]\nport = 80.5\n")  # not rounded down to 80 behind your back
    with pytest.raises(ConfigError, match=r"c.toml: \[demo\].port: expected int, got 80.5"):
        settings.load(DemoSettings, "demo", config_file=cfg, env={})
    cfg.write_text("[demo\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        settings.load(DemoSettings, "demo", config_file=cfg, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        settings.load(DemoSettings, "demo", config_file=tmp_path / "nope.toml", env={})


def test_unknown_flag_is_refused() -> None:
    with pytest.raises(ConfigError, match="flag --colour is not a demo setting"):
        settings.load(DemoSettings, "demo", env={}, flags={"colour": "red"})


@dataclass(frozen=True)
class Web:
    port: int = 80


@dataclass(frozen=True)
class Db:
    url: str = "sqlite://"
    timeout: float = 1.0


@dataclass(frozen=True)
class Grouped:
    web: Web = field(default_factory=Web)
    db: Db = field(default_factory=Db)


def test_groups_load_per_section_and_say_where_each_value_came_from(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[web]\nport = 8080\ndb_url = "pg://old"\n[db]\ntimeout = 2\n')
    moved = {("web", "db_url"): settings.Moved("db", "url")}
    env = {"ATOLL_DB_TIMEOUT": "3"}
    loaded = settings.load_groups(
        Grouped, config_file=cfg, env=env, flags={"web": {"port": 9}}, moved=moved
    )
    assert loaded.value == Grouped(Web(port=9), Db(url="pg://old", timeout=3.0))
    assert loaded.source("web", "port") == "flag"
    assert loaded.source("db", "url") == "file"
    assert loaded.source("db", "timeout") == "env"
    cfg.write_text("[db]\nurl = 1\n")
    with pytest.raises(ConfigError, match=r"c.toml: \[db\].url: expected a string"):
        settings.load_groups(Grouped, config_file=cfg, env={})
    cfg.write_text("[web]\ndb_url = 1\n")  # without `moved`, an unknown key
    with pytest.raises(ConfigError, match=r"\[web\] has unknown keys db_url"):
        settings.load_groups(Grouped, config_file=cfg, env={})


def test_every_problem_of_every_section_is_reported_at_once(tmp_path: Path) -> None:
    """Whoever fixes a config file sees all that is wrong in it, not one error per try."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[web]\nport = "eighty"\nhost = "x"\n[db]\ntimeout = "soon"\n')
    env = {"ATOLL_DB_URL": "sqlite://", "ATOLL_WEB_PORT": "ninety"}
    with pytest.raises(ConfigError) as caught:
        settings.load_groups(Grouped, config_file=cfg, env=env, flags={"db": {"colour": 1}})
    message = caught.value.message
    assert message.startswith("5 problems in the settings:"), message
    for expected in (
        r"[web] has unknown keys host",
        "c.toml: [web].port: expected int, got 'eighty'",
        "environment ATOLL_WEB_PORT: expected int, got 'ninety'",
        "c.toml: [db].timeout: expected float, got 'soon'",
        "flag --colour is not a db setting",
    ):
        assert expected in message, (expected, message)
    assert message.count("\n  - ") == 5
    cfg.write_text('[demo]\nport = "x"\nmode = "xen"\n')
    with pytest.raises(ConfigError, match=r"2 problems in the settings:\n  - .*port.*\n  - .*mode"):
        settings.load(DemoSettings, "demo", config_file=cfg, env={})
