"""Hypothesis-generated mutations of valid packages never crash the reader.

Whatever the mutation — bytes flipped in a YAML file or the archive, YAML trees with nodes
replaced, deleted or retyped, TOSCA.meta garbled — ``load_package`` returns a model or
raises ``InvalidInput``; any other exception is a bug.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.nfv.definitions import BundledTypes
from atoll.nfv.errors import ProblemLog
from atoll.nfv.manifest import parse_manifest, parse_tosca_meta
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import load_package
from atoll.nfv.signature import cms_der, split_signature
from tests.nfv.packages import PACKAGES, to_zip

BUNDLED = BundledTypes()  # read-only after first use; shared to keep examples fast
FUZZED = ["helloworld3-functional", "practical", "free5gc"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def files_of(name: str) -> dict[str, bytes]:
    """The package's files, minus the SOL001 copies it carries: those then resolve from the
    shared bundled library, which keeps each example fast (mutations skip them anyway)."""
    root = PACKAGES / name
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("etsi_nfv_sol001")
    }


ORIGINALS = {name: files_of(name) for name in FUZZED}


def survives(data: bytes) -> VnfPackage | None:
    try:
        return load_package(data, bundled=BUNDLED)
    except InvalidInput as exc:
        assert exc.problems, "a refusal must say why"
        assert all(p.what for p in exc.problems)
        # The reader's last-resort message means some path gave up without saying why.
        assert not any("could not be read into a deployment model" in p.what for p in exc.problems)
        return None


def yaml_names(name: str) -> list[str]:
    return [n for n in ORIGINALS[name] if n.endswith(".yaml")]


@st.composite
def byte_mutation(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(FUZZED))
    files = dict(ORIGINALS[name])
    target = draw(st.sampled_from([*yaml_names(name), "TOSCA-Metadata/TOSCA.meta"]))
    raw = bytearray(files[target])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        else:
            del raw[at:]
        if not raw:
            break
    files[target] = bytes(raw)
    return to_zip(files)


REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["512 MB", "0 GB", "1 TiB", "VDU1", "internalVL1", "tosca.nodes.Root"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


def mutate_at(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    else:
        parent[last] = value
    return data


@st.composite
def tree_mutation(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(FUZZED))
    files = dict(ORIGINALS[name])
    target = draw(st.sampled_from(yaml_names(name)))
    data = yaml.safe_load(files[target])
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths(data)))
        action = draw(st.sampled_from(["replace", "delete", "rename"]))
        data = mutate_at(data, path, action, draw(REPLACEMENTS))
    files[target] = yaml.safe_dump(data, allow_unicode=False).encode()
    return to_zip(files)


@st.composite
def archive_mutation(draw: st.DrawFn) -> bytes:
    raw = bytearray(to_zip(ORIGINALS[draw(st.sampled_from(FUZZED))]))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(raw) - 1))
        raw[at] = draw(st.integers(0, 255))
    return bytes(raw)


@FAST
@given(byte_mutation())
def test_byte_mutations_never_crash(data: bytes) -> None:
    survives(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree_mutation())
def test_yaml_tree_mutations_never_crash(data: bytes) -> None:
    package = survives(data)
    if package is not None:
        package.to_dict()


@FAST
@given(archive_mutation())
def test_archive_mutations_never_crash(data: bytes) -> None:
    survives(data)


@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    assert survives(data) is None


@FAST
@given(st.text(max_size=600))
def test_metadata_text_never_crashes(text: str) -> None:
    parse_tosca_meta(text, ProblemLog())
    parse_manifest("vnf.mf", text, ProblemLog())
    split_signature("vnf.mf", text.encode(), ProblemLog())


@FAST
@given(st.text(max_size=300), st.binary(max_size=300), st.sampled_from(["CMS", "PKCS7", "X"]))
def test_signature_blocks_never_crash(head: str, body: bytes, label: str) -> None:
    raw = head.encode() + f"\n-----BEGIN {label}-----\n".encode() + body
    split_signature("vnf.mf", raw, ProblemLog())
    split_signature("vnf.mf", raw + f"\n-----END {label}-----\n".encode(), ProblemLog())


@FAST
@given(st.binary(max_size=300), st.sampled_from(["", "CMS", "PKCS7", "X"]))
def test_signature_files_never_crash(body: bytes, label: str) -> None:
    """A detached signature's file (option 2's ``NAME.cms``, an artifact's): its DER, or a
    reason naming the file."""
    raw = (f"-----BEGIN {label}-----\n".encode() if label else b"") + body
    for data in (raw, raw + f"\n-----END {label}-----\n".encode()):
        log = ProblemLog()
        der = cms_der("vnf.cms", data, log)
        assert (der is None) == bool(log.errors)
        assert all(p.where.startswith("vnf.cms") for p in log.errors)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["vnf.csar", "vnf.cms", "vnf.cert", "x.cms", "a/vnf.csar", "r.txt"]),
        st.binary(max_size=64),
        min_size=1,
    )
)
def test_zips_of_csar_cms_and_cert_files_never_crash(entries: dict[str, bytes]) -> None:
    """Whatever a zip of such names holds, it is refused saying why, never a crash: the
    CSAR read is not a CSAR here, or the signature no CMS."""
    with tempfile.TemporaryDirectory() as scratch:
        try:
            load_package(to_zip(entries), bundled=BUNDLED, unpack_to=Path(scratch) / "in.csar")
        except InvalidInput as exc:
            assert exc.problems and all(p.what for p in exc.problems)
