"""The running daemons an attacker calls: a real hub and a real site agent, started as users do.

Every module in ``tests/security/`` talks to these over real HTTP, the way someone outside
would: no test client, no in-process app, no store access except to *observe* the damage.

- :class:`RunningHub`: ``atoll hub init`` + ``atoll hub serve`` (HTTPS from its own CA, SQLite
  store) on a free loopback port; :meth:`RunningHub.restart` serves again on the same data
  dir and port (after a test left the store as an earlier version did, say).
- :func:`hubs_on_etcd`: two such hubs on one private etcd store, as a scale-out hub runs.
- :class:`RunningSite`: ``atoll site-agent run`` on real libvirtd and a private OVS, logged in
  with the local admin credential it printed on first start (:func:`running_site`); or the
  same daemon on the drivers' in-memory fakes, for attacks that never reach a driver
  (authentication, request parsing, bind addresses, revocations, joins).

Both answer :meth:`Daemon.call` with ``(status, headers, body)`` and never raise on an HTTP
error status: an attacker reads every answer.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import http.server
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from atoll.testbed.services import libvirtd
from atoll.testbed.services.etcd import EtcdCluster
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap, spawn
from tests.fixtures import DOMAIN_PREFIX
from tests.site_agent import real_site

ATOLL = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "atoll"
HUB_ADMIN_PASSWORD = "sec-admin-" + secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return self.raw.decode(errors="replace")

    @property
    def message(self) -> str:
        """An error's message: the JSON error body's, or a ProblemDetails' detail (the ETSI
        NFV APIs answer errors so)."""
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("message", ""))
        return str(body.get("detail", "")) if isinstance(body, dict) else str(body)

    def __repr__(self) -> str:  # what a failing assert shows
        return f"Reply({self.status}, {self.raw[:500]!r})"


@dataclass
class Daemon:
    url: str
    ssl_context: ssl.SSLContext | None = None
    token: str = field(default="", repr=False)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        source: str | None = None,
    ) -> Reply:
        """One HTTP request; ``token=None`` uses the daemon's admin token, ``""`` none at all.

        ``source`` (a loopback address such as ``127.0.0.9``) is the address the request
        comes from, so a test can play several clients on one machine."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            req.add_header("Content-Type", "application/json")
        bearer = self.token if token is None else token
        if bearer:
            req.add_header("Authorization", f"Bearer {bearer}")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        opener = _opener(self.ssl_context, source)
        try:
            with opener.open(req, timeout=timeout) as resp:
                return Reply(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, dict(exc.headers.items()), exc.read())

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        """A call that must succeed (2xx); returns the decoded body."""
        reply = self.call(method, path, body, **kw)
        assert 200 <= reply.status < 300, f"{method} {path}: {reply!r}"
        return reply.body


class _FromHTTP(urllib.request.HTTPHandler):
    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        bound = functools.partial(http.client.HTTPConnection, source_address=(self.source, 0))
        return self.do_open(bound, req)


class _FromHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, source: str, context: ssl.SSLContext | None) -> None:
        super().__init__(context=context)
        self.source, self.tls = source, context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        bound = functools.partial(http.client.HTTPSConnection, source_address=(self.source, 0))
        return self.do_open(bound, req, context=self.tls)


def _opener(context: ssl.SSLContext | None, source: str | None) -> urllib.request.OpenerDirector:
    if source is None:
        return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(_FromHTTP(source), _FromHTTPS(source, context))


@dataclass
class RunningHub(Daemon):
    data_dir: Path = Path()
    ca_file: Path = Path()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    argv: list[str] = field(default_factory=list, repr=False)  # how it serves (its port too)

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        config: str | None = None,
        before_serve: Callable[[Path], None] | None = None,
        global_args: Sequence[str] = (),
        serve_args: Sequence[str] = (),
        san: tuple[str, ...] = (),
        host: str = "127.0.0.1",
        netns: str | None = None,
    ) -> RunningHub:
        """``config``: TOML text (``[hub]``, ``[images]``...) for ``hub serve --config``.
        ``before_serve(data_dir)``, if given, runs between init and serve (to lay down a
        data dir as an earlier version left it, say). ``global_args`` go before ``hub``
        (``--log-format json``), ``serve_args`` after ``serve`` (``--log-file F``).
        ``san``: more names/addresses for the hub's certificate; ``host``: where it listens;
        ``netns``: the network namespace it runs in (``ip netns exec``; the test then reaches
        it at ``host``)."""
        data = workdir / "hub"
        env = {**os.environ, "ATOLL_ADMIN_PASSWORD": HUB_ADMIN_PASSWORD}
        sans = [arg for name in san for arg in ("--san", name)]
        subprocess.run(
            [str(ATOLL), "hub", "init", "--data-dir", str(data), *sans],
            check=True,
            env=env,
            capture_output=True,
        )
        if before_serve is not None:
            before_serve(data)
        port = free_port()
        argv = [str(ATOLL), *global_args, "hub", "serve", *serve_args]
        argv += ["--data-dir", str(data), "--host", host]
        if netns is not None:
            argv = ["ip", "netns", "exec", netns, *argv]
        if config is not None:
            config_file = workdir / "hub.toml"
            config_file.write_text(config)
            argv += ["--config", str(config_file)]
        argv += ["--port", str(port)]
        ca = data / "ca.pem"
        hub = cls(
            f"https://{'localhost' if host == '127.0.0.1' else host}:{port}",
            ssl.create_default_context(cafile=str(ca)),
            data_dir=data,
            ca_file=ca,
            argv=argv,
        )
        hub._serve()
        return hub

    def _serve(self) -> None:
        """``hub serve`` as :attr:`argv` says; returns once it serves, logged in as admin."""
        log = self.data_dir.parent / "hub.log"
        served = log.read_text(errors="replace").count("hub serving on") if log.exists() else 0
        self.proc = proc = spawn(self.argv, log)
        deadline = time.monotonic() + 30
        while log.read_text(errors="replace").count("hub serving on") <= served:
            if proc.poll() is not None or time.monotonic() > deadline:
                reap(proc)
                raise AssertionError(f"hub did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.token = self.login("admin", HUB_ADMIN_PASSWORD)

    def restart(self, between: Callable[[Path], None] | None = None) -> None:
        """Stop the hub, run ``between(data_dir)`` if given (to leave its data dir as an
        earlier version did, say), and serve again on the same data dir and port."""
        self.stop()
        if between is not None:
            between(self.data_dir)
        self._serve()

    def login(self, user: str, password: str, project: str | None = None) -> str:
        body: dict[str, Any] = {"user": user, "password": password}
        if project:
            body["project"] = project
        return str(self.ok("POST", "/v1/auth/tokens", body, token="")["token"])

    def tenant(self, project: str, user: str, role: str = "member") -> str:
        """Create ``project`` (if new) and ``user`` with ``role`` on it; returns their token."""
        if self.call("GET", f"/v1/projects/{project}").status == 404:
            self.ok("POST", "/v1/projects", {"name": project})
        password = f"{user}-pw-{secrets.token_hex(4)}"
        self.ok("POST", "/v1/users", {"name": user, "password": password})
        self.ok("POST", "/v1/role_assignments", {"user": user, "project": project, "role": role})
        return self.login(user, password, project)

    def join_token(self, site: str, ttl: int = 600) -> dict[str, Any]:
        """A join token for ``site``: the reply, with ``token`` and the one-line ``code``."""
        return dict(self.ok("POST", "/v1/join_tokens", {"site": site, "ttl": ttl}))

    def put_headers(
        self, path: str, token: str, content_type: str, framing: str, timeout: float = 30.0
    ) -> ssl.SSLSocket:
        """A TLS connection that has sent a PUT's headers and nothing of its body
        (``framing``: ``Content-Length: N`` or ``Transfer-Encoding: chunked``), for a test
        to send the body as slowly, or as far, as an attacker would."""
        port = int(self.url.rsplit(":", 1)[1])
        assert self.ssl_context is not None
        raw = socket.create_connection(("localhost", port), timeout=timeout)
        sock = self.ssl_context.wrap_socket(raw, server_hostname="localhost")
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: localhost:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
        )
        sock.sendall(head.encode())
        return sock

    def as_site(self, data_dir: Path) -> Daemon:
        """This hub as a joined site agent calls it: by the certificate under
        ``data_dir/hub`` (:func:`site_tls`), with no token."""
        return Daemon(self.url, site_tls(data_dir), token="")

    @property
    def log(self) -> str:
        return (self.data_dir.parent / "hub.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None:
            reap(self.proc, grace=10)


def site_tls(data_dir: Path, cert: Path | None = None) -> ssl.SSLContext:
    """A TLS client context trusting the hub CA a site joined, presenting its certificate
    (``cert``: another certificate file for the same key, e.g. one kept from before a
    renewal)."""
    hub_dir = data_dir / "hub"
    context = ssl.create_default_context(cafile=str(hub_dir / "ca.pem"))
    context.load_cert_chain(cert or hub_dir / "site.pem", hub_dir / "site.key")
    return context


def site_join(
    data_dir: Path, *args: str, netns: str | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``atoll site-agent join ARGS --data-dir D`` (a join code, or ``--token T``), as a
    field engineer runs it; never raises on failure (read ``returncode``/``stderr``)."""
    argv = [str(ATOLL), "site-agent", "join", *args, "--data-dir", str(data_dir)]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@dataclass
class RunningSite(Daemon):
    data_dir: Path = Path()
    secret: str = field(default="", repr=False)
    agent: Any = field(default=None, repr=False)  # tests.site_agent.real_site.AgentProcess
    names: Any = None  # tests.site_agent.real_site.Names
    import_dir: Path = Path()  # the agent's image_import_dir

    def upload_image(self, image_id: str, path: Path, sha256: str | None = None) -> Reply:
        """``PUT /v1/images/{id}/file`` with the file's bytes (and its declared sha256)."""
        data = path.read_bytes()
        declared = sha256 or hashlib.sha256(data).hexdigest()
        headers = {"Content-Type": "application/octet-stream", "X-Image-Sha256": declared}
        return self.call("PUT", f"/v1/images/{image_id}/file", raw=data, headers=headers)

    @property
    def agent_log(self) -> str:
        """What the agent logged (its stderr): what the site's operator reads."""
        return (self.data_dir.parent / "agent.log").read_text(errors="replace")

    def wait_status(self, kind: str, ref: str, status: str, timeout: float = 60.0) -> Any:
        """Poll ``GET /v1/<kind>s/<ref>`` until its status is ``status``; returns the object."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self.ok("GET", f"/v1/{kind}s/{ref}")[kind]
            if obj.get("status") == status or time.monotonic() > deadline:
                assert obj.get("status") == status, f"{kind} {ref}: {obj}"
                return obj
            time.sleep(0.05)

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()


@contextmanager
def running_hub(workdir: Path, **options: Any) -> Iterator[RunningHub]:
    """:meth:`RunningHub.start` (``options`` as it takes them), stopped on the way out."""
    hub = RunningHub.start(workdir, **options)
    try:
        yield hub
    finally:
        hub.stop()


@contextmanager
def hubs_on_etcd(
    workdir: Path, config: str | None = None
) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two hub processes on one private etcd store, as a scale-out hub runs: the second has
    the first's CA, server certificate and token keys (its data dir is a copy's), so a
    token, a join code or a site certificate of one is good at the other. ``config``: TOML
    text for both (``[hub]``...)."""
    cluster = EtcdCluster(workdir / "etcd", size=1).start()
    store = ("--store", cluster.url)
    try:
        with running_hub(workdir / "a", serve_args=store, config=config) as first:

            def same_keys(data: Path) -> None:
                for path in first.data_dir.glob("*.pem"):
                    shutil.copy2(path, data / path.name)
                shutil.copy2(first.data_dir / "seed.json", data / "seed.json")

            with running_hub(workdir / "b", serve_args=store, config=config,
                             before_serve=same_keys) as second:  # fmt: skip
                yield first, second
    finally:
        cluster.stop()


@contextmanager
def running_site(
    work: Path,
    settings: Mapping[str, Mapping[str, object]] | None = None,
    *,
    netns: str | None = None,
    host: str = "127.0.0.1",
    drivers: Literal["real", "fake"] = "real",
) -> Iterator[RunningSite]:
    """A site agent on real libvirtd + a private OVS, with its local admin logged in;
    ``settings`` overrides some of its settings, by section (``{"hub": {...}}``).
    ``netns``: run it in that network namespace, listening (plain HTTP) on ``host``.
    ``drivers="fake"``: on the drivers' in-memory fakes (no private OVS: a test using it
    needs no ``private_ovs`` mark and runs beside those that do)."""
    ovs = None
    if drivers == "real":
        ovs = PrivateOVS(Path("/tmp") / f"atoll-ovs-{secrets.token_hex(4)}").start()
    prefix = f"{DOMAIN_PREFIX}{secrets.token_hex(3)}-"
    names = real_site.Names.unique(prefix)
    agent = None
    try:
        import_dir = work / "import"
        import_dir.mkdir()
        groups = dict(settings or {})
        groups["storage"] = {"image_import_dir": import_dir, **groups.get("storage", {})}
        if netns is not None:
            listen = {"host": host, "insecure": True}
            groups["site_agent"] = {**listen, **groups.get("site_agent", {})}
        base = (
            real_site.fake_settings_for(work / "agent")
            if ovs is None
            else real_site.settings_for(work / "agent", ovs, names)
        )
        agent_settings = real_site.override(base, groups)
        config = real_site.config_file(work / "agent.toml", agent_settings)
        agent = real_site.AgentProcess(work / "agent", config, free_port(), host=host, netns=netns)
        printed = agent.start()
        secret = printed.split("secret:", 1)[1].split()[0]
        agent.login(secret)
        yield RunningSite(
            agent.url, token=agent.token, data_dir=agent.data_dir, secret=secret,
            agent=agent, names=names, import_dir=import_dir,
        )  # fmt: skip
    finally:
        if agent is not None:
            agent.stop()
        if ovs is not None:
            conn = libvirtd.connect()
            try:
                libvirtd.remove_domains(conn, prefix)
            finally:
                conn.close()
            real_site.remove_links(names.device_prefix)
            ovs.stop()


@contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A threaded HTTP server on loopback answering with ``handler`` (a tenant's callback
    receiver, a service on the hub's machine); its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def grants_racing_a_delete(
    hub: RunningHub, grants: Mapping[str, dict[str, str]], delete: str
) -> dict[str, int]:
    """POST each of ``grants`` (role assignments, by a name of the caller's choosing) and
    DELETE ``delete``, all at once behind one barrier, as the hub's admin; every call's
    status by its name (the delete's under ``"delete"``)."""
    start = threading.Barrier(len(grants) + 1)
    replies: dict[str, int] = {}

    def grant(name: str) -> None:
        start.wait(timeout=30)
        replies[name] = hub.call("POST", "/v1/role_assignments", grants[name]).status

    def remove() -> None:
        start.wait(timeout=30)
        replies["delete"] = hub.call("DELETE", delete).status

    threads = [threading.Thread(target=grant, args=(name,)) for name in grants]
    threads.append(threading.Thread(target=remove))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call hung"
    return replies
