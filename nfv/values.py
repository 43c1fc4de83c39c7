"""Typed reading of TOSCA property values, reporting every bad value with its place.

A ``Values`` reader is bound to one YAML document and one problem log; each accessor takes
the mapping, the key and the key path of the mapping, and returns the typed value or
``None`` after logging ``file:line: path.key: what is wrong``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from atoll.nfv.errors import ProblemLog
from atoll.nfv.yaml_loader import PathKey, YamlDocument

_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SCALAR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")
_MAX_BYTES = 1024**6  # an exbibyte: anything bigger is a typo


class Values:
    def __init__(self, doc: YamlDocument, log: ProblemLog) -> None:
        self.doc = doc
        self.log = log

    def _present(self, data: Mapping[str, Any], key: str, keys: PathKey, required: bool) -> Any:
        """``data[key]``, or None (reported at ``keys`` when it is required)."""
        value = data.get(key)
        if value is None and required:
            self.error(keys, f"{key} is required")
        return value

    def where(self, keys: PathKey) -> str:
        return self.doc.where(keys)

    def error(self, keys: PathKey, what: str) -> None:
        self.log.error(self.doc.where(keys), what)

    def mapping(
        self, data: Mapping[str, Any], key: str, keys: PathKey, *, required: bool = False
    ) -> Mapping[str, Any] | None:
        value = self._present(data, key, keys, required)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.error((*keys, key), f"must be a map, not {_kind(value)}")
            return None
        return value

    def text(
        self, data: Mapping[str, Any], key: str, keys: PathKey, *, required: bool = False
    ) -> str | None:
        value = self._present(data, key, keys, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.error((*keys, key), f"must be a string, not {_kind(value)}")
            return None
        return str(value)

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        keys: PathKey,
        *,
        required: bool = False,
        minimum: int = 0,
    ) -> int | None:
        value = self._present(data, key, keys, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error((*keys, key), f"must be an integer, not {_kind(value)} {value!r:.40}")
            return None
        if value < minimum:
            self.error((*keys, key), f"must be at least {minimum}, not {value}")
            return None
        if value > 2**53:
            self.error((*keys, key), f"{value} is absurdly large")
            return None
        return value

    def boolean(self, data: Mapping[str, Any], key: str, keys: PathKey) -> bool | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.error((*keys, key), f"must be true or false, not {value!r:.40}")
            return None
        return value

    def size(
        self, data: Mapping[str, Any], key: str, keys: PathKey, *, required: bool = False
    ) -> int | None:
        """A ``scalar-unit.size`` (``512 MB``, ``1 GiB``) in bytes."""
        value = self._present(data, key, keys, required)
        if value is None:
            return None
        match = _SCALAR.match(value) if isinstance(value, str) else None
        unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            self.error((*keys, key), f"{value!r:.40} is not a size such as '512 MB' or '1 GiB'")
            return None
        size = int(float(match.group(1)) * unit)
        if size > _MAX_BYTES:
            self.error((*keys, key), f"{value!r:.40} is an absurd size")
            return None
        return size

    def strings(
        self, data: Mapping[str, Any], key: str, keys: PathKey, *, required: bool = False
    ) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            if required:
                self.error(keys, f"{key} is required")
            return ()
        if not isinstance(value, list) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
        ):
            self.error((*keys, key), "must be a list of strings")
            return ()
        return tuple(str(v) for v in value)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
