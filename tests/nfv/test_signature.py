"""Finding a manifest's CMS signature and its certificate (pure; verifying it is the hub's)."""

from __future__ import annotations

import base64

import pytest

from atoll.cms import Content
from atoll.errors import InvalidInput
from atoll.nfv.errors import ProblemLog
from atoll.nfv.package import load_package
from atoll.nfv.signature import (
    DetachedSignature,
    SignedManifest,
    VerifiedSignature,
    split_signature,
)
from tests.nfv.packages import to_zip
from tests.nfv.signing import MANIFEST, new_authority, signed_package

BODY = b"metadata:\nvnf_product_name: x\n\nSource: a.yaml\nAlgorithm: SHA-256\nHash: 00\n"
CMS = base64.encodebytes(b"\x30\x03\x02\x01\x01")


class Recorder:
    """A SignatureCheck that records what it was given and passes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, SignedManifest | None]] = []
        self.detached_calls: list[DetachedSignature] = []

    def __call__(
        self,
        manifest: str | None,
        signed: SignedManifest | None,
        log: ProblemLog,
        *,
        package_signed: bool = False,
    ) -> VerifiedSignature | None:
        self.calls.append((manifest, signed))
        return VerifiedSignature(manifest or "", "CN=x", "CN=y", "2099-01-01T00:00:00+00:00")

    def detached(
        self, signed: DetachedSignature, content: Content, size: int, log: ProblemLog
    ) -> VerifiedSignature | None:
        self.detached_calls.append(signed)
        return VerifiedSignature(signed.path, "CN=x", "CN=y", "2099-01-01T00:00:00+00:00")


def test_the_signature_covers_every_byte_before_its_begin_line() -> None:
    raw = BODY + b"-----BEGIN CMS-----\n" + CMS + b"-----END CMS-----\n\n"
    log = ProblemLog()
    found = split_signature("vnf.mf", raw, log)
    assert found == (BODY, b"\x30\x03\x02\x01\x01", "vnf.mf:7")
    assert not log.errors and not log.warnings


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (b"-----BEGIN CMS-----\n" + CMS, "vnf.mf:7: the CMS signature has no -----END CMS-----"),
        (
            b"-----BEGIN CMS-----\n" + CMS + b"-----END CMS-----\nSource: b\n",
            "vnf.mf:10: text after the CMS signature",
        ),
        (
            b"-----BEGIN CMS-----\nnot base64!\n-----END CMS-----\n",
            "vnf.mf:7: the CMS signature is not base64",
        ),
    ],
)
def test_a_malformed_signature_is_refused_naming_its_line(tail: bytes, problem: str) -> None:
    log = ProblemLog()
    assert split_signature("vnf.mf", BODY + tail, log) is None
    assert str(log.errors[0]).startswith(problem)


def test_another_pem_block_is_no_signature() -> None:
    log = ProblemLog()
    raw = BODY + b"-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
    assert split_signature("vnf.mf", raw, log) is None
    assert not log.errors
    assert "is not a CMS signature" in str(log.warnings[0])


@pytest.mark.parametrize("cert_file", [None, "Files/certs/vendor.pem", "sample.cert"])
def test_load_package_hands_the_check_the_signature_and_the_certificate_file(
    cert_file: str | None,
) -> None:
    signer = new_authority().issue()
    files = signed_package(signer, cert_file=cert_file)
    check = Recorder()
    package = load_package(to_zip(files), signature_check=check)
    ((manifest, signed),) = check.calls
    assert manifest == MANIFEST and signed is not None
    assert files[MANIFEST].startswith(signed.content)
    assert files[MANIFEST][len(signed.content) :].startswith(b"-----BEGIN CMS-----\n")
    assert signed.certificate == cert_file
    if cert_file is not None:
        assert signed.certificate_data == signer.cert_pem()
    assert package.signature is not None and package.signature.signer == "CN=x"
    # the manifest's hashes are checked as ever, the signature block not read as entries
    assert MANIFEST not in package.verified_files
    assert "Definitions/sample_vnfd_top.yaml" in package.verified_files
    assert all("sample.mf" not in str(w) for w in package.warnings)


def test_an_unsigned_package_is_the_checks_to_judge() -> None:
    check = Recorder()
    load_package(to_zip(signed_package(None)), signature_check=check)
    assert check.calls == [(MANIFEST, None)]


def test_without_a_check_no_signature_is_read() -> None:
    files = signed_package(new_authority().issue())
    files[MANIFEST] = files[MANIFEST].replace(b"-----END CMS-----", b"")  # malformed
    package = load_package(to_zip(files))
    assert package.signature is None


def test_a_malformed_signature_refuses_and_is_not_checked() -> None:
    files = signed_package(new_authority().issue())
    files[MANIFEST] = files[MANIFEST].replace(b"-----END CMS-----", b"")
    check = Recorder()
    with pytest.raises(InvalidInput) as caught:
        load_package(to_zip(files), signature_check=check)
    assert check.calls == []
    assert any("has no -----END CMS----- line" in str(p) for p in caught.value.problems)
