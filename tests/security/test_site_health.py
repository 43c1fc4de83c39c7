"""What the site agent's public ``/health`` tells a caller with no token, on the running agent.

Load balancers, supervisors and field engineers call ``/health`` without a token, so it
answers anyone on the site's management network (the less trusted one, SECURITY.md). Before
the fix it said the reconciler's ``last_error`` there: what the last failed pass raised, in
the words of libvirt, OVS, qemu-img or SQLite (host paths, device names, tenants' object
ids), and the agent's ``version`` (which the hub's and the site's ``/healthz`` keep to
themselves, for the same reason). Now a caller without a token gets the status (and the
503 when degraded), the site, the counts and the sync figures; a token that may read the
site gets the whole report, and one that is not valid is refused as on any read route.

And the local API stays the operators': a hub token of a project, member or admin, reaches
none of a joined site's objects, by list or by id.
"""

from __future__ import annotations

from atoll import ids
from tests.security.daemons import RunningHub, RunningSite

PRIVATE = {"last_error", "version"}


def test_health_without_a_token_says_no_error_text_and_no_version(api_site: RunningSite) -> None:
    reply = api_site.call("GET", "/health", token="")
    assert reply.status == 200, reply
    report = reply.body
    assert report["status"] == "ok"
    assert not PRIVATE & set(report), report
    assert {"site", "reconcile_passes", "uptime_s"} <= set(report)


def test_health_with_a_readers_token_says_everything(api_site: RunningSite) -> None:
    report = api_site.ok("GET", "/health")
    assert set(report) >= PRIVATE, report


def test_health_with_a_forged_token_is_refused(api_site: RunningSite) -> None:
    forged = api_site.token[:-6] + ("AAAAAA" if not api_site.token.endswith("AAAAAA") else "BBBBBB")
    assert api_site.call("GET", "/health", token=forged).status == 401


def test_a_projects_hub_token_reaches_nothing_at_the_site(
    hub: RunningHub, joined_site: RunningSite
) -> None:
    some_id = ids.hub_id()
    for role in ("member", "admin"):
        token = hub.tenant("sh", f"sh-{role}", role)
        for method, path in [
            ("GET", "/v1/servers"),
            ("GET", f"/v1/servers/{some_id}"),
            ("DELETE", f"/v1/servers/{some_id}"),
            ("POST", f"/v1/servers/{some_id}/actions/stop"),
            ("DELETE", f"/v1/volumes/{some_id}"),
            ("GET", "/health"),
        ]:
            reply = joined_site.call(method, path, token=token)
            assert reply.status == 403, (role, method, path, reply)
