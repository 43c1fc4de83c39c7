"""Control characters and ANSI escapes in names and descriptions: refused at both APIs with a 400
naming the field, and escaped by the CLI whatever the data (so data an older version stored, or
text no API vets such as a VNFD's product name, cannot drive the operator's terminal).

Before: ``"\\x1b[31m"`` in a hub description or image name, or a site volume snapshot name, was
stored and printed raw by ``atoll ... -f table``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.nfv.packages import PACKAGES, carry
from tests.security.daemons import ATOLL, RunningHub, RunningSite

NASTY = ["\x1b[31m", "\x07", "\u009b", "a\x7fb", "line\nbreak", "\x1b]0;owned\x07"]
RAW = ("\x1b", "\x07", "\u009b", "\x7f")


def problems_of(reply: Any) -> set[str]:
    return {p["where"] for p in reply.body["error"].get("problems", [])}


@pytest.mark.parametrize("text", NASTY)
def test_hub_refuses_control_characters(hub: RunningHub, text: str) -> None:
    tag = secrets.token_hex(3)
    cases = [
        ("/v1/projects", {"name": f"cc-{tag}", "description": text}, "body.description"),
        ("/v1/users", {"name": f"cc-{tag}", "password": "x" * 12, "description": text},
         "body.description"),
        ("/v1/flavors", {"name": f"cc-{tag}", "vcpus": 1, "ram_mb": 64, "disk_gb": 1,
                         "description": text}, "body.description"),
        ("/v1/sites", {"name": f"cc-{tag}", "description": text}, "body.description"),
        ("/v1/sites", {"name": f"cc2-{tag}", "labels": {"role": text}}, "body.labels.role"),
        ("/v1/images", {"name": text, "disk_format": "qcow2"}, "body.name"),
        ("/v1/projects", {"name": f"cc{text}", "description": "fine"}, "body.name"),
    ]  # fmt: skip
    for path, body, where in cases:
        reply = hub.call("POST", path, body)
        assert reply.status == 400, (path, reply)
        assert where in problems_of(reply), (path, reply)


@pytest.mark.parametrize("text", NASTY)
def test_site_refuses_control_characters(api_site: RunningSite, text: str) -> None:
    for path, body in [
        ("/v1/networks", {"name": text}),
        ("/v1/flavors", {"name": text, "vcpus": 1, "ram_mb": 64}),
        ("/v1/volumes", {"name": f"v{text}", "size_gb": 1}),
    ]:
        reply = api_site.call("POST", path, body)
        assert reply.status == 400, (path, reply)
        assert "body.name" in problems_of(reply), (path, reply)


# A JSON escape of a lone UTF-16 surrogate: Python's parser takes it, no UTF-8 can hold it.
SURROGATE = "a\\ud800"


def raw_json(fields: Any, text_field: str) -> bytes:
    """``fields`` as JSON, with ``text_field`` set to :data:`SURROGATE` as it is written."""
    body = json.dumps({**fields, text_field: "SURROGATE"})
    return body.replace('"SURROGATE"', f'"{SURROGATE}"').encode()


def test_hub_refuses_lone_surrogates(hub: RunningHub) -> None:
    """Before: ``"a\\ud800"`` in a server's user_data (through ``POST /v1/sites/S/servers``,
    as any project member) was stored; every sync session of that site then failed encoding
    it, for good (deleting the server did not help: the change was replayed from history),
    while the hub still showed the site online."""
    tag = secrets.token_hex(3)
    site = f"sur-{tag}"
    hub.ok("POST", "/v1/sites", {"name": site})
    server = {"name": f"s-{tag}", "spec": {"flavor": "m1", "image": "cirros"}}
    spec = raw_json(server["spec"], "user_data").decode()
    placed = json.dumps({**server, "spec": "SPEC"}).replace('"SPEC"', spec).encode()
    cases = [
        (f"/v1/sites/{site}/servers", placed, "body.spec.user_data"),
        ("/v1/projects", raw_json({"name": f"sur-{tag}"}, "description"), "body.description"),
        ("/v1/sites", raw_json({"name": f"sur2-{tag}"}, "description"), "body.description"),
    ]
    for path, raw, where in cases:
        reply = hub.call("POST", path, raw=raw, headers={"Content-Type": "application/json"})
        assert reply.status == 400, (path, reply)
        assert where in problems_of(reply), (path, reply)
        assert "surrogate" in reply.raw.decode(), reply
    hub.ok("DELETE", f"/v1/sites/{site}")


def test_site_refuses_lone_surrogates(api_site: RunningSite) -> None:
    """Before: the same text in a site's own server body was taken (202); the reconciler
    failed writing the config drive, and the site's sync stayed down on its outbox record."""
    json_type = {"Content-Type": "application/json"}
    server = {"name": f"sur-{secrets.token_hex(3)}", "flavor": "m1", "image": "cirros"}
    for path, raw, where in [
        ("/v1/servers", raw_json(server, "user_data"), "body.user_data"),
        ("/v1/networks", raw_json({}, "name"), "body.name"),
    ]:
        reply = api_site.call("POST", path, raw=raw, headers=json_type)
        assert reply.status == 400, (path, reply)
        assert where in problems_of(reply), (path, reply)


def test_site_refuses_control_characters_in_snapshot_names(api_site: RunningSite) -> None:
    name = f"cc-vol-{secrets.token_hex(3)}"
    api_site.ok("POST", "/v1/volumes", {"name": name, "size_gb": 1})
    for text in NASTY:
        reply = api_site.call("POST", f"/v1/volumes/{name}/actions/snapshot", {"name": text})
        assert reply.status == 400, reply
        assert "body.name" in problems_of(reply), reply
    snaps = api_site.ok("GET", f"/v1/volumes/{name}")["volume"].get("snapshots", [])
    assert not any(c in s for s in snaps for c in RAW), snaps


def test_output_escapes_control_characters() -> None:
    import io

    from atoll.output import emit
    from atoll.printable import escape as printable

    assert printable("ok \u00e9\u4e2d") == "ok \u00e9\u4e2d"
    assert printable("\x1b[31m") == "\\x1b[31m"
    assert printable("\u009b2J") == "\\x9b2J"
    assert printable("a\x7fb\x07") == "a\\x7fb\\x07"
    assert printable("l1\nl2\t", keep="\n\t") == "l1\nl2\t"
    out = io.StringIO()
    rows = [{"name": "\x1b[31mred", "description": ["\u009b", {"k": "\x07"}]}]
    emit(rows, "table", ["name", "description"], stream=out)
    emit(rows[0], "table", stream=out)
    emit(rows, "json", stream=out)
    assert not any(c in out.getvalue() for c in RAW), out.getvalue()
    assert "\\x1b[31mred" in out.getvalue()


def test_cli_error_messages_are_escaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from atoll.cli import main

    # the config path comes back in the error message
    missing = str(tmp_path / "\x1b[2Jgone.toml")
    code = main(["site-agent", "run", "--data-dir", str(tmp_path), "--config", missing])
    err = capsys.readouterr().err
    assert code == 1 and "\x1b" not in err and "\\x1b[2J" in err


def test_cli_table_of_an_unvetted_name_from_the_hub_is_escaped(
    hub: RunningHub, tmp_path: Path
) -> None:
    """A VNFD's product name is text from a package, not a field the API checks."""
    package = tmp_path / "evil-package"
    shutil.copytree(PACKAGES / "getting-started", package)
    carry(package, b"image bits" * 4096)
    for vnfd in (package / "Definitions").glob("*.yaml"):
        text = vnfd.read_text()
        text = text.replace("'Sample VNF'", '"Sample\\e[31mVNF"')
        text = text.replace("product_name: Sample VNF", 'product_name: "Sample\\e[31mVNF"')
        vnfd.write_text(text)
    env = {
        **os.environ,
        "ATOLL_URL": hub.url,
        "ATOLL_TOKEN": hub.tenant("cc-packages", f"cc-{secrets.token_hex(3)}"),
        "ATOLL_CA_FILE": str(hub.ca_file),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

    def atoll(*argv: str) -> str:
        done = subprocess.run([str(ATOLL), *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    uploaded = atoll("vnf", "package", "upload", str(package))
    assert "\\x1b[31m" in uploaded and "\x1b" not in uploaded, uploaded
    listed = atoll("vnf", "package", "list", "-f", "table")
    assert "Sample\\x1b[31mVNF" in listed and "\x1b" not in listed, listed
    as_json = atoll("vnf", "package", "list", "-f", "json")
    assert "\x1b" not in as_json and "\\u001b" in as_json


def test_a_request_path_cannot_forge_a_log_line(hub: RunningHub) -> None:
    """Before: the access log wrote the decoded path as it came, so anyone, without
    credentials, could start a line of the hub's log that looks like the hub's own (``%0a``)
    and send escape codes to the terminal of whoever reads it (``%1b``)."""
    forged = "06:00:00 INFO    atoll.hub: DELETE /v1/projects/beta -> 204 (by admin@system)"
    path = "/sec-forged%0a" + forged.replace(" ", "%20") + "%0a%1b[31mred%00"
    assert hub.call("GET", path, token="").status in (401, 404)
    log = hub.log
    assert "\n" + forged not in log and "\x1b" not in log and "\x00" not in log
    assert "/sec-forged\\x0a06:00:00" in log and "\\x1b[31mred\\x00" in log


def test_a_client_hanging_up_mid_body_is_not_a_server_error(hub: RunningHub) -> None:
    """Before: a client that sent half a body and closed its connection (no credentials
    needed: ``POST /v1/auth/tokens``) had the hub log ``internal error`` with a traceback and
    count a 500. It is the client's doing: one INFO line, ``-> 499``, no traceback."""
    url = urllib.parse.urlsplit(hub.url)
    before = len(hub.log)  # the module's hub: only what this request logs counts
    raw = socket.create_connection((url.hostname or "", url.port or 443), timeout=10)
    assert hub.ssl_context is not None
    with hub.ssl_context.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(b"POST /v1/auth/tokens HTTP/1.1\r\nHost: hub\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 100\r\n\r\n{\"user\":")  # fmt: skip
    deadline = time.monotonic() + 10
    while "POST /v1/auth/tokens -> 499" not in hub.log[before:] and time.monotonic() < deadline:
        time.sleep(0.1)
    logged = hub.log[before:]
    assert "POST /v1/auth/tokens -> 499" in logged, logged
    assert "internal error" not in logged and "ConnectionResetError" not in logged, logged
    assert "POST /v1/auth/tokens -> 500" not in logged, logged


def test_an_image_upload_cut_short_is_the_client_s_doing(hub: RunningHub) -> None:
    """Before: an upload its client cut short was answered (to nobody) and logged as a 400,
    the client's error, as if the hub had refused it. It is logged as 499 at INFO; the image
    is killed, saying why, and can be uploaded again."""
    image = hub.ok("POST", "/v1/images", {"name": f"cut-{secrets.token_hex(3)}",
                                          "disk_format": "raw"})["id"]  # fmt: skip
    url = urllib.parse.urlsplit(hub.url)
    raw = socket.create_connection((url.hostname or "", url.port or 443), timeout=10)
    assert hub.ssl_context is not None
    with hub.ssl_context.wrap_socket(raw, server_hostname=url.hostname) as conn:
        conn.sendall(
            f"PUT /v1/images/{image}/file HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer "
            f"{hub.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: "
            "1048576\r\n\r\n".encode()
            + b"\0" * 65536
        )  # a sixteenth of what it declared, then gone
    line = f"PUT /v1/images/{image}/file -> 499"
    deadline = time.monotonic() + 15
    while line not in hub.log and time.monotonic() < deadline:
        time.sleep(0.1)
    assert line in hub.log
    shown = hub.ok("GET", f"/v1/images/{image}")
    assert shown["status"] == "killed" and "None" not in shown["status_reason"], shown
