"""A hub token the hub has revoked must stop working at the sites too, even offline.

A site verifies hub-signed tokens offline with the hub's public key; without the hub's
revocation list, a token kept working there after its holder logged out, was deleted or had
every token revoked. The joined site polls the hub's revocations (``GET /v1/revocations``)
every half second and keeps them in its local store; these tests wait a bounded number of
polls for a refusal, and check it holds after a restart with the hub down.
"""

from __future__ import annotations

import secrets
import time

from tests.security.conftest import SITE_POLL_INTERVAL
from tests.security.daemons import RunningHub, RunningSite

POLLS = 20  # a revocation must reach the site within this many poll intervals


def operator(hub: RunningHub, name: str) -> tuple[str, str]:
    """A NOC operator: a hub user with a system ``reader`` role; (password, token)."""
    password = f"{name}-{secrets.token_hex(8)}"
    hub.ok("POST", "/v1/users", {"name": name, "password": password})
    hub.ok("POST", "/v1/role_assignments", {"user": name, "system": True, "role": "reader"})
    return password, hub.login(name, password)


def site_status(site: RunningSite, token: str) -> int:
    return site.call("GET", "/v1/servers", token=token).status


def refused_soon(site: RunningSite, token: str) -> None:
    """The site refuses ``token`` within :data:`POLLS` poll intervals."""
    reply = None
    for _ in range(POLLS * 2):
        reply = site.call("GET", "/v1/servers", token=token)
        if reply.status == 401:
            break
        time.sleep(SITE_POLL_INTERVAL / 2)
    assert reply is not None and reply.status == 401, reply
    error = reply.body["error"]
    assert error["code"] == "unauthenticated" and "revoked" in error["message"], reply


def test_a_logged_out_token_is_refused_at_the_site(
    hub: RunningHub, joined_site: RunningSite
) -> None:
    password, token = operator(hub, "noc-logout")
    assert site_status(joined_site, token) == 200  # the site trusts the hub's tokens
    assert hub.call("DELETE", "/v1/auth/tokens/current", token=token).status == 204
    refused_soon(joined_site, token)
    assert site_status(joined_site, hub.login("noc-logout", password)) == 200  # only that one


def test_a_deleted_users_token_is_refused_at_the_site(
    hub: RunningHub, joined_site: RunningSite
) -> None:
    _, token = operator(hub, "noc-deleted")
    assert site_status(joined_site, token) == 200
    assert hub.call("DELETE", "/v1/users/noc-deleted").status == 204
    refused_soon(joined_site, token)


def test_revoking_a_user_refuses_their_tokens_at_the_site(
    hub: RunningHub, joined_site: RunningSite
) -> None:
    password, token = operator(hub, "noc-revoked")
    assert site_status(joined_site, token) == 200
    hub.ok("POST", "/v1/revocations", {"subject": "user", "value": "noc-revoked"})
    refused_soon(joined_site, token)
    assert site_status(joined_site, hub.login("noc-revoked", password)) == 200  # issued after


def test_revocations_hold_across_a_site_restart_with_the_hub_down(
    hub: RunningHub, joined_site: RunningSite
) -> None:
    """Last in the module: it stops the hub."""
    _, kept = operator(hub, "noc-kept")
    _, token = operator(hub, "noc-restart")
    assert site_status(joined_site, token) == 200
    assert hub.call("DELETE", "/v1/auth/tokens/current", token=token).status == 204
    refused_soon(joined_site, token)
    hub.stop()
    agent = joined_site.agent
    agent.stop()
    agent.start()
    assert site_status(joined_site, token) == 401  # from the site's own store
    assert site_status(joined_site, kept) == 200  # offline verification still works
