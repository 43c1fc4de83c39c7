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
from typing import Any, Literal, Self

from atoll.errors import InvalidInput, Problem
from atoll.ids import Origin
from atoll.resources import versions
from atoll.resources.compute import FlavorSpec, ImageRef, ServerFacts, ServerSpec
from atoll.resources.fields import bounded, decode
from atoll.resources.meta import Meta
from atoll.resources.model import ID, ID_HINT, Model, at
from atoll.resources.network import NetworkSpec, PortSpec, SubnetSpec
from atoll.resources.storage import VolumeSpec

Kind = Literal["server", "network", "subnet", "port", "volume", "flavor", "image"]

SPECS: dict[str, type[Model]] = {
    "server": ServerSpec,
    "network": NetworkSpec,
    "subnet": SubnetSpec,
    "port": PortSpec,
    "volume": VolumeSpec,
    "flavor": FlavorSpec,
    "image": ImageRef,
}
FACTS: dict[str, type[Model]] = {"server": ServerFacts}  # other kinds: state and message only


def _by_kind(
    table: dict[str, type[Model]], kind: object, data: object, where: str, strict: bool
) -> tuple[Model | None, list[Problem]]:
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return None, []  # the kind itself is reported by the envelope
    value, problems = decode(cls, data, where, strict)
    return value, problems


@dataclasses.dataclass(frozen=True, kw_only=True)
class _DesiredHead(Model):
    kind: Kind
    meta: Meta
    origin: Origin
    hub_revision: int | None = bounded(None, low=0)
    v: int = versions.CURRENT


@dataclasses.dataclass(frozen=True, kw_only=True)
class Desired(Model):
    """One object as someone wants it at a site."""

    WHAT = "desired object"
    kind: Kind
    meta: Meta
    spec: Model
    origin: Origin
    hub_revision: int | None = None

    def to_wire(self) -> dict[str, Any]:
        head = _DesiredHead(
            kind=self.kind, meta=self.meta, origin=self.origin, hub_revision=self.hub_revision
        )
        return {**head.to_wire(), "spec": self.spec.to_wire(), **dict(self.extra)}

    @classmethod
    def from_wire(cls, data: object, *, where: str = "", strict: bool = False) -> Self:
        payload = versions.upgrade(data, where)
        spec_data = payload.pop("spec", None)
        head, problems = decode(_DesiredHead, payload, where, strict)
        spec, more = _by_kind(SPECS, payload.get("kind"), spec_data, at(where, "spec"), strict)
        problems += more
        if spec_data is None and isinstance(payload.get("kind"), str):
            problems.append(Problem(at(where, "spec"), "is required"))
        if problems or head is None or spec is None:
            raise InvalidInput(f"the {cls.WHAT} is not valid", problems)
        return cls(
            kind=head.kind,
            meta=head.meta,
            spec=spec,
            origin=head.origin,
            hub_revision=head.hub_revision,
            extra=head.extra,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ObservedHead(Model):
    kind: Kind
    id: str = bounded(pattern=ID, hint=ID_HINT)
    seq: int = bounded(low=0)
    state: str = bounded(pattern=r"[A-Z][A-Z_]{0,31}", hint="must be an UPPER_CASE state")
    message: str = bounded("", high=4096, multiline=True)
    observed_generation: int = bounded(0, low=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed(Model):
    """The status of one object at a site, as the site saw it at its sequence ``seq``."""

    WHAT = "observed status"
    kind: Kind
    id: str
    seq: int
    state: str
    message: str = ""
    observed_generation: int = 0
    facts: Model | None = None

    def to_wire(self) -> dict[str, Any]:
        head = _ObservedHead(
            kind=self.kind,
            id=self.id,
            seq=self.seq,
            state=self.state,
            message=self.message,
            observed_generation=self.observed_generation,
        )
        wire = {**head.to_wire(), **dict(self.extra)}
        if self.facts is not None:
            wire["facts"] = self.facts.to_wire()
        return wire

    @classmethod
    def from_wire(cls, data: object, *, where: str = "", strict: bool = False) -> Self:
        if not isinstance(data, dict):
            raise InvalidInput(
                f"the {cls.WHAT} is not valid", [Problem(where or "body", "not an object")]
            )
        payload = dict(data)
        facts_data = payload.pop("facts", None)
        head, problems = decode(_ObservedHead, payload, where, strict)
        facts = None
        if facts_data is not None:
            facts, more = _by_kind(
                FACTS, payload.get("kind"), facts_data, at(where, "facts"), strict
            )
            problems += more
        if problems or head is None:
            raise InvalidInput(f"the {cls.WHAT} is not valid", problems)
        return cls(
            kind=head.kind,
            id=head.id,
            seq=head.seq,
            state=head.state,
            message=head.message,
            observed_generation=head.observed_generation,
            facts=facts,
            extra=head.extra,
        )
