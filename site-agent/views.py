"""How desired objects and their observed status look to a client (API and CLI)."""

from __future__ import annotations

from atoll.jsonbody import JSON
from atoll.site_agent.store import DesiredObject, ObservedStatus
from atoll.timestamps import iso_precise

HIDDEN = ("ports", "reboots", "rebuilds", "reboot_hard", "user_data")


SERVER_STATUSES = ("PENDING", "BUILDING", "ACTIVE", "PAUSED", "SHUTOFF", "CRASHED", "ERROR",
                   "DELETING", "UNKNOWN")  # fmt: skip


def status_of(obj: DesiredObject, status: ObservedStatus | None) -> str:
    """What a client sees as the object's status (a server's: one of :data:`SERVER_STATUSES`)."""
    state = status.state if status else "PENDING"
    return "DELETING" if obj.deleting and state != "ERROR" else state


def render(obj: DesiredObject, status: ObservedStatus | None, ports: dict[str, JSON]) -> JSON:
    """One object: its spec fields, plus id, status and generations."""
    out: JSON = {"id": obj.id}
    out.update({k: v for k, v in obj.spec.items() if k not in HIDDEN})
    out["status"] = status_of(obj, status)
    out["message"] = status.message if status else ""
    out["generation"] = obj.generation
    out["observed_generation"] = status.observed_generation if status else 0
    if obj.kind == "server":
        out["networks"] = [
            {
                "network": ports[p]["network"],
                "port": p,
                "mac": ports[p]["mac"],
                "ip": ports[p]["ip"],
                "vnic_type": ports[p].get("vnic_type", "normal"),
            }
            for p in obj.spec.get("ports", [])
            if p in ports
        ]
        if status:
            out["power_state"] = status.detail.get("power_state", "")
            out["restarts"] = status.detail.get("restarts", 0)
        launched = status.detail.get("launched_at") if status else None
        out["launched_at"] = iso_precise(launched) if launched is not None else None
    return out
