"""Driving site networks (and their subnets) to their desired spec.

A live network is ensured when its spec or its set of subnets changed since it was last
observed, or when the driver no longer has it; subnets take the network's state. Specs are
read as the typed model (:mod:`atoll.resources`): a network whose spec no longer loads turns
``ERROR`` with the problem, and so does a subnet (which is then left out of its network). A
network being deleted is removed once no port uses it (servers are torn down first in a
pass); like a server's teardown, that reads the stored specs as they are, so a spec that no
longer loads can still be deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import partial

from atoll import host_paths
from atoll.errors import AtollError, InvalidInput, TemporaryError
from atoll.resources import SubnetSpec
from atoll.site_agent.host import Host, network_spec
from atoll.site_agent.journal import Journal
from atoll.site_agent.store import DesiredObject, LocalStore

log = logging.getLogger(__name__)


class NetworkConverger:
    def __init__(self, store: LocalStore, host: Host, journal: Journal) -> None:
        self.store = store
        self.host = host
        self.journal = journal

    async def ensure_all(self) -> None:
        present = set(await self.host.network.list_networks())
        subnets = await self.store.call(self.store.list_objects, "subnet")
        on_network: dict[str, list[DesiredObject]] = {}
        for sub in subnets:
            if sub.deleting:
                continue
            try:
                on_network.setdefault(sub.typed(SubnetSpec).network, []).append(sub)
            except InvalidInput as exc:
                await self.store.call(
                    self.store.set_status, "subnet", sub.id, "ERROR",
                    observed_generation=sub.generation, message=exc.message,
                )  # fmt: skip
        for net in await self.store.call(self.store.list_objects, "network"):
            if net.deleting:
                continue
            await self._ensure(net, on_network.get(net.id, []), net.id in present)
        for sub in subnets:
            if sub.deleting and not await self.store.call(self.store.leases, sub.id):
                await self.store.call(self.store.purge_object, "subnet", sub.id)

    async def _ensure(
        self, net: DesiredObject, subnets: list[DesiredObject], present: bool
    ) -> None:
        # of the stored specs as they are: any change to them is one to apply
        digest = hashlib.sha256(
            json.dumps([net.spec, [(s.id, s.spec) for s in subnets]], sort_keys=True).encode()
        ).hexdigest()[:16]
        status = await self.store.call(self.store.get_status, "network", net.id)
        if (
            present
            and status
            and status.state == "ACTIVE"
            and status.detail.get("digest") == digest
        ):
            return
        try:
            spec = network_spec(net, subnets)
            await self.journal.act(
                "network", net.id, "ensure_network", net.id,
                lambda: self.host.network.ensure_network(spec),
            )  # fmt: skip
        except TemporaryError as exc:
            await self._set(net.id, "BUILDING", net.generation, f"waiting: {exc.message}", digest)
            return
        except AtollError as exc:
            await self._set(net.id, "ERROR", net.generation, exc.message, digest)
            return
        await self._set(net.id, "ACTIVE", net.generation, "", digest)
        for sub in subnets:
            await self.store.call(
                self.store.set_status, "subnet", sub.id, "ACTIVE",
                observed_generation=sub.generation,
            )  # fmt: skip

    async def _set(self, net_id: str, state: str, gen: int, message: str, digest: str) -> None:
        """The network's status; its message without host paths (the OVSDB socket, a
        bridge's management socket), which the log keeps."""
        shown = host_paths.cut(message)
        if shown != message:
            log.info("network %s: %s", net_id, message)
        await self.store.call(
            self.store.set_status, "network", net_id, state,
            observed_generation=gen, message=shown, detail={"digest": digest},
        )  # fmt: skip

    async def delete_pending(self) -> None:
        # reads the stored specs as they are, not the typed model: a spec that no longer loads
        # (damaged, or from a newer agent) must not keep its network from being deleted
        ports = await self.store.call(self.store.list_objects, "port")
        used = {p.spec["network"] for p in ports}
        for net in await self.store.call(self.store.list_objects, "network"):
            if not net.deleting or net.id in used:
                continue
            try:
                await self.journal.act(
                    "network", net.id, "delete_network", net.id,
                    partial(self.host.network.delete_network, net.id),
                )  # fmt: skip
            except AtollError as exc:
                await self._set(net.id, "ERROR", net.generation, exc.message, "")
                continue
            for sub in await self.store.call(self.store.list_objects, "subnet"):
                if sub.spec["network"] == net.id:
                    await self.store.call(self.store.purge_object, "subnet", sub.id)
            await self.store.call(self.store.purge_object, "network", net.id)
