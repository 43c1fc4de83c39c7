"""Broken packages are refused with the exact reason, every problem at once, never a crash."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path
from typing import IO

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.csar import CsarLimits, UnreadableEntry, read_bounded, read_chunks
from atoll.nfv.package import PackageLimits, load_package
from atoll.nfv.yaml_loader import YamlLimits
from tests.nfv.packages import copy_package, zip_dir

DF = "Definitions/helloworld3_df_simple.yaml"


def problems(source: Path | bytes, limits: PackageLimits | None = None) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        load_package(source, limits)
    assert refused.value.summary == "the VNF package is invalid"
    return [str(p) for p in refused.value.problems]


def edit(root: Path, name: str, old: str, new: str) -> int:
    """Replace ``old`` (once) in a package file; return the 1-based line it was on."""
    path = root / name
    text = path.read_text()
    assert text.count(old) >= 1, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


def test_min_greater_than_max(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    line = edit(
        root,
        DF,
        "min_number_of_instances: 1\n          max_number_of_instances: 3",
        "min_number_of_instances: 3\n          max_number_of_instances: 2",
    )
    assert problems(root) == [
        f"{DF}:{line - 1}: topology_template.node_templates.VDU1.properties.vdu_profile: "
        "min_number_of_instances (3) > max_number_of_instances (2)"
    ]


def test_dangling_requirement(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    line = edit(root, DF, "- virtual_link: internalVL1", "- virtual_link: internalVL9")
    assert problems(root) == [
        f"{DF}:{line}: topology_template.node_templates.CP1.requirements[1].virtual_link: "
        "requirement virtual_link names 'internalVL9', which is not a node template of this "
        "flavour"
    ]


def test_requirement_to_the_wrong_kind_of_node(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    edit(root, DF, "- virtual_binding: VDU1", "- virtual_binding: internalVL1")
    (problem,) = problems(root)
    assert problem.endswith(
        "requirement virtual_binding names 'internalVL1', a tosca.nodes.nfv.VnfVirtualLink, "
        "where vdu is expected"
    )


def test_unknown_node_type(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    line = edit(root, DF, "type: tosca.nodes.nfv.Vdu.Compute", "type: tosca.nodes.nfv.Vdu.Computer")
    assert problems(root) == [
        f"{DF}:{line}: topology_template.node_templates.VDU1.type: node type "
        "'tosca.nodes.nfv.Vdu.Computer' is not defined in the package or the SOL001 type library"
    ]


def test_missing_entry_definitions(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    (root / "Definitions/helloworld3_top.vnfd.yaml").unlink()
    assert problems(root) == [
        "TOSCA-Metadata/TOSCA.meta: Entry-Definitions names "
        "Definitions/helloworld3_top.vnfd.yaml, which is not in the package"
    ]


def test_missing_import(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    (root / "Definitions/helloworld3_types.yaml").unlink()
    found = problems(root)
    assert (
        "Definitions/helloworld3_top.vnfd.yaml:8: imports[2]: imports 'helloworld3_types.yaml', "
        "which is neither in the package nor in the bundled SOL001 type library"
    ) in found
    assert any("company.provider.VNF" in p and "not defined" in p for p in found)


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    root = copy_package("helloworld3-functional", tmp_path)
    edit(
        root,
        DF,
        "min_number_of_instances: 2\n          max_number_of_instances: 2",
        "min_number_of_instances: 3\n          max_number_of_instances: 2",
    )
    edit(root, DF, "- virtual_link: internalVL3", "- virtual_link: nowhere")
    edit(root, DF, "type: tosca.nodes.nfv.VnfVirtualLink", "type: vendor.Link")
    edit(root, DF, "num_virtual_cpu: 1", "num_virtual_cpu: lots")
    edit(root, DF, "virtual_mem_size: 512 MB", "virtual_mem_size: 512 parsecs")
    found = problems(root)
    assert len(found) >= 5
    assert any("min_number_of_instances (3) > max_number_of_instances (2)" in p for p in found)
    assert any("names 'nowhere'" in p for p in found)
    assert any("'vendor.Link' is not defined" in p for p in found)
    assert any(
        p.endswith("num_virtual_cpu: must be an integer, not a string 'lots'") for p in found
    )
    assert any("'512 parsecs' is not a size" in p for p in found)


def test_policy_inconsistencies(tmp_path: Path) -> None:
    root = copy_package("helloworld3-functional", tmp_path)
    edit(root, DF, "aspect: worker_instance", "aspect: no_such_aspect")
    edit(root, DF, " scale_level: 2", " scale_level: 7")
    edit(root, DF, "targets: [ VDU2 ]", "targets: [ VDU7 ]")
    found = problems(root)
    assert any(
        "aspect 'no_such_aspect' is not declared by a ScalingAspects policy" in p for p in found
    )
    assert any("scale_level 7 > max_scale_level 2 of aspect worker_instance" in p for p in found)
    assert any("target 'VDU7' is not a VDU of this flavour" in p for p in found)


def manifest_for(root: Path, names: list[str]) -> str:
    blocks = ["metadata:\nvnf_provider_id: Company\nvnf_product_name: Sample VNF\n"]
    for name in names:
        digest = hashlib.sha256((root / name).read_bytes()).hexdigest()
        blocks.append(f"Source: {name}\nAlgorithm: SHA-256\nHash: {digest}\n")
    return "\n".join(blocks)


def test_manifest_hashes_checked_and_a_broken_one_refused(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    names = sorted(p.relative_to(root).as_posix() for p in (root / "Definitions").iterdir())
    (root / "sample.mf").write_text(manifest_for(root, names))
    meta = root / "TOSCA-Metadata/TOSCA.meta"
    meta.write_text(meta.read_text() + "ETSI-Entry-Manifest: sample.mf\n")
    good = load_package(root)
    assert good.verified_files == tuple(names)
    assert good.manifest is not None and good.manifest.metadata["vnf_provider_id"] == "Company"
    target = root / names[0]
    target.write_text(target.read_text() + "# tampered\n")
    actual = hashlib.sha256(target.read_bytes()).hexdigest()
    (problem,) = problems(root)
    assert problem.startswith(f"sample.mf:5: {names[0]}: SHA-256 mismatch: listed ")
    assert problem.endswith(f", file has {actual}")


def test_manifest_named_but_absent(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    meta = root / "TOSCA-Metadata/TOSCA.meta"
    meta.write_text(meta.read_text() + "ETSI-Entry-Manifest: vnf.mf\n")
    assert problems(root) == [
        "TOSCA-Metadata/TOSCA.meta: ETSI-Entry-Manifest names vnf.mf, which is not in the package"
    ]


def test_tosca_meta_hash_checked_when_the_file_is_present(tmp_path: Path) -> None:
    root = copy_package("free5gc", tmp_path)
    (root / "Scripts").mkdir()
    (root / "Scripts/modify_config.sh").write_text("#!/bin/sh\necho tampered\n")
    (root / "Scripts/free5gc_mgmt.py").write_text("print('driver')\n")
    found = problems(root)
    assert found[0].startswith(
        "TOSCA-Metadata/TOSCA.meta:6: Scripts/modify_config.sh: SHA-256 mismatch: listed "
        "5ef6108fe0134d45748e0b057f138cd5249ac16e7b5072736ee2179c01c33380, file has "
    )
    assert found[1] == (
        "TOSCA-Metadata/TOSCA.meta:11: Scripts/free5gc_mgmt.py: hash '<caculate here>' is not a "
        "SHA-256 hex digest"
    )


def zip_with(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_with_path_traversal_entries(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    data = zip_dir(root, {"../evil.sh": b"rm -rf /", "/etc/cron.d/x": b"*"})
    found = problems(data)
    assert found == [
        "(archive) '../evil.sh': entry path escapes the package root or is not a relative path",
        "(archive) '/etc/cron.d/x': entry path escapes the package root or is not a relative path",
    ]


def test_zip_with_symlink_entry(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("Definitions/link.yaml")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = io.BytesIO(zip_dir(copy_package("getting-started", tmp_path)))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    assert problems(buffer.getvalue()) == [
        "(archive) 'Definitions/link.yaml': entry is a symbolic link; packages must hold "
        "regular files"
    ]


def test_zip_bomb_entry_refused_without_inflating_it(tmp_path: Path) -> None:
    data = zip_dir(
        copy_package("getting-started", tmp_path), {"Files/zeros.bin": b"\0" * (64 * 1024 * 1024)}
    )
    assert len(data) < 1024 * 1024
    assert problems(data) == [
        "(archive) 'Files/zeros.bin': entry compresses more than any real file does (a zip bomb?)"
    ]


def test_not_a_zip_at_all() -> None:
    (problem,) = problems(b"PK\x03\x04 this is not really a zip")
    assert problem.startswith("(archive): is neither a package directory nor a readable zip")


def test_no_problem_names_a_path_on_this_host(tmp_path: Path) -> None:
    """The hub hands the problems to the tenant who uploaded: where it keeps the upload is
    its own business."""
    stored = tmp_path / "hub" / "vnf_packages" / "0123.zip"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"not a zip")
    crowded = copy_package("getting-started", tmp_path)
    one_file = PackageLimits(csar=CsarLimits(max_entries=1))
    found = [*problems(stored), *problems(tmp_path / "gone.zip"), *problems(crowded, one_file)]
    assert found[:3] == [
        "(archive): is neither a package directory nor a readable zip archive (File is not a"
        " zip file)",
        "(package): does not exist",
        "(package): holds over 1 files",
    ]
    assert not [p for p in found if str(tmp_path) in p]


class Denied:
    """A package whose one file the operating system will not let us read."""

    names = frozenset({"Files/x.txt"})

    def size(self, name: str) -> int:
        return 1

    def open(self, name: str) -> IO[bytes]:
        raise PermissionError(13, "Permission denied", "/srv/atoll/hub/vnf_packages/0123.zip")

    def close(self) -> None:
        pass


def test_a_file_the_host_will_not_read_is_reported_without_the_host_path() -> None:
    with pytest.raises(UnreadableEntry) as bounded:
        read_bounded(Denied(), "Files/x.txt", 10)
    with pytest.raises(UnreadableEntry) as streamed:
        b"".join(read_chunks(Denied(), "Files/x.txt"))
    for caught in (bounded, streamed):
        assert str(caught.value) == "cannot be read: Permission denied"


YAML_BOMB = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]"
        for i in range(8)
    ]
)


def test_yaml_bomb(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    types = root / "Definitions/sample_vnfd_types.yaml"
    types.write_text(types.read_text() + "\nmetadata:\n  " + YAML_BOMB.replace("\n", "\n  "))
    found = problems(root)
    assert "Definitions/sample_vnfd_types.yaml: uses more than 1000 YAML aliases" in found


def test_yaml_bomb_with_few_aliases_caught_by_expansion(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    types = root / "Definitions/sample_vnfd_types.yaml"
    types.write_text(types.read_text() + "\nmetadata:\n  " + YAML_BOMB.replace("\n", "\n  "))
    limits = PackageLimits(yaml=YamlLimits(max_aliases=10**6))
    assert (
        "Definitions/sample_vnfd_types.yaml: expands to more than 500000 YAML nodes "
        "(an alias bomb?)"
    ) in problems(root, limits)


def test_recursive_alias(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    types = root / "Definitions/sample_vnfd_types.yaml"
    types.write_text(types.read_text() + "\nmetadata: &loop\n  again: *loop\n")
    assert (
        "Definitions/sample_vnfd_types.yaml: nests deeper than 200 levels (or an alias refers "
        "to itself)"
    ) in problems(root)


def test_non_utf8_file(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    types = root / "Definitions/sample_vnfd_types.yaml"
    raw = types.read_bytes().replace(b"VNF type definition", b"VNF type d\xe9finition")
    types.write_bytes(raw)
    offset = raw.index(b"\xe9")
    found = problems(root)
    assert found[0] == (
        f"Definitions/sample_vnfd_types.yaml: is not valid UTF-8 (byte 0xe9 at offset {offset})"
    )


def test_absurd_yaml_size(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    types = root / "Definitions/sample_vnfd_types.yaml"
    types.write_text(types.read_text() + "#" * (9 * 1024 * 1024) + "\n")
    size = types.stat().st_size
    assert problems(root)[0] == (
        f"Definitions/sample_vnfd_types.yaml: is {size} bytes, over the 8388608-byte limit"
    )


def test_absurd_sizes_in_the_vnfd(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    name = "Definitions/sample_vnfd_df_simple.yaml"
    line = edit(root, name, "virtual_mem_size: 512 MB", "virtual_mem_size: 99999999999 TiB")
    edit(root, name, "max_number_of_instances: 1", "max_number_of_instances: 99999999999999999999")
    found = problems(root)
    assert (
        f"{name}:{line}: topology_template.node_templates.VDU1.capabilities.virtual_compute."
        "properties.virtual_memory.virtual_mem_size: '99999999999 TiB' is an absurd size"
    ) in found
    assert any(
        p.endswith("max_number_of_instances: 99999999999999999999 is absurdly large") for p in found
    )


def test_directory_symlink_refused(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    (root / "Files").mkdir()
    (root / "Files/passwd").symlink_to("/etc/passwd")
    assert problems(root) == ["Files/passwd: is a symbolic link; packages must hold regular files"]


def test_no_tosca_meta_and_no_single_root_yaml(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    (root / "TOSCA-Metadata/TOSCA.meta").unlink()
    assert problems(root) == [
        "(package): has no TOSCA-Metadata/TOSCA.meta and 0 YAML files at its root (exactly one "
        "is the entry definitions when there is no TOSCA.meta)"
    ]


def test_tosca_meta_without_entry_definitions(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    (root / "TOSCA-Metadata/TOSCA.meta").write_text("TOSCA-Meta-File-Version: 1.0\n")
    assert problems(root) == [
        "TOSCA-Metadata/TOSCA.meta: has no Entry-Definitions: the package names no VNFD"
    ]


def test_duplicate_node_template_names(tmp_path: Path) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    df = root / DF
    text = df.read_text()
    vl = text[text.index("    internalVL1:\n") : text.index("  policies:")]
    df.write_text(text.replace("  policies:", vl + "  policies:", 1))
    line = df.read_text().count("\n", 0, df.read_text().index("  policies:")) - vl.count("\n") + 1
    assert problems(root) == [
        f"{DF}:{line}: topology_template.node_templates.internalVL1: key appears twice in a map"
    ]


def test_unsupported_hash_algorithm(tmp_path: Path) -> None:
    root = copy_package("getting-started", tmp_path)
    (root / "vnf.mf").write_text(
        "metadata:\nvnf_provider_id: Company\n\n"
        "Source: Definitions/sample_vnfd_top.yaml\nAlgorithm: MD5\nHash: 00\n\n"
        "Source: Definitions/sample_vnfd_types.yaml\nAlgorithm: SHA-256\n"
    )
    assert problems(root) == [
        "vnf.mf:4: Definitions/sample_vnfd_top.yaml: hash algorithm 'MD5' is not SHA-256, "
        "SHA-384 or SHA-512",
        "vnf.mf:8: Definitions/sample_vnfd_types.yaml: has an Algorithm but no Hash",
    ]
