"""One user cannot hold the hub's sockets and memory with live update streams.

Before: ``GET /ui/events`` (the dashboard's server-sent events) took any signed-in caller,
as many times as it was asked. One project member's token opened 1000 streams in three
seconds: 1000 of the hub's open files and ~83 MB of its memory, each stream a task the hub
keeps and a listener every store change is offered to, kept until the client lets go. With
more (the hub raises its open files limit to the hard limit, and a site needs one for its
sync session), the hub accepts nothing else: no site, no login. Now one user holds at most
``[hub] dashboard_streams_per_user`` streams; one more is a 429 with ``Retry-After``, and
another user's streams, like the rest of the API, are not affected.
"""

from __future__ import annotations

import http.client
import secrets
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, running_hub

LIMIT = 3


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\ndashboard_streams_per_user = {LIMIT}\n"
    with running_hub(Path(tmp_path_factory.mktemp("sec-streams")), config=config) as running:
        yield running


def open_stream(hub: RunningHub, token: str, streams: ExitStack) -> http.client.HTTPResponse:
    url = urllib.parse.urlsplit(hub.url)
    conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=hub.ssl_context,
                                       timeout=10)  # fmt: skip
    streams.callback(conn.close)
    conn.request("GET", "/ui/events", headers={"Authorization": f"Bearer {token}"})
    return conn.getresponse()  # the status and headers: a stream's body never ends


def test_one_user_holds_at_most_its_limit_of_live_update_streams(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    project, user, password = f"str-a-{tag}", f"str-alice-{tag}", secrets.token_urlsafe(12)
    hub.ok("POST", "/v1/projects", {"name": project})
    hub.ok("POST", "/v1/users", {"name": user, "password": password})
    hub.ok("POST", "/v1/role_assignments", {"user": user, "project": project, "role": "member"})
    alice, alice_again = (hub.login(user, password, project) for _ in range(2))  # one user
    bob = hub.tenant(f"str-b-{tag}", f"str-bob-{tag}")
    with ExitStack() as streams:
        for token in [alice] * (LIMIT - 1) + [alice_again]:
            answer = open_stream(hub, token, streams)
            assert answer.status == 200, answer.read(2000)
        for token in (alice, alice_again):
            refused = open_stream(hub, token, streams)
            assert refused.status == 429, f"one stream more answered {refused.status}"
            assert int(refused.getheader("Retry-After", "0")) >= 1
            assert "dashboard_streams_per_user" in refused.read(2000).decode()
        answer = open_stream(hub, bob, streams)  # another user's own room
        assert answer.status == 200, answer.read(2000)
        assert hub.call("GET", "/v1/sites", token=alice).status == 200  # the API is not held
