"""The hub's trust anchors and CRLs for VNF package signatures are read again when their
files change (no restart), and a file that cannot be read refuses signed packages, naming
the setting and the file, never falling back to what it held."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.hub.signatures import hub_check, onboard, refusal
from tests.nfv.signing import new_authority, signature_at, signed_package

OLD_CA = new_authority("VNF package CA 2025")
NEW_CA = new_authority("VNF package CA 2026")
OLD_SIGNED = signed_package(OLD_CA.issue("Vendor, old key"))
NEW_SIGNED = signed_package(NEW_CA.issue("Vendor, new key"))


def replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as an operator's tooling does: a new file renamed over it."""
    staged = path.with_name(path.name + ".new")
    staged.write_bytes(data)
    staged.replace(path)


def test_rotated_anchors_take_effect_at_the_next_package(tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(OLD_CA.pem())
    check = hub_check(anchors)
    assert onboard(OLD_SIGNED, check).signature is not None
    assert "is not trusted" in refusal(NEW_SIGNED, check)[0]
    replace(anchors, NEW_CA.pem())
    assert onboard(NEW_SIGNED, check).signature is not None
    assert "is not trusted" in refusal(OLD_SIGNED, check)[0]  # the old CA is gone, at once
    anchors.write_bytes(OLD_CA.pem() + NEW_CA.pem())  # rewritten in place: both again
    assert onboard(OLD_SIGNED, check).signature is not None


def test_a_published_crl_takes_effect_at_the_next_package(tmp_path: Path) -> None:
    anchors, crls = tmp_path / "anchors.pem", tmp_path / "crls.pem"
    anchors.write_bytes(OLD_CA.pem())
    signer = OLD_CA.issue("Vendor about to be revoked")
    files = signed_package(signer)
    crls.write_bytes(OLD_CA.crl())
    check = hub_check(anchors, crls=crls)
    assert onboard(files, check).signature is not None
    replace(crls, OLD_CA.crl(signer.cert))
    (problem,) = refusal(files, check)
    assert "the signer's certificate CN=Vendor about to be revoked is revoked" in problem


@pytest.mark.parametrize("which", ["anchors", "crls"])
def test_a_file_that_cannot_be_read_refuses_signed_packages_until_it_can(
    tmp_path: Path, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    anchors, crls = tmp_path / "vnf-anchors.pem", tmp_path / "vnf-crls.pem"
    anchors.write_bytes(OLD_CA.pem())
    crls.write_bytes(OLD_CA.crl())
    check = hub_check(anchors, crls=crls)
    assert onboard(OLD_SIGNED, check).signature is not None
    caplog.set_level(logging.INFO, "atoll.watched_file")
    path = anchors if which == "anchors" else crls
    setting = "[hub] vnf_package_trust_anchors" if which == "anchors" else "[hub] vnf_package_crls"
    saved = path.read_bytes()
    path.unlink()
    for _ in range(2):  # each time, not only the first: it never falls back to what it held
        assert refusal(OLD_SIGNED, check) == [
            f"{signature_at(OLD_SIGNED)}: the manifest is signed, but it cannot be verified: "
            f"{setting} ({path.name}) cannot be read (No such file or directory); signed "
            "packages are refused until the file is fixed"
        ]
    assert onboard(signed_package(None), check).signature is None  # unsigned: as before
    path.write_text("garbled by a half-done edit\n")
    (problem,) = refusal(OLD_SIGNED, check)
    lacks = "is not a bundle of PEM certificates" if which == "anchors" else "holds no PEM CRL"
    assert f"cannot be verified: {setting} ({path.name}) {lacks}" in problem
    path.write_bytes(saved)
    assert onboard(OLD_SIGNED, check).signature is not None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3, said  # gone, garbled, usable again: once each, not per package
    assert said[0] == (
        f"{setting}: {path} cannot be read (No such file or directory): what needs it is "
        "refused until it is usable again"
    )
