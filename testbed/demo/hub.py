"""Act: a hub over HTTPS — identity, a flavor, a join token, and project isolation."""

from __future__ import annotations

import secrets

from atoll.testbed.demo.stage import Stage
from atoll.testbed.services.ports import free_port

ADMIN_PASSWORD = "demo-" + secrets.token_urlsafe(12)


def start_hub(stage: Stage, *store: str) -> str:
    """``atoll hub init`` + ``atoll hub serve`` on a free port; returns the URL."""
    data = stage.work / ("hub-etcd" if store else "hub")
    stage.atoll("hub", "init", "--data-dir", str(data), show=False,
                env={"ATOLL_ADMIN_PASSWORD": ADMIN_PASSWORD})  # fmt: skip
    port = free_port()
    argv = ["hub", "serve", "--data-dir", str(data), "--host", "127.0.0.1", "--port", str(port)]
    stage.daemon(f"hub-{port}", [*argv, *store], ready="hub serving on")
    url = f"https://localhost:{port}"
    stage.atoll("login", "--url", url, "--user", "admin", "--password", ADMIN_PASSWORD,
                "--ca-file", str(data / "ca.pem"), show=False)  # fmt: skip
    return url


def login(stage: Stage, user: str, password: str, project: str | None = None) -> None:
    """``atoll login`` to the demo's hub as ``user`` (scoped to ``project`` if given)."""
    assert stage.hub_url
    scope = ("--project", project) if project else ()
    stage.atoll("login", "--url", stage.hub_url, "--user", user, "--password", password,
                *scope, "--ca-file", str(stage.work / "hub" / "ca.pem"), show=False)  # fmt: skip


def play(stage: Stage) -> None:
    stage.hub_url = url = start_hub(stage)
    stage.say(f"  hub up at {url} (HTTPS, certificate from its own CA, SQLite store)")
    ca = str(stage.work / "hub" / "ca.pem")
    for project in ("telco-a", "telco-b"):
        stage.atoll("project", "create", project)
    for user, project, role in (("alice", "telco-a", "member"), ("bob", "telco-b", "member"),
                                ("carol", "telco-a", "reader")):  # fmt: skip
        stage.atoll("user", "create", user, "--password", f"{user}-pw-123", show=False)
        stage.atoll("role", "add", "--user", user, "--project", project, "--role", role)
    stage.atoll("flavor", "create", "vnf.small", "--vcpus", "2", "--ram", "512", "--disk", "1",
                "--property", "hugepages=2M", "--property", "dedicated_cpus=true")  # fmt: skip
    stage.atoll("site", "token", "create", "edge-1", "--ttl", "3600")

    def login(user: str, project: str) -> None:
        stage.atoll("login", "--url", url, "--user", user, "--password", f"{user}-pw-123",
                    "--project", project, "--ca-file", ca, show=False)  # fmt: skip

    login("alice", "telco-a")
    seen = [p["name"] for p in stage.atoll_json("project", "list")]
    stage.check(seen == ["telco-a"], f"alice (member of telco-a) sees only {seen}")
    stage.atoll("user", "create", "mallory", "--password", "mallory-pw-1", ok=False)
    stage.check(True, "alice cannot create users (403)")
    login("carol", "telco-a")
    stage.atoll("flavor", "create", "tiny", "--vcpus", "1", "--ram", "64", "--disk", "1",
                ok=False)  # fmt: skip
    stage.check(True, "carol (reader) cannot create a flavor (403)")
    token = str(stage.atoll_json("token", "issue")["token"])
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    stage.atoll("project", "list", ok=False, env={"ATOLL_TOKEN": tampered, "ATOLL_URL": url})
    stage.check(True, "a tampered token is refused (401)")
    stage.atoll("login", "--url", url, "--user", "admin", "--password", ADMIN_PASSWORD,
                "--ca-file", ca, show=False)  # fmt: skip
