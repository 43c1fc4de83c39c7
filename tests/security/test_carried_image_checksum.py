"""A tenant's VNF package that carries its own software image, against the running hub: the
carried bytes must be the ones the VNFD declares (``sw_image_data.checksum``) and the ones
the manifest lists, or onboarding fails (ERROR, a ProblemDetails naming the VDU, the file
inside the package, the declared and the real digest) and no catalog image is registered
from the package. Before, the hub registered whatever bytes the package carried and showed
the VNFD's claim as the image's checksum."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from tests.nfv.packages import GETTING_STARTED_DF, IMAGE, carrying, to_zip
from tests.security.daemons import RunningHub
from tests.security.test_image_substitution import onboard
from tests.security.test_vnf_package_zip import no_internal_error

CHECKSUM_AT = "topology_template.node_templates.VDU1.properties.sw_image_data.checksum"
META = "TOSCA-Metadata/TOSCA.meta"


def swapped(declared: bytes, carried: bytes) -> dict[str, bytes]:
    """getting-started declaring the sha-512 of ``declared`` and carrying ``carried``."""
    return {**carrying(declared), IMAGE: carried}


def with_algorithm(files: dict[str, bytes], algorithm: str, digest: str) -> dict[str, bytes]:
    """``files`` with VDU1's image checksum declared as ``algorithm``/``digest``."""
    image = hashlib.sha512(files[IMAGE]).hexdigest()
    text = files[GETTING_STARTED_DF].decode()
    text = text.replace("algorithm: sha-512", f"algorithm: {algorithm}", 1)
    return {**files, GETTING_STARTED_DF: text.replace(image, digest).encode()}


def catalog_images(hub: RunningHub, token: str) -> list[dict[str, Any]]:
    return list(hub.ok("GET", "/v1/images", token=token)["items"])


def refused(hub: RunningHub, token: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Onboard ``files``; it must end in ERROR (422) with nothing added to the catalog."""
    before = catalog_images(hub, token)
    package = onboard(hub, token, to_zip(files))
    assert package["onboardingState"] == "ERROR", package
    assert package["operationalState"] == "DISABLED"
    assert not package.get("softwareImages"), package
    assert catalog_images(hub, token) == before
    details: dict[str, Any] = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    no_internal_error(hub)
    return details


def test_a_carried_image_other_than_the_declared_one_is_refused(hub: RunningHub) -> None:
    tenant = hub.tenant("ci", "ci-swap")
    vendor = b"QFI\xfb the image the vendor built " + secrets.token_bytes(256)
    planted = b"QFI\xfb a backdoored image " + secrets.token_bytes(256)
    details = refused(hub, tenant, swapped(vendor, planted))
    (problem,) = details["problems"]
    assert problem["where"].startswith(f"{GETTING_STARTED_DF}:"), problem
    assert problem["where"].endswith(CHECKSUM_AT), problem
    what = problem["what"]
    assert "VDU1" in what and IMAGE in what and "SHA-512 mismatch" in what, what
    assert f"declares {hashlib.sha512(vendor).hexdigest()}" in what, what
    assert f"file has {hashlib.sha512(planted).hexdigest()}" in what, what


def test_a_sha256_declared_for_a_carried_image_is_checked(hub: RunningHub) -> None:
    tenant = hub.tenant("ci", "ci-256")
    image = b"QFI\xfb a sha-256 image " + secrets.token_bytes(256)
    real = hashlib.sha256(image).hexdigest()
    files = with_algorithm(carrying(image), "SHA-256", real)

    package = onboard(hub, tenant, to_zip(files))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    (software,) = package["softwareImages"]
    assert software["carried"] is True
    assert software["checksum"] == {"algorithm": "SHA-256", "hash": real}
    (registered,) = [i for i in catalog_images(hub, tenant) if i["id"] == software["catalogImage"]]
    assert registered["checksum_sha256"] == real
    assert registered["checksum_sha512"] == hashlib.sha512(image).hexdigest()
    assert registered["size"] == len(image)

    other = hashlib.sha256(b"some other image").hexdigest()
    details = refused(hub, tenant, with_algorithm(carrying(image), "SHA-256", other))
    (problem,) = details["problems"]
    assert problem["where"].endswith(CHECKSUM_AT), problem
    assert f"declares {other}" in problem["what"] and f"file has {real}" in problem["what"]


def test_a_checksum_that_cannot_be_verified_is_no_way_around(hub: RunningHub) -> None:
    tenant = hub.tenant("ci", "ci-around")
    image = b"QFI\xfb whatever " + secrets.token_bytes(64)
    for algorithm, digest, said in (
        ("md5", hashlib.md5(image).hexdigest(), "is not SHA-256, SHA-384 or SHA-512"),  # noqa: S324
        ("sha-512", "''", "declares no checksum"),
        ("sha-512", "not-a-digest", "is not a SHA-512 hex digest"),
    ):
        details = refused(hub, tenant, with_algorithm(carrying(image), algorithm, digest))
        (problem,) = details["problems"]
        assert problem["where"].endswith(CHECKSUM_AT), problem
        assert "VDU1" in problem["what"] and IMAGE in problem["what"], problem
        assert said in problem["what"], problem


def test_a_manifest_hash_of_the_carried_image_is_checked(hub: RunningHub) -> None:
    tenant = hub.tenant("ci", "ci-manifest")
    image = b"QFI\xfb listed " + secrets.token_bytes(64)
    files = carrying(image)
    listed = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    listed[IMAGE] = hashlib.sha256(b"what the manifest was written for").hexdigest()
    manifest = "metadata:\nvnf_provider_id: Company\n\n" + "\n".join(
        f"Source: {name}\nAlgorithm: SHA-256\nHash: {digest}\n"
        for name, digest in listed.items()
        if name != META
    )
    files[META] += b"ETSI-Entry-Manifest: package.mf\n"
    files["package.mf"] = manifest.encode()
    details = refused(hub, tenant, files)
    (problem,) = details["problems"]
    assert problem["where"].startswith("package.mf:"), problem
    assert problem["what"] == (
        f"{IMAGE}: SHA-256 mismatch: listed {listed[IMAGE]}, file has "
        f"{hashlib.sha256(image).hexdigest()}"
    )
