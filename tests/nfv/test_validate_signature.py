"""``atoll vnf package validate`` and a package's CMS signatures (the manifest's, the CSAR's
in the zip that delivers it, signed artifacts'): the hub's own check, its rules named as the
command's options (``--trust-anchors``, ``--crls``, ``--require-signature``); without them,
who signed, the chain not verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atoll.cli import main
from tests.hub.signatures import hub_check, refusal
from tests.nfv.packages import to_zip
from tests.nfv.signing import (
    ARTIFACT,
    MANIFEST,
    artifact_package,
    line_of,
    new_authority,
    option2,
    signature_at,
    signed_package,
)

CA = new_authority("Operator's VNF package CA")
SIGNER = CA.issue("Example VNF vendor")
HUB_ANCHORS = "[hub] vnf_package_trust_anchors"


@pytest.fixture(scope="module")
def trust(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding ``anchors.pem`` (CA) and ``crls.pem`` (CA's, revoking nothing)."""
    root = tmp_path_factory.mktemp("trust")
    (root / "anchors.pem").write_bytes(CA.pem())
    (root / "crls.pem").write_bytes(CA.crl())
    return root


def csar(tmp_path: Path, files: dict[str, bytes], name: str = "pkg.csar") -> str:
    path = tmp_path / name
    path.write_bytes(to_zip(files))
    return str(path)


def validate(*argv: str) -> int:
    return main(["vnf", "package", "validate", *argv])


def problems_of(err: str) -> list[str]:
    assert err.startswith("error: the VNF package is invalid\n"), err
    return [line.removeprefix("  - ") for line in err.splitlines()[1:]]


def test_without_options_it_says_who_signed_without_verifying_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unanchored = new_authority("Nobody's CA").issue("Some vendor")
    path = csar(tmp_path, signed_package(unanchored))
    assert validate(path) == 0
    out = capsys.readouterr().out
    assert (
        f"signature           {MANIFEST}: signed by CN=Some vendor, issued by CN=Nobody's CA "
        "(its chain not verified: --trust-anchors verifies it)"
    ) in out
    assert validate(path, "-f", "json") == 0
    signature = json.loads(capsys.readouterr().out)["package"]["signature"]
    assert signature["signer"] == "CN=Some vendor" and signature["chain_verified"] is False
    assert validate(csar(tmp_path, signed_package(None), "unsigned.csar")) == 0
    assert "signature           none (unsigned)" in capsys.readouterr().out


def test_without_options_a_manifest_changed_after_signing_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = signed_package(SIGNER, tamper=True)
    assert validate(csar(tmp_path, files)) == 1
    (problem,) = problems_of(capsys.readouterr().err)
    assert problem.startswith(
        f"{signature_at(files)}: the manifest does not match its signature: it was changed"
    )


def test_with_trust_anchors_it_verifies_as_the_hub_does(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = str(trust / "anchors.pem")
    assert validate(csar(tmp_path, signed_package(SIGNER)), "--trust-anchors", anchors) == 0
    assert (
        f"{MANIFEST}: signed by CN=Example VNF vendor, issued by CN=Operator's VNF package CA "
        "(verified against --trust-anchors)"
    ) in capsys.readouterr().out
    hub = hub_check(trust / "anchors.pem")
    first: list[str] = []
    for files in (
        signed_package(new_authority("Someone else's CA").issue("Impostor")),
        signed_package(CA.issue("Lapsed vendor", expired=True)),
        signed_package(SIGNER, tamper=True),
        signed_package(SIGNER, with_cert=False),
    ):
        assert validate(csar(tmp_path, files), "--trust-anchors", anchors) == 1
        said = problems_of(capsys.readouterr().err)
        # the hub's words, the rules named as this command's options
        assert said == [p.replace(HUB_ANCHORS, "--trust-anchors") for p in refusal(files, hub)]
        assert validate(csar(tmp_path, files), "--trust-anchors", anchors, "-f", "json") == 1
        doc = json.loads(capsys.readouterr().out)
        assert doc["valid"] is False
        assert [f"{p['where']}: {p['what']}" for p in doc["problems"]] == said
        first = first or said
    assert first[0].endswith("is not trusted: unable to get local issuer certificate; a signer "
                             "must chain to a CA of --trust-anchors")  # fmt: skip


def test_require_signature_refuses_an_unsigned_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = csar(tmp_path, signed_package(None))
    assert validate(path, "--require-signature") == 1
    assert problems_of(capsys.readouterr().err) == [
        f"{MANIFEST}: the manifest carries no CMS signature, and a signed package is required "
        "(--require-signature; SOL004 security option 1, the manifest signed with CMS, or "
        "option 2, the CSAR signed in a zip with it)"
    ]
    signed = csar(tmp_path, signed_package(SIGNER), "signed.csar")
    assert validate(signed, "--require-signature") == 0


def test_crls_refuse_a_revoked_signer(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revoked = CA.issue("Compromised vendor")
    crls = tmp_path / "crls.pem"
    crls.write_bytes(CA.crl(revoked.cert))
    anchors = str(trust / "anchors.pem")
    files = signed_package(revoked)
    path = csar(tmp_path, files)
    assert validate(path, "--trust-anchors", anchors) == 0  # not checked without --crls
    capsys.readouterr()
    assert validate(path, "--trust-anchors", anchors, "--crls", str(crls)) == 1
    (problem,) = problems_of(capsys.readouterr().err)
    assert problem.startswith(
        f"{signature_at(files)}: the signer's certificate CN=Compromised vendor is revoked "
    )
    assert problem.endswith("by the CRL of CN=Operator's VNF package CA of --crls)")
    good = csar(tmp_path, signed_package(SIGNER), "good.csar")
    assert validate(good, "--trust-anchors", anchors, "--crls", str(trust / "crls.pem")) == 0
    assert "(verified against --trust-anchors, and --crls)" in capsys.readouterr().out


def test_trust_files_that_cannot_be_used_are_an_error_naming_the_option(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = csar(tmp_path, signed_package(SIGNER))
    absent = tmp_path / "absent.pem"
    assert validate(path, "--trust-anchors", str(absent)) == 1
    assert capsys.readouterr().err == (
        f"error: --trust-anchors: {absent} cannot be read (No such file or directory)\n"
    )
    assert validate(path, "--trust-anchors", str(trust / "anchors.pem"), "--crls", path) == 1
    assert capsys.readouterr().err == (
        f"error: --crls: {path} holds no PEM CRL (-----BEGIN X509 CRL-----)\n"
    )
    assert validate(path, "--crls", str(trust / "crls.pem")) == 1
    assert "--crls: revocation is checked along a verified chain" in capsys.readouterr().err


def test_a_zip_delivering_a_signed_csar_is_unpacked_and_verified(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SOL004 security option 2, offline: the CSAR in its zip, its signature checked as the
    hub does, nothing left behind."""
    inner = to_zip(signed_package(None))
    path = tmp_path / "delivery.zip"
    path.write_bytes(to_zip(option2(inner, SIGNER)))
    anchors = str(trust / "anchors.pem")
    assert validate(str(path), "--trust-anchors", anchors, "--require-signature") == 0
    out = capsys.readouterr().out
    assert (
        "csar signature      vnf.csar: signed by CN=Example VNF vendor, issued by "
        "CN=Operator's VNF package CA (verified against --trust-anchors)"
    ) in out
    assert "signature           none (unsigned)" in out  # its manifest's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["delivery.zip"]
    assert validate(str(path), "-f", "json") == 0
    doc = json.loads(capsys.readouterr().out)["package"]
    assert doc["delivered_as"] == "vnf.csar"
    assert doc["csar_signature"]["signer"] == "CN=Example VNF vendor"
    assert doc["csar_signature"]["chain_verified"] is False  # no --trust-anchors


def test_a_tampered_or_misnamed_zip_is_refused_offline(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inner = to_zip(signed_package(None))
    anchors = str(trust / "anchors.pem")
    tampered = csar(tmp_path, option2(inner, SIGNER, tamper=True), "tampered.zip")
    assert validate(tampered, "--trust-anchors", anchors) == 1
    (problem,) = problems_of(capsys.readouterr().err)
    assert problem.startswith("vnf.cms: the CSAR vnf.csar does not match its signature")
    stray = {**option2(inner, SIGNER), "notes.txt": b"unsigned notes"}
    assert validate(csar(tmp_path, stray, "stray.zip"), "--trust-anchors", anchors) == 1
    (problem,) = problems_of(capsys.readouterr().err)
    assert problem.startswith("(archive) 'notes.txt': is not part of a zip delivering a signed")


def test_signed_artifacts_are_verified_offline(
    tmp_path: Path, trust: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchors = str(trust / "anchors.pem")
    good = csar(tmp_path, artifact_package(SIGNER), "good.csar")
    assert validate(good, "--trust-anchors", anchors) == 0
    assert (
        f"artifact signature 1  {ARTIFACT}: signed by CN=Example VNF vendor, issued by "
        "CN=Operator's VNF package CA (verified against --trust-anchors)"
    ) in capsys.readouterr().out
    files = artifact_package(SIGNER, tamper=True)
    assert validate(csar(tmp_path, files, "tampered.csar"), "--trust-anchors", anchors) == 1
    (problem,) = problems_of(capsys.readouterr().err)
    assert problem.startswith(
        f"{line_of(files, b'Signature:')}: the artifact {ARTIFACT} does not match its signature"
    )
