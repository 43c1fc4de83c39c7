"""SOL004 security option 2: a VNF package delivered as a zip of ``NAME.csar``, its CMS
signature ``NAME.cms`` and certificate ``NAME.cert``, read by ``load_package`` with the
hub's own check (real ``openssl cms -verify``, CAs made at test time): the CSAR unpacked to
the one file the caller names, its signature verified over its bytes, then read as any CSAR.

Before, such a zip was read as a CSAR and refused for lacking TOSCA.meta (``has no
TOSCA-Metadata/TOSCA.meta and 0 YAML files at its root``): a vendor signing the CSAR could
not onboard at all, and ``required`` knew option 1 alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import PackageLimits, load_package
from atoll.nfv.signature_check import ManifestSignatureCheck
from tests.hub.signatures import hub_check
from tests.nfv.packages import to_zip
from tests.nfv.signing import (
    MANIFEST,
    new_authority,
    option2,
    signature_at,
    signed_package,
)

CA = new_authority("Operator's VNF package CA")
VENDOR = CA.issue("Example VNF vendor")
CSAR = to_zip(signed_package(None))  # a CSAR whose manifest is unsigned
CSAR_PROBLEM = "vnf.cms: the CSAR vnf.csar "


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``anchors.pem`` (CA) and ``crls.pem`` (its CRL, revoking nothing), in a directory."""
    root = tmp_path_factory.mktemp("trust")
    (root / "anchors.pem").write_bytes(CA.pem())
    (root / "crls.pem").write_bytes(CA.crl())
    return root


def read(
    entries: dict[str, bytes],
    check: ManifestSignatureCheck | None,
    tmp_path: Path,
    limits: PackageLimits | None = None,
) -> VnfPackage:
    return load_package(
        to_zip(entries), limits, signature_check=check, unpack_to=tmp_path / "unpacked.csar"
    )


def problems(
    entries: dict[str, bytes], check: ManifestSignatureCheck | None, tmp_path: Path
) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        read(entries, check, tmp_path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(("pem", "cert_file"), [(False, True), (True, False), (True, True)])
def test_a_signed_csar_in_its_zip_verifies_and_is_read(
    trust: Path, tmp_path: Path, pem: bool, cert_file: bool
) -> None:
    package = read(
        option2(CSAR, VENDOR, pem=pem, cert_file=cert_file),
        hub_check(trust / "anchors.pem"),
        tmp_path,
    )
    assert package.delivered_as == "vnf.csar"
    assert package.csar_signature is not None
    assert package.csar_signature.path == "vnf.csar"
    assert package.csar_signature.signer == "CN=Example VNF vendor"
    assert package.csar_signature.issuer == "CN=Operator's VNF package CA"
    assert package.signature is None  # its manifest is not signed
    assert package.vnfd.product_name  # the CSAR read as any other
    # unpacked to the one file named, nothing else beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["unpacked.csar"]
    assert (tmp_path / "unpacked.csar").read_bytes() == CSAR


def test_a_csar_changed_by_one_byte_after_signing_is_refused(trust: Path, tmp_path: Path) -> None:
    found = problems(option2(CSAR, VENDOR, tamper=True), hub_check(trust / "anchors.pem"), tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(
        CSAR_PROBLEM + "does not match its signature: it was changed after it was signed"
    )


def test_a_signer_the_anchors_do_not_know_is_refused(trust: Path, tmp_path: Path) -> None:
    stranger = new_authority("Someone else's CA").issue("Impostor")
    (problem,) = problems(option2(CSAR, stranger), hub_check(trust / "anchors.pem"), tmp_path)
    assert problem.startswith("vnf.cms: the signer's certificate (CN=Impostor, issued by ")
    assert problem.endswith(
        "is not trusted: unable to get local issuer certificate; a signer must chain to a CA "
        "of [hub] vnf_package_trust_anchors"
    )


def test_a_revoked_signer_is_refused_naming_it(trust: Path, tmp_path: Path) -> None:
    revoked = CA.issue("Vendor with a leaked key")
    crls = tmp_path / "revoking.pem"
    crls.write_bytes(CA.crl(revoked.cert))
    check = hub_check(trust / "anchors.pem", crls=crls)
    (problem,) = problems(option2(CSAR, revoked), check, tmp_path)
    assert problem.startswith(
        "vnf.cms: the signer's certificate CN=Vendor with a leaked key is revoked (since "
    )
    assert read(option2(CSAR, VENDOR), check, tmp_path).csar_signature is not None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"readme.txt": b"hello"},
            [
                "(archive) 'readme.txt': is not part of a zip delivering a signed CSAR (SOL004 "
                "security option 2), which holds vnf.csar, vnf.cms and (optionally) vnf.cert, "
                "nothing else"
            ],
        ),
        (
            {"vnf.cms": None, "other.cms": b"x"},
            [
                "(archive) 'other.cms': is not named for the CSAR vnf.csar: its cms file is "
                "vnf.cms (SOL004 security option 2: the signature and certificate are named as "
                "the CSAR is)",
                "(archive): holds vnf.csar but no vnf.cms: a zip delivering a CSAR (SOL004 "
                "security option 2) holds its CMS signature beside it, named alike",
            ],
        ),
        (
            {"vnf.cert": None, "VNF.cert": b"x"},
            [
                "(archive) 'VNF.cert': is not named for the CSAR vnf.csar: its cert file is "
                "vnf.cert (SOL004 security option 2: the signature and certificate are named as "
                "the CSAR is)"
            ],
        ),
        (
            {"second.csar": CSAR},
            [
                "(archive): holds 2 .csar files at its root; a zip delivering a signed CSAR "
                "(SOL004 security option 2) holds one, NAME.csar, with its signature NAME.cms "
                "and (optionally) its certificate NAME.cert"
            ],
        ),
        (
            {"vnf.csar": None, "pkg/vnf.csar": CSAR},
            [
                "(archive): holds 0 .csar files at its root; a zip delivering a signed CSAR "
                "(SOL004 security option 2) holds one, NAME.csar, with its signature NAME.cms "
                "and (optionally) its certificate NAME.cert"
            ],
        ),
    ],
)
def test_a_zip_holding_anything_but_its_three_files_is_refused_naming_the_entry(
    trust: Path, tmp_path: Path, change: dict[str, bytes | None], expected: list[str]
) -> None:
    entries = option2(CSAR, VENDOR)
    for name, data in change.items():
        if data is None:
            del entries[name]
        else:
            entries[name] = data
    assert problems(entries, hub_check(trust / "anchors.pem"), tmp_path) == expected
    assert list(tmp_path.iterdir()) == []  # nothing unpacked


def test_an_unsafe_entry_is_refused_as_in_any_package(trust: Path, tmp_path: Path) -> None:
    entries = {**option2(CSAR, VENDOR), "../vnf.cms": b"x"}
    found = problems(entries, hub_check(trust / "anchors.pem"), tmp_path)
    assert found == [
        "(archive) '../vnf.cms': entry path escapes the package root or is not a relative path"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_signature_that_is_no_cms_is_refused_naming_it(trust: Path, tmp_path: Path) -> None:
    entries = {**option2(CSAR, VENDOR), "vnf.cms": b"not a signature"}
    found = problems(entries, hub_check(trust / "anchors.pem"), tmp_path)
    assert found == ["vnf.cms: is not a CMS signature (DER, or PEM -----BEGIN CMS-----)"]


def test_the_unpacked_csar_is_bounded(trust: Path, tmp_path: Path) -> None:
    limits = PackageLimits(unpacked_csar_bytes=len(CSAR) - 1)
    with pytest.raises(InvalidInput) as caught:
        read(option2(CSAR, VENDOR), hub_check(trust / "anchors.pem"), tmp_path, limits)
    assert [str(p) for p in caught.value.problems] == [
        f"vnf.csar: is {len(CSAR)} bytes, over the {len(CSAR) - 1}-byte limit for a VNF package"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_csar_entry_is_refused_and_nothing_is_left(trust: Path, tmp_path: Path) -> None:
    outer = bytearray(to_zip(option2(CSAR, VENDOR)))
    with zipfile.ZipFile(__import__("io").BytesIO(bytes(outer))) as archive:
        info = archive.getinfo("vnf.csar")
    data_at = info.header_offset + 30 + len(info.filename) + len(info.extra)
    outer[data_at + 20] ^= 0xFF  # the deflated data: it inflates to garbage, or not at all
    with pytest.raises(InvalidInput) as caught:
        load_package(
            bytes(outer),
            signature_check=hub_check(trust / "anchors.pem"),
            unpack_to=tmp_path / "unpacked.csar",
        )
    (problem,) = caught.value.problems
    assert problem.where == "vnf.csar" and problem.what.startswith("cannot be read: ")
    assert list(tmp_path.iterdir()) == []


def test_required_takes_the_csar_signed_in_place_of_its_manifest(
    trust: Path, tmp_path: Path
) -> None:
    required = hub_check(trust / "anchors.pem", required=True)
    package = read(option2(CSAR, VENDOR), required, tmp_path)
    assert package.csar_signature is not None and package.signature is None
    with pytest.raises(InvalidInput) as caught:
        load_package(CSAR, signature_check=required)
    assert [p.where for p in caught.value.problems] == [MANIFEST]  # neither way: refused


def test_both_signatures_are_checked_when_the_csar_in_the_zip_has_a_signed_manifest(
    trust: Path, tmp_path: Path
) -> None:
    check = hub_check(trust / "anchors.pem")
    inner = signed_package(CA.issue("Manifest signer"))
    package = read(option2(to_zip(inner), VENDOR), check, tmp_path)
    assert package.signature is not None and package.signature.signer == "CN=Manifest signer"
    assert package.csar_signature is not None
    bad = signed_package(CA.issue("Manifest signer"), tamper=True)
    found = problems(option2(to_zip(bad), VENDOR), check, tmp_path)
    assert [p.split(": ", 1)[0] for p in found] == [signature_at(bad)]  # the manifest's, alone


def test_with_signatures_off_the_csar_is_unpacked_and_read_unchecked(tmp_path: Path) -> None:
    package = read(option2(CSAR, VENDOR, tamper=True), None, tmp_path)
    assert package.delivered_as == "vnf.csar" and package.csar_signature is None


def test_without_trust_anchors_set_a_signed_csar_is_refused_naming_the_setting(
    tmp_path: Path,
) -> None:
    (problem,) = problems(option2(CSAR, VENDOR), hub_check(None), tmp_path)
    assert problem.startswith(
        "vnf.cms: the CSAR vnf.csar is signed, but this hub has no trust anchors to verify it "
        "against: the operator sets [hub] vnf_package_trust_anchors"
    )


def test_a_reader_given_nowhere_to_unpack_refuses_the_zip(trust: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_package(
            to_zip(option2(CSAR, VENDOR)), signature_check=hub_check(trust / "anchors.pem")
        )
    (problem,) = caught.value.problems
    assert problem.where == "(package)" and "is given nowhere to unpack" in problem.what
