"""Test tiers, the real-service fixtures (see ``tests/fixtures.py``) and parallel runs.

Every test carries one tier marker: ``unit`` (pure logic), ``integration`` (real services)
or ``e2e`` (real VMs, namespaces, the testbed). Tests under ``tests/*/`` get ``unit`` unless
they say otherwise. The default run takes all tiers, and a skipped ``integration`` or ``e2e``
test fails the run: setup installs the real services, so a skip means something is broken.

Parallel runs (``make test`` runs ``pytest -n 3 --dist loadgroup``, pytest-xdist)
--------------------------------------------------------------------------------
Every test file is one unit of work for one worker (module-scoped fixtures are set up once),
except the tests that hold the **private OVS**: only one ``ovs-vswitchd`` with the netdev
datapath can run on the host at a time (``atoll.testbed.services.ovs``, a host-wide lock), so
they all go to one group, ``private_ovs``, run one after another by one worker, which starts
it first (:func:`pytest_xdist_make_scheduler`: it is the longest chain).

The groups travel from the workers (which collect) to the scheduler (which does not) in a
file of our own, never in the test ids: xdist's ``loadgroup`` appends ``@group`` to each id
through a private field that pytest 9.2 no longer reads (pytest-xdist#1386), and then every
test silently became its own unit (three testbeds where one was meant). Each worker writes
``{test id: group}`` to :data:`GROUPS_DIR` of ``workerinput``; :class:`PrivateOvsFirst`
reads them before it hands out work, and stops the run if they are missing.

A test is in that group when it uses a fixture that starts a private OVS (``ovs``,
``ovsdb_api``, and ``site`` of ``tests/security``: see
:data:`PRIVATE_OVS_FIXTURES`), or carries ``@pytest.mark.private_ovs`` because it starts one
itself (``running_site``, ``PrivateOVS(...).start()``, ``atoll testbed up --sites N`` with N
real sites, the demo). A test that forgets the marker still passes (it waits for the lock)
but stalls its worker meanwhile.

To stay parallel-safe, a test:

- names every host-wide thing it makes uniquely (namespaces and links through
  ``HostNetwork``/``netns.unique``, domains under the ``domain_prefix`` fixture, OVS bridges
  and taps through ``real_site.Names.unique``, ports from ``free_port()``, files under
  ``tmp_path``; never a fixed name, port or ``/run`` path), and removes it in a ``finally``;
- never looks at the host as a whole (``ip link`` totals, every domain): only at its own names;
- shares expensive daemons with a module- or session-scoped fixture (``hub``, ``site``) and
  keeps per-test state apart inside them (a project, a bridge, a key prefix each).

The sweep of a killed run's leftovers (:func:`tests.fixtures.sweep_leftovers`) runs once, in
the process that starts the workers, before and after the run, never in a worker (it would
remove another worker's live namespaces). ``ATOLL_TEST_NO_SWEEP=1`` turns it off.

One test: ``.venv/bin/pytest tests/x/test_y.py::test_z`` (no ``-n``: one process).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import *  # noqa: F403 (fixtures are found by name)
from tests.fixtures import sweep_leftovers

REAL_TIERS = ("integration", "e2e")
PRIVATE_OVS = "private_ovs"
GROUPS_DIR = "atoll_test_groups"  # workerinput key: where each worker writes its groups
GROUPS_PATH = pytest.StashKey[Path]()  # (controller) that directory
# (module, fixture) pairs whose fixture starts (or needs) a private OVS
PRIVATE_OVS_FIXTURES = {
    ("tests.fixtures", "ovs"),
    ("tests.security.conftest", "site"),
}


def _is_controller(config: pytest.Config) -> bool:
    """The process that runs the session (no xdist, or xdist's controller), not a worker."""
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config):
        sweep_leftovers()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _is_controller(config):
        sweep_leftovers(domains=True)
        if GROUPS_PATH in config.stash:
            shutil.rmtree(config.stash[GROUPS_PATH], ignore_errors=True)


def _holds_private_ovs(item: pytest.Item) -> bool:
    if item.get_closest_marker(PRIVATE_OVS):
        return True
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in info.names_closure:
        # the fixture the test gets is the last of the name's definitions; an earlier one
        # counts only if the one above it asks for it (a module's own ``site`` overrides
        # the security conftest's: it starts nothing)
        for fixturedef in reversed(info.name2fixturedefs.get(name, ())):
            func = getattr(fixturedef, "func", None)
            if (getattr(func, "__module__", ""), name) in PRIVATE_OVS_FIXTURES:
                return True
            if name not in getattr(fixturedef, "argnames", ()):
                break
    return False


def _group(item: pytest.Item) -> str:
    return PRIVATE_OVS if _holds_private_ovs(item) else item.nodeid.split("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """(controller) Tell each worker where to write its groups."""
    stash = node.config.stash
    if GROUPS_PATH not in stash:
        stash[GROUPS_PATH] = Path(tempfile.mkdtemp(prefix="atoll-test-groups-"))
    node.workerinput[GROUPS_DIR] = str(stash[GROUPS_PATH])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with our groups: the biggest first, except the private-OVS
    chain, the longest, which goes before all of them whatever its size, so one worker
    starts it at once."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class PrivateOvsFirst(LoadScopeScheduling):  # type: ignore[misc]
        groups: dict[str, str]

        def schedule(self) -> None:
            if self.collection is None:  # the first call: every worker has collected
                directory = config.stash[GROUPS_PATH]
                self.groups = {}
                for path in sorted(directory.glob("*.json")):
                    self.groups.update(json.loads(path.read_text()))
                missing = [n for c in self.registered_collections.values() for n in c
                           if n not in self.groups]  # fmt: skip
                if missing:
                    raise RuntimeError(
                        f"no test group for {len(missing)} tests (e.g. {missing[0]}) in "
                        f"{directory}: the workers did not write them"
                    )
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.groups[nodeid]

        def _assign_work_unit(self, node: Any) -> None:
            if PRIVATE_OVS in self.workqueue:
                self.workqueue.move_to_end(PRIVATE_OVS, last=False)
            super()._assign_work_unit(node)

    return PrivateOvsFirst(config, log)


# tryfirst: ``-m unit`` (pytest's own hook) must see the tier marks added here
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(t) for t in ("unit", *REAL_TIERS)):
            item.add_marker(pytest.mark.unit)
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    if GROUPS_DIR in workerinput:  # (a worker of a parallel run) for the controller's scheduler
        mine = Path(workerinput[GROUPS_DIR]) / f"{workerinput['workerid']}.json"
        mine.write_text(json.dumps({item.nodeid: _group(item) for item in items}))


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """The root logger as the test found it: a test that runs the CLI in-process configures
    logging (``atoll.logs``) onto the test's captured stderr, closed once the test ends, and
    every later log line in the same process (worker) would fail to print."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


_skipped_real: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and any(t in report.keywords for t in REAL_TIERS):
        _skipped_real.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_real:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_real:
        terminalreporter.section("skipped real-service tests (these fail the run)")
        for nodeid in _skipped_real:
            terminalreporter.line(nodeid)
