"""What every object carries besides its spec: id, name, project, labels, owner reference."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from atoll.errors import Problem
from atoll.resources.fields import Bounds, bounded
from atoll.resources.model import ID, ID_HINT, NAME, NAME_HINT, Model, at, no_extra

LABEL_KEY = r"[a-z0-9]([a-z0-9._/-]{0,62}[a-z0-9])?"
MAX_LABELS = 32
MAX_LABEL_VALUE = 256


@dataclasses.dataclass(frozen=True, kw_only=True)
class OwnerRef(Model):
    """Who made this object and answers for it: e.g. the VNF instance and the VDU of a VNFC.

    The lifecycle engine sets it on every server, port and volume it creates, so it finds
    (and cleans up) its parts at every site without a separate index.
    """

    WHAT = "owner reference"
    kind: str = bounded(pattern=r"[a-z][a-z0-9_]{0,31}", hint="must be a lowercase kind")
    id: str = bounded(low=1, high=64)
    part: str | None = bounded(None, high=64)  # e.g. the VDU id inside a VNF instance


@dataclasses.dataclass(frozen=True, kw_only=True)
class Meta(Model):
    """Identity and ownership: owned by immutable ids (project id), never by names."""

    WHAT = "object's metadata"
    id: str = bounded(pattern=ID, hint=ID_HINT)
    name: str | None = bounded(None, pattern=NAME, hint=NAME_HINT)
    project_id: str | None = bounded(None, pattern=ID, hint=ID_HINT)
    labels: Mapping[str, str] = dataclasses.field(
        default_factory=no_extra, metadata={"bounds": Bounds(high=MAX_LABELS)}
    )
    owner: OwnerRef | None = None

    def problems(self, where: str) -> list[Problem]:
        out: list[Problem] = []
        for key, value in self.labels.items():
            if not re.fullmatch(LABEL_KEY, key):
                out.append(Problem(at(where, f"labels.{key}"), "a label key is 1-64 of a-z0-9._/-"))
            if len(value) > MAX_LABEL_VALUE:
                out.append(
                    Problem(at(where, f"labels.{key}"), f"at most {MAX_LABEL_VALUE} characters")
                )
        return out
