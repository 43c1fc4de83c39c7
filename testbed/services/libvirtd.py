"""The system libvirtd (and virtlogd), started when not running, and domain cleanup.

There is no systemd on these machines, so whoever needs libvirt starts the daemons (the
same way the site agent does: :func:`atoll.site_agent.libvirtd.ensure_running`). Domains
made by tests and the testbed carry a name prefix; :func:`remove_domains` destroys and
undefines every domain under a prefix, which is how nothing leaks.
"""

from __future__ import annotations

import contextlib
import time

import libvirt

from atoll.site_agent.libvirtd import ensure_running

URI = "qemu:///system"


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


libvirt.registerErrorHandler(_quiet, None)


def ensure_libvirtd(timeout: float = 20.0) -> None:
    """Start virtlogd and libvirtd as the site agent does, then wait until libvirt answers."""
    ensure_running(timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            libvirt.open(URI).close()
            return
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def connect() -> libvirt.virConnect:
    ensure_libvirtd()
    return libvirt.open(URI)


def tcg_domain_xml(name: str, memory_mib: int = 64, vcpus: int = 1) -> str:
    """A minimal TCG guest with no disk: it runs (firmware looking for a boot device)."""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>"""


def remove_domains(conn: libvirt.virConnect, prefix: str) -> list[str]:
    """Destroy and undefine every domain whose name starts with ``prefix``."""
    removed = []
    for dom in conn.listAllDomains():
        name = dom.name()
        if not name.startswith(prefix):
            continue
        with contextlib.suppress(libvirt.libvirtError):
            if dom.isActive():
                dom.destroy()
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
        removed.append(name)
    return removed
