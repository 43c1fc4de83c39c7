"""What crosses between hub and site: a desired object (intent) and its observed status (facts).

The hub owns intent, a site owns facts ("Who owns what" in ARCHITECTURE.md):

- :class:`Desired`: kind, :class:`~atoll.resources.meta.Meta` (id, name, project id, labels,
  owner), the spec of that kind, its ``origin`` (``hub``, or ``site`` for what a field
  engineer or local auto-heal did, possibly offline) and the ``hub_revision`` it was based on
  (``None`` for an object the hub has never seen). That is what lets the hub adopt an
  offline change or show a conflict, and never guess.
- :class:`Observed`: the status of one object at a site, numbered by the site's own
  sequence ``seq`` (so the hub deduplicates by ``(site, seq)`` and keeps the newest).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Self

from atoll.ids import Origin
from atoll.resources import versions
from atoll.resources.alarm import ThresholdRule
from atoll.resources.compute import FlavorSpec, ImageRef, ServerFacts, ServerSpec
from atoll.resources.fields import bounded, by_kind
from atoll.resources.meta import Meta
from atoll.resources.model import ID, ID_HINT, Model
from atoll.resources.network import NetworkSpec, PortSpec, SubnetSpec
from atoll.resources.storage import VolumeSpec

Kind = Literal["server", "network", "subnet", "port", "volume", "flavor", "image", "alarm"]

SPECS: dict[str, type[Model]] = {
    "server": ServerSpec,
    "network": NetworkSpec,
    "subnet": SubnetSpec,
    "port": PortSpec,
    "volume": VolumeSpec,
    "flavor": FlavorSpec,
    "image": ImageRef,
    "alarm": ThresholdRule,  # a site-scope alarm rule the site evaluates itself
}
FACTS: dict[str, type[Model]] = {"server": ServerFacts}  # other kinds: state and message only


@dataclasses.dataclass(frozen=True, kw_only=True)
class Desired(Model):
    """One object as someone wants it at a site: ``spec`` is the model its ``kind`` names."""

    WHAT = "desired object"
    kind: Kind
    meta: Meta
    spec: Model = dataclasses.field(metadata=by_kind("kind", SPECS))
    origin: Origin
    hub_revision: int | None = bounded(None, low=0)
    v: int = versions.CURRENT

    @classmethod
    def from_wire(cls, data: object, *, where: str = "", strict: bool = False) -> Self:
        return super().from_wire(versions.upgrade(data, where), where=where, strict=strict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed(Model):
    """The status of one object at a site, as the site saw it at its sequence ``seq``;
    ``facts`` is the model its ``kind`` has, if any (a server's power state and NICs)."""

    WHAT = "observed status"
    kind: Kind
    id: str = bounded(pattern=ID, hint=ID_HINT)
    seq: int = bounded(low=0)
    state: str = bounded(pattern=r"[A-Z][A-Z_]{0,31}", hint="must be an UPPER_CASE state")
    message: str = bounded("", high=4096, multiline=True)
    observed_generation: int = bounded(0, low=0)
    facts: Model | None = dataclasses.field(default=None, metadata=by_kind("kind", FACTS))
