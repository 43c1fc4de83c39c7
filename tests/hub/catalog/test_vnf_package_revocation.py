"""``[hub] vnf_package_crls``: every certificate of a VNF package signer's chain checked
against the operator's CRLs (``openssl cms -verify -crl_check_all``), with CAs made and
revoking at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.errors import ConfigError
from tests.hub.signatures import hub_check, onboard, refusal
from tests.nfv.signing import new_authority, signature_at, signed_package

CA = new_authority("Operator's VNF package CA")
SIGNER = CA.issue("Example VNF vendor")
REVOKED = CA.issue("Compromised VNF vendor")
ISSUING = CA.intermediate("Vendor issuing CA")  # a vendor's CA the operator's CA certifies
CHAINED = ISSUING.issue("Vendor product team")
CRLS = "[hub] vnf_package_crls"


def files_at(tmp_path: Path, *crls: bytes) -> tuple[Path, Path]:
    anchors, crl_file = tmp_path / "anchors.pem", tmp_path / "vnf-crls.pem"
    anchors.write_bytes(CA.pem())
    crl_file.write_bytes(b"".join(crls))
    return anchors, crl_file


def test_a_revoked_signer_is_refused_naming_it(tmp_path: Path) -> None:
    anchors, crls = files_at(tmp_path, CA.crl(REVOKED.cert))
    check = hub_check(anchors, crls=crls)
    files = signed_package(REVOKED)
    (problem,) = refusal(files, check)
    assert problem.startswith(
        f"{signature_at(files)}: the signer's certificate CN=Compromised VNF vendor is revoked "
        "(since "
    )
    assert problem.endswith(
        f"key compromise, by the CRL of CN=Operator's VNF package CA of {CRLS})"
    )
    # the same CRL revokes nothing else
    package = onboard(signed_package(SIGNER), check)
    assert package.signature is not None and package.signature.signer == "CN=Example VNF vendor"


def test_without_crls_set_the_revoked_signer_onboards(tmp_path: Path) -> None:
    anchors, _ = files_at(tmp_path)
    assert onboard(signed_package(REVOKED), hub_check(anchors)).signature is not None


def test_an_issuing_ca_revoked_refuses_what_it_signed(tmp_path: Path) -> None:
    """-crl_check_all: the signer's own certificate is not revoked, the CA that issued it is
    (-crl_check, the signer's alone, would take it)."""
    anchors, crls = files_at(tmp_path, CA.crl(ISSUING.cert), ISSUING.crl())
    files = signed_package(CHAINED)
    (problem,) = refusal(files, hub_check(anchors, crls=crls))
    assert problem.startswith(
        f"{signature_at(files)}: the signer's certificate (CN=Vendor product team, issued by "
        "CN=Vendor issuing CA, "
    )
    assert ") chains through CN=Vendor issuing CA, which is revoked (since " in problem
    # its CRL current and revoking nothing, the chain verifies, both of its CAs checked
    anchors, crls = files_at(tmp_path, CA.crl(), ISSUING.crl())
    assert onboard(files, hub_check(anchors, crls=crls)).signature is not None


@pytest.mark.parametrize(
    ("published", "reason"),
    [
        (
            "root only",  # the issuing CA's CRL is missing
            "no CRL of CN=Vendor issuing CA is there (openssl: unable to get certificate CRL)",
        ),
        ("expired", "the CRL of CN=Vendor issuing CA is out of date, its next update due "),
    ],
)
def test_a_chain_whose_crls_are_not_all_there_and_current_is_refused(
    tmp_path: Path, published: str, reason: str
) -> None:
    crls = (CA.crl(),) if published == "root only" else (CA.crl(), ISSUING.crl(expired=True))
    anchors, crl_file = files_at(tmp_path, *crls)
    files = signed_package(CHAINED)
    (problem,) = refusal(files, hub_check(anchors, crls=crl_file))
    assert problem.startswith(f"{signature_at(files)}: the signer's certificate (CN=Vendor ")
    assert f"cannot be checked for revocation: {reason}" in problem
    assert problem.endswith(f"with {CRLS} set, every CA of its chain must have a current CRL there")


def test_an_older_crl_the_package_carries_does_not_unrevoke_its_signer(tmp_path: Path) -> None:
    import datetime as dt

    anchors, crls = files_at(tmp_path, CA.crl(REVOKED.cert))
    yesterdays = CA.crl(age=dt.timedelta(days=1))  # still valid, the signer not in it yet
    files = signed_package(REVOKED, crl=yesterdays)
    (problem,) = refusal(files, hub_check(anchors, crls=crls))
    assert "the signer's certificate CN=Compromised VNF vendor is revoked" in problem


def test_a_crl_file_that_cannot_be_used_stops_the_hub(tmp_path: Path) -> None:
    anchors, crls = files_at(tmp_path)
    with pytest.raises(ConfigError, match=r"vnf_package_crls: .* holds no PEM CRL"):
        hub_check(anchors, crls=crls)
    with pytest.raises(ConfigError, match=r"vnf_package_crls: .* cannot be read"):
        hub_check(anchors, crls=tmp_path / "absent.pem")
    crls.write_bytes(CA.crl() + b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    with pytest.raises(ConfigError, match=r"holds a CRL that does not parse \(the 2nd: "):
        hub_check(anchors, crls=crls)
