"""Ids the storage driver accepts, and sizes it can honour: checked before anything is made.

Ids become file names (``volumes/<volume_id>.qcow2``), so they are restricted to letters,
digits, ``.``, ``_`` and ``-`` (no ``/``, no leading dot, no ``@``, which separates a
snapshot's volume id from its own id).
"""

from __future__ import annotations

import re

from atoll.errors import Problem
from atoll.site_agent.drivers.storage.errors import InvalidStorageRequest

OBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MiB = 1024 * 1024


def check_id(value: str, where: str) -> None:
    if not OBJECT_ID.match(value):
        raise InvalidStorageRequest(
            f"{where} {value!r} is not usable",
            [Problem(where, "use 1-128 letters, digits, '.', '_' or '-', not starting with '.'")],
        )


def check_sha256(value: str) -> None:
    if not SHA256.match(value):
        raise InvalidStorageRequest(
            "the image checksum is not usable",
            [Problem("sha256", f"{value!r} is not 64 lowercase hex digits")],
        )


def check_size(size_bytes: int, where: str = "size_bytes") -> None:
    if size_bytes < MiB or size_bytes % 512:
        raise InvalidStorageRequest(
            f"{where} {size_bytes} is not usable",
            [Problem(where, "must be at least 1 MiB and a multiple of 512 bytes")],
        )
