"""The hub's reply encoder: whatever ``json`` encoded decodes to the same value from its bytes,
including what orjson will not encode (integers beyond 64 bits, lone surrogates)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from atoll import jsonencode
from tests.core.test_jsonbody import values  # the JSON values the body decoder is tested on


@given(values)
def test_any_json_value_decodes_to_what_json_encoded(value: Any) -> None:
    assert json.loads(jsonencode.dumps(value)) == json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "value",
    [
        {"size": 2**70, "neg": -(2**64)},  # beyond 64 bits: orjson refuses, json writes it
        {"name": "\ud800"},  # a lone surrogate, as Python's parser takes one from a body
        {2: "two", True: "yes", None: "nothing", 1.5: "x"},  # keys json turns into strings
        {"deep": json.loads("[" * 300 + "]" * 300)},  # deeper than orjson goes (255)
    ],
)
def test_what_orjson_refuses_comes_out_as_json_wrote_it(value: Any) -> None:
    assert json.loads(jsonencode.dumps(value)) == json.loads(json.dumps(value))


def test_compact_utf8_and_nan_as_null() -> None:
    assert jsonencode.dumps({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'.encode()
    assert jsonencode.dumps([float("nan"), float("inf")]) == b"[null,null]"


def test_what_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        jsonencode.dumps({"raw": b"bytes"})
    with pytest.raises(TypeError):
        jsonencode.dumps({("a", "b"): 1})
