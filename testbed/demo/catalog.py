"""Act: the NOC's catalog — the reference VNF image uploaded to the hub as linked kernel and
ramdisk images, an ETSI package onboarded against it, and the images prestaged to a site."""

from __future__ import annotations

from atoll.testbed.demo.hub import ADMIN_PASSWORD, login
from atoll.testbed.demo.packages import file_sha512, getting_started
from atoll.testbed.demo.stage import Stage

SITE = "edge-1"


def play(stage: Stage) -> None:
    ref = stage.atoll_json("image", "build-reference", str(stage.work / "ref"))
    stage.say(f"  built the reference VNF: kernel {ref['kernel_version']} + busybox initramfs")
    ramdisk = stage.atoll_json("image", "upload", ref["initramfs"], "--name", "ref-initrd",
                               "--disk-format", "ari", "--public")  # fmt: skip
    kernel = stage.atoll_json("image", "upload", ref["kernel"], "--name", "ref-kernel",
                              "--disk-format", "aki", "--ramdisk", "ref-initrd", "--public",
                              "--property", f"cmdline={ref['cmdline']}")  # fmt: skip
    stage.check(kernel["status"] == "active" and ramdisk["status"] == "active",
                f"uploaded, chunked and validated: ref-kernel {kernel['id'][:8]} "
                f"({kernel['size']} bytes), ref-initrd {ramdisk['id'][:8]} "
                f"({ramdisk['size']} bytes)")  # fmt: skip
    stage.atoll("image", "list")
    stage.facts.update(kernel=kernel, ramdisk=ramdisk, cmdline=ref["cmdline"])

    login(stage, "alice", "alice-pw-123", "telco-a")
    # the package's VNFD declares the checksum of the image it wants: here, ref-kernel's
    # (the hub binds a VDU only to an image whose checksum matches, never by name alone)
    package_dir = getting_started(stage.work / "getting-started", file_sha512(ref["kernel"]))
    package = stage.atoll_json("vnf", "package", "upload", str(package_dir),
                               "--image-map", "VDU1=ref-kernel")  # fmt: skip
    stage.check(package["onboardingState"] == "ONBOARDED",
                f"alice onboarded package {package['id'][:8]} ({package['vnfProductName']!r}), "
                f"VDU1 mapped to the catalog image ref-kernel")  # fmt: skip
    stage.atoll("vnf", "package", "list")
    login(stage, "bob", "bob-pw-123", "telco-b")
    stage.atoll("vnf", "package", "show", package["id"], ok=False)
    stage.check(True, "bob (telco-b) cannot see telco-a's package (404)")

    login(stage, "admin", ADMIN_PASSWORD)
    code = stage.atoll("site", "token", "create", SITE, "--ttl", "3600").strip()
    for image in ("ref-kernel", "ref-initrd"):
        stage.atoll("image", "prestage", image, "--site", SITE, show=False)
    stage.atoll("image", "transfers", "--site", SITE)
    stage.facts.update(site=SITE, join_code=code)
