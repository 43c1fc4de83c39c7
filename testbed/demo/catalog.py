"""Act: the NOC's catalog — the reference VNF image uploaded to the hub as linked kernel and
ramdisk images, an ETSI package onboarded against it, and the images prestaged to a site."""

from __future__ import annotations

import secrets

from atoll.testbed.demo.hub import ADMIN_PASSWORD, login
from atoll.testbed.demo.packages import CONFORMANCE
from atoll.testbed.demo.stage import Stage

SITE = "edge-1"
SITE_USER = f"site-{SITE}"
SITE_PASSWORD = "site-" + secrets.token_urlsafe(12)


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
    package = stage.atoll_json("vnf", "package", "upload", str(CONFORMANCE / "getting-started"),
                               "--image-map", "VDU1=ref-kernel")  # fmt: skip
    stage.check(package["onboardingState"] == "ONBOARDED",
                f"alice onboarded package {package['id'][:8]} ({package['vnfProductName']!r}), "
                f"VDU1 mapped to the catalog image ref-kernel")  # fmt: skip
    stage.atoll("vnf", "package", "list")
    login(stage, "bob", "bob-pw-123", "telco-b")
    stage.atoll("vnf", "package", "show", package["id"], ok=False)
    stage.check(True, "bob (telco-b) cannot see telco-a's package (404)")

    login(stage, "admin", ADMIN_PASSWORD)
    stage.atoll("user", "create", SITE_USER, "--password", SITE_PASSWORD, show=False)
    stage.atoll("role", "add", "--user", SITE_USER, "--system", "--role", "member", show=False)
    for image in ("ref-kernel", "ref-initrd"):
        stage.atoll("image", "prestage", image, "--site", SITE, show=False)
    stage.atoll("image", "transfers", "--site", SITE)
    stage.facts.update(site=SITE, site_user=SITE_USER, site_password=SITE_PASSWORD)
