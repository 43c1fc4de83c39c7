"""Test tiers and the real-service fixtures (see ``tests/fixtures.py``).

Every test carries one tier marker: ``unit`` (pure logic), ``integration`` (real services)
or ``e2e`` (real VMs, namespaces, the testbed). Tests under ``tests/*/`` get ``unit`` unless
they say otherwise. The default run takes all tiers, and a skipped ``integration`` or ``e2e``
test fails the run: setup installs the real services, so a skip means something is broken.
"""

from __future__ import annotations

import pytest

from tests.fixtures import *  # noqa: F403 (fixtures are found by name)

REAL_TIERS = ("integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not any(item.get_closest_marker(t) for t in ("unit", *REAL_TIERS)):
            item.add_marker(pytest.mark.unit)


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
