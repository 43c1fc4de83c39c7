"""``host_paths.cut``: what a tool said, passed on without a host path."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from atoll.host_paths import cut

ROOT = "/var/lib/atoll site/agent"  # a space in it: tools print paths unquoted


def test_quoted_paths_are_cut_to_their_names_spaces_and_all() -> None:
    said = f"qemu: could not load kernel '{ROOT}/storage/images/k.raw': No such file"
    assert cut(said) == "qemu: could not load kernel 'k.raw': No such file"
    json_ish = f'-blockdev {{"driver":"file","filename":"{ROOT}/disks/s1.qcow2"}}: denied'
    assert cut(json_ish) == '-blockdev {"driver":"file","filename":"s1.qcow2"}: denied'


def test_bare_paths_are_cut_and_known_ones_even_with_a_space() -> None:
    iso = Path(ROOT) / "instances" / "s1" / ".cidata-x" / "drive.iso"
    said = f"genisoimage: Unable to open {iso}: Permission denied; see /tmp/x,y=1"
    assert cut(said, [iso]) == "genisoimage: Unable to open drive.iso: Permission denied; see x,y=1"


def test_urls_uris_and_cidrs_are_not_paths() -> None:
    said = "libvirt at qemu:///system via https://hub:8470/v1/sites, subnet 10.0.0.0/24"
    assert cut(said) == said
    assert cut("socket unix:/run/openvswitch/db.sock") == "socket unix:db.sock"


NAME = st.text(st.characters(blacklist_characters="/\n\r\0'\""), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s not in (".", "..")
)


@given(dirs=st.lists(NAME, min_size=1, max_size=4), name=NAME, quote=st.sampled_from("'\""))
def test_no_directory_of_a_path_is_left(dirs: list[str], name: str, quote: str) -> None:
    path = Path("/", *dirs, name)
    for said, files in ((f"at {quote}{path}{quote}: gone", []), (f"at {path}: gone", [path])):
        left = cut(said, files)
        assert str(path.parent) not in left and name in left


def test_the_tail_of_a_path_a_tool_cut_short_is_cut_too() -> None:
    """libvirt keeps the end of a long QEMU message: a path there starts with ``...``."""
    kept = Path("/tmp/pytest-of-root/pytest-386/popen-gw2/t0/agent data/instances/q1/k.raw")
    said = "qemu: could not load .../pytest-386/popen-gw2/t0/agent data/instances/q1/k.raw': gone"
    assert cut(said, [kept]) == "qemu: could not load k.raw': gone"
    assert cut("could not open .../lib/atoll/disks/d1.qcow2 now") == "could not open d1.qcow2 now"
