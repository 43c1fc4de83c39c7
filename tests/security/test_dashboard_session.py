"""The dashboard's session, from an attacker's side: a cookie the browser guards (HttpOnly,
Secure, SameSite=Strict, ``__Host-``), changes from another origin or without the CSRF token
refused, no session fixation, and no dashboard data without a session (a real hub over
HTTPS)."""

from __future__ import annotations

import http.client
import urllib.parse
from http.cookies import SimpleCookie
from typing import Any

from tests.security.daemons import HUB_ADMIN_PASSWORD, Reply, RunningHub

COOKIE = "__Host-atoll_session"
EVIL = "https://evil.example"


def sign_in(hub: RunningHub, user: str = "admin", password: str = HUB_ADMIN_PASSWORD,
            **headers: str) -> Reply:  # fmt: skip
    body = {"user": user, "password": password}
    return hub.call("POST", "/ui/session", body, token="", headers=headers)


def session_of(reply: Reply) -> tuple[str, str]:
    """The session cookie's value and the CSRF token a sign-in answered."""
    assert reply.status == 201, reply
    jar: SimpleCookie = SimpleCookie()
    jar.load(reply.headers["Set-Cookie"])
    return jar[COOKIE].value, str(reply.body["csrf_token"])


def with_cookie(hub: RunningHub, method: str, path: str, cookie: str, body: Any = None,
                **headers: str) -> Reply:  # fmt: skip
    return hub.call(method, path, body, token="", headers={"Cookie": f"{COOKIE}={cookie}",
                                                           **headers})  # fmt: skip


def test_the_session_cookie_is_httponly_secure_strict_and_host_bound(hub: RunningHub) -> None:
    reply = sign_in(hub)
    header = reply.headers["Set-Cookie"]
    attrs = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attrs, header
    assert "SameSite=Strict" in header and "Path=/" in header and "Domain" not in header
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    assert 0 < int(jar[COOKIE]["max-age"]) <= 3600  # ends with the token it carries
    assert "token" not in reply.body  # the page never holds the token itself
    cookie, csrf = session_of(reply)
    assert csrf and csrf not in cookie


def test_changes_from_another_origin_or_without_the_csrf_token_are_refused(
    hub: RunningHub,
) -> None:
    cookie, csrf = session_of(sign_in(hub))
    project = {"name": "csrf-target"}
    forged = with_cookie(hub, "POST", "/v1/projects", cookie, project, Origin=EVIL,
                         **{"X-CSRF-Token": csrf})  # fmt: skip
    assert forged.status == 403, forged
    no_token = with_cookie(hub, "POST", "/v1/projects", cookie, project, Origin=hub.url)
    assert no_token.status == 403, no_token
    wrong = with_cookie(hub, "POST", "/v1/projects", cookie, project,
                        **{"X-CSRF-Token": csrf[:-2] + "AA"})  # fmt: skip
    assert wrong.status == 403, wrong
    signout = with_cookie(hub, "DELETE", "/ui/session", cookie, Origin=EVIL)
    assert signout.status == 403, signout
    assert hub.call("GET", "/v1/projects/csrf-target").status == 404  # nothing was made
    made = with_cookie(hub, "POST", "/v1/projects", cookie, project, Origin=hub.url,
                       **{"X-CSRF-Token": csrf})  # fmt: skip
    assert made.status == 201, made
    assert sign_in(hub, Origin=EVIL).status == 403  # no login CSRF either


def test_a_planted_session_is_never_the_session_after_sign_in(hub: RunningHub) -> None:
    attacker_token = hub.tenant("fixation", "mallory", "reader")
    reply = sign_in(hub, Cookie=f"{COOKIE}={attacker_token}")
    cookie, _ = session_of(reply)
    assert cookie != attacker_token
    me = with_cookie(hub, "GET", "/ui/session", cookie)
    assert me.status == 200 and me.body["user"] == "admin", me
    assert with_cookie(hub, "GET", "/ui/session", "planted-garbage").status == 401


def test_signing_out_ends_the_session_and_its_token(hub: RunningHub) -> None:
    cookie, csrf = session_of(sign_in(hub))
    out = with_cookie(hub, "DELETE", "/ui/session", cookie, Origin=hub.url,
                      **{"X-CSRF-Token": csrf})  # fmt: skip
    assert out.status == 204, out
    assert f"{COOKIE}=" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
    assert with_cookie(hub, "GET", "/ui/fleet", cookie).status == 401
    assert hub.call("GET", "/v1/sites", token=cookie).status == 401  # the token is revoked


def test_dashboard_data_needs_a_session(hub: RunningHub) -> None:
    for path in ("/ui/fleet", "/ui/events", "/ui/session"):
        assert hub.call("GET", path, token="").status == 401, path
        assert with_cookie(hub, "GET", path, "not-a-token").status == 401, path
    page = hub.call("GET", "/ui/", token="")  # the page itself is public, and locked down
    assert page.status == 200 and b"Sign in" in page.raw
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert hub.call("GET", "/ui/static/../../hub.toml", token="").status == 404


def test_a_project_member_on_the_dashboard_has_the_api_rules_of_a_member(
    hub: RunningHub,
) -> None:
    hub.tenant("dash-p", "dash-member", "member")
    password = "dash-member-password"
    hub.ok("PATCH", "/v1/users/dash-member", {"password": password})
    reply = hub.call("POST", "/ui/session",
                     {"user": "dash-member", "password": password, "project": "dash-p"},
                     token="")  # fmt: skip
    cookie, csrf = session_of(reply)
    headers = {"X-CSRF-Token": csrf, "Origin": hub.url}
    assert with_cookie(hub, "GET", "/ui/fleet", cookie).status == 200
    made = with_cookie(hub, "POST", "/v1/sites", cookie, {"name": "nope"}, **headers)
    assert made.status == 403, made  # sites.create is for system admins, as in the API
    users = with_cookie(hub, "GET", "/v1/users", cookie)
    assert users.status == 403, users


def test_a_bearer_token_call_ignores_a_session_cookie_it_carries(hub: RunningHub) -> None:
    """An API client that also holds a (stale) session cookie is judged by its token alone."""
    made = hub.call("POST", "/v1/projects", {"name": "bearer-wins"},
                    headers={"Cookie": f"{COOKIE}=stale-session"})  # fmt: skip
    assert made.status == 201, made
    reader = hub.tenant("bearer-p", "bearer-reader", "reader")
    cookie, csrf = session_of(sign_in(hub))  # an admin's session in the same jar
    refused = hub.call("POST", "/v1/projects", {"name": "not-by-cookie"}, token=reader,
                       headers={"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf})  # fmt: skip
    assert refused.status == 403, refused  # the reader's token, not the admin's cookie


def test_a_last_event_id_of_other_digits_is_not_a_server_error(hub: RunningHub) -> None:
    """Before: ``Last-Event-ID: ²`` (a digit to ``str.isdigit``, not to ``int``) answered 500
    and logged a traceback, for any signed-in user. It is now an id the feed does not know:
    the stream starts as for a first connection."""
    url = urllib.parse.urlsplit(hub.url)
    conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=hub.ssl_context,
                                       timeout=10)  # fmt: skip
    try:
        headers = {"Authorization": f"Bearer {hub.token}", "Last-Event-ID": "\u00b2"}
        conn.putrequest("GET", "/ui/events")
        for key, value in headers.items():
            conn.putheader(key, value.encode())
        conn.endheaders()
        answer = conn.getresponse()  # the status and headers: the body is an endless stream
        assert answer.status == 200, answer.read(2000)
        assert answer.getheader("Content-Type", "").startswith("text/event-stream")
    finally:
        conn.close()
    assert "invalid literal for int()" not in hub.log
