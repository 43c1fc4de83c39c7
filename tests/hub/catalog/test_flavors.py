"""Catalog flavors as typed records: what the store holds reads back as the same flavor."""

from __future__ import annotations

import dataclasses
from typing import Any

from atoll.hub.catalog.flavors import ExtraSpecs, Flavor
from atoll.hub.store.base import Record

STORED: dict[str, Any] = {
    "id": "f" * 32,
    "name": "m1-telco",
    "description": "pinned",
    "vcpus": 4,
    "ram_mb": 4096,
    "disk_gb": 10,
    "extra_specs": {
        "dedicated_cpus": True,
        "hugepages": "2M",
        "numa_nodes": 2,
        "sriov_ports": 12,
    },
    "public": False,
    "projects": ["acme"],
    "project_ids": ["a" * 32],
    "owner": "acme",
    "project_id": "a" * 32,
    "created_at": "2026-11-30T23:00:00Z",
}


def record(value: dict[str, Any]) -> Record:
    return Record("flavor", f"{'a' * 32}:{value['name']}", value, 3, 3)


def test_a_stored_flavor_reads_typed_and_writes_back_unchanged() -> None:
    flavor = Flavor.of(record(STORED))
    assert flavor.extra_specs == ExtraSpecs(
        dedicated_cpus=True, hugepages="2M", numa_nodes=2, sriov_ports=12
    )
    assert flavor.project_ids == ("a" * 32,)
    assert flavor.to_wire() == STORED


def test_a_record_of_an_older_hub_reads_with_defaults_and_keeps_unknown_fields() -> None:
    old = {k: v for k, v in STORED.items() if k not in ("extra_specs", "project_ids")}
    flavor = Flavor.of(record({**old, "future": 1}))
    assert flavor.extra_specs == ExtraSpecs() and flavor.project_ids == ()
    assert flavor.to_wire()["future"] == 1


def test_rules_between_fields_hold_when_made_not_when_read() -> None:
    orphan = {**STORED, "projects": [], "project_ids": []}  # its last project was deleted
    flavor = Flavor.of(record(orphan))
    assert [p.where for p in flavor.inconsistencies()] == ["body.projects"]
    odd = dataclasses.replace(flavor, vcpus=3, projects=("acme",))
    assert [p.where for p in odd.inconsistencies()] == ["body.vcpus"]
