"""Catalog images and transfers as typed records: what the store holds reads back as the same
image, fields a newer hub wrote survive a read-modify-write, and the API's view keeps its shape."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from atoll.hub.catalog.images import (
    STATUSES,
    VISIBILITIES,
    Image,
    Properties,
    Transfer,
    new_image,
    visible,
)
from atoll.hub.sites.intent import image_desired
from atoll.hub.store.base import Record
from atoll.resources import Desired, ImageRef
from atoll.tokens import Claims

MINE, OTHER = "a" * 32, "b" * 32
NOW = "2026-12-01T02:00:00Z"
UPLOADED: dict[str, Any] = {  # as an upload leaves a record
    "id": "c" * 32,
    "name": "vmlinuz",
    "project": "acme",
    "project_id": MINE,
    "visibility": "private",
    "disk_format": "aki",
    "container_format": "bare",
    "checksum_sha256": "ab" * 32,
    "checksum_sha512": "cd" * 64,
    "size": 1024,
    "virtual_size": 1024,
    "status": "active",
    "status_reason": "",
    "properties": {"ramdisk_id": "d" * 32, "cmdline": "console=ttyS0", "min_ram": 64},
    "source": "upload",
    "created_at": NOW,
    "updated_at": NOW,
    "damaged_chunks": 0,
}
ONBOARDED_EARLIER: dict[str, Any] = {  # as an earlier hub's VNF onboarding wrote one
    "id": "e" * 32,
    "name": "cirros",
    "project": "acme",
    "project_id": MINE,
    "visibility": "private",
    "disk_format": "qcow2",
    "container_format": "bare",
    "checksum_sha256": "ef" * 32,
    "checksum_sha512": None,
    "size": 2048,
    "status": "active",
    "source": "vnf_package:" + "f" * 32,
    "min_disk": 1,
    "min_ram": 256,
    "created_at": NOW,
}


def record(value: dict[str, Any], kind: str = "image") -> Record:
    return Record(kind, value["id"], value, 7, 7)


def claims(project_id: str | None, system: bool = False) -> Claims:
    project = None if project_id is None else "p"
    return Claims("t", "u", project, system, ("member",), 0.0, 1.0, project_id=project_id)


def test_a_stored_image_reads_typed_and_writes_back_unchanged() -> None:
    image = Image.of(record(UPLOADED))
    assert image.properties == Properties(ramdisk_id="d" * 32, cmdline="console=ttyS0", min_ram=64)
    assert (image.status, image.visibility, image.damaged) == ("active", "private", False)
    assert image.to_wire() == UPLOADED


def test_a_record_of_an_earlier_hub_shows_as_it_did_and_keeps_unknown_fields() -> None:
    earlier = {**ONBOARDED_EARLIER, "orphaned_from": "gone", "future": {"x": [1]}}
    image = Image.of(record(earlier))
    assert image.view() == {
        "id": "e" * 32,
        "name": "cirros",
        "project": "acme",
        "project_id": MINE,
        "visibility": "private",
        "disk_format": "qcow2",
        "container_format": "bare",
        "checksum_sha256": "ef" * 32,
        "checksum_sha512": None,
        "size": 2048,
        "virtual_size": None,
        "status": "active",
        "status_reason": "",
        "properties": {"min_ram": 256, "min_disk": 1},  # read from the top level
        "source": "vnf_package:" + "f" * 32,
        "created_at": NOW,
        "updated_at": NOW,  # never updated: its creation
    }
    # a read-modify-write (the scrub marking it damaged) passes a newer hub's fields on, and
    # the sizes it needs move into its properties, where every hub's view finds them
    written = dataclasses.replace(image, damaged_chunks=2, status_reason="damaged").to_wire()
    assert written["future"] == {"x": [1]} and written["orphaned_from"] == "gone"
    assert written["properties"] == {"min_ram": 256, "min_disk": 1}
    assert "min_ram" not in written and "min_disk" not in written
    kept = {k: v for k, v in ONBOARDED_EARLIER.items() if k not in ("min_ram", "min_disk")}
    assert {k: written[k] for k in kept} == kept
    assert Image.of(record(written)).damaged
    # a property given in properties wins over an earlier top-level copy, as the view had it
    both = {**ONBOARDED_EARLIER, "properties": {"min_ram": 512}}
    assert Image.of(record(both)).properties == Properties(min_ram=512, min_disk=1)


def test_a_new_image_is_queued_and_shows_only_the_properties_given() -> None:
    body = {"name": "cirros", "disk_format": "qcow2", "properties": {"os_distro": "cirros"}}
    value = new_image("c" * 32, body, "acme", MINE, NOW)
    shown = Image.of(record(value)).view()
    assert (shown["status"], shown["visibility"], shown["container_format"]) == (
        "queued",
        "private",
        "bare",
    )
    assert shown["properties"] == {"os_distro": "cirros"}
    assert (shown["checksum_sha256"], shown["size"]) == (None, None)


def test_a_site_is_sent_the_image_as_the_shared_image_reference() -> None:
    image = Image.of(record(UPLOADED))
    desired = image_desired(image)
    assert desired.spec == ImageRef(
        id="c" * 32,
        name="vmlinuz",
        disk_format="aki",
        sha256="ab" * 32,
        size=1024,
        ramdisk_id="d" * 32,
        properties={"ramdisk_id": "d" * 32, "cmdline": "console=ttyS0"},  # strings only
    )
    assert Desired.from_wire(desired.to_wire()) == desired  # what the site loads
    assert image.links_to("d" * 32) == "ramdisk_id" and image.links_to("c" * 32) is None


def test_who_sees_an_image() -> None:
    private = record(UPLOADED)
    public = record({**UPLOADED, "visibility": "public"})
    assert visible(private, claims(MINE)) and not visible(private, claims(OTHER))
    assert visible(public, claims(OTHER)) and visible(private, claims(None, system=True))


def test_who_sees_an_image_is_read_before_the_image_is_loaded() -> None:
    """Another project's record is never loaded for the caller: one it cannot load (a
    control character in a field) fails its own project's reads, not everyone's."""
    unreadable = record({**UPLOADED, "status_reason": "\x1b[2J"})
    assert not visible(unreadable, claims(OTHER)) and visible(unreadable, claims(MINE))


TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
HEXDIGITS = "0123456789abcdef"
HEX = st.text(HEXDIGITS, min_size=32, max_size=32)
MAYBE_INT = st.none() | st.integers(0, 2**53)
EXTRA = st.dictionaries(st.text("xyz", min_size=1, max_size=6).map("zz".__add__), TEXT | MAYBE_INT)
PROPERTIES = st.builds(
    Properties,
    kernel_id=st.none() | HEX,
    ramdisk_id=st.none() | HEX,
    min_ram=MAYBE_INT,
    min_disk=MAYBE_INT,
    cmdline=st.none() | TEXT,
    os_distro=st.none() | TEXT,
    os_version=st.none() | TEXT,
    hw_firmware_type=st.sampled_from([None, "bios", "uefi"]),
    description=st.none() | TEXT,
)
IMAGES = st.builds(
    Image,
    id=HEX,
    name=TEXT,
    project=st.none() | TEXT,
    project_id=st.none() | HEX,
    visibility=st.sampled_from(VISIBILITIES),
    disk_format=st.sampled_from(["qcow2", "raw", "aki", "ari", "vmdk"]),
    container_format=TEXT,
    checksum_sha256=st.none() | st.text(HEXDIGITS, min_size=64, max_size=64),
    checksum_sha512=st.none() | st.text(HEXDIGITS, min_size=128, max_size=128),
    size=MAYBE_INT,
    virtual_size=MAYBE_INT,
    status=st.sampled_from(STATUSES),
    status_reason=TEXT,
    properties=PROPERTIES,
    source=TEXT,
    created_at=TEXT,
    updated_at=TEXT,
    damaged_chunks=st.integers(0, 1000),
)


@given(IMAGES, EXTRA)
def test_every_image_round_trips_through_the_store_and_the_wire(
    image: Image, extra: dict[str, Any]
) -> None:
    stored = {**image.to_wire(), **extra}  # a newer hub's fields beside ours
    for raw in (json.loads(json.dumps(stored)), msgpack.unpackb(msgpack.packb(stored))):
        back = Image.of(record(raw))
        assert back == image and back.to_wire() == stored
        assert set(back.view()) == set(Image.of(record(UPLOADED)).view())  # one shape


@given(
    st.builds(
        Transfer,
        id=HEX,
        image_id=HEX,
        image_name=TEXT,
        site=TEXT,
        state=st.sampled_from(["pending", "pulling", "done", "failed"]),
        bytes_done=st.integers(0, 2**62),
        bytes_total=st.integers(0, 2**62),
        error=TEXT,
        requested_by=TEXT,
        created_at=TEXT,
        updated_at=TEXT,
    ),
    EXTRA,
)
def test_every_transfer_round_trips_and_keeps_unknown_fields(
    transfer: Transfer, extra: dict[str, Any]
) -> None:
    stored = {**transfer.to_wire(), **extra}
    back = Transfer.of(record(json.loads(json.dumps(stored)), "image_transfer"))
    assert back == transfer and back.to_wire() == stored


def test_a_transfer_asked_for_an_image_is_pending_with_its_size() -> None:
    transfer = Transfer.new("edge-1", Image.of(record(UPLOADED)), "noc", NOW)
    assert transfer.to_wire() == {
        "id": "c" * 32,
        "image_id": "c" * 32,
        "image_name": "vmlinuz",
        "site": "edge-1",
        "state": "pending",
        "bytes_done": 0,
        "bytes_total": 1024,
        "error": "",
        "requested_by": "noc",
        "created_at": NOW,
        "updated_at": NOW,
    }
