"""A screenshot of the hub's dashboard, as a NOC operator sees it: Debian's chromium, headless,
driven by Playwright (a dev dependency: `make setup` installs it), signs in at ``/ui/`` and
waits for the live feed before the picture is taken. The browser is told to accept the
testbed hub's certificate (its own CA, which the browser does not know)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.testbed.demo.stage import DemoFailure

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# screenshots outlive the demo's temporary directory: here, or $ATOLL_DEMO_SCREENSHOTS
SCREENSHOTS = Path(".build") / "demo"


def fleet_overview(hub_url: str, user: str, password: str, name: str) -> Path:
    """Sign in to ``hub_url``'s dashboard and save its fleet overview as ``name``."""
    from playwright.sync_api import Error, sync_playwright

    folder = Path(os.environ.get("ATOLL_DEMO_SCREENSHOTS") or SCREENSHOTS).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                context = browser.new_context(ignore_https_errors=True,
                                              viewport={"width": 1280, "height": 800})  # fmt: skip
                page = context.new_page()
                goto(page, f"{hub_url}/ui/")
                page.fill("input[name=user]", user)
                page.fill("input[name=password]", password)
                page.click("#signin button[type=submit]")
                page.wait_for_selector("#live.on")
                page.wait_for_selector("tr[data-site]")
                page.screenshot(path=str(path), full_page=True)
            finally:
                browser.close()
    except Error as exc:
        raise DemoFailure(f"the dashboard's screenshot failed: {exc}") from exc
    return path


NAVIGATION_ATTEMPTS = 3


def goto(page: Page, url: str) -> None:
    """``page.goto(url)``, again when Chromium aborted it with ``ERR_NETWORK_CHANGED``: it
    does so whenever the host's interfaces change (a testbed or test adding a veth or a
    namespace beside it), which says nothing about the hub."""
    from playwright.sync_api import Error

    for attempt in range(NAVIGATION_ATTEMPTS):
        try:
            page.goto(url)
            return
        except Error as exc:
            if "ERR_NETWORK_CHANGED" not in str(exc) or attempt == NAVIGATION_ATTEMPTS - 1:
                raise
