"""The SOL003 v2 LCM request bodies, typed: what ``POST /vnflcm/v2/...`` routes parse.

Each is a :class:`~atoll.nfv.lcm.wire.SolModel`; ``Model.from_wire(body, where="body",
strict=True)`` checks every attribute and raises :class:`~atoll.errors.InvalidInput` with
every problem and its wire path (``body.extVirtualLinks[0].extCps``), never the first only.
Rules between attributes (SOL003 says GRACEFUL alone takes a timeout, scale_to_level takes
exactly one of a level or scale info, ...) live in each model's ``problems``.

Atoll reads two things SOL003 leaves to the VNFM:

* **Sites.** A site is a VIM: ``vimConnectionId`` of an ``extVirtualLinks`` entry names the
  site whose network ``resourceId`` is (no ``vimConnectionId``: the same network name at
  every site). :func:`external_networks` gives ``(cpd id, site or None) -> network``.
* **Placement.** ``additionalParams.placement`` of an instantiate request
  (:class:`PlacementRequest`, read by :meth:`InstantiateVnfRequest.placement`): explicit
  sites per VDU, or candidate sites, or site labels and a region; the placement module
  decides with capacity.
* **How the engine works it.** ``additionalParams.maxParallel``, ``siteTimeout`` and
  ``stopOnFailure`` of any task (:class:`LcmOptions`, read by :func:`lcm_options`): how many
  sites at once, how long one may take, whether a failure stops the rest. The rest of
  ``additionalParams`` is the VNF's own (SOL003: free key-value pairs) and is not checked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from atoll.errors import InvalidInput, Problem
from atoll.nfv.lcm.instance import CancelModeType
from atoll.nfv.lcm.wire import IDENT, KeyValuePairs, ScaleInfo, SolModel
from atoll.resources.fields import EXTRA, bounded, key_of
from atoll.resources.model import at, no_extra

ScaleType = Literal["SCALE_OUT", "SCALE_IN"]
TerminationType = Literal["FORCEFUL", "GRACEFUL"]
MAX_ITEMS = 256
MAX_PARALLEL = 10_000  # sites worked at once: more than a fleet has (more is "all" anyway)
MAX_SITE_TIMEOUT = 86_400.0  # seconds one site may take, offline time included: a day


@dataclasses.dataclass(frozen=True, kw_only=True)
class LcmOptions(SolModel):
    """How the engine works an operation, from its ``additionalParams`` (each absent: the
    hub's ``lcm_max_parallel``, ``lcm_site_timeout``, ``lcm_stop_on_failure``).

    ``maxParallel``: at most this many sites written and awaited at once (at least one);
    ``siteTimeout``: seconds a site may take, offline time included, before it is failed;
    ``stopOnFailure``: a failed site leaves the sites not started yet alone.
    """

    WHAT = "LCM options"
    max_parallel: int | None = bounded(None, low=1, high=MAX_PARALLEL)
    site_timeout: float | None = bounded(None, low=1, high=MAX_SITE_TIMEOUT)
    stop_on_failure: bool | None = None


OPTION_KEYS = frozenset(
    key_of(LcmOptions, f) for f in dataclasses.fields(LcmOptions) if f.name != EXTRA
)  # maxParallel, siteTimeout, stopOnFailure


def _options(additional_params: Mapping[str, object] | None) -> dict[str, object]:
    return {k: v for k, v in (additional_params or {}).items() if k in OPTION_KEYS}


def options_problems(where: str, additional_params: Mapping[str, object] | None) -> list[Problem]:
    """The problems of the engine's options in a request's ``additionalParams`` (the
    VNF's own keys beside them are left alone)."""
    return LcmOptions.check(_options(additional_params), where=at(where, "additionalParams"))


def lcm_options(request: object) -> LcmOptions:
    """The engine's options of a request (checked when the request loaded)."""
    params = getattr(request, "additional_params", None)
    return LcmOptions.from_wire(_options(params), where="additionalParams")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreateVnfRequest(SolModel):
    WHAT = "create request"
    vnfd_id: str = bounded(low=1, high=IDENT)
    vnf_instance_name: str | None = bounded(None, high=IDENT)
    vnf_instance_description: str | None = bounded(None, high=1024)
    metadata: KeyValuePairs | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfExtCpData(SolModel):
    """An external CP of the VNF (a VduCp or VnfExtCp of the VNFD) on this external link."""

    WHAT = "external CP"
    cpd_id: str = bounded(low=1, high=IDENT)
    cp_config: Mapping[str, KeyValuePairs] = dataclasses.field(default_factory=no_extra)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExtVirtualLinkData(SolModel):
    """An external network the VNF's CPs attach to: at site ``vimConnectionId`` (or every
    site), the site network ``resourceId`` (its id or name)."""

    WHAT = "external virtual link"
    id: str = bounded(low=1, high=IDENT)
    vim_connection_id: str | None = bounded(None, high=IDENT)
    resource_provider_id: str | None = bounded(None, high=IDENT)
    resource_id: str = bounded(low=1, high=64)
    ext_cps: tuple[VnfExtCpData, ...] = bounded(low=1, high=MAX_ITEMS)
    ext_link_ports: tuple[KeyValuePairs, ...] = bounded((), high=MAX_ITEMS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExtManagedVirtualLinkData(SolModel):
    WHAT = "externally managed virtual link"
    id: str = bounded(low=1, high=IDENT)
    vnf_virtual_link_desc_id: str = bounded(low=1, high=IDENT)
    vim_connection_id: str | None = bounded(None, high=IDENT)
    resource_provider_id: str | None = bounded(None, high=IDENT)
    resource_id: str = bounded(low=1, high=64)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlacementRequest(SolModel):
    """Where an instantiate puts its VDU instances (``additionalParams.placement``).

    ``vduSites``: explicit sites per VDU, one per instance in order (the last repeats).
    Otherwise candidates: ``sites`` if given, else every site whose labels include
    ``labels`` and (if given) whose region is ``region``.
    """

    WHAT = "placement request"
    sites: tuple[str, ...] = bounded((), high=MAX_ITEMS)
    vdu_sites: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=no_extra)
    labels: Mapping[str, str] = dataclasses.field(default_factory=no_extra)
    region: str | None = bounded(None, high=IDENT)


def _links_problems(
    where: str,
    ext: tuple[ExtVirtualLinkData, ...],
    managed: tuple[ExtManagedVirtualLinkData, ...],
) -> list[Problem]:
    out: list[Problem] = []
    seen: dict[tuple[str, str | None], int] = {}
    for i, link in enumerate(ext):
        for j, cp in enumerate(link.ext_cps):
            key = (cp.cpd_id, link.vim_connection_id)
            if key in seen:
                out.append(
                    Problem(
                        at(where, f"extVirtualLinks[{i}].extCps[{j}].cpdId"),
                        f"{cp.cpd_id!r} is already connected by extVirtualLinks[{seen[key]}]"
                        + (f" at site {key[1]}" if key[1] else ""),
                    )
                )
            seen[key] = i
    ids = [link.id for link in ext] + [link.id for link in managed]
    for dup in sorted({x for x in ids if ids.count(x) > 1}):
        out.append(Problem(at(where, "extVirtualLinks"), f"link id {dup!r} is used twice"))
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstantiateVnfRequest(SolModel):
    WHAT = "instantiate request"
    flavour_id: str = bounded(low=1, high=IDENT)
    instantiation_level_id: str | None = bounded(None, high=IDENT)
    ext_virtual_links: tuple[ExtVirtualLinkData, ...] = bounded((), high=MAX_ITEMS)
    ext_managed_virtual_links: tuple[ExtManagedVirtualLinkData, ...] = bounded((), high=MAX_ITEMS)
    vim_connection_info: Mapping[str, KeyValuePairs] | None = None
    localization_language: str | None = bounded(None, high=64)
    additional_params: KeyValuePairs | None = None
    extensions: KeyValuePairs | None = None
    vnf_configurable_properties: KeyValuePairs | None = None

    def problems(self, where: str) -> list[Problem]:
        out = _links_problems(where, self.ext_virtual_links, self.ext_managed_virtual_links)
        out += options_problems(where, self.additional_params)
        if self.additional_params and "placement" in self.additional_params:
            out += PlacementRequest.check(
                self.additional_params["placement"],
                where=at(where, "additionalParams.placement"),
                strict=True,
            )
        return out

    def placement(self) -> PlacementRequest:
        """``additionalParams.placement`` (checked when the request loaded), or none."""
        raw = (self.additional_params or {}).get("placement")
        if raw is None:
            return PlacementRequest()
        return PlacementRequest.from_wire(raw, where="additionalParams.placement", strict=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleVnfRequest(SolModel):
    WHAT = "scale request"
    type: ScaleType
    aspect_id: str = bounded(low=1, high=IDENT)
    number_of_steps: int = bounded(1, low=1, high=1000)
    additional_params: KeyValuePairs | None = None

    def problems(self, where: str) -> list[Problem]:
        return options_problems(where, self.additional_params)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleVnfToLevelRequest(SolModel):
    WHAT = "scale to level request"
    instantiation_level_id: str | None = bounded(None, high=IDENT)
    scale_info: tuple[ScaleInfo, ...] | None = bounded(None, low=1, high=MAX_ITEMS)
    additional_params: KeyValuePairs | None = None

    def problems(self, where: str) -> list[Problem]:
        out = options_problems(where, self.additional_params)
        if (self.instantiation_level_id is None) == (self.scale_info is None):
            return [
                *out,
                Problem(
                    at(where, "instantiationLevelId"),
                    "give exactly one of instantiationLevelId and scaleInfo",
                ),
            ]
        aspects = [s.aspect_id for s in self.scale_info or ()]
        return out + [
            Problem(at(where, "scaleInfo"), f"aspect {dup!r} is given twice")
            for dup in sorted({a for a in aspects if aspects.count(a) > 1})
        ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HealVnfRequest(SolModel):
    """Heal the VNFCs ``vnfcInstanceId`` (all of them when absent)."""

    WHAT = "heal request"
    vnfc_instance_id: tuple[str, ...] | None = bounded(None, high=MAX_ITEMS)
    cause: str | None = bounded(None, high=1024)
    additional_params: KeyValuePairs | None = None
    heal_script: str | None = bounded(None, high=IDENT)

    def problems(self, where: str) -> list[Problem]:
        return options_problems(where, self.additional_params)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TerminateVnfRequest(SolModel):
    """FORCEFUL stops now; GRACEFUL shuts down within ``gracefulTerminationTimeout`` seconds,
    then stops (SOL003: only GRACEFUL takes a timeout)."""

    WHAT = "terminate request"
    termination_type: TerminationType
    graceful_termination_timeout: int | None = bounded(None, low=0, high=86400)
    additional_params: KeyValuePairs | None = None

    def problems(self, where: str) -> list[Problem]:
        out = options_problems(where, self.additional_params)
        if self.termination_type == "FORCEFUL" and self.graceful_termination_timeout is not None:
            out.append(
                Problem(
                    at(where, "gracefulTerminationTimeout"),
                    "only a GRACEFUL termination takes a timeout",
                )
            )
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class CancelMode(SolModel):
    """The body of ``POST .../vnf_lcm_op_occs/{id}/cancel`` (SOL003's ``CancelMode``):
    GRACEFUL lets the work in flight at sites finish, FORCEFUL stops at once."""

    WHAT = "cancel request"
    cancel_mode: CancelModeType


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChangeCurrentVnfPkgRequest(SolModel):
    WHAT = "change package request"
    vnfd_id: str = bounded(low=1, high=IDENT)
    ext_virtual_links: tuple[ExtVirtualLinkData, ...] = bounded((), high=MAX_ITEMS)
    ext_managed_virtual_links: tuple[ExtManagedVirtualLinkData, ...] = bounded((), high=MAX_ITEMS)
    vim_connection_info: Mapping[str, KeyValuePairs] | None = None
    additional_params: KeyValuePairs | None = None
    extensions: KeyValuePairs | None = None
    vnf_configurable_properties: KeyValuePairs | None = None

    def problems(self, where: str) -> list[Problem]:
        out = _links_problems(where, self.ext_virtual_links, self.ext_managed_virtual_links)
        return out + options_problems(where, self.additional_params)


def external_networks(
    links: tuple[ExtVirtualLinkData, ...],
) -> dict[tuple[str, str | None], str]:
    """``(cpd id, site id or None for every site) -> site network`` from ``extVirtualLinks``."""
    out: dict[tuple[str, str | None], str] = {}
    for link in links:
        for cp in link.ext_cps:
            out[(cp.cpd_id, link.vim_connection_id)] = link.resource_id
    return out


def network_for(networks: Mapping[tuple[str, str | None], str], cpd_id: str, site: str) -> str:
    """The site network CP ``cpd_id`` attaches to at ``site``; ``InvalidInput`` when none."""
    found = networks.get((cpd_id, site)) or networks.get((cpd_id, None))
    if found is None:
        raise InvalidInput(
            "an external connection point has no network",
            [
                Problem(
                    "extVirtualLinks",
                    f"no entry connects CP {cpd_id!r} at site {site} (give one with "
                    f"vimConnectionId {site!r}, or one without vimConnectionId)",
                )
            ],
        )
    return found
