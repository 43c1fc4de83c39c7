"""Image needs and the VNFD files, as the hub's onboarding will ask for them."""

from __future__ import annotations

import io
import zipfile

from atoll.nfv.artifacts import image_needs, vnfd_archive, vnfd_files
from atoll.nfv.package import load_package
from tests.nfv.packages import PACKAGES, carrying, to_zip, zip_dir


def test_image_needs_name_each_node_and_whether_the_package_carries_it() -> None:
    pkg = load_package(PACKAGES / "helloworld3-functional")
    needs = [(n.flavour, n.node, n.image.name, n.carried) for n in image_needs(pkg)]
    assert needs == [
        ("simple", "VDU2", "cirros-0.5.2-x86_64-disk", False),
        ("simple", "VirtualStorage", "cirros-0.5.2-x86_64-disk", False),
    ]


def test_an_image_carried_by_the_package_is_marked_carried() -> None:
    data = to_zip(carrying(b"QFI\xfb image bits"))
    pkg = load_package(data)
    (need,) = image_needs(pkg)
    assert (need.node, need.carried, need.image.artifact) == (
        "VDU1",
        True,
        "Files/images/cirros-0.5.2-x86_64-disk.img",
    )
    assert not any("image artifact" in w.what for w in pkg.warnings)


def test_vnfd_files_are_the_packages_own_definitions() -> None:
    data = zip_dir(PACKAGES / "getting-started")
    pkg = load_package(data)
    files = vnfd_files(data, pkg)
    assert sorted(files) == [
        "Definitions/sample_vnfd_df_simple.yaml",
        "Definitions/sample_vnfd_top.yaml",
        "Definitions/sample_vnfd_types.yaml",
        "TOSCA-Metadata/TOSCA.meta",
    ]
    assert (
        files["Definitions/sample_vnfd_top.yaml"]
        == (PACKAGES / "getting-started/Definitions/sample_vnfd_top.yaml").read_bytes()
    )
    with zipfile.ZipFile(io.BytesIO(vnfd_archive(data, pkg))) as archive:
        assert sorted(archive.namelist()) == sorted(files)
    # The archive of the VNFD alone is itself a valid package with the same model.
    assert load_package(vnfd_archive(data, pkg)).vnfd == pkg.vnfd
