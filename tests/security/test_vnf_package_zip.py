"""A tenant's VNF package zip against the running hub: entry names the reader cleans up
(``./Files/x``, ``Files//x``) are read from the very entry that was checked, two entries
that clean up to one path are refused, a carried file whose data is corrupt is refused
naming it, and none of it ends as an internal error. What the hub says back names places
inside the package, never where on the hub it keeps the upload. An entry compressed with
bzip2 or LZMA (a CSAR uses stored or deflate only) is refused before a byte of it is
inflated: the hub's memory stays where it was."""

from __future__ import annotations

import bz2
import io
import struct
import zipfile
import zlib
from pathlib import Path

from tests.nfv.packages import IMAGE, carrying
from tests.security.daemons import RunningHub
from tests.security.test_image_substitution import PACKAGES as API
from tests.security.test_image_substitution import onboard


def csar(entries: list[tuple[str, bytes]], image: bytes = b"QFI\xfb image bits") -> bytes:
    """getting-started carrying ``image`` (its VNFD declaring the image's checksum), then
    ``entries`` under the names given (stored, not compressed: a test may flip the bytes of an
    entry in the archive)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in [*carrying(image).items(), *entries]:
            archive.writestr(name, data)
    return buffer.getvalue()


def no_internal_error(hub: RunningHub) -> None:
    """Nothing in the hub's log says it failed where it should not have; a failure shows
    the log around the first such line (its tail may be far from it)."""
    log = hub.log
    found = [i for i in (log.find("failed unexpectedly"), log.find("Traceback")) if i >= 0]
    assert not found, log[max(0, min(found) - 1500) : min(found) + 2500]


def test_an_entry_spelled_dot_slash_is_onboarded_and_served_from_itself(hub: RunningHub) -> None:
    tenant = hub.tenant("zn", "zn-member")
    spelled = [("./Files/x.txt", b"the x entry"), ("Files//y.txt", b"the y entry")]
    package = onboard(hub, tenant, csar(spelled))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    listed = {a["artifactPath"] for a in package["additionalArtifacts"]}
    assert listed == {"Files/x.txt", "Files/y.txt"}
    for path, data in (("Files/x.txt", b"the x entry"), ("Files/y.txt", b"the y entry")):
        reply = hub.call("GET", f"{API}/{package['id']}/artifacts/{path}", token=tenant)
        assert (reply.status, reply.raw) == (200, data)
    no_internal_error(hub)


def test_two_entries_that_clean_up_to_one_path_are_refused_naming_both(hub: RunningHub) -> None:
    tenant = hub.tenant("zn", "zn-twice")
    twice = [("Files/x.txt", b"checked"), ("./Files/x.txt", b"something else")]
    package = onboard(hub, tenant, csar(twice))
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422
    assert details["problems"] == [
        {
            "where": "(archive) './Files/x.txt'",
            "what": "entry and 'Files/x.txt' are both the package's Files/x.txt: which one is"
            " meant is ambiguous (name each file once)",
        }
    ]
    no_internal_error(hub)


def test_a_carried_image_with_corrupt_data_is_refused_naming_it(hub: RunningHub) -> None:
    tenant = hub.tenant("zn", "zn-corrupt")
    bits = b"carried image bits " * 100
    content = bytearray(csar([], image=bits))
    content[content.index(bits) + 7] ^= 0xFF  # the entry's CRC-32 no longer matches
    package = onboard(hub, tenant, bytes(content))
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    (problem,) = details["problems"]
    assert problem["where"] == IMAGE
    assert problem["what"].startswith("cannot be read: Bad CRC-32")
    no_internal_error(hub)


def test_a_failed_onboarding_names_no_path_of_the_hub(hub: RunningHub) -> None:
    tenant = hub.tenant("zn", "zn-notzip")
    for content in (b"not a zip", b"PK\x03\x04 nor is this", csar([("../x", b"")])):
        package = onboard(hub, tenant, content)
        assert package["onboardingState"] == "ERROR", package
        shown = hub.call("GET", f"{API}/{package['id']}", token=tenant).raw.decode()
        assert str(hub.data_dir) not in shown, shown
        assert f"{package['id']}.zip" not in shown, shown  # the file the hub stored it as
        for problem in package["onboardingFailureDetails"]["problems"]:
            assert problem["where"].startswith("(archive)"), problem
    assert package["onboardingFailureDetails"]["status"] == 422
    no_internal_error(hub)


def peak_memory_mib(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def with_bzip2_bomb(archive: bytes, name: str, size: int, claimed: int = 1000) -> bytes:
    """``archive`` with one more entry ``name``: ``size`` zero bytes compressed with bzip2
    (a few hundred bytes), whose headers claim ``claimed`` bytes (and their CRC-32), so no
    size or ratio limit sees anything amiss."""
    compressor, block = bz2.BZ2Compressor(9), bytes(16 << 20)
    compressed = b"".join(
        [*(compressor.compress(block) for _ in range(size // len(block))), compressor.flush()]
    )
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as out:
        out.writestr(zipfile.ZipInfo(name), compressed)  # stored: its headers patched below
    data, raw = bytearray(buffer.getvalue()), name.encode()
    # (signature, offsets of method, CRC-32, uncompressed size, name) in the local header
    # and in the central directory record
    for signature, method, crc, usize, at_name in (
        (b"PK\x03\x04", 8, 14, 22, 30),
        (b"PK\x01\x02", 10, 16, 24, 46),
    ):
        at = data.find(signature)
        while data[at + at_name : at + at_name + len(raw)] != raw:
            at = data.find(signature, at + 1)
        struct.pack_into("<H", data, at + method, zipfile.ZIP_BZIP2)
        struct.pack_into("<I", data, at + crc, zlib.crc32(bytes(claimed)))
        struct.pack_into("<I", data, at + usize, claimed)
    return bytes(data)


def test_a_bzip2_bomb_is_refused_before_it_is_inflated(hub: RunningHub) -> None:
    tenant = hub.tenant("zn", "zn-bomb")
    assert hub.proc is not None
    before = peak_memory_mib(hub.proc.pid)
    bomb = with_bzip2_bomb(csar([]), "Files/bomb.bin", 512 << 20)  # 512 MiB from ~500 bytes
    assert len(bomb) < 16 * 1024
    package = onboard(hub, tenant, bomb)
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    assert details["problems"] == [
        {
            "where": "(archive) 'Files/bomb.bin'",
            "what": "entry is compressed with zip method 12; a CSAR uses only stored (0) or "
            "deflate (8)",
        }
    ]
    assert peak_memory_mib(hub.proc.pid) - before < 128  # it was 512 MiB and more
    no_internal_error(hub)
