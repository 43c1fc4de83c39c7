"""Turning libvirt's bulk domain stats records into :class:`DomainStats`.

``virConnectGetAllDomainStats`` returns one flat dict per domain: ``cpu.time``,
``balloon.current``, ``balloon.rss``, ``vcpu.current``, ``net.count`` then ``net.<i>.name``,
``net.<i>.rx.bytes``..., ``block.count`` then ``block.<i>.name``, ``block.<i>.rd.bytes``...
Missing keys (a shut-off domain has none) read as zero.
"""

from __future__ import annotations

from collections.abc import Mapping

import libvirt

from atoll.site_agent.drivers.compute.base import DiskStats, DomainState, DomainStats, NicStats

WANTED = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)


def _int(record: Mapping[str, object], key: str) -> int:
    value = record.get(key, 0)
    return int(value) if isinstance(value, int | float) else 0


def _nics(record: Mapping[str, object]) -> tuple[NicStats, ...]:
    nics = []
    for i in range(_int(record, "net.count")):
        p = f"net.{i}."
        nics.append(
            NicStats(
                device=str(record.get(p + "name", "")),
                rx_bytes=_int(record, p + "rx.bytes"),
                rx_packets=_int(record, p + "rx.pkts"),
                rx_errors=_int(record, p + "rx.errs"),
                rx_drops=_int(record, p + "rx.drop"),
                tx_bytes=_int(record, p + "tx.bytes"),
                tx_packets=_int(record, p + "tx.pkts"),
                tx_errors=_int(record, p + "tx.errs"),
                tx_drops=_int(record, p + "tx.drop"),
            )
        )
    return tuple(nics)


def _disks(record: Mapping[str, object]) -> tuple[DiskStats, ...]:
    disks = []
    for i in range(_int(record, "block.count")):
        p = f"block.{i}."
        disks.append(
            DiskStats(
                device=str(record.get(p + "name", "")),
                path=str(record.get(p + "path", "")),
                read_bytes=_int(record, p + "rd.bytes"),
                read_requests=_int(record, p + "rd.reqs"),
                write_bytes=_int(record, p + "wr.bytes"),
                write_requests=_int(record, p + "wr.reqs"),
            )
        )
    return tuple(disks)


def parse(server_id: str, state: DomainState, record: Mapping[str, object]) -> DomainStats:
    return DomainStats(
        server_id=server_id,
        state=state,
        cpu_time_ns=_int(record, "cpu.time"),
        vcpus=_int(record, "vcpu.current"),
        memory_kib=_int(record, "balloon.current"),
        memory_rss_kib=_int(record, "balloon.rss"),
        nics=_nics(record),
        disks=_disks(record),
    )
