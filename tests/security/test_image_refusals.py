"""A refused upload cannot poison the image catalog.

A refused image is kept ``killed`` with the reason in its ``status_reason``, and the reason may
quote what the upload holds: the backing file a qcow2 header names. That name is the
uploader's to choose, control characters and all, and the image record refuses control
characters when it is read. Stored as sent, it made a record no read could load: every list
of images failed for every project and the system admin, the image could not be shown or
deleted, and onboarding any project's VNF package failed on it. The reason is now stored
escaped (``\\x1b``), and a caller loads only the images it may see.
"""

from __future__ import annotations

import struct

from tests.security.daemons import RunningHub

OCTETS = {"Content-Type": "application/octet-stream"}


def qcow2_backed_by(name: bytes) -> bytes:
    """A qcow2 (version 2) header naming ``name`` as its backing file."""
    header = bytearray(512)
    struct.pack_into(">4sIQI", header, 0, b"QFI\xfb", 2, 104, len(name))
    header[104 : 104 + len(name)] = name
    return bytes(header)


def test_a_refused_upload_naming_escape_codes_leaves_the_catalog_readable(
    hub: RunningHub,
) -> None:
    alice = hub.tenant("poison-a", "poison-alice")
    bob = hub.tenant("poison-b", "poison-bob")
    body = {"name": "evil", "disk_format": "qcow2", "container_format": "bare"}
    image = hub.ok("POST", "/v1/images", body, token=alice)["id"]

    refused = hub.call(
        "PUT", f"/v1/images/{image}/file", raw=qcow2_backed_by(b"x\x1b[2J\x00"),
        headers=OCTETS, token=alice,
    )  # fmt: skip
    assert refused.status == 400, refused
    assert b"\\u001b" not in refused.raw, refused  # no escape code reaches the client
    (problem,) = refused.body["error"]["problems"]
    assert "(x\\x1b[2J\\x00)" in problem["what"], refused

    for token in (bob, alice, None):  # another project, the uploader's, the system admin
        listed = hub.call("GET", "/v1/images", token=token)
        assert listed.status == 200, listed
    shown = hub.ok("GET", f"/v1/images/{image}", token=alice)
    assert shown["status"] == "killed"
    assert "x\\x1b[2J\\x00" in shown["status_reason"], shown
    assert hub.call("GET", f"/v1/images/{image}", token=bob).status == 404

    assert hub.call("DELETE", f"/v1/images/{image}", token=alice).status == 204
    assert hub.call("GET", f"/v1/images/{image}", token=alice).status == 404
