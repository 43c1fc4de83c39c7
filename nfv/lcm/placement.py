"""Placement: which site each VDU instance (VNFC) of a deployment plan goes to.

Pure and deterministic: the same plan, request and site figures give the same answer, so
a retried instantiate places everything where the first try did.

Inputs: the plan's instances (in plan order), a :class:`~atoll.nfv.lcm.requests.
PlacementRequest`, and :class:`SiteFigures` for every site the project may use (capacity
and usage as sites report them: vCPUs, RAM MiB, disk GiB; region and labels; whether it
takes new work, i.e. not in maintenance). ``existing`` keeps VNFCs already placed (scale
out, heal) where they are; their resources are already in the sites' usage.

How a site is chosen for each instance, in plan order:

* ``vduSites[vdu]`` names it outright (instance ``k`` takes entry ``k``, the last repeats);
* else the candidates are ``sites`` (in the order given) or, without it, every available
  site whose labels include ``labels`` and whose region is ``region`` (by id); the
  instance goes to the candidate that keeps the rules and has room, preferring the one with
  the fewest instances of this VNF so far, then the most free vCPUs, then RAM, then its id.

Rules (the plan's ``placement_rules``): anti-affinity at scope ``nfvi_node`` puts a group's
instances on distinct hosts (a site offers ``hosts`` of them, same site is fine); at any
other scope (``zone``, ``zone_group``, ``nfvi_pop``) on distinct sites. Affinity at any
scope keeps a group on one site. A VNFC needs its VDU's vCPUs, memory and root disk plus
its volumes. When no site will do, :class:`~atoll.nfv.errors.NoPlacement` names the VNFC,
its VDU and the shortfall (each candidate and why it was turned down).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from atoll.errors import Problem
from atoll.nfv.errors import NoPlacement
from atoll.nfv.lcm.requests import PlacementRequest
from atoll.nfv.model import PlacementRule
from atoll.nfv.planning import DeploymentPlan, PlannedInstance

MiB = 1024**2
GiB = 1024**3
HOST_SCOPE = "nfvi_node"


@dataclass(frozen=True)
class Need:
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0

    def __add__(self, other: Need) -> Need:
        return Need(
            self.vcpus + other.vcpus, self.ram_mb + other.ram_mb, self.disk_gb + other.disk_gb
        )

    def __sub__(self, other: Need) -> Need:
        return Need(
            self.vcpus - other.vcpus, self.ram_mb - other.ram_mb, self.disk_gb - other.disk_gb
        )

    def fits_in(self, free: Need) -> bool:
        return (
            self.vcpus <= free.vcpus and self.ram_mb <= free.ram_mb and self.disk_gb <= free.disk_gb
        )

    def __str__(self) -> str:
        return f"{self.vcpus} vCPUs, {self.ram_mb} MiB RAM, {self.disk_gb} GiB disk"

    def short_of(self, free: Need) -> list[str]:
        """Each resource this need lacks in ``free``, and by how much."""
        return [
            f"{label} short by {want - have}"
            for label, want, have in (
                ("vCPUs", self.vcpus, free.vcpus),
                ("RAM (MiB)", self.ram_mb, free.ram_mb),
                ("disk (GiB)", self.disk_gb, free.disk_gb),
            )
            if want > have
        ]


@dataclass(frozen=True)
class SiteFigures:
    """A site as placement sees it (the hub's site record: capacity, usage, labels)."""

    id: str
    capacity: Need
    usage: Need = Need()
    region: str = "default"
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hosts: int = 1  # compute hosts (an all-in-one site agent is one)
    available: bool = True  # False: in maintenance, takes no new VNFCs unless named
    name: str = ""  # what refusals call it (its id when empty)

    @property
    def free(self) -> Need:
        return self.capacity - self.usage


def need_of(instance: PlannedInstance) -> Need:
    """What one VNFC takes from a site: its VDU's compute, root disk and volumes."""
    disk = (instance.root_disk_bytes or 0) + sum(v.size_bytes for v in instance.volumes)
    return Need(instance.vcpus, -(-instance.memory_bytes // MiB), -(-disk // GiB))


@dataclass
class _Board:
    """Where things went so far while placing (local to one ``place`` call)."""

    free: dict[str, Need]
    placed: dict[str, str]  # vnfc -> site
    vdu_of: dict[str, str]  # vnfc -> vdu

    def count_at(self, site: str, vdus: tuple[str, ...] | None = None) -> int:
        return sum(
            1
            for vnfc, at in self.placed.items()
            if at == site and (vdus is None or self.vdu_of[vnfc] in vdus)
        )


def _rule_problem(
    rule: PlacementRule, instance: PlannedInstance, site: SiteFigures, board: _Board
) -> str | None:
    group = board.count_at(site.id, rule.vdus)
    if rule.kind == "anti-affinity":
        if rule.scope == HOST_SCOPE and group >= site.hosts:
            return (
                f"anti-affinity {rule.name!r} ({rule.scope}): its {site.hosts} host(s) "
                f"already hold {group} of {', '.join(rule.vdus)}"
            )
        if rule.scope != HOST_SCOPE and group:
            return f"anti-affinity {rule.name!r} ({rule.scope}): already holds one of the group"
        return None
    elsewhere = {
        at for vnfc, at in board.placed.items() if board.vdu_of[vnfc] in rule.vdus and at != site.id
    }
    if elsewhere:
        return f"affinity {rule.name!r} ({rule.scope}): the group is at {sorted(elsewhere)[0]}"
    return None


def _why_not(
    instance: PlannedInstance,
    site: SiteFigures,
    rules: tuple[PlacementRule, ...],
    board: _Board,
) -> str | None:
    for rule in rules:
        if instance.vdu in rule.vdus:
            problem = _rule_problem(rule, instance, site, board)
            if problem:
                return problem
    need, free = need_of(instance), board.free[site.id]
    if not need.fits_in(free):
        left = Need(max(free.vcpus, 0), max(free.ram_mb, 0), max(free.disk_gb, 0))
        return f"needs {need}, has {left} free ({', '.join(need.short_of(left))})"
    return None


def _candidates(request: PlacementRequest, sites: Mapping[str, SiteFigures]) -> list[SiteFigures]:
    if request.sites:
        return [sites[s] for s in request.sites if s in sites]
    return sorted(
        (
            s
            for s in sites.values()
            if s.available
            and all(s.labels.get(k) == v for k, v in request.labels.items())
            and (request.region is None or s.region == request.region)
        ),
        key=lambda s: s.id,
    )


def place(
    plan: DeploymentPlan,
    request: PlacementRequest,
    sites: tuple[SiteFigures, ...],
    existing: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """VNFC id -> site id for every instance of ``plan`` (see the module docstring)."""
    by_id = {s.id: s for s in sites}
    unknown = [
        Problem(f"placement.{where}", f"no such site {site!r}")
        for where, site in [("sites", s) for s in request.sites]
        + [(f"vduSites.{vdu}", s) for vdu, ss in request.vdu_sites.items() for s in ss]
        if site not in by_id
    ]
    vdus = {i.vdu for i in plan.instances}
    unknown += [
        Problem(f"placement.vduSites.{vdu}", f"not a VDU of flavour {plan.flavour_id!r}")
        for vdu in request.vdu_sites
        if vdu not in vdus
    ]
    if unknown:
        raise NoPlacement("the placement names sites or VDUs that do not exist", unknown)
    board = _Board({s.id: s.free for s in sites}, {}, {i.id: i.vdu for i in plan.instances})
    for vnfc, where in (existing or {}).items():
        if vnfc in board.vdu_of:
            board.placed[vnfc] = where
    candidates = _candidates(request, by_id)
    index = {i.id: n for n, i in enumerate(plan.instances)}
    for instance in plan.instances:
        if instance.id in board.placed:
            continue
        named = request.vdu_sites.get(instance.vdu)
        if named:
            k = sum(1 for i in plan.instances[: index[instance.id]] if i.vdu == instance.vdu)
            options = [by_id[named[min(k, len(named) - 1)]]]
        else:
            options = candidates
        refusals: list[str] = []
        fitting = []
        for site in options:
            why = _why_not(instance, site, plan.placement_rules, board)
            if why is None:
                fitting.append(site)
            else:
                refusals.append(f"{site.name or site.id}: {why}")
        if not fitting:
            raise NoPlacement(
                f"no site can take {instance.id}",
                [
                    Problem(
                        f"vdu.{instance.vdu}",
                        f"{instance.id} ({need_of(instance)}) fits no candidate: "
                        + ("; ".join(refusals) if refusals else "there are no candidate sites"),
                    )
                ],
            )
        best = min(
            fitting,
            key=lambda s: (
                board.count_at(s.id),
                -board.free[s.id].vcpus,
                -board.free[s.id].ram_mb,
                s.id,
            ),
        )
        board.placed[instance.id] = best.id
        board.free[best.id] = board.free[best.id] - need_of(instance)
    return {i.id: board.placed[i.id] for i in plan.instances}
