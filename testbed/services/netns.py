"""Network namespaces, veth pairs and Linux bridges with unique names, removed on close.

Names carry a short random suffix under a fixed prefix (``at-`` for links, ``atoll-`` for
namespaces) so that leftovers of a killed run can be found and swept (:func:`sweep`).
Interface names stay within the kernel's 15-character limit.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from dataclasses import dataclass, field

NS_PREFIX = "atoll-"
LINK_PREFIX = "at-"


def ip(*args: str, netns: str | None = None) -> str:
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout


def unique(prefix: str, length: int = 6) -> str:
    return prefix + secrets.token_hex(length // 2 + 1)[:length]


@dataclass
class HostNetwork:
    """Tracks what it made; :meth:`close` removes it all (links first, then namespaces)."""

    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def netns(self, label: str = "ns") -> str:
        name = unique(f"{NS_PREFIX}{label[:8]}-")
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("link", "set", "lo", "up", netns=name)
        return name

    def veth(self, ns_a: str | None = None, ns_b: str | None = None) -> tuple[str, str]:
        """A veth pair, each end optionally moved into a namespace, both ends up."""
        a, b = unique(LINK_PREFIX + "v"), unique(LINK_PREFIX + "v")
        ip("link", "add", a, "type", "veth", "peer", "name", b)
        self.links.append(a)
        for end, ns in ((a, ns_a), (b, ns_b)):
            if ns:
                ip("link", "set", end, "netns", ns)
            ip("link", "set", end, "up", netns=ns)
        return a, b

    def bridge(self, netns: str | None = None) -> str:
        name = unique(LINK_PREFIX + "br")
        ip("link", "add", name, "type", "bridge", netns=netns)
        ip("link", "set", name, "up", netns=netns)
        if netns is None:
            self.links.append(name)
        return name

    def add_address(self, dev: str, cidr: str, netns: str | None = None) -> None:
        ip("addr", "add", cidr, "dev", dev, netns=netns)

    def enslave(self, dev: str, bridge: str, netns: str | None = None) -> None:
        ip("link", "set", dev, "master", bridge, netns=netns)

    def close(self) -> None:
        for link in reversed(self.links):
            with contextlib.suppress(RuntimeError):
                ip("link", "del", link)
        for ns in reversed(self.namespaces):
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", ns)
        self.links.clear()
        self.namespaces.clear()


def sweep() -> list[str]:
    """Remove namespaces and host links this module's naming scheme marks as ours."""
    removed: list[str] = []
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(NS_PREFIX):
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", name)
                removed.append(name)
    for line in ip("-o", "link", "show").splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(LINK_PREFIX):
            with contextlib.suppress(RuntimeError):
                ip("link", "del", name)
                removed.append(name)
    return removed
