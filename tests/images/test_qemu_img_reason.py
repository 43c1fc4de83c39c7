"""``qemu_img_reason``: qemu-img's complaint, passed on to a client without a host path."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from atoll.images.validate import qemu_img_reason

NAME = st.text(st.characters(blacklist_characters="/\n\r\0"), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s not in (".", "..")
)


def test_qemu_img_s_own_preamble_is_dropped() -> None:
    stderr = "qemu-img: Could not open '/srv/atoll/tmp/head-x1': Unsupported qcow2 version 4\n"
    assert qemu_img_reason(stderr, [Path("/srv/atoll/tmp/head-x1")]) == (
        "Unsupported qcow2 version 4"
    )
    assert qemu_img_reason("") == ""


@given(dirs=st.lists(NAME, min_size=1, max_size=4), name=NAME, reason=NAME)
def test_no_directory_of_a_given_path_is_passed_on(dirs: list[str], name: str, reason: str) -> None:
    path = Path("/", *dirs, name)
    stderr = f"qemu-img: {path}: {reason}\nqemu-img: Could not open '{path}': {reason}"
    said = qemu_img_reason(stderr, [path])
    assert str(path.parent) == "/" or str(path.parent) not in said
    assert "\n" not in said
