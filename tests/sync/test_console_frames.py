"""The console request and its reply (protocol version 3): what the codec takes, what it
refuses with its problems, and that a console's text crosses as the guest wrote it."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from atoll.sync import codec, frames, versions

SERVER = "d" * 32


def wire(t: str, **fields: Any) -> bytes:
    data: bytes = msgpack.packb({"t": t, "v": 3, "n": 4, **fields}, use_bin_type=True)
    return data


def refused(data: bytes) -> str:
    with pytest.raises(codec.FrameError) as caught:
        codec.decode(data)
    assert caught.value.code == "bad_frame"
    return caught.value.message


def test_a_console_request_round_trips_and_is_the_third_version() -> None:
    ask = frames.Console(v=3, n=7, request=1, server_id=SERVER, lines=100)
    assert codec.decode(codec.encode(ask)) == ask
    assert msgpack.unpackb(codec.encode(ask)) == {
        "t": "console", "v": 3, "n": 7, "request": 1, "server_id": SERVER, "lines": 100,
    }  # fmt: skip
    assert versions.supports(3, "console") and not versions.supports(2, "console")
    assert versions.CURRENT >= 3


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"server_id": SERVER, "lines": 100}, ["console.request: "]),
        ({"request": 0, "server_id": SERVER, "lines": 1}, ["console.request: must be in 1.."]),
        ({"request": 1, "server_id": "web1", "lines": 1}, ["console.server_id: must be"]),
        ({"request": 1, "server_id": SERVER, "lines": 0}, ["console.lines: must be in 1..10000"]),
        (
            {"request": 1, "server_id": SERVER, "lines": frames.MAX_CONSOLE_LINES + 1},
            ["console.lines: must be in 1..10000"],
        ),
        (
            {"request": -1, "server_id": 5, "lines": "all"},
            ["console.request", "console.server_id", "console.lines"],
        ),
    ],
)
def test_a_bad_console_request_is_refused_with_every_problem(
    fields: dict[str, Any], problems: list[str]
) -> None:
    message = refused(wire("console", **fields))
    assert message.startswith("the console frame is not valid")
    for problem in problems:
        assert problem in message, message


def test_a_reply_carries_the_console_as_the_guest_wrote_it() -> None:
    text = "\x1b[1;32mOK\x1b[0m Started\r\n\x07bell \u00e9\u4e2d\n"
    reply = frames.ConsoleReply(v=3, n=2, request=9, output=text, truncated=True)
    again = codec.decode(codec.encode(reply))
    assert again == reply
    assert isinstance(again, frames.ConsoleReply) and again.output == text


def test_a_reply_left_at_its_defaults_is_an_empty_console() -> None:
    reply = codec.decode(wire("console_reply", request=3))
    assert isinstance(reply, frames.ConsoleReply)
    assert (reply.output, reply.truncated, reply.error) == ("", False, "")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"output": "x"}, "console_reply.request: "),
        ({"request": 1, "output": b"bytes"}, "console_reply.output: must be a string"),
        ({"request": 1, "output": ["a", "b"]}, "console_reply.output: must be a string"),
        ({"request": 1, "error": "Not Found"}, "console_reply.error: must be a snake_case"),
        ({"request": 1, "error": "not_found", "output": "x"}, "an error reply carries no output"),
        ({"request": 1, "message": "a\x1b[2Jb"}, "console_reply.message: must not contain"),
    ],
)
def test_a_bad_console_reply_is_refused_with_its_problem(
    fields: dict[str, Any], problem: str
) -> None:
    message = refused(wire("console_reply", **fields))
    assert message.startswith("the console reply frame is not valid"), message
    assert problem in message, message


def test_a_reply_over_the_maximum_frame_is_refused_before_it_is_read() -> None:
    data = codec.encode(frames.ConsoleReply(v=3, request=1, output="x" * 4096))
    with pytest.raises(codec.FrameError) as caught:
        codec.decode(data, max_frame=4096)
    assert caught.value.code == "too_large"
