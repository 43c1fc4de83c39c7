"""Zip entries spelled ``./Files/x`` or ``Files//x`` are the package's ``Files/x``: the reader
admits them under that path and every read gets the bytes of that very entry; two entries
that are one path once spelled plainly are refused as ambiguous, naming both."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.nfv.artifacts import image_needs, vnfd_files
from atoll.nfv.csar import open_package, read_bounded, read_chunks
from atoll.nfv.errors import ProblemLog
from atoll.nfv.package import load_package
from tests.nfv.packages import IMAGE, PACKAGES, carrying


def package_files(name: str) -> dict[str, bytes]:
    root = PACKAGES / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def to_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_package_zipped_with_dot_slash_names_onboards_as_the_plain_one() -> None:
    files = carrying(b"QFI\xfb image bits")
    plain = load_package(to_zip(list(files.items())))
    spelled = [(f"./{name}", data) for name, data in files.items()]
    spelled += [("./", b""), ("./Files//notes.txt", b"read me")]  # a root dir entry, //
    data = to_zip(spelled)
    package = load_package(data)
    assert package.vnfd == plain.vnfd
    assert package.entry_definitions == "Definitions/sample_vnfd_top.yaml"
    assert set(package.files) == {*files, "Files/notes.txt"}
    (need,) = image_needs(package)
    assert (need.image.artifact, need.carried) == (IMAGE, True)
    assert (
        vnfd_files(data, package)["TOSCA-Metadata/TOSCA.meta"]
        == (files["TOSCA-Metadata/TOSCA.meta"])
    )


def test_every_read_gets_the_entry_the_package_path_was_admitted_from() -> None:
    data = to_zip([("./Files/a.txt", b"first"), ("Files//b.txt", b"second"), ("c.txt", b"3")])
    log = ProblemLog()
    files = open_package(data, log)
    assert files is not None and not log.errors
    try:
        assert files.names == {"Files/a.txt", "Files/b.txt", "c.txt"}
        assert files.size("Files/a.txt") == 5
        assert read_bounded(files, "Files/a.txt", 100) == b"first"
        assert b"".join(read_chunks(files, "Files/b.txt")) == b"second"
    finally:
        files.close()


@pytest.mark.parametrize("spelled", ["./Files/x.txt", "Files//x.txt", "Files/./x.txt"])
def test_two_entries_that_are_one_package_path_are_refused_naming_both(spelled: str) -> None:
    entries = list(package_files("getting-started").items())
    data = to_zip([*entries, ("Files/x.txt", b"checked"), (spelled, b"served?")])
    with pytest.raises(InvalidInput) as refused:
        load_package(data)
    assert [str(p) for p in refused.value.problems] == [
        f"(archive) {spelled!r}: entry and 'Files/x.txt' are both the package's Files/x.txt:"
        " which one is meant is ambiguous (name each file once)"
    ]


def test_the_same_name_twice_is_still_called_a_duplicate() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = to_zip([("a.yaml", b"x: 1"), ("a.yaml", b"x: 2")])
    log = ProblemLog()
    files = open_package(data, log)
    assert files is not None
    files.close()
    assert [str(p) for p in log.errors] == [
        "(archive) 'a.yaml': entry appears twice in the archive"
    ]


SEGMENT = st.text(alphabet="abcxyz019-_", min_size=1, max_size=6)
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map("/".join)
SPELLINGS = st.sampled_from(["{}", "./{}", "{}", ".//{}"])


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(PATHS, st.binary(max_size=64), min_size=1, max_size=8), st.data())
def test_each_package_path_reads_back_the_bytes_written_under_it(
    contents: dict[str, bytes], data: st.DataObject
) -> None:
    """However each entry is spelled, every package path reads exactly the bytes of the one
    entry that spells it."""
    spelled = [
        (data.draw(SPELLINGS).format(k.replace("/", "//", 1)), v) for k, v in contents.items()
    ]
    log = ProblemLog()
    files = open_package(to_zip(spelled), log)
    assert files is not None and not log.errors
    try:
        assert files.names == set(contents)
        for name, expected in contents.items():
            assert files.size(name) == len(expected)
            assert b"".join(read_chunks(files, name)) == expected
    finally:
        files.close()


@pytest.mark.parametrize("raw", ["/", "../", "./../"])
def test_only_the_package_root_itself_is_a_folder_entry_left_unnamed(raw: str) -> None:
    log = ProblemLog()
    files = open_package(to_zip([(raw, b""), ("./", b""), ("a.txt", b"a")]), log)
    assert files is not None
    files.close()
    assert [str(p) for p in log.errors] == [
        f"(archive) {raw!r}: entry path escapes the package root or is not a relative path"
    ]
