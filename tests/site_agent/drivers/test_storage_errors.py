"""``storage.errors.translate``: what a failed qemu-img run or a refused image becomes."""

from __future__ import annotations

import subprocess

import pytest

from atoll.errors import Problem
from atoll.images.errors import ImageRejected, ImageTooLarge, ToolError
from atoll.site_agent.drivers.storage.errors import (
    InvalidStorageRequest,
    StorageConflict,
    StorageError,
    StoragePermanent,
    translate,
)

ROOT = "/var/lib/atoll site/storage"  # a space in it: qemu-img prints paths unquoted
OVERLAY = f"{ROOT}/tmp/srv.0a1b2c3d"
IMAGE = f"{ROOT}/images/img.qcow2"
CREATE = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", IMAGE, OVERLAY]


def failed(stderr: str, returncode: int = 1) -> subprocess.CalledProcessError:
    return subprocess.CalledProcessError(returncode, CREATE, "", stderr)


def test_a_qemu_img_failure_names_files_not_host_paths() -> None:
    stderr = (
        f"qemu-img: {OVERLAY}: Could not open '{IMAGE}': Unsupported qcow2 version 0\n"
        "Could not open backing image.\n"
    )
    error = translate(failed(stderr), "creating overlay srv.0a1b2c3d on img.qcow2")
    assert type(error) is StoragePermanent and error.http_status == 500
    assert error.message == (
        "creating overlay srv.0a1b2c3d on img.qcow2: srv.0a1b2c3d: Could not open "
        "'img.qcow2': Unsupported qcow2 version 0; Could not open backing image."
    )
    assert "/" not in error.message.split(": ", 1)[1]


def test_a_path_qemu_img_was_not_given_is_cut_to_its_name_too() -> None:
    error = translate(failed("qemu-img: Could not open '/etc/atoll/other.raw': denied"), "x")
    assert error.message == "x: denied"
    error = translate(failed("qemu-img: reading /srv/images/base.raw: I/O error"), "x")
    assert error.message == "x: reading base.raw: I/O error"


def test_a_lock_held_by_a_guest_is_a_conflict() -> None:
    stderr = f"qemu-img: Could not open '{IMAGE}': Failed to get \"write\" lock\n"
    error = translate(failed(stderr), "resizing img.qcow2")
    assert isinstance(error, StorageConflict) and ROOT not in error.message
    assert "in use by a running guest" in error.message


def test_silence_gives_the_exit_status() -> None:
    assert translate(failed("", 3), "copying a").message == "copying a: exit status 3"


def test_a_timeout_or_a_missing_qemu_img_is_permanent_without_the_command() -> None:
    timeout = translate(subprocess.TimeoutExpired(CREATE, 600.0), "copying a")
    assert isinstance(timeout, StoragePermanent)
    assert timeout.message == "copying a: qemu-img took longer than 600 s"
    missing = translate(FileNotFoundError(2, "No such file or directory", "qemu-img"), "x")
    assert isinstance(missing, StoragePermanent) and "No such file" in missing.message


@pytest.mark.parametrize(
    "refusal",
    [
        ImageRejected("the image is refused", [Problem("content", "qcow2 version 4")]),
        ImageTooLarge("the image's virtual size is too large", [Problem("virtual_size", "big")]),
    ],
)
def test_a_refused_image_is_the_callers_to_fix(refusal: ImageRejected | ImageTooLarge) -> None:
    error = translate(refusal, "image x cannot be cached")
    assert isinstance(error, InvalidStorageRequest) and error.http_status == 400
    assert error.summary == f"image x cannot be cached: {refusal.summary}"
    assert error.problems == refusal.problems


def test_a_validator_that_could_not_run_is_permanent() -> None:
    error: StorageError = translate(ToolError("qemu-img info took longer than 60 s"), "image x")
    assert isinstance(error, StoragePermanent)
    assert error.message == "image x: qemu-img info took longer than 60 s"
