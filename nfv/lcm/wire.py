"""The SOL003/SOL013 wire style, on the one model decoder of :mod:`atoll.resources.fields`.

Every LCM model derives from :class:`SolModel`: a :class:`~atoll.resources.Model` whose keys
are camelCase on the wire (``vnfInstanceId``), whose unset optional attributes are left out
(not ``null``), and whose problems name the wire path (``extVirtualLinks[0].resourceId``),
as Tacker's v2 API answers. ``from_wire(data, strict=True)`` is what an API route calls on a
person's request (unknown attributes are reported); stored records load with the default
(unknown attributes kept in ``extra`` and written back).

Shared pieces live here: :class:`ProblemDetails` (SOL013 errors), :class:`Link`,
:class:`ResourceHandle` (a resource at a site: ``vimConnectionId`` is the site id),
:class:`ScaleInfo`, and :func:`problem_details` (an ``AtollError`` as a ProblemDetails).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from atoll.errors import AtollError, InvalidInput
from atoll.resources.fields import bounded
from atoll.resources.model import Model

KeyValuePairs = Mapping[str, Any]

# Identifiers in SOL003 are free strings; ours are atoll ids, and what a client sends is
# bounded so a record cannot grow without limit.
IDENT = 255


@dataclasses.dataclass(frozen=True, kw_only=True)
class SolModel(Model):
    """Base of every SOL003 model: camelCase keys, absent optional attributes."""

    WIRE_CASE: ClassVar[str] = "camel"
    OMIT_NONE: ClassVar[bool] = True


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProblemDetails(SolModel):
    """SOL013 ProblemDetails: ``status`` and ``detail`` always, the rest optional."""

    WHAT = "problem details"
    status: int = bounded(low=100, high=599)
    detail: str
    type: str | None = None
    title: str | None = None
    instance: str | None = None


def problem_details(error: AtollError) -> ProblemDetails:
    """``error`` as SOL013 ProblemDetails (what an op occurrence's ``error`` holds)."""
    detail = error.summary if isinstance(error, InvalidInput) else error.message
    if isinstance(error, InvalidInput) and error.problems:
        detail += ": " + "; ".join(str(p) for p in error.problems)
    return ProblemDetails(status=error.http_status, detail=detail, title=error.code)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Link(SolModel):
    WHAT = "link"
    href: str = bounded(low=1, high=2048)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceHandle(SolModel):
    """A resource at a site: ``vimConnectionId`` names the site, ``resourceId`` the object."""

    WHAT = "resource handle"
    vim_connection_id: str | None = bounded(None, high=IDENT)
    resource_provider_id: str | None = bounded(None, high=IDENT)
    resource_id: str = bounded(low=1, high=IDENT)
    vim_level_resource_type: str | None = bounded(None, high=IDENT)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScaleInfo(SolModel):
    WHAT = "scale info"
    aspect_id: str = bounded(low=1, high=IDENT)
    vnfd_id: str | None = bounded(None, high=IDENT)
    scale_level: int = bounded(low=0)
