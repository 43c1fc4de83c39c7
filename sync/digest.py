"""Anti-entropy: range-based set reconciliation over ``(key, revision)`` items (version 2).

The hub and a site each hold a set of items: one per hub-origin object placed at the site,
its key ``<kind>/<id>`` (:func:`key_of`) and the hub revision of its last write. Drift (a
lost delete, a corrupted row) shows as items that differ; this module finds exactly those in
a few round trips and a few kilobytes, and costs one small frame each way when nothing
differs (negentropy's design, see ``shared/notes/sync-lessons.md`` section 3).

**Ranges.** A range ``[lo, hi)`` holds the items whose key ``k`` has ``lo <= k`` and
``k < hi`` (``hi == ""`` is the end of the key space; keys compare by code point). A range
goes on the wire as a :class:`~atoll.sync.frames.DigestRange` either *fingerprinted*
(``count`` and ``fingerprint``) or *listed* (``items``: ``[[key, revision], ...]``, sorted).

**Fingerprint.** Each item hashes to ``sha256(key + "\\0" + str(revision))`` read as a
little-endian 256-bit integer; a range's fingerprint is the first 16 bytes, in hex, of
``sha256(S || C)`` where ``S`` is the sum of its items' hashes modulo 2**256 (32 bytes,
little-endian) and ``C`` its count (8 bytes, little-endian). Sums make a range's fingerprint
O(log n) from prefix sums (:class:`Items`), whatever the range.

**Rounds.** The hub (:class:`Reconciler`) opens round 1 with the whole key space split into
:data:`BUCKETS` fingerprinted ranges of equal count (listed instead if it has fewer than
:data:`LIST_BELOW` items). The site (:func:`respond`) answers each range from its own items:
nothing if its fingerprint (or its listing) is the same; else its own items listed if it has
fewer than :data:`LIST_BELOW` there; else that range split into :data:`BUCKETS` fingerprinted
ranges. The hub reads the reply the same way: a listed range gives the differing keys at
once; a fingerprinted range it also has goes no further; one that differs is listed or split
again in the next round. Split boundaries are the shortest key prefixes that separate two
neighbouring items, so ranges cost a few bytes. One drifted object among 100,000 is found in
2 round trips; an identical set costs one frame each way.

**Frames.** A request frame holds at most :data:`RANGES_PER_FRAME` ranges, so its reply
(at most :data:`BUCKETS` ranges per range asked, a listed range under :data:`LIST_BELOW`
items of keys up to 128 characters) stays under ``MAX_ITEMS`` ranges and far under 1 MiB.
A round of more ranges goes in several frames; the site answers each frame in order.

Use, hub end (the session wraps ranges in frames and numbers them)::

    rec = Reconciler(Items(pairs))
    for ranges in rec.start():
        send(Digest(v=v, n=next_n(), round=rec.round, ranges=ranges))
    # for each Digest frame with reply=True from the site:
    for ranges in rec.read(reply):
        send(Digest(v=v, n=next_n(), round=rec.round, ranges=ranges))
    if rec.done:
        rec.differences  # Difference(key, hub=rev | None, site=rev | None), by key

Site end::

    ranges = respond(Items(pairs), request.ranges)
    send(Digest(v=v, n=next_n(), round=request.round, reply=True, ranges=ranges))

A bad reply or request (outside what was asked, out of turn, too many ranges, more than
:data:`MAX_ROUNDS` rounds) raises :class:`DigestError`; the session answers it with an
``error`` frame and closes. Items written while rounds run may show as differences; a
repair (``changes`` with ``repair=true``) is idempotent, so that costs a resend, not harm.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from atoll.sync.frames import MAX_ITEMS, MAX_KEY, Digest, DigestRange

BUCKETS = 16  # a differing range with many items is split into this many
LIST_BELOW = 32  # a range with fewer items than this is listed, not fingerprinted
RANGES_PER_FRAME = MAX_ITEMS // BUCKETS  # so that a reply fits in MAX_ITEMS ranges
MAX_ROUNDS = 32  # a well-behaved peer needs ~log16(n) + 2; more is a broken or hostile one
_MOD = 1 << 256

Pair = tuple[str, int]


class DigestError(Exception):
    """A digest frame that does not fit the exchange; ``code`` goes into the error frame."""

    code = "bad_digest"


def key_of(kind: str, object_id: str) -> str:
    return f"{kind}/{object_id}"


def parse_key(key: str) -> tuple[str, str]:
    """``(kind, id)`` of a key made by :func:`key_of`."""
    kind, _, object_id = key.partition("/")
    return kind, object_id


def item_hash(key: str, revision: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{key}\0{revision}".encode()).digest(), "little")


def fingerprint(total: int, count: int) -> str:
    data = (total % _MOD).to_bytes(32, "little") + count.to_bytes(8, "little")
    return hashlib.sha256(data).digest()[:16].hex()


@dataclasses.dataclass(frozen=True, order=True)
class Difference:
    """One key whose item differs: ``hub``/``site`` are each end's revision (``None``: that
    end has no such object). The hub repairs with a put of its object, or a delete when it
    has none."""

    key: str
    hub: int | None
    site: int | None

    @property
    def missing_at(self) -> Literal["hub", "site"] | None:
        return "hub" if self.hub is None else "site" if self.site is None else None

    @property
    def newer(self) -> Literal["hub", "site"] | None:
        """Which end has the higher revision (``None`` when one end lacks the key)."""
        if self.hub is None or self.site is None:
            return None
        return "hub" if self.hub > self.site else "site"

    @property
    def repair(self) -> Literal["put", "delete"]:
        return "delete" if self.hub is None else "put"


class Items:
    """One end's items, sorted by key, with prefix sums of their hashes: a range's count,
    fingerprint and listing are O(log n) (plus the listing's length). Building costs one
    sha256 per item (0.1-0.5 s per 100,000 items): build it once per check, not per round."""

    __slots__ = ("_keys", "_revisions", "_sums")

    def __init__(self, pairs: Iterable[Pair]) -> None:
        ordered = sorted(pairs)
        self._keys = [key for key, _ in ordered]
        self._revisions = [revision for _, revision in ordered]
        for a, b in itertools.pairwise(self._keys):
            if a == b:
                raise ValueError(f"key {a!r} appears twice")
        for key in self._keys:
            if not 0 < len(key) <= MAX_KEY:
                raise ValueError(f"key {key[:MAX_KEY]!r} is not 1-{MAX_KEY} characters")
        sums = [0] * (len(ordered) + 1)
        total = 0
        for i, (key, revision) in enumerate(ordered, 1):
            total += item_hash(key, revision)
            sums[i] = total
        self._sums = sums

    def __len__(self) -> int:
        return len(self._keys)

    def span(self, lo: str, hi: str) -> tuple[int, int]:
        """Indexes ``[i, j)`` of the items in ``[lo, hi)``."""
        i = bisect.bisect_left(self._keys, lo)
        j = len(self._keys) if hi == "" else bisect.bisect_left(self._keys, hi)
        return i, max(i, j)

    def summary(self, lo: str, hi: str) -> tuple[int, str]:
        """``(count, fingerprint)`` of ``[lo, hi)``."""
        i, j = self.span(lo, hi)
        return j - i, fingerprint(self._sums[j] - self._sums[i], j - i)

    def pairs(self, lo: str, hi: str) -> list[Pair]:
        i, j = self.span(lo, hi)
        return list(zip(self._keys[i:j], self._revisions[i:j], strict=True))

    def listed(self, lo: str, hi: str) -> DigestRange:
        items = [[key, revision] for key, revision in self.pairs(lo, hi)]
        return DigestRange(lo=lo, hi=hi, count=len(items), items=items)

    def fingerprinted(self, lo: str, hi: str) -> DigestRange:
        count, fp = self.summary(lo, hi)
        return DigestRange(lo=lo, hi=hi, count=count, fingerprint=fp)

    def answer(self, lo: str, hi: str) -> list[DigestRange]:
        """What this end says about a range that differs: its items listed if it has few,
        else the range split into :data:`BUCKETS` fingerprinted ranges of equal count."""
        i, j = self.span(lo, hi)
        if j - i < LIST_BELOW:
            return [self.listed(lo, hi)]
        bounds = [lo]
        for b in range(1, BUCKETS):
            at = i + (j - i) * b // BUCKETS
            bounds.append(_separator(self._keys[at - 1], self._keys[at]))
        bounds.append(hi)
        return [self.fingerprinted(a, b) for a, b in itertools.pairwise(bounds)]

    def matches(self, theirs: DigestRange) -> bool:
        """Whether this end has exactly what ``theirs`` says about its range."""
        if theirs.items is not None:
            return self.pairs(theirs.lo, theirs.hi) == _pairs(theirs.items)
        return self.summary(theirs.lo, theirs.hi) == (theirs.count, theirs.fingerprint)


def respond(items: Items, ranges: Sequence[DigestRange]) -> tuple[DigestRange, ...]:
    """The site's reply to one digest request: for each range asked that differs here, the
    site's items listed or the range split (see the module docstring)."""
    if len(ranges) > RANGES_PER_FRAME:
        raise DigestError(f"a digest request of {len(ranges)} ranges is over {RANGES_PER_FRAME}")
    out: list[DigestRange] = []
    for asked in ranges:
        if not items.matches(asked):
            out.extend(items.answer(asked.lo, asked.hi))
    return tuple(out)


class Reconciler:
    """The hub end of one anti-entropy check against one site (see the module docstring).

    ``round`` is the round the frames last returned belong to; ``done`` turns true once
    every range is settled, and ``differences`` then holds every key that differs."""

    def __init__(self, items: Items) -> None:
        self.items = items
        self.round = 0
        self.done = False
        self._asked: deque[tuple[DigestRange, ...]] = deque()  # request frames awaiting a reply
        self._next: list[DigestRange] = []
        self._found: dict[str, Difference] = {}

    @property
    def differences(self) -> tuple[Difference, ...]:
        return tuple(sorted(self._found.values()))

    def start(self) -> list[tuple[DigestRange, ...]]:
        """Round 1's request frames (their ranges)."""
        if self.round:
            raise DigestError("this check has already started")
        return self._send(self.items.answer("", ""))

    def read(self, reply: Digest) -> list[tuple[DigestRange, ...]]:
        """Take the site's reply to the oldest unanswered request frame; once the round's
        last reply is in, the next round's request frames (none when done)."""
        if self.done or not reply.reply or reply.round != self.round or not self._asked:
            raise DigestError(
                f"a digest reply for round {reply.round} was not expected (round "
                f"{self.round}, {len(self._asked)} replies awaited)"
            )
        asked = self._asked.popleft()
        starts = [r.lo for r in asked]
        for theirs in reply.ranges:
            if not _within(theirs, asked, starts):
                raise DigestError(f"digest range [{theirs.lo!r}, {theirs.hi!r}) was not asked")
            if theirs.items is not None:
                self._compare(theirs)
            elif not self.items.matches(theirs):
                self._next.extend(self.items.answer(theirs.lo, theirs.hi))
        if self._asked:
            return []
        if not self._next:
            self.done = True
            return []
        if self.round >= MAX_ROUNDS:
            raise DigestError(f"the digest check did not settle in {MAX_ROUNDS} rounds")
        ranges, self._next = self._next, []
        ranges.sort(key=lambda r: r.lo)
        return self._send(ranges)

    def _send(self, ranges: list[DigestRange]) -> list[tuple[DigestRange, ...]]:
        self.round += 1
        frames = [
            tuple(ranges[i : i + RANGES_PER_FRAME]) for i in range(0, len(ranges), RANGES_PER_FRAME)
        ]
        self._asked.extend(frames)
        return frames

    def _compare(self, theirs: DigestRange) -> None:
        ours = dict(self.items.pairs(theirs.lo, theirs.hi))
        site = dict(_pairs(theirs.items))
        for key in ours.keys() | site.keys():
            if ours.get(key) != site.get(key):
                self._found[key] = Difference(key, ours.get(key), site.get(key))


def _pairs(items: Any) -> list[Pair]:
    return [(key, revision) for key, revision in items]


def _separator(below: str, at: str) -> str:
    """The shortest prefix ``p`` of ``at`` with ``below < p <= at``."""
    n = 0
    while n < len(below) and below[n] == at[n]:
        n += 1
    return at[: n + 1]


def _within(inner: DigestRange, asked: tuple[DigestRange, ...], starts: list[str]) -> bool:
    """Whether ``inner`` lies inside one of ``asked`` (sorted by ``lo``, disjoint)."""
    k = bisect.bisect_right(starts, inner.lo) - 1
    if k < 0:
        return False
    outer = asked[k]
    if outer.hi == "":
        return True
    return inner.hi != "" and inner.hi <= outer.hi
