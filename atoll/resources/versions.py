"""The model's version history, and how a payload from an older peer is brought up to date.

Every envelope on the wire carries ``v``. A site lags the hub: a hub must load what an old
site sends, and an old site must pass a newer hub's fields back unchanged (they stay in
``extra``). A payload older than :data:`OLDEST_ACCEPTED` is refused with a message that says
which versions are accepted; one newer than :data:`CURRENT` loads, its unknown fields kept.

Add a version by appending to :data:`HISTORY` (what changed, in a sentence a peer's operator
understands) and an upgrade step to :data:`_STEPS`; never edit an old entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from atoll.errors import InvalidInput, Problem


@dataclass(frozen=True)
class Version:
    number: int
    summary: str


HISTORY: tuple[Version, ...] = (
    Version(
        1,
        "the site agent's own spec dicts (site-agent/specs.py): kind, id and a spec holding "
        "its name; no project, origin or hub revision",
    ),
    Version(
        2,
        "one typed model shared by hub and site (atoll.resources): meta {id, name, "
        "project_id, labels, owner}, spec by kind, origin hub|site, hub_revision; observed "
        "status with the site's own sequence number and typed facts",
    ),
)
CURRENT = HISTORY[-1].number
OLDEST_ACCEPTED = 1


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    spec: Any = payload.get("spec") or {}
    name = None
    if isinstance(spec, Mapping):  # anything else stays as it is for the decoder to refuse
        spec = dict(spec)
        name = spec.pop("name", None)
    out = {k: v for k, v in payload.items() if k not in ("spec", "id", "v")}
    out.update(
        meta={"id": payload.get("id"), "name": name},
        spec=spec,
        origin=payload.get("origin", "site"),  # v1 objects were all made at the site
        hub_revision=payload.get("hub_revision"),
    )
    return out


_STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2}


def upgrade(payload: object, where: str = "") -> dict[str, Any]:
    """``payload`` (a desired-object envelope) in the shape of :data:`CURRENT`."""
    if not isinstance(payload, Mapping):
        raise InvalidInput("the object is not valid", [Problem(where or "body", "not an object")])
    version = payload.get("v", CURRENT)  # people (API requests) do not write it
    if isinstance(version, bool) or not isinstance(version, int) or version < OLDEST_ACCEPTED:
        raise InvalidInput(
            "the object's model version is not accepted",
            [
                Problem(
                    f"{where}.v" if where else "v",
                    f"{version!r}: this peer accepts versions {OLDEST_ACCEPTED} to {CURRENT} "
                    "(and newer ones, keeping their unknown fields)",
                )
            ],
        )
    out = dict(payload)
    while version < CURRENT:
        out = _STEPS[version](out)
        version += 1
    out["v"] = CURRENT
    return out
