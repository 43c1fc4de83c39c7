"""``atoll.watched_file``: a file a setting names, read again when it changes, refusing (never
falling back to what it held) while it cannot be read."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from atoll.errors import ConfigError
from atoll.watched_file import FileUnusable, WatchedFile

SETTING = "[x] anchors"


class Parser:
    """Parses ``ok:<text>``; counts its reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, raw: bytes) -> str:
        self.reads += 1
        if not raw.startswith(b"ok:"):
            raise ValueError("holds no ok: line")
        return raw[3:].decode()


@pytest.fixture
def watched(tmp_path: Path) -> tuple[WatchedFile[str], Parser, Path]:
    path = tmp_path / "anchors.pem"
    path.write_bytes(b"ok:one")
    parse = Parser()
    return WatchedFile(SETTING, path, parse), parse, path


def test_an_unchanged_file_is_read_once(watched: tuple[WatchedFile[str], Parser, Path]) -> None:
    file, parse, _ = watched
    assert [file.current() for _ in range(5)] == ["one"] * 5
    assert parse.reads == 1


def test_a_file_replaced_by_a_rename_is_read_again(
    watched: tuple[WatchedFile[str], Parser, Path],
) -> None:
    file, _, path = watched
    assert file.current() == "one"
    new = path.with_name("new.pem")
    new.write_bytes(b"ok:two")
    new.replace(path)
    assert file.current() == "two"


def test_a_file_rewritten_in_place_with_its_old_size_and_mtime_is_read_again(
    watched: tuple[WatchedFile[str], Parser, Path],
) -> None:
    """``cp -p`` keeps the mtime and the size can be the same: the change time tells."""
    file, _, path = watched
    assert file.current() == "one"
    before = path.stat()
    path.write_bytes(b"ok:owt")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert file.current() == "owt"


def test_an_unreadable_file_refuses_every_time_then_recovers(
    watched: tuple[WatchedFile[str], Parser, Path], caplog: pytest.LogCaptureFixture
) -> None:
    file, _, path = watched
    assert file.current() == "one"
    caplog.set_level(logging.INFO, "atoll.watched_file")
    path.unlink()
    for _ in range(3):  # never what it held before
        with pytest.raises(FileUnusable) as caught:
            file.current()
        assert isinstance(caught.value, ConfigError)
        assert str(caught.value) == (
            f"{SETTING}: {path} cannot be read (No such file or directory)"
        )
        assert caught.value.reason == "cannot be read (No such file or directory)"
    path.write_bytes(b"not ok")
    with pytest.raises(FileUnusable, match="holds no ok: line"):
        file.current()
    path.write_bytes(b"ok:three")
    assert file.current() == "three"
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3, said  # once gone, once unparsable, once usable again
    assert said[0].startswith(f"{SETTING}: {path} cannot be read")
    assert said[2] == f"{SETTING}: {path} is usable again: read again"


def test_a_file_unreadable_from_the_start_refuses(tmp_path: Path) -> None:
    file = WatchedFile(SETTING, tmp_path / "absent.pem", Parser())
    with pytest.raises(FileUnusable, match=r"absent\.pem cannot be read"):
        file.current()
    assert file.shown == "absent.pem"
