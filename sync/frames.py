"""The frames of the sync protocol, one typed model each (see ``sync/PROTOCOL.md``).

Every frame on the wire is one msgpack map: ``t`` (its type), ``v`` (the protocol version
the sender speaks in this session), ``n`` (the sender's frame number in this session,
1, 2, ...) and the fields of its type below. :mod:`.codec` turns bytes into these models
and back; nothing else reads or writes frame bytes.

Frames are :class:`atoll.resources.Model`\\ s, so a frame from a newer peer keeps the fields
this one does not know (``extra``) and a bad frame is refused with every problem and its
path (``items[3].op``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Literal

from atoll.errors import InvalidInput, Problem
from atoll.printable import is_unicode
from atoll.resources.envelope import SPECS, Desired
from atoll.resources.fields import bounded
from atoll.resources.model import ID, ID_HINT, Model, at

MAX_ITEMS = 1000  # items in one changes/facts/snapshot frame, ranges in one digest frame
MAX_KEY = 128  # characters in a digest key or range bound
# The most one fact's body may take in a frame (msgpack bytes), by type: room for the
# largest body a site makes of that type (a message of MAX_MESSAGE characters; a desired
# server with 64 Ki characters of user data) and for fields a newer site adds, so one fact
# stores no more than this at the hub. A telemetry batch is bounded by its points instead
# (at most MAX_POINTS, each checked by the hub's keeper) and kept outside the store.
MAX_BODY = {"status": 32 << 10, "event": 32 << 10, "operation": 512 << 10}
MAX_POINTS = 4000  # points in one telemetry batch (its facts frame stays well under 1 MiB)
# A telemetry point's time is a whole number of POINT_STEP seconds (epoch): the site's ring
# ships minute averages, or whole-minute buckets when catching up. The hub keeps one point a
# series a step (Gnocchi's granularity), and leaves out a point off the step
POINT_STEP = 60
# The most a site may say it can allocate: what placement takes a site that never reported
# to have (atoll.hub.lcm.targets.UNKNOWN). A host of 8192 CPUs (Linux's most) at a CPU
# allocation ratio of 128, or an exbibyte of RAM or disk, is beyond any one site; a report
# beyond these would only make a site look bigger than one the hub knows nothing of.
MAX_VCPUS = 1 << 20
MAX_RAM_MB = 1 << 40
MAX_DISK_GB = 1 << 30
HISTORY = r"[A-Za-z0-9._-]{0,64}"  # a hub store's history id, or "" (none known)
HISTORY_HINT = "must be a history id: at most 64 letters, digits, '.', '_' or '-'"
MAX_CONSOLE_LINES = 10000  # lines of a console log one console request asks for, at most
MAX_REQUEST = (1 << 53) - 1  # a request id (JSON numbers are exact to 2^53)
REASON = r"([a-z][a-z_]{0,63})?"  # a snake_case reason, or "" (none)
REASON_HINT = "must be a snake_case reason"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Frame(Model):
    """What every frame carries; ``TYPE`` is its ``t`` on the wire."""

    TYPE: ClassVar[str] = ""
    v: int = bounded(low=1, high=65535)
    n: int = bounded(0, low=0)


# -- opening ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Capacity(Model):
    """What a site can allocate (its host's totals times its allocation ratios) and what its
    servers and volumes hold of it, in vCPUs, MB of RAM and GB of disk (rounded up); each
    figure at most :data:`MAX_VCPUS`, :data:`MAX_RAM_MB`, :data:`MAX_DISK_GB`."""

    WHAT = "capacity"
    vcpus: int = bounded(0, low=0, high=MAX_VCPUS)
    ram_mb: int = bounded(0, low=0, high=MAX_RAM_MB)
    disk_gb: int = bounded(0, low=0, high=MAX_DISK_GB)
    used_vcpus: int = bounded(0, low=0, high=MAX_VCPUS)
    used_ram_mb: int = bounded(0, low=0, high=MAX_RAM_MB)
    used_disk_gb: int = bounded(0, low=0, high=MAX_DISK_GB)

    def totals(self) -> dict[str, int]:
        return {"vcpus": self.vcpus, "ram_mb": self.ram_mb, "disk_gb": self.disk_gb}

    def used(self) -> dict[str, int]:
        return {"vcpus": self.used_vcpus, "ram_mb": self.used_ram_mb,
                "disk_gb": self.used_disk_gb}  # fmt: skip

    def within_bounds(self) -> Capacity:
        """This capacity with each figure held to its bounds: what a site says of itself (a
        host's allocation ratios can make it claim more than any site may)."""
        return Capacity(
            vcpus=_held(self.vcpus, MAX_VCPUS),
            ram_mb=_held(self.ram_mb, MAX_RAM_MB),
            disk_gb=_held(self.disk_gb, MAX_DISK_GB),
            used_vcpus=_held(self.used_vcpus, MAX_VCPUS),
            used_ram_mb=_held(self.used_ram_mb, MAX_RAM_MB),
            used_disk_gb=_held(self.used_disk_gb, MAX_DISK_GB),
        )


def _held(value: int, high: int) -> int:
    return max(0, min(value, high))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Hello(Frame):
    """Site -> hub, first frame: who I am, what I speak, where I am."""

    TYPE = "hello"
    WHAT = "hello frame"
    versions: tuple[int, ...] = bounded(low=1, high=32)  # protocol versions the site speaks
    site_id: str = bounded(pattern=ID, hint=ID_HINT)
    agent_version: str = bounded(high=64)
    model_version: int = bounded(low=1)  # atoll.resources.versions.CURRENT of the site
    applied_revision: int = bounded(0, low=0)  # newest hub revision the site has persisted
    sent_seq: int = bounded(0, low=0)  # newest fact seq the site has ever sent
    # the site's capacity and usage now (None: not known): a Capacity, read by capacity_of
    capacity: Any = None
    # the history id of the hub store whose revisions applied_revision counts ("": none
    # known: a new site, or one older than history ids); a hub whose store has another
    # history starts the site over with a snapshot whatever the numbers say
    history: str = bounded("", high=64, pattern=HISTORY, hint=HISTORY_HINT)

    def problems(self, where: str) -> list[Problem]:
        return _capacity_shape(self.capacity, where)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Welcome(Frame):
    """Hub -> site: the session is open in version ``v``."""

    TYPE = "welcome"
    WHAT = "welcome frame"
    session: str = bounded(low=1, high=64)  # this session's epoch id
    hub_revision: int = bounded(low=0)  # the hub store's revision now
    acked_seq: int = bounded(low=0)  # newest site fact seq the hub has recorded
    heartbeat_interval: float = bounded(10.0, low=0.1, high=3600)
    dead_after: float = bounded(40.0, low=0.1, high=86400)
    max_frame: int = bounded(1 << 20, low=1024)
    window: int = bounded(8, low=1, high=1024)  # unacked data frames a sender may have out
    # how widely the site spreads its reconnects after losing this session (seconds): the
    # hub sizes it to the sites it serves so a restart's reconnects come at a rate it takes
    # (atoll.sync.backoff); an older hub says nothing and the site assumes a large fleet
    reconnect_spread: float = bounded(40.0, low=0.1, high=3600)
    # the hub store's history id ("": a hub older than history ids): a site that holds
    # another one applied revisions of a store since restored from a backup (PROTOCOL.md)
    history: str = bounded("", high=64, pattern=HISTORY, hint=HISTORY_HINT)


# -- intent down -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Change(Model):
    """One hub write that concerns the site. ``object`` is a :class:`atoll.resources.Desired`
    on the wire (``None`` for a delete), naming the same kind and id, with ``hub_revision``
    equal to ``revision``; the codec checks that, and :attr:`desired` is the decoded model
    (read it rather than decoding ``object`` again). Kinds that are not desired objects
    (identity data) carry a map. ``override`` marks intent the NOC chose over the site's own
    change (``atoll conflict resolve --keep hub``)."""

    WHAT = "change"
    revision: int = bounded(low=1)
    op: Literal["put", "delete"]
    kind: str = bounded(pattern=r"[a-z][a-z_]{0,31}", hint="must be a lowercase kind")
    id: str = bounded(pattern=ID, hint=ID_HINT)
    object: Any = None
    override: bool = False
    repair: bool = False  # sent by anti-entropy, not by the change feed

    @functools.cached_property
    def desired(self) -> Desired | None:
        """``object`` as a :class:`Desired` (``None`` for a delete or a kind that is not a
        desired object, such as identity data); decoded once, when the frame is checked."""
        if self.op != "put" or self.kind not in SPECS:
            return None
        return Desired.from_wire(self.object, where="object")

    def problems(self, where: str) -> list[Problem]:
        if self.op == "delete":
            if self.object is not None:
                return [Problem(at(where, "object"), "a delete carries no object")]
            return []
        if self.kind not in SPECS:
            if not isinstance(self.object, dict):
                return [Problem(at(where, "object"), "a put carries an object")]
            return []
        try:
            desired = self.desired
        except InvalidInput as exc:
            return [Problem(at(where, p.where), p.what) for p in exc.problems]
        assert desired is not None
        wrong = [
            (name, theirs, ours)
            for name, theirs, ours in (
                ("kind", desired.kind, self.kind),
                ("meta.id", desired.meta.id, self.id),
                ("hub_revision", desired.hub_revision, self.revision),
            )
            if theirs != ours
        ]
        return [
            Problem(at(at(where, "object"), name), f"is {theirs!r}; the change says {ours!r}")
            for name, theirs, ours in wrong
        ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Changes(Frame):
    """Hub -> site: writes in revision order; after them the site is at ``revision``."""

    TYPE = "changes"
    WHAT = "changes frame"
    revision: int = bounded(low=0)
    items: tuple[Change, ...] = bounded((), high=MAX_ITEMS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Snapshot(Frame):
    """Hub -> site: every object the site should have, as of ``revision``, in parts.

    Sent instead of changes when the site's revision is older than the store keeps (or 0).
    After the part with ``last`` the site removes hub-origin objects the snapshot did not
    name and is at ``revision``."""

    TYPE = "snapshot"
    WHAT = "snapshot frame"
    revision: int = bounded(low=0)
    items: tuple[Change, ...] = bounded((), high=MAX_ITEMS)
    last: bool = False


# -- facts up --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Fact(Model):
    """One numbered fact from the site's outbox. ``body`` by ``type``: ``status`` an
    :class:`atoll.resources.Observed`; ``event`` an :class:`atoll.resources.Event`
    (``{kind, id, reason, message, at}``); ``operation`` a site-authored operation record;
    ``telemetry`` a batch of rollups (at most :data:`MAX_POINTS` points).

    The codec checks only that a body is a map. Whether it is valid for its type, and
    within :data:`MAX_BODY`, the hub asks as it records the fact: a fact it refuses is
    refused alone and acknowledged (a frame refused for it would be sent again at every
    reconnect, and nothing after it would ever be recorded)."""

    WHAT = "fact"
    seq: int = bounded(low=1)
    type: Literal["status", "event", "operation", "telemetry"]
    body: Any = None

    def problems(self, where: str) -> list[Problem]:
        if not isinstance(self.body, dict):
            return [Problem(at(where, "body"), f"a {self.type} fact's body is an object")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class Facts(Frame):
    TYPE = "facts"
    WHAT = "facts frame"
    items: tuple[Fact, ...] = bounded((), high=MAX_ITEMS)


# -- acknowledgements, liveness, anti-entropy, errors --------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Ack(Frame):
    """Cumulative: the site persisted everything up to ``revision`` (of changes/snapshot),
    or the hub recorded every fact up to ``seq``."""

    TYPE = "ack"
    WHAT = "ack frame"
    revision: int | None = bounded(None, low=0)
    seq: int | None = bounded(None, low=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ping(Frame):
    TYPE = "ping"
    WHAT = "ping frame"
    # only when it changed since the site last said it: a Capacity, read by capacity_of
    capacity: Any = None

    def problems(self, where: str) -> list[Problem]:
        return _capacity_shape(self.capacity, where)


def capacity_of(frame: Hello | Ping) -> Capacity | None:
    """The capacity a hello or a ping reports (None: it says none); InvalidInput naming the
    figures that are not within bounds. The codec checks only that there is a map: a site
    whose report is refused keeps its session (it would say the same in every hello), and
    the hub keeps the figures it had (PROTOCOL.md, "Capacity")."""
    if frame.capacity is None or isinstance(frame.capacity, Capacity):
        return frame.capacity
    return Capacity.from_wire(frame.capacity, where=at(frame.TYPE, "capacity"))


def _capacity_shape(capacity: object, where: str) -> list[Problem]:
    if capacity is None or isinstance(capacity, (dict, Capacity)):
        return []
    return [Problem(at(where, "capacity"), "must be an object (a capacity)")]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pong(Frame):
    TYPE = "pong"
    WHAT = "pong frame"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DigestRange(Model):
    """A range ``[lo, hi)`` of object keys: its count and fingerprint, or its items."""

    WHAT = "digest range"
    lo: str = bounded(high=MAX_KEY)
    hi: str = bounded(high=MAX_KEY)  # "" means the end of the key space
    count: int = bounded(0, low=0)
    fingerprint: str = bounded("", pattern=r"([0-9a-f]{32})?", hint="must be 32 hex digits")
    items: Any = None  # [[key, hub revision], ...] sorted, when the range is listed

    def problems(self, where: str) -> list[Problem]:
        if self.hi and self.lo >= self.hi:
            return [Problem(at(where, "hi"), "must be above lo (or empty: the end)")]
        if self.items is None:
            return []
        problem = _listing_problem(self.items, self.lo, self.hi)
        if problem:
            return [Problem(at(where, "items"), problem)]
        if self.fingerprint:
            return [Problem(at(where, "fingerprint"), "a listed range has no fingerprint")]
        if self.count != len(self.items):
            return [
                Problem(at(where, "count"), f"is {self.count}; the range lists {len(self.items)}")
            ]
        return []


def _listing_problem(items: object, lo: str, hi: str) -> str | None:
    """What is wrong with a digest range's ``items``, if anything."""
    if not isinstance(items, list):
        return "must be a list of [key, revision] pairs"
    if len(items) > MAX_ITEMS:
        return f"must have at most {MAX_ITEMS} items"
    previous = None
    for i, item in enumerate(items):
        if not (isinstance(item, list) and len(item) == 2):
            return f"[{i}] must be a [key, revision] pair"
        key, revision = item
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY or not key.isprintable():
            return f"[{i}] key must be 1-{MAX_KEY} printable characters"
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
            return f"[{i}] revision must be an integer >= 0"
        if key < lo or (hi and key >= hi):
            return f"[{i}] key {key!r} is outside the range"
        if previous is not None and key <= previous:
            return f"[{i}] keys must be sorted and unique"
        previous = key
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Digest(Frame):
    """Anti-entropy (version 2): one round of range fingerprints; the reply has the same
    ``round`` and the ranges that differ, split or listed."""

    TYPE = "digest"
    WHAT = "digest frame"
    round: int = bounded(low=0)
    reply: bool = False
    ranges: tuple[DigestRange, ...] = bounded((), high=MAX_ITEMS)


# -- requests down, one reply each (version 3) ------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Console(Frame):
    """Hub -> site (version 3): the last ``lines`` lines of server ``server_id``'s serial
    console log. ``request`` is the hub's id for it, new in this session; the site answers
    with one :class:`ConsoleReply` naming it."""

    TYPE = "console"
    WHAT = "console frame"
    request: int = bounded(low=1, high=MAX_REQUEST)
    server_id: str = bounded(pattern=ID, hint=ID_HINT)
    lines: int = bounded(low=1, high=MAX_CONSOLE_LINES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConsoleReply(Frame):
    """Site -> hub (version 3): the answer to console ``request``. ``output`` is the log's
    last lines as the guest wrote them (control characters and all: whoever shows it
    escapes them), within the session's ``max_frame``: ``truncated`` says older lines that
    were asked for are left out to fit. Or ``error``, a snake_case reason (``not_found``:
    the site has no such server or it has no console yet; ``busy``; ``unavailable``: the
    hypervisor did not answer; ``failed``; a newer site may add others), and ``message``,
    what a person reads."""

    TYPE = "console_reply"
    WHAT = "console reply frame"
    request: int = bounded(low=1, high=MAX_REQUEST)
    output: Any = ""  # text: a string, checked by problems() (control characters allowed)
    truncated: bool = False
    error: str = bounded("", high=64, pattern=REASON, hint=REASON_HINT)
    message: str = bounded("", high=4096, multiline=True)

    def problems(self, where: str) -> list[Problem]:
        if not isinstance(self.output, str):
            return [Problem(at(where, "output"), "must be a string (the console's text)")]
        if not is_unicode(self.output):
            return [Problem(at(where, "output"), "must be Unicode text: holds a lone surrogate")]
        if self.error and (self.output or self.truncated):
            return [Problem(at(where, "output"), "an error reply carries no output")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class Error(Frame):
    """Either side, last frame before it closes: why."""

    TYPE = "error"
    WHAT = "error frame"
    code: str = bounded(pattern=r"[a-z][a-z_]{0,63}", hint="must be a snake_case code")
    message: str = bounded("", high=4096, multiline=True)


FRAMES: dict[str, type[Frame]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Welcome,
        Changes,
        Snapshot,
        Facts,
        Ack,
        Ping,
        Pong,
        Digest,
        Console,
        ConsoleReply,
        Error,
    )
}
