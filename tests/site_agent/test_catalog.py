"""``StorageCatalog.upload``: an upload the caller cut short is the caller's doing, and leaves
nothing; a staged file that cannot be written says why."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atoll.errors import Problem
from atoll.images.errors import TruncatedUpload
from atoll.site_agent.catalog import StorageCatalog
from atoll.site_agent.drivers.storage.errors import StoragePermanent
from atoll.site_agent.drivers.storage.fake import FakeStorage

DATA = b"\0" * 4096
SHA = hashlib.sha256(DATA).hexdigest()


async def cut_after(first: bytes, error: BaseException) -> AsyncIterator[bytes]:
    yield first
    raise error


@pytest.mark.parametrize(
    "error",
    [
        TruncatedUpload("the upload was cut", [Problem("body", "the connection ended")]),
        ConnectionResetError("Connection lost"),  # no errno, no strerror: it once said "None"
    ],
)
async def test_an_upload_cut_short_is_the_caller_s_and_leaves_nothing(
    tmp_path: Path, error: BaseException
) -> None:
    catalog = StorageCatalog(FakeStorage(root=tmp_path / "storage"))
    catalog.storage.incoming_dir.mkdir(parents=True)
    with pytest.raises(type(error)) as caught:
        await catalog.upload("img", cut_after(DATA[:100], error), SHA)
    assert caught.value is error  # not the storage's failure: no 500 for the client's hang-up
    assert not list(catalog.storage.incoming_dir.iterdir())
    assert await catalog.list_images() == []


async def test_a_staged_file_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    catalog = StorageCatalog(FakeStorage(root=tmp_path / "storage"))  # no incoming dir made
    with pytest.raises(StoragePermanent) as caught:
        await catalog.upload("img", cut_after(DATA, AssertionError("not read")), SHA)
    assert caught.value.message == "image img cannot be stored: No such file or directory"
