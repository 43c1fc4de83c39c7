"""Hypothesis strategies for sync frames: every frame type, with valid objects inside."""

from __future__ import annotations

from typing import Any, Literal

from hypothesis import strategies as st

from atoll.resources import Desired, Meta, NicSpec, Observed, ServerFacts, ServerSpec
from atoll.sync import frames

HEX32 = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
NAME = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
REVISION = st.integers(1, 2**53)
EXTRA = st.dictionaries(st.from_regex(r"zz[a-z]{1,6}", fullmatch=True), TEXT, max_size=2)


def server(object_id: str, revision: int, name: str = "web-1") -> dict[str, Any]:
    """A server placed by the hub, on the wire, as a changes frame carries it."""
    return Desired(
        kind="server",
        meta=Meta(id=object_id, name=name, project_id="a" * 32),
        spec=ServerSpec(
            flavor="m1.small",
            image="b" * 32,
            nics=(NicSpec(network="c" * 32),),
            ssh_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@noc",),
        ),
        origin="hub",
        hub_revision=revision,
    ).to_wire()


@st.composite
def changes(draw: st.DrawFn) -> frames.Change:
    revision, object_id = draw(REVISION), draw(HEX32)
    if draw(st.booleans()):
        return frames.Change(revision=revision, op="delete", kind="server", id=object_id)
    return frames.Change(
        revision=revision,
        op="put",
        kind="server",
        id=object_id,
        object=server(object_id, revision, draw(NAME)),
        override=draw(st.booleans()),
        repair=draw(st.booleans()),
    )


@st.composite
def facts(draw: st.DrawFn) -> frames.Fact:
    kind: Literal["status", "event", "operation", "telemetry"] = draw(
        st.sampled_from(["status", "event", "operation", "telemetry"])
    )
    body: dict[str, Any]
    if kind == "status":
        body = Observed(
            kind="server",
            id=draw(HEX32),
            seq=draw(st.integers(0, 2**40)),
            state=draw(st.sampled_from(["ACTIVE", "BUILDING", "ERROR"])),
            message=draw(TEXT),
            facts=ServerFacts(),
        ).to_wire()
    else:
        body = {"kind": "server", "id": draw(HEX32), "reason": draw(TEXT), "at": 1.5}
    return frames.Fact(seq=draw(st.integers(1, 2**53)), type=kind, body=body)


@st.composite
def digest_ranges(draw: st.DrawFn) -> frames.DigestRange:
    keys = sorted(draw(st.sets(st.from_regex(r"[a-z]{1,6}/[0-9a-f]{1,8}", fullmatch=True))))
    lo = draw(st.sampled_from(["", "a"]))
    hi = draw(st.sampled_from(["", "zz"]))
    keys = [k for k in keys if k >= lo and (not hi or k < hi)]
    if draw(st.booleans()):
        items = [[k, draw(st.integers(0, 2**40))] for k in keys]
        return frames.DigestRange(lo=lo, hi=hi, count=len(items), items=items)
    fp = draw(st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
    return frames.DigestRange(lo=lo, hi=hi, count=draw(st.integers(0, 10**6)), fingerprint=fp)


def frame(cls: type[frames.Frame], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    head = {"v": st.integers(1, 65535), "n": st.integers(0, 2**53), "extra": EXTRA}
    return st.builds(cls, **head, **fields)


ITEMS = st.lists(changes(), max_size=4).map(tuple)
EVERY_FRAME: st.SearchStrategy[frames.Frame] = st.one_of(
    frame(
        frames.Hello,
        versions=st.lists(st.integers(1, 65535), min_size=1, max_size=4).map(tuple),
        site_id=HEX32,
        agent_version=TEXT,
        model_version=st.integers(1, 100),
        applied_revision=st.integers(0, 2**53),
        sent_seq=st.integers(0, 2**53),
        history=st.just("") | HEX32,
    ),
    frame(
        frames.Welcome,
        session=HEX32,
        hub_revision=st.integers(0, 2**53),
        acked_seq=st.integers(0, 2**53),
        heartbeat_interval=st.floats(0.1, 3600),
        dead_after=st.floats(0.1, 86400),
        max_frame=st.integers(1024, 1 << 24),
        window=st.integers(1, 1024),
        history=st.just("") | HEX32,
    ),
    frame(frames.Changes, revision=st.integers(0, 2**53), items=ITEMS),
    frame(frames.Snapshot, revision=st.integers(0, 2**53), items=ITEMS, last=st.booleans()),
    frame(frames.Facts, items=st.lists(facts(), max_size=4).map(tuple)),
    frame(
        frames.Ack,
        revision=st.none() | st.integers(0, 2**53),
        seq=st.none() | st.integers(0, 2**53),
    ),
    frame(frames.Ping),
    frame(frames.Pong),
    frame(
        frames.Digest,
        round=st.integers(0, 64),
        reply=st.booleans(),
        ranges=st.lists(digest_ranges(), max_size=4).map(tuple),
    ),
    frame(
        frames.Console,
        request=st.integers(1, frames.MAX_REQUEST),
        server_id=HEX32,
        lines=st.integers(1, frames.MAX_CONSOLE_LINES),
    ),
    frame(  # a console's text, escape sequences and all
        frames.ConsoleReply,
        request=st.integers(1, frames.MAX_REQUEST),
        output=st.text(st.characters(exclude_categories=["Cs"]), max_size=80),
        truncated=st.booleans(),
    ),
    frame(
        frames.ConsoleReply,
        request=st.integers(1, frames.MAX_REQUEST),
        error=st.sampled_from(["not_found", "busy", "unavailable", "failed"]),
        message=TEXT,
    ),
    frame(
        frames.Error,
        code=st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True),
        message=st.text(max_size=50).filter(
            lambda s: all(c.isprintable() or c in "\t\n\r" for c in s)
        ),
    ),
)
