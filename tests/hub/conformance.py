"""Checks every reply the API tests see against the OpenAPI document the hub serves.

A reply whose status the document does not list for that operation, or whose body does not
match the documented schema, fails the test that made the call: every API test is also a
test that the document tells the truth.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs

from atoll.api.openapi import ERROR_SCHEMA
from atoll.hub.api import sol013
from atoll.hub.app import NFV_APIS, all_routes
from atoll.hub.openapi import document

MULTI_SEGMENT = {"artifactPath"}  # path parameters that span segments ({name:.+} routes)


def _pattern(path: str) -> re.Pattern[str]:
    def param(match: re.Match[str]) -> str:
        return ".+" if match.group(1) in MULTI_SEGMENT else "[^/]+"

    return re.compile("^" + re.sub(r"\{([^}]+)\}", param, path) + "$")


DASHBOARD = "/ui"


class ResponseChecker:
    def __init__(self) -> None:
        self.doc = document(all_routes(), NFV_APIS)
        self._templates = [(_pattern(path), path) for path in self.doc["paths"]]

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
        if path.startswith(DASHBOARD):
            return  # the dashboard's page and its own endpoints are not the documented API
        op = self.operation(method, path)
        schema: dict[str, Any] | None
        nfv = sol013.api_of(NFV_APIS, path.split("?", 1)[0]) is not None
        error = sol013.PROBLEM_SCHEMA if nfv else ERROR_SCHEMA
        if op is None:
            assert status in (404, 405), f"{method} {path} is not documented but gave {status}"
            schema = error
        else:
            responses = op["responses"]
            if str(status) in responses:
                content = responses[str(status)].get("content")
                if content and "application/json" not in content:  # a binary reply
                    assert media in content, f"{method} {path}: {media} is not documented"
                    return
                schema = content["application/json"]["schema"] if content else None
                if schema == {"$ref": "#/components/schemas/Error"}:  # a 5xx in the error body
                    schema = error
            else:
                assert 400 <= status < 500, f"{method} {path}: undocumented status {status}"
                documented = responses["4XX"]["content"]
                assert media in documented, f"{method} {path}: {media} error not documented"
                schema = error
        if schema is None:
            assert body is None, f"{method} {path}: {status} should have no body"
            return
        validator = jsonschema_rs.Draft202012Validator(schema)
        errors = [str(e) for e in validator.iter_errors(body)]
        assert not errors, f"{method} {path} {status}: reply does not match the document: {errors}"
