"""What a site says about a server that failed, or an upload its client cut short: never where
the agent keeps its files, and never a server error for the client's own hang-up.

A server's status message is read by site users (``GET /v1/servers/ID``) and, through the
hub, by its tenant. A server whose kernel QEMU cannot load (an empty image, uploaded by the
attacker) was ``ERROR`` with ``libvirt could not start server S: ... qemu: could not load
kernel '/var/lib/atoll/site-agent/storage/images/K.raw'``: the agent's data dir for anyone
to read. The file is named by its name now; the agent's log keeps the path for the operator.

A client that sends half an image and hangs up (``PUT /v1/images/ID/file``) got a 500
``image ID cannot be received: None`` and the agent logged it as its own failure (5xx
alerting). It is the client's doing: logged as 499 at INFO, no traceback, nothing kept.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.parse
from pathlib import Path

from tests.security.daemons import RunningSite


def _leaks(site: RunningSite, text: str) -> list[str]:
    places = (str(site.data_dir), str(site.data_dir.parent), "/storage/", "/instances/")
    return [place for place in places if place in text]


def test_a_failed_server_s_message_names_no_host_path(site: RunningSite, tmp_path: Path) -> None:
    empty = tmp_path / "hp-empty.raw"
    empty.touch()
    assert site.upload_image("hp-empty", empty).status == 201
    body = {"name": "hp-vm", "flavor": "tiny", "kernel": "hp-empty"}
    server = site.ok("POST", "/v1/servers", body)["server"]

    failed = site.wait_status("server", server["id"], "ERROR")
    message = failed["message"]
    assert "could not load kernel 'hp-empty.raw'" in message, failed
    assert not _leaks(site, message), failed
    listed = site.ok("GET", "/v1/servers")["items"]
    assert [s["message"] for s in listed if s["id"] == server["id"]] == [message]

    kept = site.data_dir / "storage" / "images" / "hp-empty.raw"
    assert f"could not load kernel '{kept}'" in site.agent_log  # the operator's to see
    site.ok("DELETE", f"/v1/servers/{server['id']}")


def test_an_upload_cut_short_is_the_client_s_doing(site: RunningSite) -> None:
    url = urllib.parse.urlsplit(site.url)
    sha = hashlib.sha256(b"x").hexdigest()
    head = (
        f"PUT /v1/images/hp-cut/file HTTP/1.1\r\nHost: site\r\n"
        f"Authorization: Bearer {site.token}\r\nX-Image-Sha256: {sha}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n"
    ).encode()
    logged_before = len(site.agent_log)
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=10) as conn:
        conn.sendall(head + b"\0" * 65536)  # a sixteenth of what it declared, then gone

    line = "PUT /v1/images/hp-cut/file -> 499"
    deadline = time.monotonic() + 15
    while line not in site.agent_log[logged_before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    log = site.agent_log[logged_before:]
    assert line in log, log
    assert "Traceback" not in log and "internal error" not in log, log
    assert "None" not in log and "WARNING" not in log and "ERROR" not in log, log
    assert site.call("GET", "/v1/images/hp-cut").status == 404
    assert not list((site.data_dir / "storage" / "tmp").iterdir()), "the partial upload is gone"
