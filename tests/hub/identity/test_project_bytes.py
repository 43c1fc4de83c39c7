"""``ProjectBytes``: what a project's records hold plus what its uploads in progress have
received, against its limit; uploads in progress at once; the tally read again when idle."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from atoll.errors import OverLimit, TooManyRequests
from atoll.hub.identity.limits import BytesLimit, ProjectBytes, Upload

pytestmark = pytest.mark.unit
LIMIT = BytesLimit("image data", 1000, "image_bytes_limit", 2, "image_uploads_per_project")


class Records:
    """What the store says each project's records hold, and how often it was asked."""

    def __init__(self, **held: int) -> None:
        self.held = dict(held)
        self.reads = 0

    async def __call__(self, project_id: str) -> int:
        self.reads += 1
        return self.held.get(project_id, 0)


async def blocks(*sizes: int) -> AsyncIterator[bytes]:
    for n in sizes:
        yield bytes(n)


async def drain(upload: Upload, *sizes: int) -> list[int]:
    return [len(b) async for b in upload.count(blocks(*sizes))]


async def test_a_declared_size_past_the_room_is_refused_before_a_byte() -> None:
    quota = ProjectBytes(Records(a=600), LIMIT)
    with pytest.raises(OverLimit, match=r"image_bytes_limit.*declares 401 bytes.*400 left"):
        async with quota.upload("a", 401):
            raise AssertionError("admitted")
    async with quota.upload("a", 400) as upload:
        assert await drain(upload, 400) == [400]


async def test_a_stream_is_cut_at_the_block_that_passes_the_room() -> None:
    quota = ProjectBytes(Records(a=600), LIMIT)
    passed: list[int] = []
    with pytest.raises(OverLimit, match="has sent 450 bytes, more than the 400 left"):
        async with quota.upload("a", None) as upload:
            async for block in upload.count(blocks(300, 150, 10_000)):
                passed.append(len(block))
    assert passed == [300]  # the block over the room never reached the store
    assert upload.received == 300
    async with quota.upload("a", 400) as again:  # nothing of the refused upload is held
        assert await drain(again, 400) == [400]


async def test_uploads_of_one_project_share_its_room_and_others_have_their_own() -> None:
    quota = ProjectBytes(Records(), LIMIT)
    async with quota.upload("a", None) as first, quota.upload("a", None) as second:
        await drain(first, 700)
        with pytest.raises(OverLimit, match="its other uploads 700 so far"):
            await drain(second, 200, 101)
        assert second.received == 200
        async with quota.upload("b", 1000) as other:
            await drain(other, 1000)


async def test_kept_bytes_stay_counted_until_the_project_is_idle_then_are_read_again() -> None:
    records = Records()
    quota = ProjectBytes(records, LIMIT)
    async with quota.upload("a", None) as long:
        async with quota.upload("a", None) as short:
            await drain(short, 600)
            short.kept()
            records.held["a"] = 600  # the record the upload made
        with pytest.raises(OverLimit, match="holds 600 bytes"):
            await drain(long, 401)
        await drain(long, 400)
    assert records.reads == 1  # once, when the first upload began
    records.held["a"] = 0  # everything deleted
    async with quota.upload("a", 1000):
        pass
    assert records.reads == 2


async def test_kept_content_replacing_a_records_own_counts_the_difference() -> None:
    quota = ProjectBytes(Records(a=900), LIMIT)
    async with quota.upload("a", None) as upload, quota.upload("a", None) as other:
        await drain(upload, 50)
        upload.kept(replaces=800)  # a package's new content in place of its old
        await drain(other, 850)


async def test_one_upload_too_many_at_once_is_a_429_until_one_ends() -> None:
    quota = ProjectBytes(Records(), LIMIT)
    async with quota.upload("a", None), quota.upload("a", None):
        with pytest.raises(TooManyRequests, match="image_uploads_per_project") as refused:
            async with quota.upload("a", 1):
                raise AssertionError("admitted")
        assert refused.value.retry_after >= 1
        async with quota.upload("b", None):  # another project's own
            pass
    async with quota.upload("a", None):
        pass


async def test_system_scope_and_zero_limits_are_not_counted() -> None:
    records = Records(a=10**9)
    quota = ProjectBytes(records, LIMIT)
    async with (
        quota.upload(None, 10**9) as upload,
        quota.upload(None, None),
        quota.upload(None, None),
    ):
        await drain(upload, 10**6)
    unlimited = ProjectBytes(records, BytesLimit("image data", 0, "image_bytes_limit"))
    async with unlimited.upload("a", 10**9) as upload:
        await drain(upload, 10**6)
    assert records.reads == 0
    counted = ProjectBytes(records, BytesLimit("x", 0, "x", 1, "x_uploads"))  # uploads only
    async with counted.upload("a", 10**9):
        with pytest.raises(TooManyRequests):
            async with counted.upload("a", None):
                pass
    assert records.reads == 0
