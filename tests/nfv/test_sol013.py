"""SOL013 attribute filters, selectors and the Version header, as the hub's routes use them."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.nfv.errors import VersionNotSupported
from atoll.nfv.sol013 import (
    OP_OCC_DEFAULT_EXCLUDED,
    VNF_INSTANCE_DEFAULT_EXCLUDED,
    check_version,
    parse_filter,
    parse_selector,
    select,
)

INSTANCES: list[dict[str, Any]] = [
    {
        "id": "a",
        "vnfdId": "d1",
        "instantiationState": "INSTANTIATED",
        "vnfInstanceName": "edge, north)",
        "metadata": {"tier": "gold", "size": 3, "on": True, "a/b": "slash"},
        "instantiatedVnfInfo": {
            "vnfcResourceInfo": [{"vduId": "VDU1"}, {"vduId": "VDU2"}],
            "scaleStatus": [{"aspectId": "x", "scaleLevel": 2}],
        },
        "_links": {"self": {"href": "/a"}},
    },
    {
        "id": "b",
        "vnfdId": "d2",
        "instantiationState": "NOT_INSTANTIATED",
        "vnfInstanceName": "it's",
        "metadata": {"tier": "silver", "size": 10, "on": False},
        "_links": {"self": {"href": "/b"}},
    },
    {"id": "c", "vnfdId": "d3", "instantiationState": "NOT_INSTANTIATED"},
]


def ids_for(text: str) -> list[str]:
    return [r["id"] for r in select(INSTANCES, parse_filter(text))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(eq,instantiationState,INSTANTIATED)", ["a"]),
        ("(neq,instantiationState,INSTANTIATED)", ["b", "c"]),
        ("(in,vnfdId,'d1','d3')", ["a", "c"]),
        ("(eq,instantiationState,NOT_INSTANTIATED);(in,vnfdId,d2,d3)", ["b", "c"]),
        ("(nin,vnfdId,d1,d2)", ["c"]),
        ("(eq,metadata/size,3)", ["a"]),
        ("(gt,metadata/size,3)", ["b"]),  # numbers compare as numbers (10 > 3)
        ("(gte,metadata/size,3)", ["a", "b"]),
        ("(lt,metadata/size,10)", ["a"]),
        ("(lte,metadata/size,10.0)", ["a", "b"]),
        ("(eq,metadata/on,true)", ["a"]),
        ("(eq,metadata/on,false)", ["b"]),
        ("(eq,metadata/size,three)", []),  # not a number: matches nothing
        ("(cont,metadata/tier,ol,lv)", ["a", "b"]),
        ("(ncont,metadata/tier,ol)", ["b"]),
        ("(eq,instantiatedVnfInfo/vnfcResourceInfo/vduId,VDU2)", ["a"]),  # any element
        ("(neq,instantiatedVnfInfo/vnfcResourceInfo/vduId,VDU2)", []),  # none may match
        ("(eq,instantiatedVnfInfo/scaleStatus/scaleLevel,2)", ["a"]),
        ("(eq,metadata/@key,tier)", ["a", "b"]),
        ("(eq,metadata/@key,a~1b)", ["a"]),  # ~1 is '/' in a name
        ("(eq,metadata/a~1b,slash)", ["a"]),
        ("(eq,vnfInstanceName,edge~a north~b)", ["a"]),  # ~a ',' and ~b ')' in a value
        ("(eq,vnfInstanceName,'edge, north)')", ["a"]),  # or quoted
        ("(eq,vnfInstanceName,'it''s')", ["b"]),
        ("(eq,vnfInstanceName,it's)", ["b"]),  # a quote inside an unquoted value is text
        ("(eq,noSuchAttribute,x)", []),  # unknown attribute: empty list
        ("(neq,noSuchAttribute,x)", []),
        ("(gt,vnfdId,d1)", ["b", "c"]),  # text compares as text
    ],
)
def test_filters(text: str, expected: list[str]) -> None:
    assert ids_for(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("(eq,x,1,2)", "eq takes exactly one value, not 2"),
        ("(like,x,1)", "'like' is not an operator"),
        ("(eq,x)", "(op,attribute,value"),
        ("eq,x,1", "starts with '('"),
        ("(eq,x,1", "missing ')'"),
        ("(eq,x,1)(eq,y,2)", "expected ';'"),
        ("(eq,x,1);", "starts with '('"),
        ("(eq,a//b,1)", "empty step"),
        ("(eq,a~2,1)", "'~2' is not an escape"),
        ("(eq,x,'open)", "not closed"),
        ("(eq,x,'a'b)", "ends at ',' or ')'"),
        ("", "is empty"),
    ],
)
def test_bad_filters_name_the_bad_part(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    assert caught.value.http_status == 400
    assert says in str(caught.value)


def test_comparing_a_number_with_text_is_a_400() -> None:
    with pytest.raises(InvalidInput, match="not a number"):
        ids_for("(gt,metadata/size,big)")


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet=st.sampled_from("(),;'~/@abeqnt01xyz@key "), max_size=60) | st.text())
def test_fuzzed_filters_only_ever_raise_invalid_input(text: str) -> None:
    try:
        exprs = parse_filter(text)
    except InvalidInput:
        return
    with contextlib.suppress(InvalidInput):  # a number compared with text, named
        select(INSTANCES, exprs)


def test_selectors() -> None:
    record = INSTANCES[0]
    default = parse_selector({})
    assert set(default.apply(record, VNF_INSTANCE_DEFAULT_EXCLUDED)) == {
        "id",
        "vnfdId",
        "instantiationState",
        "vnfInstanceName",
        "_links",
    }
    assert parse_selector({"all_fields": ""}).apply(record, VNF_INSTANCE_DEFAULT_EXCLUDED) == record
    some = parse_selector({"fields": "instantiatedVnfInfo/scaleStatus,metadata"}).apply(
        record, VNF_INSTANCE_DEFAULT_EXCLUDED
    )
    assert some["instantiatedVnfInfo"] == {"scaleStatus": [{"aspectId": "x", "scaleLevel": 2}]}
    assert some["metadata"] == record["metadata"]
    fewer = parse_selector({"exclude_fields": "vnfInstanceName,instantiatedVnfInfo/scaleStatus"})
    cut = fewer.apply(record, VNF_INSTANCE_DEFAULT_EXCLUDED)
    assert "vnfInstanceName" not in cut and cut["metadata"] == record["metadata"]
    assert cut["instantiatedVnfInfo"] == {
        "vnfcResourceInfo": [{"vduId": "VDU1"}, {"vduId": "VDU2"}]
    }
    op: dict[str, Any] = {
        "id": "o",
        "operationState": "COMPLETED",
        "operationParams": {},
        "error": None,
    }
    assert parse_selector({"exclude_default": ""}).apply(op, OP_OCC_DEFAULT_EXCLUDED) == {
        "id": "o",
        "operationState": "COMPLETED",
    }


@pytest.mark.parametrize(
    "query",
    [
        {"all_fields": "", "fields": "a"},
        {"all_fields": "", "exclude_default": ""},
        {"fields": "a", "exclude_fields": "b"},
        {"exclude_fields": "a", "exclude_default": ""},
        {"all_fields": "yes"},
        {"fields": "a//b"},
    ],
)
def test_selector_combinations_sol013_forbids(query: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_selector(query)
    assert caught.value.http_status == 400


def test_version_header() -> None:
    assert check_version("2.0.0") == "2.0.0"
    assert check_version("2.0.0-impl:atoll") == "2.0.0"
    assert check_version(" 2.0.0 ") == "2.0.0"
    for missing in (None, "", "  "):
        with pytest.raises(InvalidInput, match="required") as caught:
            check_version(missing)
        assert caught.value.http_status == 400
    for bad in ("2", "two", "2.0", "2.0.0.0", "2.0.0-beta", "2.0.0-impl:"):
        with pytest.raises(InvalidInput, match="not a version") as caught:
            check_version(bad)
        assert caught.value.http_status == 400
    with pytest.raises(VersionNotSupported, match=r"3\.0\.0 is not served") as unsupported:
        check_version("3.0.0")
    assert unsupported.value.http_status == 406
    assert check_version("1.3.0", served=("1.3.0", "2.0.0")) == "1.3.0"
