"""Random sequences of storage operations give the same results on LocalStorage (real
qemu-img) and FakeStorage: the fake is a faithful model, errors included (hypothesis)."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from atoll.errors import AtollError
from atoll.site_agent.drivers.storage.base import Disk, Snapshot, StorageDriver
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from tests.site_agent.drivers import tinyguest

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
GiB = 1024 * MiB
IDS = st.sampled_from(["a", "b", "c"])
SIZES = st.sampled_from([1 * MiB, 2 * MiB, 8 * MiB, 24 * MiB])


def summary(result: object) -> object:
    if isinstance(result, Disk):
        return (result.kind, result.object_id, result.virtual_size_bytes, result.backing_image_id)
    if isinstance(result, Snapshot):
        return (result.snapshot_id, result.volume_id, result.virtual_size_bytes)
    return result


class SameBehaviour(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="atoll-storage-model-"))
        image = tinyguest.blank_disk(self.tmp / "image.qcow2")
        sha = hashlib.sha256(image.read_bytes()).hexdigest()
        self.local = LocalStorage(
            LocalStorageSettings(root=self.tmp / "local", capacity_gb=40 * MiB / GiB)
        )
        self.fake = FakeStorage(root=self.tmp / "fake", total_bytes=40 * MiB)
        for driver in (self.local, self.fake):
            self.loop.run_until_complete(driver.add_image("img", image, sha))

    def teardown(self) -> None:
        self.loop.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def both(self, op: str, *args: Any, **kwargs: Any) -> None:
        outcomes = []
        for driver in (self.local, self.fake):
            call: Awaitable[object] = getattr(driver, op)(*args, **kwargs)
            try:
                outcomes.append(("ok", summary(self.loop.run_until_complete(call))))
            except AtollError as exc:
                outcomes.append(("error", type(exc).__name__))
        assert outcomes[0] == outcomes[1], f"{op}{args}: local {outcomes[0]} != fake {outcomes[1]}"

    @rule(vid=IDS, size=SIZES)
    def create_volume(self, vid: str, size: int) -> None:
        self.both("create_volume", vid, size)

    @rule(vid=IDS, size=SIZES, sid=IDS)
    def restore_volume(self, vid: str, size: int, sid: str) -> None:
        self.both("create_volume", vid, size, snapshot_id=sid)

    @rule(vid=IDS, size=SIZES)
    def extend_volume(self, vid: str, size: int) -> None:
        self.both("extend_volume", vid, size)

    @rule(vid=IDS)
    def delete_volume(self, vid: str) -> None:
        self.both("delete_volume", vid)

    @rule(vid=IDS, sid=IDS)
    def snapshot(self, vid: str, sid: str) -> None:
        self.both("snapshot_volume", vid, sid)

    @rule(sid=IDS)
    def delete_snapshot(self, sid: str) -> None:
        self.both("delete_snapshot", sid)

    @rule(server=IDS, size=st.sampled_from([None, 1 * MiB, 4 * MiB]))
    def create_root_disk(self, server: str, size: int | None) -> None:
        self.both("create_root_disk", server, "img", size)

    @rule(server=IDS)
    def delete_root_disk(self, server: str) -> None:
        self.both("delete_root_disk", server)

    @rule()
    def remove_image(self) -> None:
        self.both("remove_image", "img")

    @invariant()
    def same_objects_and_provisioning(self) -> None:
        views = []
        for driver in (self.local, self.fake):
            d: StorageDriver = driver
            owned = self.loop.run_until_complete(d.list_owned())
            cap = self.loop.run_until_complete(d.capacity())
            views.append(
                ([(o.kind, o.object_id, o.parent_id) for o in owned], cap.provisioned_bytes)
            )
        assert views[0] == views[1]


SameBehaviour.TestCase.settings = settings(max_examples=10, stateful_step_count=10, deadline=None)
test_local_and_fake_storage_behave_the_same = SameBehaviour.TestCase
