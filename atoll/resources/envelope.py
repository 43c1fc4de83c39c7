"""What crosses between hub and site: a desired object (intent) and its observed status (facts).

The hub owns intent, a site owns facts ("Who owns what" in ARCHITECTURE.md):

- :class:`Desired`: kind, :class:`~atoll.resources.meta.Meta` (id, name, project id, labels,
  owner), the spec of that kind, its ``origin`` (``hub``, or ``site`` for what a field
  engineer or local auto-heal did, possibly offline) and the ``hub_revision`` it was based on
  (``None`` for an object the hub has never seen). That is what lets the hub adopt an
  offline change or show a conflict, and never guess.
- :class:`Observed`: the status of one object at a site, numbered by the site's own
  sequence ``seq`` (so the hub deduplicates by ``(site, seq)`` and keeps the newest).
- :class:`Event`: something that happened to one object at a site, worth a NOC's attention
  (a server in ERROR, a restart, a hub change held or refused there).

A fact's message is for a person and bounded (:data:`MAX_MESSAGE` characters, no control
characters but tabs and line breaks): the site says it through :func:`clip`; the hub refuses
a fact that breaks its model (PROTOCOL.md).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Self

from atoll.ids import Origin
from atoll.printable import escape
from atoll.resources import versions
from atoll.resources.alarm import ThresholdRule
from atoll.resources.compute import FlavorSpec, ImageRef, ServerFacts, ServerSpec
from atoll.resources.fields import bounded, by_kind
from atoll.resources.meta import Meta
from atoll.resources.model import ID, ID_HINT, Model
from atoll.resources.network import NetworkSpec, PortSpec, SubnetSpec
from atoll.resources.storage import VolumeSpec

MAX_MESSAGE = 4096  # characters of a status's or an event's message
KIND = r"[a-z][a-z_]{0,31}"  # a kind or a reason named on the wire (lowercase, snake_case)

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
    message: str = bounded("", high=MAX_MESSAGE, multiline=True)
    observed_generation: int = bounded(0, low=0)
    facts: Model | None = dataclasses.field(default=None, metadata=by_kind("kind", FACTS))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event(Model):
    """Something that happened to one object at a site (``kind``, ``id``): ``reason`` says
    what (``error``, ``crashed``, ``restarted``, ``held``, ``refused``, ``superseded``; a
    newer site may name others), ``message`` says it to a person, ``at`` is when, by the
    site's clock (epoch seconds)."""

    WHAT = "event"
    kind: str = bounded(pattern=KIND, hint="must be a lowercase kind")
    id: str = bounded(pattern=ID, hint=ID_HINT)
    reason: str = bounded(pattern=KIND, hint="must be a snake_case reason")
    message: str = bounded("", high=MAX_MESSAGE, multiline=True)
    at: float = bounded(low=0, high=1e11)  # epoch seconds (1e11: the year 5138)


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as a fact's message may say it: control characters but tabs and line breaks
    shown as ``\\xNN``, and cut to ``limit`` characters (ending in ``…`` when cut)."""
    text = escape(text, keep="\t\n\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"
