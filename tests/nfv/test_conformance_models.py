"""Every conformance package validates, and its model says exactly what the VNFD says."""

from __future__ import annotations

import json

import pytest

from atoll.nfv.model import Bitrate, Flavour, VnfPackage
from atoll.nfv.package import load_package
from tests.nfv.packages import NAMES, PACKAGES, zip_dir

MB = 1000**2
GB = 1000**3
CIRROS_512 = (
    "6b813aa46bb90b4da216a4d19376593fa3f4fc7e617f03a92b7fe11e9a3981cb"
    "e8f0959dbebe36225e5f53dc4492341a4863cac4ed1ee0909f3fc78ef9c3e869"
)
CIRROS_256 = "932fcae93574e242dc3d772d5235061747dfe537668443a1f0567d893614b464"


def load(name: str) -> VnfPackage:
    return load_package(PACKAGES / name)


def test_every_conformance_package_is_present() -> None:
    assert set(NAMES) >= {
        "getting-started",
        "helloworld3-vnflcm1",
        "helloworld3-functional",
        "helloworld3-compliance",
        "free5gc",
        "free5gc-anti-affinity-zone",
        "practical",
    }


@pytest.mark.parametrize("name", NAMES)
def test_directory_and_zip_give_the_same_model(name: str) -> None:
    from_dir = load(name)
    from_zip = load_package(zip_dir(PACKAGES / name))
    assert from_zip.vnfd == from_dir.vnfd
    assert json.loads(json.dumps(from_dir.to_dict()))["vnfd"]["descriptor_id"]


def counts(flavour: Flavour) -> tuple[int, int, int, int, int, int, int, int]:
    return (
        len(flavour.vdus),
        len(flavour.storages),
        len(flavour.cps),
        len(flavour.ext_cps),
        len(flavour.virtual_links),
        len(flavour.aspects),
        len(flavour.instantiation_levels),
        len(flavour.policies),
    )


def test_getting_started_resolves_sol001_from_the_bundled_library() -> None:
    pkg = load("getting-started")
    assert [(d.path, d.source, d.template_version) for d in pkg.definitions] == [
        ("Definitions/sample_vnfd_top.yaml", "package", None),
        ("(sol001)/etsi_nfv_sol001_common_types.yaml", "sol001", "2.7.1"),
        ("(sol001)/etsi_nfv_sol001_vnfd_types.yaml", "sol001", "2.7.1"),
        ("Definitions/sample_vnfd_types.yaml", "package", None),
        ("Definitions/sample_vnfd_df_simple.yaml", "package", None),
    ]
    vnfd = pkg.vnfd
    assert (vnfd.descriptor_id, vnfd.provider, vnfd.product_name) == (
        "b1bb0ce7-ebca-4fa7-95ed-4840d70a1177",
        "Company",
        "Sample VNF",
    )
    assert (vnfd.software_version, vnfd.descriptor_version, vnfd.vnfm_info) == (
        "1.0",
        "1.0",
        ("Tacker",),
    )
    assert vnfd.vnf_type == "company.provider.VNF"
    (flavour,) = vnfd.flavours
    assert (flavour.id, flavour.description) == ("simple", "A simple flavour")
    assert counts(flavour) == (1, 0, 1, 0, 1, 0, 0, 0)
    vdu = flavour.vdu("VDU1")
    assert (vdu.min_instances, vdu.max_instances, vdu.vcpus, vdu.memory_bytes) == (
        1,
        1,
        1,
        512 * MB,
    )
    assert (vdu.root_disk_bytes, vdu.ephemeral_disks_bytes, vdu.initial_delta) == (GB, (), None)
    image = vdu.sw_image
    assert image is not None
    assert (image.name, image.version, image.container_format, image.disk_format) == (
        "Software of VDU1",
        "0.5.2",
        "bare",
        "qcow2",
    )
    assert (image.checksum.algorithm, image.checksum.hash) == ("sha-512", CIRROS_512)
    assert (image.min_disk_bytes, image.size_bytes, image.min_ram_bytes) == (GB, GB, None)
    assert image.artifact == "Files/images/cirros-0.5.2-x86_64-disk.img"
    assert image.artifact_present is False
    (cp,) = flavour.cps
    assert (cp.id, cp.vdu, cp.virtual_link, cp.layer_protocols) == (
        "CP1",
        "VDU1",
        "internalVL1",
        ("ipv4",),
    )
    (link,) = flavour.virtual_links
    assert link.max_bitrate == link.min_bitrate == Bitrate(1048576, 1048576)
    (proto,) = link.protocols
    assert (proto.ip_version, proto.cidr) == ("ipv4", "10.0.0.0/24")
    assert [e.name for e in flavour.external_links] == ["virtual_link_external"]
    assert flavour.external_links[0].node is None
    ops = {op.name for op in flavour.lcm_operations}
    assert {"instantiate", "terminate", "modify_information_end"} <= ops
    assert any("image artifact" in w.what for w in pkg.warnings)


def test_helloworld3_vnflcm1() -> None:
    pkg = load("helloworld3-vnflcm1")
    assert pkg.vnfd.descriptor_id == "b1bb0ce7-ebca-4fa7-95ed-4840d7000000"
    (flavour,) = pkg.vnfd.flavours
    # One VDU (the shared README says two; the VNFD has VDU1 and one virtual storage).
    assert counts(flavour) == (1, 1, 1, 0, 1, 1, 2, 7)
    vdu = flavour.vdu("VDU1")
    assert (vdu.min_instances, vdu.max_instances, vdu.initial_delta) == (1, 3, 1)
    assert (vdu.vcpus, vdu.memory_bytes, vdu.root_disk_bytes) == (1, 512 * MB, 3 * GB)
    assert vdu.sw_image is None
    assert vdu.virtual_storages == ("VirtualStorage",)
    storage = flavour.storage("VirtualStorage")
    assert (storage.kind, storage.size_bytes, storage.rdma_enabled) == ("block", 3 * GB, True)
    assert storage.sw_image is not None
    assert (storage.sw_image.min_disk_bytes, storage.sw_image.min_ram_bytes) == (2 * GB, 256 * MB)
    assert flavour.cps[0].order == 2
    aspect = flavour.aspect("worker_instance")
    assert (aspect.name, aspect.max_scale_level, aspect.step_deltas) == (
        "worker_instance_aspect",
        2,
        ("delta_1",),
    )
    assert dict(aspect.vdu_deltas["VDU1"]) == {"delta_1": 1}
    assert flavour.default_level == "instantiation_level_1"
    level2 = flavour.level("instantiation_level_2")
    assert dict(level2.scale_info) == {"worker_instance": 2}
    # Two VduInstantiationLevels policies target VDU1; the first wins (as in Tacker).
    assert dict(level2.vdu_instances) == {"VDU1": 3}
    assert level2.vl_bitrates["internalVL1"] == Bitrate(1048576, 1048576)
    assert any("VDU1 already has instantiation levels" in w.what for w in pkg.warnings)


def test_helloworld3_functional() -> None:
    (flavour,) = load("helloworld3-functional").vnfd.flavours
    assert counts(flavour) == (2, 1, 10, 0, 3, 1, 2, 12)
    vdu1, vdu2 = flavour.vdu("VDU1"), flavour.vdu("VDU2")
    assert (vdu1.min_instances, vdu1.max_instances, vdu1.compute_flavour) == (1, 3, "m1.tiny")
    assert (vdu2.min_instances, vdu2.max_instances, vdu2.initial_delta) == (2, 2, 2)
    assert vdu2.sw_image is not None
    assert vdu2.sw_image.checksum.hash == CIRROS_256
    assert vdu2.sw_image.size_bytes == 12 * GB
    assert vdu2.sw_image.artifact is None
    cps = {cp.id: cp for cp in flavour.cps}
    assert [cps[f"VDU1_CP{i}"].order for i in range(1, 6)] == [0, 1, 2, 3, 4]
    assert cps["VDU1_CP1"].external_link == "virtual_link_external1_1"
    assert cps["VDU2_CP2"].external_link == "virtual_link_external2_2"
    assert cps["VDU2_CP4"].virtual_link == "internalVL2"
    assert cps["VDU2_CP4"].external_link is None
    cidrs = [link.protocols[0].cidr for link in flavour.virtual_links]
    assert cidrs == ["33.33.0.0/24", "33.34.0.0/24", "33.35.0.0/24"]
    rules = [(r.name, r.kind, r.scope, r.vdus) for r in flavour.placement_rules]
    assert rules == [
        ("policy_antiaffinity_vdu1", "anti-affinity", "zone", ("VDU1",)),
        ("policy_antiaffinity_vdu2", "anti-affinity", "zone", ("VDU2",)),
    ]
    assert dict(flavour.level("instantiation_level_2").vdu_instances) == {"VDU1": 3, "VDU2": 2}
    kinds = sorted({p.type.rsplit(".", 1)[-1] for p in flavour.policies})
    assert kinds == [
        "AntiAffinityRule",
        "InstantiationLevels",
        "ScalingAspects",
        "VduInitialDelta",
        "VduInstantiationLevels",
        "VduScalingAspectDeltas",
        "VirtualLinkInstantiationLevels",
    ]


def test_helloworld3_compliance() -> None:
    pkg = load("helloworld3-compliance")
    vnfd = pkg.vnfd
    assert (vnfd.descriptor_id, vnfd.provider, vnfd.product_name, vnfd.descriptor_version) == (
        "72700000-0000-0000-0000-202101290004",
        "SAMPLE",
        "VNF",
        "VNF_1.0",
    )
    (flavour,) = vnfd.flavours
    assert (flavour.id, flavour.description) == ("default", "n-vnf")
    assert counts(flavour) == (1, 0, 2, 0, 1, 1, 3, 5)
    vdu = flavour.vdu("VDU1")
    assert (vdu.name, vdu.min_instances, vdu.max_instances) == ("vdu1", 1, 50)
    assert (vdu.vcpus, vdu.memory_bytes, vdu.root_disk_bytes) == (2, 8192 * MB, 200 * GB)
    assert flavour.aspect("VDU1").max_scale_level == 49
    assert [lv.id for lv in flavour.instantiation_levels] == ["n-vnf-min", "n-vnf-ten", "n-vnf-max"]
    assert dict(flavour.level("n-vnf-ten").vdu_instances) == {"VDU1": 10}
    (link,) = flavour.virtual_links
    proto = link.protocols[0]
    assert (proto.network_type, proto.cidr, proto.dhcp_enabled) == ("vlan", "192.168.0.0/24", True)
    assert (link.max_bitrate.root, link.min_bitrate.root) == (2000000, 1000000)
    assert {op.name for op in flavour.lcm_operations} >= {"scale", "heal", "scale_end"}


def test_free5gc() -> None:
    pkg = load("free5gc")
    assert pkg.vnfd.descriptor_id == "7e6c3519-13a8-c56c-fa5d-044e348ee78d"
    (flavour,) = pkg.vnfd.flavours
    assert counts(flavour) == (1, 0, 2, 0, 0, 1, 2, 5)
    vdu = flavour.vdu("free5gc")
    assert (vdu.vcpus, vdu.memory_bytes, vdu.root_disk_bytes) == (8, 16 * GB, 160 * GB)
    assert (vdu.min_instances, vdu.max_instances, vdu.compute_flavour) == (1, 2, "m1.xlarge")
    # The VNFD maps its external links to CPs it does not declare: unmapped, with a warning.
    assert [(e.name, e.node) for e in flavour.external_links] == [
        ("virtual_link_external1_1", None),
        ("virtual_link_external1_2", None),
        ("virtual_link_external1_3", None),
    ]
    assert sum("which is not a node template" in w.what for w in pkg.warnings) == 3
    ops = {op.name: op for op in flavour.lcm_operations}
    assert ops["instantiate_end"].implementation == "mgmt-drivers-free5gc"
    assert ops["instantiate_end"].artifact == "Scripts/free5gc_mgmt.py"
    # TOSCA.meta lists scripts the package does not carry: warned about, not refused.
    absent = [w for w in pkg.warnings if "listed but not in the package" in w.what]
    assert [w.what.split()[0] for w in absent] == [
        "Scripts/modify_config.sh",
        "Scripts/free5gc_mgmt.py",
    ]


def test_free5gc_anti_affinity_zone() -> None:
    (flavour,) = load("free5gc-anti-affinity-zone").vnfd.flavours
    assert counts(flavour) == (2, 0, 3, 0, 0, 1, 2, 6)
    (rule,) = flavour.placement_rules
    assert (rule.kind, rule.scope, rule.vdus) == ("anti-affinity", "zone", ("free5gc", "VDU2"))
    assert [e.node for e in flavour.external_links] == ["free5gc_CP", "free5gc_UPF_CP", "VDU2_CP"]
    vdu2 = flavour.vdu("VDU2")
    assert vdu2.sw_image is not None
    assert (vdu2.sw_image.name, vdu2.sw_image.min_ram_bytes) == (
        "cirros-0.4.0-x86_64-disk",
        256 * MB,
    )


def test_practical_two_flavours_with_carried_types() -> None:
    pkg = load("practical")
    assert all(d.source == "package" for d in pkg.definitions)
    carried = {d.path: d.template_version for d in pkg.definitions if "etsi" in d.path}
    assert carried == {
        "Definitions/etsi_nfv_sol001_common_types.yaml": "2.6.1",
        "Definitions/etsi_nfv_sol001_vnfd_types.yaml": "2.6.1",
    }
    assert pkg.vnfd.vnf_type == "Sample.VNF.Node"
    assert (pkg.vnfd.provider, pkg.vnfd.product_name, pkg.vnfd.software_version) == (
        "Sample",
        "Node",
        "10.1",
    )
    ha, scalable = pkg.vnfd.flavours
    assert (ha.id, scalable.id) == ("ha", "scalable")
    assert counts(ha) == (2, 0, 2, 4, 1, 0, 0, 1)
    assert counts(scalable) == (3, 0, 6, 0, 1, 1, 2, 10)
    assert [(c.id, c.internal_virtual_link, c.external_link) for c in ha.ext_cps] == [
        ("VDU0_extCP0", "VDU_intnet0", "VDU0_extnet"),
        ("VDU1_extCP0", "VDU_intnet0", "VDU1_extnet"),
        ("RT_extCP", "VDU_intnet0", "RT_extnet"),
        ("VDU_extvCP", "VDU_intnet0", "VDU_extnet"),
    ]
    (rule,) = scalable.placement_rules
    assert rule.targets == ("VDU_AntiAffinityGroup",)
    assert (rule.kind, rule.scope, rule.vdus) == (
        "anti-affinity",
        "nfvi_node",
        ("VDU_0", "VDU_1", "VDU_2"),
    )
    assert ha.placement_rules[0].vdus == ("VDU_0", "VDU_1")
    vdu2 = scalable.vdu("VDU_2")
    assert (vdu2.min_instances, vdu2.max_instances, vdu2.initial_delta) == (0, 1, 0)
    assert scalable.default_level is None
    assert dict(scalable.level("r-node-max").vdu_instances) == {"VDU_0": 1, "VDU_1": 1, "VDU_2": 1}
    cp = {c.id: c for c in scalable.cps}["VDU0_CP0"]
    assert (cp.bitrate, cp.vnic_type, cp.virtual_link) == (1, "normal", "int_net")
    assert {c.id: c.external_link for c in scalable.cps}["VDU2_CP1"] == "VDU2_extnet"
    assert pkg.vnfd.flavour("ha").vdu("VDU_0").sw_image.size_bytes == 1869 * MB  # type: ignore[union-attr]
