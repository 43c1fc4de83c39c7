"""Volumes: block storage a site keeps for a server, beyond its root disk."""

from __future__ import annotations

import dataclasses

from atoll.resources.fields import bounded
from atoll.resources.model import Model


@dataclasses.dataclass(frozen=True, kw_only=True)
class VolumeSpec(Model):
    WHAT = "volume spec"
    size_gb: int = bounded(low=1, high=16384)
    server: str | None = bounded(None, high=64)  # attached to this server (id), or none
    snapshots: tuple[str, ...] = bounded((), high=64)  # names of snapshots asked for
