"""Request body checking never fails in any way but InvalidInput, whatever JSON arrives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.hub.api import auth, flavors, role_assignments, sites

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
SHAPES = [
    flavors.FLAVOR_CREATE,
    sites.SITE_CREATE,
    sites.SITE_UPDATE,
    auth.TOKEN_REQUEST,
    role_assignments.ASSIGNMENT_CREATE,
]
KEYS = st.sampled_from(
    [
        "name",
        "vcpus",
        "ram_mb",
        "extra_specs",
        "location",
        "labels",
        "user",
        "password",
        "token",
        "project",
        "system",
        "role",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    body=JSON_VALUES | st.dictionaries(KEYS, JSON_VALUES, max_size=6),
)
def test_any_json_is_accepted_or_refused_with_problems(shape: Any, body: Any) -> None:
    try:
        out = shape.validate(body)
    except InvalidInput as exc:
        assert exc.summary
        for problem in exc.problems:
            assert problem.where.startswith("body"), problem
        return
    assert isinstance(out, dict) and set(out) <= set(body)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as err:
        flavors.FLAVOR_CREATE.validate({"name": "Bad Name", "vcpus": "2", "colour": 1})
    wheres = sorted(p.where for p in err.value.problems)
    assert wheres == ["body.colour", "body.disk_gb", "body.name", "body.ram_mb", "body.vcpus"]
