"""Flavors: how big an instance is, and the telco extras (pinned CPUs, hugepages, NUMA, SR-IOV).

A flavor is public (every project sees it) or private to the projects on its access list.
A project member may create private flavors for their own project (``owner``); only system
admins create public ones. The rules that tie fields together live in :func:`problems`.
"""

from __future__ import annotations

from typing import Any

from atoll.errors import Problem
from atoll.tokens import Claims

KIND = "flavor"
HUGEPAGE_MB = {"none": 0, "2M": 2, "1G": 1024}
DEFAULT_EXTRA_SPECS: dict[str, Any] = {
    "dedicated_cpus": False,
    "hugepages": "none",
    "numa_nodes": 1,
    "sriov_ports": 0,
}


def problems(flavor: dict[str, Any]) -> list[Problem]:
    """What is inconsistent between the fields of an otherwise well-typed flavor."""
    out: list[Problem] = []
    specs = flavor["extra_specs"]
    page = HUGEPAGE_MB[specs["hugepages"]]
    if page and flavor["ram_mb"] % page:
        out.append(Problem("body.ram_mb", f"must be a multiple of the {specs['hugepages']} page"))
    if specs["numa_nodes"] > flavor["vcpus"]:
        out.append(Problem("body.extra_specs.numa_nodes", "cannot exceed vcpus"))
    if flavor["vcpus"] % specs["numa_nodes"]:
        out.append(Problem("body.vcpus", "must split evenly over the NUMA nodes"))
    if not flavor["public"] and not flavor["projects"]:
        out.append(Problem("body.projects", "a private flavor needs at least one project"))
    if flavor["public"] and flavor["projects"]:
        out.append(Problem("body.projects", "a public flavor has no access list"))
    return out


def visible(flavor: dict[str, Any], claims: Claims) -> bool:
    return claims.system or flavor["public"] or claims.project in flavor["projects"]


def may_delete(flavor: dict[str, Any], claims: Claims) -> bool:
    return claims.system or (claims.project is not None and flavor.get("owner") == claims.project)
