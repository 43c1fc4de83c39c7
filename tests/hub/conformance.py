"""Checks every reply the API tests see against the OpenAPI document the hub serves.

A reply whose status the document does not list for that operation, or whose body does not
match the documented schema, fails the test that made the call: every API test is also a
test that the document tells the truth.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

from atoll.error_body import PROBLEM_MEDIA
from atoll.hub.api.sol013 import PROBLEM_SCHEMA
from atoll.hub.app import NFV_APIS, all_routes
from atoll.hub.openapi import ERROR_SCHEMA, document


class ResponseChecker:
    def __init__(self) -> None:
        self.doc = document(all_routes(), NFV_APIS)
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in self.doc["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        bare = path.split("?", 1)[0]
        for pattern, template in self._templates:
            if pattern.match(bare):
                op: dict[str, Any] | None = self.doc["paths"][template].get(method.lower())
                return op
        return None

    def check(
        self, method: str, path: str, status: int, body: Any, media: str = "application/json"
    ) -> None:
        op = self.operation(method, path)
        schema: dict[str, Any] | None
        if op is None:
            assert status in (404, 405), f"{method} {path} is not documented but gave {status}"
            schema = PROBLEM_SCHEMA if media == PROBLEM_MEDIA else ERROR_SCHEMA
        else:
            responses = op["responses"]
            if str(status) in responses:
                content = responses[str(status)].get("content")
                if content and "application/json" not in content:  # a binary reply
                    assert media in content, f"{method} {path}: {media} is not documented"
                    return
                schema = content["application/json"]["schema"] if content else None
            else:
                assert 400 <= status < 500, f"{method} {path}: undocumented status {status}"
                schema = PROBLEM_SCHEMA if media == PROBLEM_MEDIA else ERROR_SCHEMA
        if schema is None:
            assert body is None, f"{method} {path}: {status} should have no body"
            return
        validator = jsonschema_rs.Draft202012Validator(schema)
        errors = [str(e) for e in validator.iter_errors(body)]
        assert not errors, f"{method} {path} {status}: reply does not match the document: {errors}"
