"""Fixtures that start real, private service instances and always clean them up.

Used through ``tests/conftest.py``. Each fixture tears down in ``finally`` (pytest runs
fixture finalizers even when the test fails), and the session start sweeps leftovers of an
earlier run that was killed (names under our prefixes: :func:`sweep_leftovers`), so nothing
leaks between runs.

- ``etcd``: one etcd member on free loopback ports -> :class:`EtcdCluster` (size 1)
- ``etcd_cluster``: three members -> :class:`EtcdCluster` (size 3)
- ``ovs``: a private ovsdb-server + ovs-vswitchd -> :class:`PrivateOVS`
- ``ovsdb_api``: an ovsdbapp ``Open_vSwitch`` API connected to ``ovs``
- ``libvirt_conn``: a connection to the system libvirtd (started if needed)
- ``domain_prefix``: a unique per-test domain name prefix; every domain under it is
  destroyed and undefined after the test
- ``hostnet``: namespaces, veth pairs and bridges with unique names, removed after the test
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from atoll.testbed.services import libvirtd, netns
from atoll.testbed.services.etcd import EtcdCluster
from atoll.testbed.services.netns import HostNetwork
from atoll.testbed.services.ovs import PrivateOVS

DOMAIN_PREFIX = "atolltest-"


def sweep_leftovers(*, domains: bool = False) -> None:
    """Remove what a killed earlier run may have left (namespaces and links under our
    prefixes; with ``domains``, libvirt domains under :data:`DOMAIN_PREFIX` too).

    ``tests/conftest.py`` calls it before and after the run, in the one process that runs the
    session (never in an xdist worker: it would sweep another worker's live namespaces).
    ``ATOLL_TEST_NO_SWEEP=1`` skips it, for several checkouts running tests on one host at
    once (each would otherwise sweep the others' live namespaces and domains).
    """
    if os.environ.get("ATOLL_TEST_NO_SWEEP") == "1":
        return
    netns.sweep()
    if not domains:
        return
    try:
        conn = libvirt.open(libvirtd.URI)
    except libvirt.libvirtError:
        return
    try:
        libvirtd.remove_domains(conn, DOMAIN_PREFIX)
    finally:
        conn.close()


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(tmp_path / "etcd", size=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def etcd_cluster(tmp_path: Path) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(tmp_path / "etcd", size=3).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def ovs(tmp_path: Path) -> Iterator[PrivateOVS]:
    # unix socket paths are limited to 108 bytes: keep the base short, not under tmp_path.
    base = Path("/tmp") / f"atoll-ovs-{secrets.token_hex(4)}"
    instance = PrivateOVS(base).start()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def ovsdb_api(ovs: PrivateOVS) -> Iterator[Any]:
    from ovsdbapp.backend.ovs_idl import connection
    from ovsdbapp.schema.open_vswitch import impl_idl

    idl = connection.OvsdbIdl.from_server(ovs.remote, "Open_vSwitch")
    conn = connection.Connection(idl=idl, timeout=10)
    api = impl_idl.OvsdbIdl(conn)
    try:
        yield api
    finally:
        conn.stop()


@pytest.fixture(scope="session")
def libvirt_conn() -> Iterator[libvirt.virConnect]:
    conn = libvirtd.connect()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def domain_prefix(libvirt_conn: libvirt.virConnect) -> Iterator[str]:
    prefix = f"{DOMAIN_PREFIX}{secrets.token_hex(3)}-"
    try:
        yield prefix
    finally:
        libvirtd.remove_domains(libvirt_conn, prefix)


@pytest.fixture
def hostnet() -> Iterator[HostNetwork]:
    net = HostNetwork()
    try:
        yield net
    finally:
        net.close()


def assert_refused_busy_port(done: Any, port: int | None) -> None:
    """A daemon started on a port in use (``done``: its ``subprocess.run``, text) said so
    and exited 1: the address, the reason and the flag, not 'internal error' (exit 70)."""
    assert done.returncode == 1, done.stderr
    assert "internal error" not in done.stderr
    assert (
        f"error: cannot listen on 127.0.0.1:{port}: address already in use (another process "
        "serving there? choose another with --port/--host)"
    ) in done.stderr
