"""Server-side request forgery through LCM subscriptions: a tenant names the URL the hub
calls (``callbackUri``, and the OAuth 2.0 ``tokenEndpoint`` it POSTs credentials to). The
hub must not become the tenant's way into the hub machine's loopback services (its own API,
etcd, a site agent's local API) or the cloud metadata address: such callbacks are refused
(422 ``callback_refused``) before any request is sent, whatever spelling names them.
"""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest

from tests.security.daemons import RunningHub, http_server

SUBSCRIPTIONS = "/vnflcm/v2/subscriptions"
V2 = {"Version": "2.0.0"}


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def loopback_service() -> Iterator[tuple[int, list[str]]]:
    """Something listening on the hub machine's loopback that answers every request 204
    (what a callback test wants), and records what reached it."""
    with http_server(_Recorder) as port:
        yield port, _Recorder.seen


def test_callbacks_to_loopback_and_metadata_addresses_are_refused_unsent(
    hub: RunningHub, loopback_service: tuple[int, list[str]]
) -> None:
    port, seen = loopback_service
    token = hub.tenant("ssrf", "ssrf-member")
    targets = [
        f"http://127.0.0.1:{port}/cb",
        f"http://localhost:{port}/cb",
        f"http://127.1.2.3:{port}/cb",
        f"http://2130706433:{port}/cb",  # 127.0.0.1 as one number
        f"http://0x7f.1:{port}/cb",
        f"http://[::ffff:127.0.0.1]:{port}/cb",
        f"http://0.0.0.0:{port}/cb",
        "http://169.254.169.254/latest/meta-data/",
        f"{hub.url.replace('https://localhost', 'https://127.0.0.1')}/healthz",
    ]
    for target in targets:
        reply = hub.call("POST", SUBSCRIPTIONS, {"callbackUri": target}, token=token, headers=V2)
        assert reply.status == 422, (target, reply)
        assert reply.body["code"] == "callback_refused", (target, reply)
    # an OAuth 2.0 token endpoint on loopback would get the client's credentials POSTed
    oauth = {
        "callbackUri": "http://vnfm.invalid/cb",
        "authentication": {
            "authType": ["OAUTH2_CLIENT_CREDENTIALS"],
            "paramsOauth2ClientCredentials": {
                "clientId": "c",
                "clientPassword": "p",
                "tokenEndpoint": f"http://127.0.0.1:{port}/token",
            },
        },
    }
    reply = hub.call("POST", SUBSCRIPTIONS, oauth, token=token, headers=V2)
    assert reply.status == 422, reply
    assert seen == [], "the hub sent requests to its loopback for a tenant"
    assert hub.ok("GET", SUBSCRIPTIONS, token=token, headers=V2) == []
