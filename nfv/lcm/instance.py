"""A VNF instance and its op occurrences as SOL003 v2 shapes them (``VnfInstance``,
``VnfLcmOpOcc``), typed; the hub stores and answers exactly these.

* :class:`VnfInstance`: what the VNF is (package, names), ``instantiationState`` and, once
  instantiated, :class:`InstantiatedVnfInfo`: flavour, ``scaleStatus`` per aspect, one
  :class:`VnfcResourceInfo` per VDU instance (its id is the plan's ``<vdu>-<index>`` and
  stays the same across heal; ``computeResource.vimConnectionId`` is the site), external
  CPs (:class:`VnfExtCpInfo`), internal links and storage.
* :class:`VnfLcmOpOcc`: one operation on one instance, its state (see
  :mod:`atoll.nfv.lcm.states` for how it moves; ``isCancelPending`` and ``cancelMode``
  while a cancel asked for is not yet done), ``error`` as ProblemDetails and
  :class:`ResourceChanges` (written on success: what was added, removed or modified, each
  with the site it is at).

Timestamps are RFC 3339 strings the caller supplies (the model reads no clock).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal, get_args

from atoll.nfv.lcm.wire import (
    IDENT,
    KeyValuePairs,
    Link,
    ProblemDetails,
    ResourceHandle,
    ScaleInfo,
    SolModel,
)
from atoll.resources.fields import bounded, wire_name
from atoll.resources.model import no_extra

InstantiationState = Literal["NOT_INSTANTIATED", "INSTANTIATED"]
OperationState = Literal[
    "STARTING",
    "PROCESSING",
    "COMPLETED",
    "FAILED_TEMP",
    "FAILED",
    "ROLLING_BACK",
    "ROLLED_BACK",
]
Operation = Literal[
    "INSTANTIATE",
    "SCALE",
    "SCALE_TO_LEVEL",
    "HEAL",
    "CHANGE_VNFPKG",
    "TERMINATE",
    "MODIFY_INFO",
]
ChangeType = Literal["ADDED", "REMOVED", "MODIFIED", "TEMPORARY"]
CancelModeType = Literal["GRACEFUL", "FORCEFUL"]
VnfState = Literal["STARTED", "STOPPED"]

OPERATION_STATES: tuple[OperationState, ...] = get_args(OperationState)
OPERATIONS: tuple[Operation, ...] = get_args(Operation)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfcCpInfo(SolModel):
    WHAT = "VNFC CP info"
    id: str = bounded(low=1, high=IDENT)
    cpd_id: str = bounded(low=1, high=IDENT)
    vnf_ext_cp_id: str | None = bounded(None, high=IDENT)
    vnf_link_port_id: str | None = bounded(None, high=IDENT)
    cp_protocol_info: tuple[KeyValuePairs, ...] | None = None
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfcResourceInfo(SolModel):
    """One VDU instance: ``id`` is stable for the VNFC's life (heal keeps it)."""

    WHAT = "VNFC resource info"
    id: str = bounded(low=1, high=IDENT)
    vdu_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    compute_resource: ResourceHandle
    zone_id: str | None = bounded(None, high=IDENT)
    storage_resource_ids: tuple[str, ...] | None = None
    vnfc_cp_info: tuple[VnfcCpInfo, ...] | None = None
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfExtCpInfo(SolModel):
    WHAT = "external CP info"
    id: str = bounded(low=1, high=IDENT)
    cpd_id: str = bounded(low=1, high=IDENT)
    cp_config_id: str | None = bounded(None, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    cp_protocol_info: tuple[KeyValuePairs, ...] | None = None
    ext_link_port_id: str | None = bounded(None, high=IDENT)
    associated_vnfc_cp_id: str | None = bounded(None, high=IDENT)
    associated_vnf_virtual_link_id: str | None = bounded(None, high=IDENT)
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfVirtualLinkResourceInfo(SolModel):
    WHAT = "virtual link resource info"
    id: str = bounded(low=1, high=IDENT)
    vnf_virtual_link_desc_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    network_resource: ResourceHandle
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualStorageResourceInfo(SolModel):
    WHAT = "virtual storage resource info"
    id: str = bounded(low=1, high=IDENT)
    virtual_storage_desc_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    storage_resource: ResourceHandle
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstantiatedVnfInfo(SolModel):
    WHAT = "instantiated VNF info"
    flavour_id: str = bounded(low=1, high=IDENT)
    vnf_state: VnfState = "STARTED"
    scale_status: tuple[ScaleInfo, ...] | None = None
    max_scale_levels: tuple[ScaleInfo, ...] | None = None
    ext_cp_info: tuple[VnfExtCpInfo, ...] = ()
    vnfc_resource_info: tuple[VnfcResourceInfo, ...] | None = None
    vnf_virtual_link_resource_info: tuple[VnfVirtualLinkResourceInfo, ...] | None = None
    virtual_storage_resource_info: tuple[VirtualStorageResourceInfo, ...] | None = None
    metadata: KeyValuePairs | None = None

    def vnfc(self, vnfc_id: str) -> VnfcResourceInfo | None:
        return next((v for v in self.vnfc_resource_info or () if v.id == vnfc_id), None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfInstance(SolModel):
    WHAT = "VNF instance"
    id: str = bounded(low=1, high=IDENT)
    vnf_instance_name: str | None = bounded(None, high=IDENT)
    vnf_instance_description: str | None = bounded(None, high=1024)
    vnfd_id: str = bounded(low=1, high=IDENT)
    vnf_provider: str = bounded(high=IDENT)
    vnf_product_name: str = bounded(high=IDENT)
    vnf_software_version: str = bounded(high=IDENT)
    vnfd_version: str = bounded(high=IDENT)
    vnf_configurable_properties: KeyValuePairs | None = None
    vim_connection_info: Mapping[str, KeyValuePairs] | None = None
    instantiation_state: InstantiationState = "NOT_INSTANTIATED"
    instantiated_vnf_info: InstantiatedVnfInfo | None = None
    metadata: KeyValuePairs | None = None
    extensions: KeyValuePairs | None = None
    links: Mapping[str, Link] = dataclasses.field(
        default_factory=no_extra, metadata=wire_name("_links")
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class AffectedVnfc(SolModel):
    WHAT = "affected VNFC"
    id: str = bounded(low=1, high=IDENT)
    vdu_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    change_type: ChangeType
    compute_resource: ResourceHandle
    zone_id: str | None = bounded(None, high=IDENT)
    affected_vnfc_cp_ids: tuple[str, ...] | None = None
    added_storage_resource_ids: tuple[str, ...] | None = None
    removed_storage_resource_ids: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class AffectedVirtualLink(SolModel):
    WHAT = "affected virtual link"
    id: str = bounded(low=1, high=IDENT)
    vnf_virtual_link_desc_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    change_type: Literal[
        "ADDED", "REMOVED", "MODIFIED", "TEMPORARY", "LINK_PORT_ADDED", "LINK_PORT_REMOVED"
    ]
    network_resource: ResourceHandle


@dataclasses.dataclass(frozen=True, kw_only=True)
class AffectedVirtualStorage(SolModel):
    WHAT = "affected virtual storage"
    id: str = bounded(low=1, high=IDENT)
    virtual_storage_desc_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    change_type: ChangeType
    storage_resource: ResourceHandle


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceChanges(SolModel):
    WHAT = "resource changes"
    affected_vnfcs: tuple[AffectedVnfc, ...] = ()
    affected_virtual_links: tuple[AffectedVirtualLink, ...] = ()
    affected_virtual_storages: tuple[AffectedVirtualStorage, ...] = ()


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfLcmOpOcc(SolModel):
    """One LCM operation on one instance; :mod:`atoll.nfv.lcm.states` moves it."""

    WHAT = "LCM operation occurrence"
    id: str = bounded(low=1, high=IDENT)
    operation_state: OperationState
    state_entered_time: str = bounded(low=1, high=64)
    start_time: str = bounded(low=1, high=64)
    vnf_instance_id: str = bounded(low=1, high=IDENT)
    grant_id: str | None = bounded(None, high=IDENT)
    operation: Operation
    is_automatic_invocation: bool = False
    operation_params: Any = None
    is_cancel_pending: bool = False
    cancel_mode: CancelModeType | None = None  # SOL003: present while a cancel is pending
    error: ProblemDetails | None = None
    resource_changes: ResourceChanges | None = None
    changed_info: KeyValuePairs | None = None
    links: Mapping[str, Link] = dataclasses.field(
        default_factory=no_extra, metadata=wire_name("_links")
    )
