"""The one client core: saved login, overrides, transports, token refresh, error decoding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atoll import certs
from atoll.client import (
    Client,
    HubClient,
    Login,
    MemoryTransport,
    Request,
    error_from_body,
    load_login,
    login_path,
    save_login,
)
from atoll.errors import (
    AtollError,
    ConfigError,
    Forbidden,
    InvalidInput,
    PermanentError,
    StaleRevision,
    TemporaryError,
    Unauthenticated,
)


def test_saved_login_is_private_and_overridable(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert load_login(env) is None
    ca = str(tmp_path / "ca.pem")
    certs.write_pem(tmp_path / "ca.pem", certs.new_ca().cert_pem())
    path = save_login(Login("https://hub:8470", "tok", ca, "alice", "a"), env)
    assert path == tmp_path / "atoll" / "login.json" == login_path(env)
    assert path.stat().st_mode & 0o077 == 0
    client = HubClient.from_environment(env)
    assert (client.url, client.token, client.ca_file) == ("https://hub:8470", "tok", ca)
    over = {**env, "ATOLL_URL": "http://127.0.0.1:1", "ATOLL_TOKEN": "other"}
    client = HubClient.from_environment(over)
    assert (client.url, client.token) == ("http://127.0.0.1:1", "other")
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="atoll login"):
        load_login(env)


def test_no_hub_configured_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="atoll login"):
        HubClient.from_environment({"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="https://host:8470"):
        HubClient("ftp://x")


def test_error_bodies_become_error_types() -> None:
    body = {"error": {"code": "forbidden", "message": "no", "request_id": "req-1"}}
    err = error_from_body(403, body)
    assert isinstance(err, Forbidden) and "req-1" in err.message
    stale = error_from_body(409, {"error": {"code": "stale_revision", "message": "m"}})
    assert isinstance(stale, StaleRevision)
    bad = error_from_body(
        400,
        {
            "error": {
                "code": "invalid_input",
                "message": "m",
                "problems": [{"where": "body.x", "what": "y"}],
            }
        },
    )
    assert isinstance(bad, InvalidInput) and bad.problems[0].where == "body.x"
    odd = error_from_body(502, "<html>")  # a proxy's page: retry later
    assert isinstance(odd, TemporaryError) and "502" in odd.message
    busy = error_from_body(429, {"error": {"code": "too_many_requests", "message": "m"}}, "7")
    assert isinstance(busy, TemporaryError) and busy.delay == 7.0
    refused = error_from_body(
        422, {"error": {"code": "image_rejected", "message": "m", "problems": [{"where": "file",
        "what": "declared qcow2 but the content is raw"}]}},
    )  # fmt: skip
    assert isinstance(refused, InvalidInput) and refused.code == "image_rejected"
    assert "declared qcow2" in str(refused)
    assert type(error_from_body(418, {"error": {"code": "teapot", "message": "m"}})) is AtollError


def answer(status: int, body: object, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def test_the_core_sends_json_with_the_token_and_decodes_the_reply() -> None:
    transport = MemoryTransport(
        lambda req: answer(200, {"items": [{"id": 1}], "next_marker": None})
    )
    client = HubClient("https://hub:8470", "tok", transport=transport)
    assert client.list_all("/v1/projects", {"limit": "1"}) == [{"id": 1}]
    client.post("/v1/flavors", {"name": "f"})
    get, post = transport.sent
    assert (get.method, get.url) == ("GET", "https://hub:8470/v1/projects?limit=1")
    assert get.headers["Authorization"] == "Bearer tok"
    assert post.headers["Content-Type"] == "application/json"
    assert json.loads(post.body) == {"name": "f"}  # type: ignore[arg-type]


def test_a_401_is_retried_once_with_a_fresh_token() -> None:
    tokens = iter(["fresh", "fresher"])

    def handler(req: Request) -> tuple[int, dict[str, str], bytes]:
        if req.headers.get("Authorization") == "Bearer fresh":
            return answer(200, {"ok": True})
        return answer(401, {"error": {"code": "unauthenticated", "message": "expired"}})

    client = Client("https://site:8471", "stale", transport=MemoryTransport(handler),
                    refresh=lambda: next(tokens))  # fmt: skip
    assert client.get("/v1/servers") == {"ok": True}
    assert client.token == "fresh"
    client.token = "revoked"
    client.refresh = lambda: "still-bad"
    with pytest.raises(Unauthenticated, match="expired"):  # once, not forever
        client.get("/v1/servers")


def test_streamed_bodies_and_raw_replies_go_through_the_same_core() -> None:
    transport = MemoryTransport(lambda req: (200, {"Content-Type": "text/plain"}, b"vnfd: x"))
    client = HubClient("http://127.0.0.1:1", transport=transport)
    reply = client.request("PUT", "/p", raw=iter([b"ab", b"cd"]), headers={"X": "1"})
    assert reply.raw == b"vnfd: x" and reply.headers["content-type"] == "text/plain"
    assert transport.sent[0].body == b"abcd"


def test_an_unreachable_server_is_a_temporary_error() -> None:
    client = HubClient("http://127.0.0.1:9", timeout=2)  # discard port: nothing listens
    with pytest.raises(TemporaryError, match="cannot reach"):
        client.get("/v1/projects")


def test_a_reply_too_long_or_too_deep_is_refused_not_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hostile or broken server cannot make a client hold an endless reply, nor fail it
    with a RecursionError: a reply past MAX_REPLY is refused, one nesting past the parser's
    depth is a body that is not JSON."""
    from atoll.client import core

    monkeypatch.setattr(core, "MAX_REPLY", 1024)
    long = MemoryTransport(lambda req: (200, {"Content-Type": "application/json"}, b" " * 4096))
    with pytest.raises(PermanentError, match="the hub answered with more than 1024 bytes"):
        HubClient("https://hub:8470", transport=long).get("/v1/projects")
    deep = b"[" * 2000 + b"]" * 2000  # under the bound; past Python's parser
    monkeypatch.setattr(core, "MAX_REPLY", 4096)
    nested = MemoryTransport(lambda req: (200, {"Content-Type": "application/json"}, deep))
    reply = HubClient("https://hub:8470", transport=nested).get("/v1/projects")
    assert reply == {"raw": deep[:200].decode()}
