"""Browser fixtures for the dashboard: Debian's chromium driven by Playwright (never a
downloaded browser), one browser per module, a fresh page (own cookies) per test, and a
screenshot of the page when a test fails (into the test's tmp dir, and into
``$ATOLL_TEST_ARTIFACTS`` too when it is set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # root in a container: chromium's own sandbox needs user namespaces it may not have
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page of its own (a fresh cookie jar) that trusts the test hub's certificate."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    try:
        yield opened
    finally:
        if request.node.stash.get(FAILED, False):
            shot = tmp_path / "failure.png"
            opened.screenshot(path=str(shot), full_page=True)
            artifacts = os.environ.get("ATOLL_TEST_ARTIFACTS")
            if artifacts:
                Path(artifacts).mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, Path(artifacts) / f"{request.node.name}.png")
            print(f"screenshot of the failing page: {shot}")
        context.close()
