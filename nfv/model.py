"""The deployment model: what a VNF package says to deploy, typed and immutable.

Built by ``atoll.nfv.package.load_package``; read by planning, the lifecycle and the hub.
Sizes are bytes, bitrates bits per second, counts plain integers. Ids are the node template
(or policy, aspect, level) names of the VNFD, so an operator can find them in the package.
``to_dict`` gives the JSON-able form the CLI and the hub API print.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from atoll.errors import NotFound, Problem
from atoll.nfv.digests import FileDigest
from atoll.nfv.manifest import Manifest, ToscaMeta
from atoll.nfv.signature import VerifiedSignature


@dataclass(frozen=True)
class Checksum:
    """A checksum a VNFD declares, and where (``file:line: path``, for problems about it)."""

    algorithm: str
    hash: str
    where: str = field(default="", compare=False)


@dataclass(frozen=True)
class SwImage:
    """``sw_image_data`` of a VDU or storage, and where the image artifact is (if named)."""

    name: str
    version: str
    checksum: Checksum
    container_format: str
    disk_format: str
    min_disk_bytes: int
    min_ram_bytes: int | None
    size_bytes: int
    artifact: str | None  # package path the VNFD names for the image bits
    artifact_present: bool  # whether the package carries those bits


@dataclass(frozen=True)
class Vdu:
    """A ``tosca.nodes.nfv.Vdu.Compute``: one kind of VNFC and its virtual compute."""

    id: str
    name: str
    description: str
    min_instances: int
    max_instances: int
    initial_delta: int | None
    vcpus: int
    memory_bytes: int
    root_disk_bytes: int | None
    ephemeral_disks_bytes: tuple[int, ...]
    compute_flavour: str | None  # requested_additional_capability_name, if any
    sw_image: SwImage | None
    virtual_storages: tuple[str, ...]  # in requirement order
    boot_order: bool  # whether virtual_storages order is the boot order


@dataclass(frozen=True)
class VirtualStorage:
    """A ``Vdu.VirtualBlockStorage`` (or object/file storage): a volume per VDU instance."""

    id: str
    kind: str  # "block", "object" or "file"
    size_bytes: int
    rdma_enabled: bool
    sw_image: SwImage | None


@dataclass(frozen=True)
class VduCp:
    """A ``VduCp``: a port of each instance of ``vdu``, on an internal or external link."""

    id: str
    vdu: str
    virtual_link: str | None  # internal VL id
    external_link: str | None  # substitution-mapping requirement name (an external VL)
    order: int | None
    layer_protocols: tuple[str, ...]
    bitrate: int | None
    vnic_type: str | None


@dataclass(frozen=True)
class ExtCp:
    """A ``VnfExtCp``: an external connection point re-exposing an internal link."""

    id: str
    layer_protocols: tuple[str, ...]
    internal_virtual_link: str | None
    external_link: str | None


@dataclass(frozen=True)
class Bitrate:
    root: int | None
    leaf: int | None


@dataclass(frozen=True)
class LinkProtocol:
    """One ``virtual_link_protocol_data`` entry: L2 type and the L3 (IP allocation) data."""

    layer_protocol: str
    network_type: str | None
    ip_version: str | None
    cidr: str | None
    gateway_ip: str | None
    dhcp_enabled: bool | None


@dataclass(frozen=True)
class VirtualLink:
    """A ``VnfVirtualLink``: an internal network of the VNF."""

    id: str
    description: str | None
    layer_protocols: tuple[str, ...]
    max_bitrate: Bitrate
    min_bitrate: Bitrate
    protocols: tuple[LinkProtocol, ...]


@dataclass(frozen=True)
class ExternalLink:
    """A substitution-mapping requirement: an external VL the consumer connects."""

    name: str
    node: str | None  # the CP it maps to (None when mapped to nothing, ``[]``)
    requirement: str | None


@dataclass(frozen=True)
class ScalingAspect:
    id: str
    name: str
    description: str | None
    max_scale_level: int
    step_deltas: tuple[str, ...]
    vdu_deltas: Mapping[str, Mapping[str, int]]  # vdu -> delta id -> number of instances


@dataclass(frozen=True)
class InstantiationLevel:
    id: str
    description: str | None
    scale_info: Mapping[str, int]  # aspect -> scale level
    vdu_instances: Mapping[str, int]  # vdu -> number of instances
    vl_bitrates: Mapping[str, Bitrate]  # virtual link -> bitrate requirements


@dataclass(frozen=True)
class PlacementRule:
    """An ``AffinityRule`` or ``AntiAffinityRule``, groups expanded to their VDUs."""

    name: str
    kind: str  # "affinity" or "anti-affinity"
    scope: str
    targets: tuple[str, ...]
    vdus: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """Every policy of the flavour as written: name, full type, targets."""

    name: str
    type: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class LcmOperation:
    """An LCM interface operation the VNFD declares (recorded, never executed)."""

    interface: str
    name: str
    implementation: str | None
    artifact: str | None


@dataclass(frozen=True)
class Flavour:
    """One deployment flavour: its topology, levels, aspects and policies."""

    id: str
    description: str
    source: str
    vdus: tuple[Vdu, ...]
    storages: tuple[VirtualStorage, ...]
    cps: tuple[VduCp, ...]
    ext_cps: tuple[ExtCp, ...]
    virtual_links: tuple[VirtualLink, ...]
    external_links: tuple[ExternalLink, ...]
    aspects: tuple[ScalingAspect, ...]
    instantiation_levels: tuple[InstantiationLevel, ...]
    default_level: str | None
    placement_rules: tuple[PlacementRule, ...]
    policies: tuple[Policy, ...]
    lcm_operations: tuple[LcmOperation, ...]

    def vdu(self, vdu_id: str) -> Vdu:
        return _find(self.vdus, vdu_id, "VDU", self.id)

    def storage(self, storage_id: str) -> VirtualStorage:
        return _find(self.storages, storage_id, "virtual storage", self.id)

    def aspect(self, aspect_id: str) -> ScalingAspect:
        return _find(self.aspects, aspect_id, "scaling aspect", self.id)

    def level(self, level_id: str) -> InstantiationLevel:
        return _find(self.instantiation_levels, level_id, "instantiation level", self.id)


@dataclass(frozen=True)
class Vnfd:
    descriptor_id: str
    descriptor_version: str
    provider: str
    product_name: str
    software_version: str
    vnfm_info: tuple[str, ...]
    vnf_type: str
    description: str | None
    flavours: tuple[Flavour, ...]

    def flavour(self, flavour_id: str) -> Flavour:
        return _find(self.flavours, flavour_id, "deployment flavour", self.descriptor_id)


@dataclass(frozen=True)
class ImportedFile:
    path: str
    source: str  # "package" or "sol001" (the bundled ETSI type library)
    template_version: str | None = None  # metadata.template_version (SOL001 files say 2.6.1...)


@dataclass(frozen=True)
class VnfPackage:
    """A package that validated: its metadata, what was checked, and its VNFD."""

    entry_definitions: str
    meta: ToscaMeta | None
    manifest: Manifest | None
    files: tuple[str, ...]
    verified_files: tuple[str, ...]
    definitions: tuple[ImportedFile, ...]
    vnfd: Vnfd
    warnings: tuple[Problem, ...]
    # every file hashed while checking the package (listed, or a carried image), with its size
    digests: Mapping[str, FileDigest] = field(default_factory=lambda: MappingProxyType({}))
    # the manifest's signature (SOL004 security option 1), when load_package was given a
    # check and it verified
    signature: VerifiedSignature | None = None
    # the CSAR's signature (option 2), when the package came in a zip with it and it verified
    csar_signature: VerifiedSignature | None = None
    # each artifact signature the manifest names (SOL004 5.3), all of which verified
    artifact_signatures: tuple[VerifiedSignature, ...] = ()
    # the CSAR's name in the zip that delivered it (option 2); None: it came as it is
    delivered_as: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = to_dict(self)
        assert isinstance(out, dict)
        return out


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


_T = TypeVar("_T", bound=_HasId)


def _find(items: tuple[_T, ...], item_id: str, what: str, owner: str) -> _T:
    for item in items:
        if item.id == item_id:
            return item
    known = ", ".join(i.id for i in items) or "none"
    raise NotFound(f"{what} {item_id!r} not in {owner!r} (known: {known})")


def to_dict(value: Any) -> Any:
    """JSON-able form of any model value: dataclasses and maps to dicts, tuples to lists."""
    if isinstance(value, Problem):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dict(v) for v in value]
    return value
