"""The bounded JSON decoder both APIs read bodies with: same values as ``json``, or a refusal
naming the limit; never a RecursionError, whatever the bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll import jsonbody
from atoll.errors import InvalidInput, PayloadTooLarge

LIMIT = 1 << 20

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)  # fmt: skip


def nesting(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((nesting(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_valid_json_reads_as_json_does_and_depth_is_exact(value: Any) -> None:
    text = json.dumps(value)
    assert jsonbody.depth(text) == nesting(value)
    assert jsonbody.loads(text.encode(), max_bytes=LIMIT, max_depth=64) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.text(alphabet='[]{}":,\\ a1', max_size=300).map(str.encode))
def test_any_bytes_give_a_value_or_a_refusal(raw: bytes) -> None:
    try:
        jsonbody.loads(raw, max_bytes=LIMIT)
    except InvalidInput as exc:
        assert exc.problems and exc.problems[0].where == "body"


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
     b'["' + b"[" * 1000 + b'"' + b"[" * 40],
)  # fmt: skip
def test_deep_nesting_is_refused_naming_the_limit(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match=r"nests too deep \(limit 32 levels\)"):
        jsonbody.loads(raw, max_bytes=LIMIT)


def test_the_limit_counts_levels_not_brackets_in_strings() -> None:
    at_limit = b"[" * 32 + b"]" * 32
    assert jsonbody.loads(at_limit, max_bytes=LIMIT) is not None
    with pytest.raises(InvalidInput, match="too deep"):
        jsonbody.loads(b"[" + at_limit + b"]", max_bytes=LIMIT)
    in_strings = json.dumps({"text": "[[[[" * 100 + '\\"[{'}).encode()
    assert jsonbody.loads(in_strings, max_bytes=LIMIT) == json.loads(in_strings)


@pytest.mark.parametrize(
    "raw", [b'{"a": NaN}', b"[Infinity]", b"[-Infinity]", b"[1e999]", b"[" + b"9" * 5000 + b"]",
            b'{"a": 1', b"\xff\xfe", "[\"\ufeff\"]".encode("utf-16")],
)  # fmt: skip
def test_what_is_not_json_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        jsonbody.loads(raw, max_bytes=LIMIT)


def test_size_is_bounded() -> None:
    with pytest.raises(PayloadTooLarge, match="over 10 bytes"):
        jsonbody.loads(b'"' + b"a" * 10 + b'"', max_bytes=10)


@pytest.mark.parametrize(
    ("raw", "where"),
    [(rb'{"a": "x\ud800"}', "body.a"), (rb'{"a": [1, {"b": "\uDC00"}]}', "body.a[1].b"),
     (rb'{"\ud83d": 1}', "body (a key)"), (rb'["\ude00\ud83d"]', "body[0]")],
)  # fmt: skip
def test_a_lone_surrogate_is_refused_where_it_is(raw: bytes, where: str) -> None:
    with pytest.raises(InvalidInput, match="not valid Unicode text") as caught:
        jsonbody.loads(raw, max_bytes=LIMIT)
    assert [p.where for p in caught.value.problems] == [where]


def test_a_surrogate_pair_and_an_escaped_backslash_are_text() -> None:
    assert jsonbody.loads(rb'["\ud83d\ude00", "\\ud800"]', max_bytes=LIMIT) == [
        "\U0001f600",
        "\\ud800",
    ]
