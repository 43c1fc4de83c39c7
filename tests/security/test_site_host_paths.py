"""What a site says about a server that failed: never where the agent keeps its files.

A server's status message is read by site users (``GET /v1/servers/ID``) and, through the
hub, by its tenant. A server whose kernel QEMU cannot load (an empty image, uploaded by the
attacker) was ``ERROR`` with ``libvirt could not start server S: ... qemu: could not load
kernel '/var/lib/atoll/site-agent/storage/images/K.raw'``: the agent's data dir for anyone
to read. The file is named by its name now; the agent's log keeps the path for the operator.
"""

from __future__ import annotations

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
