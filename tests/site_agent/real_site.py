"""Helpers for integration tests of the agent on real libvirtd, a private OVS and qemu-img.

Names are unique per test (domain prefix from the ``domain_prefix`` fixture, bridge, tap
prefix, OVS owner tag), so tests of several engineers can run on the host at once, and
:func:`residue` lists everything of one test's agent that is left on the host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from atoll.site_agent.drivers.network.settings import NetworkSettings
from atoll.site_agent.settings import AgentSettings, SiteAgentSettings, TelemetrySettings
from atoll.testbed.services.ovs import PrivateOVS
from tests.site_agent.drivers import tinyguest

ATOLL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "atoll"


@dataclass(frozen=True)
class Names:
    domain_prefix: str
    bridge: str
    device_prefix: str
    owner: str

    @classmethod
    def unique(cls, domain_prefix: str) -> Names:
        tag = secrets.token_hex(2)
        return cls(domain_prefix, f"brsa{tag}", f"sa{tag}-", f"satest-{tag}")


def settings_for(
    data_dir: Path, ovs: PrivateOVS, names: Names, port: int = 8471
) -> SiteAgentSettings:
    return SiteAgentSettings(
        site_agent=AgentSettings(
            data_dir=data_dir, port=port, reconcile_interval=0.5, audit_interval=3600.0
        ),
        compute=LibvirtSettings(
            virt_type="qemu", name_prefix=names.domain_prefix, shutdown_timeout=5.0
        ),
        network=NetworkSettings(
            ovsdb_remote=ovs.remote,
            integration_bridge=names.bridge,
            device_prefix=names.device_prefix,
            owner=names.owner,
        ),
        telemetry=TelemetrySettings(interval=30.0),
    )


def fake_settings_for(data_dir: Path, port: int = 8471) -> SiteAgentSettings:
    """An agent like :func:`settings_for`'s on the drivers' in-memory fakes: the same daemon,
    API, store and sync, and nothing on the host (no libvirt domain, no OVS), for tests of
    the layers above the drivers."""
    return SiteAgentSettings(
        site_agent=AgentSettings(
            data_dir=data_dir,
            port=port,
            reconcile_interval=0.5,
            audit_interval=3600.0,
            drivers="fake",
        ),
        telemetry=TelemetrySettings(interval=30.0),
    )


def override(
    settings: SiteAgentSettings, groups: Mapping[str, Mapping[str, object]]
) -> SiteAgentSettings:
    """``settings`` with some values replaced, by section: ``{"hub": {"url": ...}}``."""
    changed = {
        section: dataclasses.replace(getattr(settings, section), **values)
        for section, values in groups.items()
    }
    return dataclasses.replace(settings, **changed)


def config_file(path: Path, settings: SiteAgentSettings) -> Path:
    """A TOML file with every setting that differs from its default, section by section, but
    the ones :class:`Agent` gives as flags (data dir, port) or that follow from them."""
    given = {("site_agent", "data_dir"), ("site_agent", "port"), ("storage", "root")}
    lines: list[str] = []
    for group_field in dataclasses.fields(settings):
        group = getattr(settings, group_field.name)
        default = type(group)()
        lines.append(f"[{group_field.name}]")
        for f in dataclasses.fields(group):
            value = getattr(group, f.name)
            if value != getattr(default, f.name) and (group_field.name, f.name) not in given:
                value = list(value) if isinstance(value, tuple) else value
                lines.append(f"{f.name} = {json.dumps(value, default=str)}")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class SourceImage:
    id: str
    path: Path
    sha256: str

    @property
    def upload_path(self) -> str:
        return f"/v1/images/{self.id}/file"

    def upload_headers(self) -> dict[str, str]:
        """For ``PUT upload_path`` with the file's bytes as the body."""
        return {"Content-Type": "application/octet-stream", "X-Image-Sha256": self.sha256}


def _image(image_id: str, path: Path) -> SourceImage:
    return SourceImage(image_id, path, hashlib.sha256(path.read_bytes()).hexdigest())


def test_images(workdir: Path) -> tuple[SourceImage, SourceImage]:
    """A tiny kernel (direct kernel boot, serial console, answers ACPI) and a blank qcow2 root."""
    workdir.mkdir(parents=True, exist_ok=True)
    kernel = tinyguest.build(workdir)
    blank = workdir / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "16M"], check=True)
    return _image("tiny-kernel", kernel), _image("blank", blank)


def links(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]
    return sorted(n for n in names if n.startswith(prefix))


def remove_links(prefix: str) -> None:
    for name in links(prefix):
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def residue(
    conn: libvirt.virConnect, ovs: PrivateOVS, names: Names, data_dir: Path
) -> dict[str, list[str]]:
    storage = data_dir / "storage"
    bridges = ovs.bridges()
    return {
        "domains": sorted(
            d.name() for d in conn.listAllDomains() if d.name().startswith(names.domain_prefix)
        ),
        "ovs_ports": sorted(ovs.vsctl("list-ports", names.bridge).split())
        if names.bridge in bridges
        else [],
        "taps": links(names.device_prefix),
        "disks": sorted(p.name for p in (storage / "disks").glob("*")) if storage.exists() else [],
        "volumes": sorted(p.name for p in (storage / "volumes").glob("*"))
        if storage.exists()
        else [],
        "instances": sorted(p.name for p in (data_dir / "instances").glob("*")),
    }


EMPTY: dict[str, list[str]] = {
    "domains": [],
    "ovs_ports": [],
    "taps": [],
    "disks": [],
    "volumes": [],
    "instances": [],
}


class AgentProcess:
    def __init__(
        self,
        data_dir: Path,
        config: Path,
        port: int,
        *,
        host: str = "127.0.0.1",
        netns: str | None = None,
    ) -> None:
        """``netns``: run in that network namespace (``ip netns exec``), reached at ``host``
        (the config must make the agent listen there)."""
        self.data_dir, self.config, self.port = data_dir, config, port
        self.netns = netns
        self.url = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.token = ""

    def start(self) -> str:
        """Start and wait for /health; returns stdout so far (the first start prints the secret)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = (self.data_dir.parent / f"agent-{time.monotonic_ns()}.out").open("wb")
        err = (self.data_dir.parent / "agent.log").open("ab")
        argv = [
            str(ATOLL),
            "site-agent",
            "run",
            "--data-dir",
            str(self.data_dir),
            "--config",
            str(self.config),
            "--port",
            str(self.port),
        ]
        if self.netns is not None:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.proc = subprocess.Popen(argv, stdout=out, stderr=err)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):  # noqa: S310
                    break
            except (urllib.error.URLError, OSError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.data_dir.parent / "agent.log").read_text()[-3000:]
                    raise AssertionError(f"agent did not come up:\n{log}") from None
                time.sleep(0.05)
        return Path(out.name).read_text()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()!r}") from None
        return json.loads(raw) if raw else {}

    def upload(self, image: SourceImage) -> Any:
        """Upload a test image through the local API (``PUT /v1/images/{id}/file``)."""
        req = urllib.request.Request(  # noqa: S310
            self.url + image.upload_path, data=image.path.read_bytes(), method="PUT"
        )
        for key, value in {
            **image.upload_headers(),
            "Authorization": f"Bearer {self.token}",
        }.items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"PUT {image.upload_path}: {exc.code} {exc.read()!r}") from None

    def login(self, secret: str) -> None:
        self.token = self.call("POST", "/v1/auth/tokens", {"name": "admin", "secret": secret})[
            "token"
        ]

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
