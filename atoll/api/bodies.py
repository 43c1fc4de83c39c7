"""Request bodies declared by a typed model (:mod:`atoll.resources`): one declaration gives
the check and the schema the OpenAPI document shows.

A create body is the object's ``name`` beside the fields of its spec (``{"name": "web-1",
"flavor": "small", "nics": [{"network": "lan"}]}``). The spec is decoded strictly (unknown
fields refused), every problem reported at once with its path (``body.nics[0].network``);
fields the receiving side fills in itself (``not_settable``, e.g. a server's ports) are
refused in a request.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from atoll.api.schema import Body, Field
from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.resources.fields import EXTRA, decode, key_of, schema
from atoll.resources.model import NAME, NAME_HINT, Model

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class ModelBody(Generic[M]):
    """``{"name", ...spec}`` checked by the spec model ``model``."""

    name: str  # the schema's name, e.g. "ServerCreate"
    model: type[M]
    not_settable: tuple[str, ...] = ()  # spec fields the receiver fills in, refused here
    name_required: bool = True
    description: str = ""

    def schema(self) -> JSON:
        out = schema(self.model, leave_out=self.not_settable)
        name = {
            "type": "string",
            "minLength": 1,
            "maxLength": 63,
            "pattern": f"^(?:{NAME})$",
            "description": "the object's name, unique among its kind at the site",
        }
        out["properties"] = {"name": name, **out["properties"]}
        if self.name_required:
            out["required"] = ["name", *out.get("required", [])]
        if self.description:
            out["description"] = self.description
        return out

    def parse(
        self, body: object, defaults: Mapping[str, Any] | None = None, where: str = "body"
    ) -> tuple[str | None, M]:
        """The name and the spec, or InvalidInput listing every problem in ``body``.
        ``defaults`` fill fields the body leaves out (a site's default restart policy)."""
        if not isinstance(body, dict):
            raise InvalidInput(
                f"the request {where} must be a JSON object", [Problem(where, "not an object")]
            )
        fields = {**(defaults or {}), **body}
        name = fields.pop("name", None)
        problems: list[Problem] = []
        if name is None:
            if self.name_required:
                problems.append(Problem(f"{where}.name", "is required"))
        elif not isinstance(name, str) or not re.fullmatch(NAME, name):
            problems.append(Problem(f"{where}.name", NAME_HINT))
        for key in self.not_settable:
            if key in fields:
                problems.append(Problem(f"{where}.{key}", "is set by the site, not by a request"))
                del fields[key]
        spec, more = decode(self.model, fields, where, True)
        problems += [self._named_known(p, where) for p in more]
        if problems:
            raise InvalidInput(
                f"the {self.model.WHAT.removesuffix(' spec')} is not valid", problems
            )
        assert isinstance(spec, self.model)
        return name, spec

    def _named_known(self, problem: Problem, where: str) -> Problem:
        """An unknown top-level field's problem lists what a request may send."""
        top = problem.where.removeprefix(f"{where}.")
        if not problem.what.startswith("unknown field") or "." in top or "[" in top:
            return problem
        fields = [f for f in dataclasses.fields(self.model) if f.name != EXTRA]
        allowed = {"name", *(key_of(self.model, f) for f in fields)}
        known = ", ".join(sorted(allowed - set(self.not_settable)))
        return Problem(problem.where, f"unknown field; known: {known}")


@dataclass(frozen=True)
class ModelView:
    """How an API shows an object whose spec is ``model``: the spec's fields (less those it
    hides) beside the fields the view adds (id, status...). Fields a newer peer added to the
    spec are shown too, so the schema allows more than it names."""

    name: str
    model: type[Model]
    fields: Mapping[str, Field]
    hidden: tuple[str, ...] = ()

    def schema(self) -> JSON:
        out = schema(self.model, leave_out=self.hidden)
        out["properties"] = {**out["properties"], **{k: f.schema() for k, f in self.fields.items()}}
        out["required"] = [k for k, f in self.fields.items() if f.required]
        out["additionalProperties"] = True
        return out


@dataclass(frozen=True)
class Wrapped:
    """``{key: inner}``: a reply that names what it holds (``{"server": {...}}``)."""

    key: str
    inner: Body

    @property
    def name(self) -> str:
        return f"{self.inner.name}Reply"

    def schema(self) -> JSON:
        return {
            "type": "object",
            "required": [self.key],
            "additionalProperties": False,
            "properties": {self.key: self.inner.schema()},
        }
