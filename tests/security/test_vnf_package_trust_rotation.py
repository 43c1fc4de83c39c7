"""The running hub's trust in VNF package signers follows its files without a restart:
``[hub] vnf_package_trust_anchors`` rotated, a CRL published in ``vnf_package_crls``; and a
file that cannot be read refuses signed packages (a 422 naming the setting and the file),
never accepting on what the file held before.

Before: both were read when the hub started, so a CA withdrawn from the anchors, or a
vendor's certificate revoked, kept signing packages the hub onboarded until someone
restarted it; and revocation was not checked at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nfv.packages import to_zip
from tests.nfv.signing import new_authority, signature_at, signed_package
from tests.security.daemons import RunningHub, running_hub
from tests.security.test_image_substitution import onboard
from tests.security.test_vnf_package_zip import no_internal_error

OLD_CA = new_authority("Operator's VNF package CA, 2025")
NEW_CA = new_authority("Operator's VNF package CA, 2026")
VENDOR = OLD_CA.issue("Vendor")
REVOKED = OLD_CA.issue("Vendor with a leaked key")
SUCCESSOR = NEW_CA.issue("Vendor with a new key")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hub's directory, with its ``anchors.pem`` and ``crls.pem``."""
    return tmp_path_factory.mktemp("trust-hub")


@pytest.fixture(scope="module")
def hub(work: Path) -> Iterator[RunningHub]:
    """A hub trusting OLD_CA, with its CRL (revoking nothing yet)."""
    trust_old(work)
    config = (
        f'[hub]\nvnf_package_trust_anchors = "{work / "anchors.pem"}"\n'
        f'vnf_package_crls = "{work / "crls.pem"}"\n'
    )
    with running_hub(work, config=config) as running:
        yield running


def trust_old(work: Path) -> None:
    replace(work / "anchors.pem", OLD_CA.pem())
    replace(work / "crls.pem", OLD_CA.crl())


def replace(path: Path, data: bytes) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_bytes(data)
    staged.replace(path)


def at_signature(hub: RunningHub, token: str, files: dict[str, bytes]) -> str | None:
    """What onboarding ``files`` is refused with at its signature (always a 422, never the
    hub's 500); None: its signature verified (the package carries no image: that may be all
    it lacks)."""
    package = onboard(hub, token, to_zip(files))
    details = package["onboardingFailureDetails"] or {"status": None, "problems": []}
    at = [p["what"] for p in details["problems"] if p["where"] == signature_at(files)]
    if at:
        assert details["status"] == 422, details
    return at[0] if at else None


def test_anchors_and_crls_follow_their_files(hub: RunningHub, work: Path) -> None:
    tenant = hub.tenant("tr", "tr-vendor")
    trusted, revoked = signed_package(VENDOR), signed_package(REVOKED)
    succeeded = signed_package(SUCCESSOR)
    assert at_signature(hub, tenant, trusted) is None
    assert at_signature(hub, tenant, revoked) is None
    assert "is not trusted" in str(at_signature(hub, tenant, succeeded))

    replace(work / "crls.pem", OLD_CA.crl(REVOKED.cert))  # the CA publishes a CRL
    assert "the signer's certificate CN=Vendor with a leaked key is revoked" in str(
        at_signature(hub, tenant, revoked)
    )
    assert at_signature(hub, tenant, trusted) is None

    replace(work / "anchors.pem", NEW_CA.pem())  # the operator rotates the anchors
    (work / "crls.pem").write_bytes(NEW_CA.crl())  # rewritten in place
    assert at_signature(hub, tenant, succeeded) is None
    assert "is not trusted" in str(at_signature(hub, tenant, trusted))
    no_internal_error(hub)


def test_an_anchors_file_gone_refuses_signed_packages_until_it_is_back(
    hub: RunningHub, work: Path
) -> None:
    tenant = hub.tenant("tr", "tr-rotator")
    trust_old(work)
    anchors = work / "anchors.pem"
    saved = anchors.read_bytes()
    files = signed_package(VENDOR)
    assert at_signature(hub, tenant, files) is None
    anchors.unlink()
    try:
        for _ in range(2):
            assert at_signature(hub, tenant, files) == (
                "the manifest is signed, but it cannot be verified: [hub] "
                "vnf_package_trust_anchors (anchors.pem) cannot be read (No such file or "
                "directory); signed packages are refused until the file is fixed"
            )
    finally:
        anchors.write_bytes(saved)
    assert at_signature(hub, tenant, files) is None
    assert hub.log.count(f"{anchors} cannot be read") == 1, hub.log  # once, not per package
    assert f"{anchors} is usable again: read again" in hub.log
    no_internal_error(hub)
