"""Onboarding takes packages in turns by project (:class:`Onboarding`, ``project_share``).

Before: two slots for the whole hub, first come first served, so a tenant who uploaded a
few packages that take long to read (a zip inflating to the size limits: minutes of CPU
each) held both, and every other tenant's package waited behind all of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from atoll.hub.catalog.vnf_onboarding import Onboarding
from atoll.hub.store.memory import MemoryStore


class _Files:
    def remove(self, package_id: str) -> None:  # the record is gone: nothing to keep
        return None


async def test_one_project_holds_at_most_its_share_and_the_others_get_the_rest() -> None:
    onboarding = Onboarding(MemoryStore(), _Files(), lambda: "now", concurrency=2)  # type: ignore[arg-type]
    started: list[str] = []
    release: dict[str, asyncio.Event] = {}

    async def onboard(package_id: str, image_map: Any) -> Any:
        started.append(package_id)
        release[package_id] = asyncio.Event()
        await release[package_id].wait()
        return {}

    onboarding._onboard = onboard  # type: ignore[method-assign]
    for i in range(3):
        onboarding.start(f"a{i}", {}, "project-a")
    await asyncio.sleep(0.05)
    onboarding.start("b0", {}, "project-b")
    await asyncio.sleep(0.05)
    assert started == ["a0", "b0"]  # b's package did not wait behind a1 and a2
    release["a0"].set()
    await asyncio.sleep(0.05)
    assert started == ["a0", "b0", "a1"]
    for package in ("b0", "a1"):
        release[package].set()
    await asyncio.sleep(0.05)
    release["a2"].set()
    await onboarding.stop()
    assert started == ["a0", "b0", "a1", "a2"]
    assert not onboarding._shares  # nothing kept for projects with nothing to onboard
