"""Sites as the hub's LCM engine sees them, without sync: what a site's reports would write.

:class:`FakeSites` plays the part of the sync side for every site record in the store: each
:meth:`FakeSites.settle` acknowledges the store's revision for the online sites (as a
site's ``ack`` does) and writes a ``site_status`` for every object placed there (``ACTIVE``;
a volume ``AVAILABLE``; a stopped server ``SHUTOFF``; ``ERROR`` at a site told to fail),
with addresses for servers. An offline site acknowledges and reports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atoll.errors import NotFound
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all

CAPACITY = {"vcpus": 64, "ram_mb": 65536, "disk_gb": 1000}


@dataclass
class FakeSites:
    store: Store
    offline: set[str] = field(default_factory=set)  # site names
    failing: set[str] = field(default_factory=set)  # site names whose servers go ERROR
    seq: int = 0

    async def online(self, *names: str) -> None:
        for name in names:
            record = await self.store.get(SITE_KIND, name)
            value = {**record.value, "state": "online", "capacity": dict(CAPACITY),
                     "last_seen": "2030-01-01T00:00:00Z",
                     "reported_at": "2030-01-01T00:00:00Z"}  # fmt: skip
            await self.store.put(SITE_KIND, name, value, expect_revision=record.revision)

    async def settle(self) -> None:
        revision = await self.store.revision()
        for site in await list_all(self.store, SITE_KIND, {}):
            name, site_id = site.value["name"], site.value["id"]
            state = "offline" if name in self.offline else "online"
            if state == "online":
                await self._report(site_id, name)
            record = await self.store.get(SITE_KIND, name)
            sync = dict(record.value.get("sync") or {})
            if state == "online":
                sync["acked_revision"] = revision
            if record.value.get("state") != state or sync != record.value.get("sync"):
                value = {**record.value, "state": state, "sync": sync}
                await self.store.put(SITE_KIND, name, value, expect_revision=record.revision)

    async def _report(self, site_id: str, name: str) -> None:
        for obj in await list_all(self.store, intent.SITE_OBJECT, {"site_id": site_id}):
            desired = obj.value.get("desired")
            kind = obj.value["kind"]
            if desired is None or kind not in intent.PLACEABLE:
                continue
            state = {"volume": "AVAILABLE"}.get(kind, "ACTIVE")
            if kind == "server" and desired["spec"].get("power") == "stopped":
                state = "SHUTOFF"
            message = ""
            if kind == "server" and name in self.failing:
                state, message = "ERROR", "no valid host: injected failure"
            try:
                current = await self.store.get(intent.SITE_STATUS, obj.key)
                if current.revision > obj.revision and current.value["state"] == state:
                    continue
            except NotFound:
                pass
            self.seq += 1
            facts = None
            if kind == "server":
                address = {"network": "n", "port": "p", "ip": f"10.0.0.{self.seq % 250}"}
                facts = {"power_state": state.lower(), "restarts": 0, "addresses": [address]}
            value = {
                "kind": kind,
                "id": obj.value["id"],
                "seq": self.seq,
                "state": state,
                "message": message,
                "observed_generation": 1,
                "facts": facts,
                "site_id": site_id,
                "fact_seq": self.seq,
            }
            await self.store.put(intent.SITE_STATUS, obj.key, value)
