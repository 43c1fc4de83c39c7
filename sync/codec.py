"""Frame bytes <-> frame models: the only place the sync protocol's bytes are read or written.

:func:`encode` writes a frame as one msgpack map (``t``, ``v``, ``n`` and its fields),
leaving out every field of the frame and of the models in it (changes, facts, ranges) that
is at its default: decoding fills defaults back in, so defaults are part of the protocol
version and never change within one. Fields a newer peer sent (``extra``) are written back;
objects carried inside (a change's desired object, a fact's body) are written whole.
:func:`decode` reads one back, refusing with :class:`FrameError` (a code and a message naming
what is wrong and where) anything that is too large, not msgpack, not a map, of an unknown
type or not valid as its type. A receiver answers a FrameError with an ``error`` frame and
closes that one connection; nothing else is affected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack

from atoll.errors import InvalidInput
from atoll.resources.fields import EXTRA, key_of
from atoll.resources.fields import encode as plain
from atoll.resources.model import Model
from atoll.sync.frames import FRAMES, Frame

DEFAULT_MAX_FRAME = 1 << 20  # 1 MiB: a changes frame of 1000 small objects fits


class FrameError(Exception):
    """A frame that cannot be accepted; ``code`` goes into the ``error`` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(frame: Frame) -> bytes:
    wire: dict[str, Any] = {"t": frame.TYPE, **_compact(frame)}
    data: bytes = msgpack.packb(wire, use_bin_type=True)
    return data


def _compact(model: Model) -> dict[str, Any]:
    """``model`` on the wire without the fields at their defaults."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(model):
        if f.name == EXTRA:
            continue
        value = getattr(model, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        key = key_of(type(model), f)
        if isinstance(value, Model):
            out[key] = _compact(value)
        elif isinstance(value, tuple):
            out[key] = [_compact(v) if isinstance(v, Model) else plain(v) for v in value]
        else:
            out[key] = plain(value)
    for key, item in model.extra.items():
        out.setdefault(key, item)
    return out


def size(value: Any) -> int:
    """The bytes ``value`` (a fact's body, a change's object) takes inside a frame."""
    return len(msgpack.packb(value, use_bin_type=True))


def decode(data: bytes, *, max_frame: int = DEFAULT_MAX_FRAME) -> Frame:
    if len(data) > max_frame:
        raise FrameError("too_large", f"a frame of {len(data)} bytes is over {max_frame}")
    try:
        wire = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=max_frame,
            max_bin_len=max_frame,
            max_array_len=100_000,
            max_map_len=100_000,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, RecursionError) as exc:  # fmt: skip
        raise FrameError("bad_frame", f"the frame is not one msgpack value: {exc}") from exc
    if not isinstance(wire, dict):
        raise FrameError("bad_frame", f"a frame is a map; got {type(wire).__name__}")
    kind = wire.pop("t", None)
    cls = FRAMES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(FRAMES))
        raise FrameError("bad_frame", f"t: {kind!r} is not a frame type ({known})")
    try:
        return cls.from_wire(wire, where=kind)
    except InvalidInput as exc:
        problems = "; ".join(f"{p.where}: {p.what}" for p in exc.problems)
        raise FrameError("bad_frame", f"the {cls.WHAT} is not valid: {problems}") from exc
