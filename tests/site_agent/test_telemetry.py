"""Telemetry: /metrics text from host, server and OVS port counters; samples reach the ring."""

from __future__ import annotations

from pathlib import Path

from atoll.site_agent.ring import Ring
from atoll.site_agent.telemetry import Telemetry
from tests.site_agent.site_harness import lan, make_site


async def test_metrics_cover_host_servers_ports_and_land_in_the_ring(tmp_path: Path) -> None:
    site = await make_site(tmp_path)
    try:
        await lan(site)
        sid = (await site.resources.create_server(
            {"name": "vm", "flavor": "tiny", "image": "cirros", "nics": [{"network": "lan"}]}
        ))["id"]  # fmt: skip
        await site.converge()
        port = (await site.resources.show("server", sid))["networks"][0]["port"]
        site.network.count(port, packets=5, size=100)
        ring = Ring(site.store)
        telemetry = Telemetry(site.host, ring, tmp_path, passes=lambda: site.reconciler.passes)
        await telemetry.tick()
        text = (await telemetry.render()).decode()
        assert f'atoll_server_cpu_seconds_total{{server="{sid}"}}' in text
        assert "atoll_host_memory_total_bytes " in text
        assert 'atoll_host_cpu_seconds_total{mode="idle"}' in text
        assert 'atoll_ovs_port_rx_packets_total{device="' in text
        line = next(
            x
            for x in text.splitlines()
            if x.startswith("atoll_ovs_port_rx_packets_total") and port in x
        )
        assert float(line.rsplit(" ", 1)[1]) == 5
        assert "atoll_storage_provisioned_bytes" in text
        points = await site.store.call(
            ring.query_blocking, "server_memory_bytes", {"server": sid}, 0, 2e9
        )
        assert [p.value for p in points] == [128 * 1024 * 1024]
    finally:
        await site.close()
