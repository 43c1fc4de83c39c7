"""Node templates of a deployment flavour -> model objects (VDU, storage, CP, VL).

Each reader takes a ``Values`` reader bound to the file, the template's name, its body and
its key path, and returns the model object or ``None`` after logging what is wrong.
Cross-references (which VDU a CP binds, which link it joins) are checked by the flavour
reader, which knows every template of the flavour.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atoll.nfv.model import (
    Bitrate,
    Checksum,
    ExtCp,
    LinkProtocol,
    SwImage,
    Vdu,
    VduCp,
    VirtualLink,
    VirtualStorage,
)
from atoll.nfv.values import Values
from atoll.nfv.yaml_loader import PathKey


@dataclass(frozen=True)
class Requirement:
    name: str
    target: str
    keys: PathKey


def requirements(v: Values, body: Mapping[str, Any], keys: PathKey) -> list[Requirement]:
    """The ``requirements`` list: ``- name: target`` or ``- name: {node: target}``."""
    raw = body.get("requirements")
    if raw is None:
        return []
    if not isinstance(raw, list):
        v.error((*keys, "requirements"), "must be a list of single-entry maps")
        return []
    out = []
    for index, item in enumerate(raw):
        item_keys = (*keys, "requirements", index)
        if not isinstance(item, Mapping) or len(item) != 1:
            v.error(item_keys, "a requirement must be a single-entry map 'name: target'")
            continue
        ((name, target),) = item.items()
        if isinstance(target, Mapping):
            target = target.get("node")
        if not isinstance(target, str):
            v.error((*item_keys, str(name)), "must name a node template")
            continue
        out.append(Requirement(str(name), target, (*item_keys, str(name))))
    return out


def read_sw_image(
    v: Values,
    body: Mapping[str, Any],
    keys: PathKey,
    package_files: frozenset[str],
) -> SwImage | None:
    props = v.mapping(body, "properties", keys) or {}
    data = v.mapping(props, "sw_image_data", (*keys, "properties"))
    if data is None:
        return None
    dkeys = (*keys, "properties", "sw_image_data")
    checksum = v.mapping(data, "checksum", dkeys, required=True) or {}
    ckeys = (*dkeys, "checksum")
    fields = (
        v.text(data, "name", dkeys, required=True),
        v.text(data, "version", dkeys, required=True),
        v.text(checksum, "algorithm", ckeys, required=bool(checksum)),
        v.text(checksum, "hash", ckeys, required=bool(checksum)),
        v.text(data, "container_format", dkeys, required=True),
        v.text(data, "disk_format", dkeys, required=True),
        v.size(data, "min_disk", dkeys, required=True),
        v.size(data, "size", dkeys, required=True),
    )
    min_ram = v.size(data, "min_ram", dkeys)
    artifact = _image_artifact(v, body, keys)
    name, version, algorithm, digest, container, disk, min_disk, size = fields
    if (
        name is None
        or version is None
        or algorithm is None
        or digest is None
        or container is None
        or disk is None
        or min_disk is None
        or size is None
    ):
        return None
    return SwImage(
        name=name,
        version=version,
        checksum=Checksum(algorithm, digest, v.where(ckeys)),
        container_format=container,
        disk_format=disk,
        min_disk_bytes=min_disk,
        min_ram_bytes=min_ram,
        size_bytes=size,
        artifact=artifact,
        artifact_present=artifact is not None and artifact in package_files,
    )


def _image_artifact(v: Values, body: Mapping[str, Any], keys: PathKey) -> str | None:
    """The package path of the ``sw_image`` artifact (relative to the VNFD file)."""
    artifacts = v.mapping(body, "artifacts", keys)
    if not artifacts:
        return None
    for name, artifact in artifacts.items():
        if isinstance(artifact, Mapping):
            kind, file = artifact.get("type"), artifact.get("file")
        else:
            kind, file = None, artifact
        if name != "sw_image" and kind != "tosca.artifacts.nfv.SwImage":
            continue
        akeys = (*keys, "artifacts", str(name))
        if not isinstance(file, str) or not file:
            v.error(akeys, "an image artifact must name a file")
            return None
        if "://" in file:
            return file
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(v.doc.path), file))
        if joined.startswith("../") or joined == ".." or joined.startswith("/"):
            v.error(akeys, f"file {file!r} is outside the package")
            return None
        return joined
    return None


def read_vdu(
    v: Values,
    name: str,
    body: Mapping[str, Any],
    keys: PathKey,
    package_files: frozenset[str],
) -> Vdu | None:
    props = v.mapping(body, "properties", keys, required=True) or {}
    pkeys = (*keys, "properties")
    profile = v.mapping(props, "vdu_profile", pkeys, required=True) or {}
    prkeys = (*pkeys, "vdu_profile")
    low = v.integer(profile, "min_number_of_instances", prkeys, required=bool(profile))
    high = v.integer(profile, "max_number_of_instances", prkeys, required=bool(profile))
    if low is not None and high is not None and low > high:
        v.error(
            prkeys,
            f"min_number_of_instances ({low}) > max_number_of_instances ({high})",
        )
        return None
    vdu_name = v.text(props, "name", pkeys, required=True)
    description = v.text(props, "description", pkeys) or ""
    compute = _virtual_compute(v, body, keys)
    image = read_sw_image(v, body, keys, package_files)
    boot_order = v.boolean(props, "boot_order", pkeys) or False
    if low is None or high is None or vdu_name is None or compute is None:
        return None
    vcpus, memory, disks, flavour_name = compute
    storages = tuple(r.target for r in requirements(v, body, keys) if r.name == "virtual_storage")
    return Vdu(
        id=name,
        name=vdu_name,
        description=description,
        min_instances=low,
        max_instances=high,
        initial_delta=None,
        vcpus=vcpus,
        memory_bytes=memory,
        root_disk_bytes=disks[0] if disks else None,
        ephemeral_disks_bytes=tuple(disks[1:]),
        compute_flavour=flavour_name,
        sw_image=image,
        virtual_storages=storages,
        boot_order=boot_order,
    )


def _virtual_compute(
    v: Values, body: Mapping[str, Any], keys: PathKey
) -> tuple[int, int, list[int], str | None] | None:
    caps = v.mapping(body, "capabilities", keys, required=True) or {}
    vc = v.mapping(caps, "virtual_compute", (*keys, "capabilities"), required=bool(caps)) or {}
    vckeys = (*keys, "capabilities", "virtual_compute")
    props = v.mapping(vc, "properties", vckeys, required=bool(vc)) or {}
    pkeys = (*vckeys, "properties")
    cpu = v.mapping(props, "virtual_cpu", pkeys, required=bool(props)) or {}
    mem = v.mapping(props, "virtual_memory", pkeys, required=bool(props)) or {}
    vcpus = v.integer(
        cpu, "num_virtual_cpu", (*pkeys, "virtual_cpu"), required=bool(cpu), minimum=1
    )
    memory = v.size(mem, "virtual_mem_size", (*pkeys, "virtual_memory"), required=bool(mem))
    disks: list[int] = []
    local = props.get("virtual_local_storage")
    if local is not None and not isinstance(local, list):
        v.error((*pkeys, "virtual_local_storage"), "must be a list")
    for index, item in enumerate(local if isinstance(local, list) else []):
        ikeys = (*pkeys, "virtual_local_storage", index)
        if not isinstance(item, Mapping):
            v.error(ikeys, "must be a map with size_of_storage")
            continue
        size = v.size(item, "size_of_storage", ikeys, required=True)
        if size is not None:
            disks.append(size)
    flavour_name = None
    extra = props.get("requested_additional_capabilities")
    if isinstance(extra, Mapping):
        inner = extra.get("properties", extra)
        if isinstance(inner, Mapping):
            raw = inner.get("requested_additional_capability_name")
            flavour_name = str(raw) if isinstance(raw, str | int) else None
    if vcpus is None or memory is None:
        return None
    return vcpus, memory, disks, flavour_name


def read_storage(
    v: Values,
    name: str,
    kind: str,
    body: Mapping[str, Any],
    keys: PathKey,
    package_files: frozenset[str],
) -> VirtualStorage | None:
    props = v.mapping(body, "properties", keys, required=True) or {}
    pkeys = (*keys, "properties")
    data_key = f"virtual_{kind}_storage_data"
    data = v.mapping(props, data_key, pkeys, required=True) or {}
    size = v.size(
        data,
        "size_of_storage" if kind != "object" else "max_size_of_storage",
        (*pkeys, data_key),
        required=bool(data),
    )
    rdma = v.boolean(data, "rdma_enabled", (*pkeys, data_key)) or False
    image = read_sw_image(v, body, keys, package_files)
    if size is None:
        return None
    return VirtualStorage(name, kind, size, rdma, image)


def read_vdu_cp(v: Values, name: str, body: Mapping[str, Any], keys: PathKey) -> VduCp | None:
    props = v.mapping(body, "properties", keys, required=True) or {}
    pkeys = (*keys, "properties")
    layers = v.strings(props, "layer_protocols", pkeys, required=True)
    order = v.integer(props, "order", pkeys)
    bitrate = v.integer(props, "bitrate_requirement", pkeys)
    vnic = v.text(props, "vnic_type", pkeys)
    # A repeated virtual_binding or virtual_link is refused by the flavour reader (SOL001
    # allows each once), so taking the first here never decides anything silently.
    reqs = requirements(v, body, keys)
    binding = [r.target for r in reqs if r.name == "virtual_binding"]
    link = [r.target for r in reqs if r.name == "virtual_link"]
    if not binding:
        v.error(keys, "a VduCp needs a virtual_binding requirement naming its VDU")
        return None
    if not layers:
        return None
    return VduCp(name, binding[0], link[0] if link else None, None, order, layers, bitrate, vnic)


def read_ext_cp(v: Values, name: str, body: Mapping[str, Any], keys: PathKey) -> ExtCp | None:
    props = v.mapping(body, "properties", keys, required=True) or {}
    layers = v.strings(props, "layer_protocols", (*keys, "properties"), required=True)
    link = [r.target for r in requirements(v, body, keys) if r.name == "internal_virtual_link"]
    if not layers:
        return None
    return ExtCp(name, layers, link[0] if link else None, None)


def read_bitrate(v: Values, data: Mapping[str, Any] | None, keys: PathKey) -> Bitrate:
    if data is None:
        return Bitrate(None, None)
    return Bitrate(v.integer(data, "root", keys), v.integer(data, "leaf", keys))


def read_virtual_link(
    v: Values, name: str, body: Mapping[str, Any], keys: PathKey
) -> VirtualLink | None:
    props = v.mapping(body, "properties", keys, required=True) or {}
    pkeys = (*keys, "properties")
    conn = v.mapping(props, "connectivity_type", pkeys, required=True) or {}
    layers = v.strings(conn, "layer_protocols", (*pkeys, "connectivity_type"), required=bool(conn))
    profile = v.mapping(props, "vl_profile", pkeys, required=True) or {}
    vkeys = (*pkeys, "vl_profile")
    max_rate = read_bitrate(v, v.mapping(profile, "max_bitrate_requirements", vkeys), vkeys)
    min_rate = read_bitrate(v, v.mapping(profile, "min_bitrate_requirements", vkeys), vkeys)
    protocols = []
    raw = profile.get("virtual_link_protocol_data")
    if raw is not None and not isinstance(raw, list):
        v.error((*vkeys, "virtual_link_protocol_data"), "must be a list")
    for index, item in enumerate(raw if isinstance(raw, list) else []):
        proto = _link_protocol(v, item, (*vkeys, "virtual_link_protocol_data", index))
        if proto is not None:
            protocols.append(proto)
    if not layers or not profile:
        return None
    description = v.text(props, "description", pkeys)
    return VirtualLink(name, description, layers, max_rate, min_rate, tuple(protocols))


def _link_protocol(v: Values, item: Any, keys: PathKey) -> LinkProtocol | None:
    if not isinstance(item, Mapping):
        v.error(keys, "must be a map")
        return None
    layer = v.text(item, "associated_layer_protocol", keys, required=True)
    l2 = v.mapping(item, "l2_protocol_data", keys) or {}
    l3 = v.mapping(item, "l3_protocol_data", keys) or {}
    l3keys = (*keys, "l3_protocol_data")
    if layer is None:
        return None
    return LinkProtocol(
        layer_protocol=layer,
        network_type=v.text(l2, "network_type", (*keys, "l2_protocol_data")),
        ip_version=v.text(l3, "ip_version", l3keys, required=bool(l3)),
        cidr=v.text(l3, "cidr", l3keys),
        gateway_ip=v.text(l3, "gateway_ip", l3keys),
        dhcp_enabled=v.boolean(l3, "dhcp_enabled", l3keys),
    )
