"""SOL004 signed artifacts (5.3): a manifest entry naming the file's detached CMS signature
(``Signature:``) and the signer's certificate (``Certificate:``), each verified over the
file's bytes with the hub's own check (real ``openssl cms -verify``, CAs made at test time),
the file streamed to openssl.

Before, ``Signature:`` and ``Certificate:`` were read and dropped: an artifact changed after
its vendor signed it, its manifest hash changed to match (an unsigned manifest is anyone's
to write), onboarded as if it were the vendor's."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from atoll.nfv.package import load_package
from tests.hub.signatures import hub_check, onboard, refusal
from tests.nfv.packages import to_zip
from tests.nfv.signing import (
    ARTIFACT,
    ARTIFACT_CERTIFICATE,
    ARTIFACT_SIGNATURE,
    MANIFEST,
    artifact_package,
    line_of,
    manifest_text,
    new_authority,
)

CA = new_authority("Operator's VNF package CA")
VENDOR = CA.issue("Example VNF vendor")


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("anchors") / "anchors.pem"
    path.write_bytes(CA.pem())
    return path


@pytest.mark.parametrize(("pem", "cert_file"), [(False, True), (True, False)])
def test_a_signed_artifact_verifies(anchors: Path, pem: bool, cert_file: bool) -> None:
    package = onboard(artifact_package(VENDOR, pem=pem, cert_file=cert_file), hub_check(anchors))
    (artifact,) = package.artifact_signatures
    assert artifact.path == ARTIFACT
    assert artifact.signer == "CN=Example VNF vendor" and artifact.chain_verified
    assert package.signature is None  # the manifest is not signed


def test_an_artifact_changed_by_one_byte_after_signing_is_refused(anchors: Path) -> None:
    files = artifact_package(VENDOR, tamper=True)
    (problem,) = refusal(files, hub_check(anchors))
    assert problem.startswith(
        f"{line_of(files, b'Signature:')}: the artifact {ARTIFACT} does not match its "
        "signature: it was changed after it was signed"
    )


def test_an_artifact_signer_the_anchors_do_not_know_is_refused(anchors: Path) -> None:
    files = artifact_package(new_authority("Someone else's CA").issue("Impostor"))
    (problem,) = refusal(files, hub_check(anchors))
    assert problem.startswith(
        f"{line_of(files, b'Signature:')}: the signer's certificate (CN=Impostor, issued by "
    )
    assert "is not trusted: unable to get local issuer certificate" in problem


def test_a_revoked_artifact_signer_is_refused(anchors: Path, tmp_path: Path) -> None:
    revoked = CA.issue("Vendor with a leaked key")
    crls = tmp_path / "crls.pem"
    crls.write_bytes(CA.crl(revoked.cert))
    files = artifact_package(revoked)
    (problem,) = refusal(files, hub_check(anchors, crls=crls))
    assert problem.startswith(
        f"{line_of(files, b'Signature:')}: the signer's certificate CN=Vendor with a leaked key "
        "is revoked (since "
    )


def test_both_the_manifest_and_its_artifacts_are_checked(anchors: Path) -> None:
    files = artifact_package(VENDOR, manifest_signer=CA.issue("Manifest signer"))
    package = onboard(files, hub_check(anchors))
    assert package.signature is not None and package.signature.signer == "CN=Manifest signer"
    assert [a.path for a in package.artifact_signatures] == [ARTIFACT]


def test_a_signed_artifact_alone_does_not_make_the_package_signed(anchors: Path) -> None:
    """``required`` asks for option 1 or 2: an artifact's signature covers that file alone."""
    problems = refusal(artifact_package(VENDOR), hub_check(anchors, required=True))
    assert [p.split(": ", 1)[0] for p in problems] == [MANIFEST]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "Signature: Files/scripts/absent.sig.cms\n",
            "Signature: names Files/scripts/absent.sig.cms, which is not in the package",
        ),
        ("Signature: ../outside.cms\n", "Signature: '../outside.cms' is not a path inside"),
        (
            f"Certificate: {ARTIFACT_CERTIFICATE}\n",
            f"{ARTIFACT} has a Certificate but no Signature",
        ),
    ],
)
def test_a_signature_entry_that_names_nothing_usable_is_refused_naming_its_line(
    anchors: Path, lines: str, expected: str
) -> None:
    files = artifact_package(VENDOR)
    files[MANIFEST] = manifest_text(
        {k: v for k, v in files.items() if k != MANIFEST}, {ARTIFACT: lines}
    )
    (problem,) = refusal(files, hub_check(anchors))
    key = lines.split(":", 1)[0].encode()
    assert problem.startswith(f"{line_of(files, key + b':')}: {expected}"), problem


def test_a_signature_file_that_is_no_cms_is_refused_naming_it(anchors: Path) -> None:
    files = {**artifact_package(VENDOR), ARTIFACT_SIGNATURE: b"\x00 not a CMS"}
    files[MANIFEST] = manifest_text(
        {k: v for k, v in files.items() if k != MANIFEST},
        {ARTIFACT: f"Signature: {ARTIFACT_SIGNATURE}\n"},
    )
    assert refusal(files, hub_check(anchors)) == [
        f"{ARTIFACT_SIGNATURE}: is not a CMS signature (DER, or PEM -----BEGIN CMS-----)"
    ]


def test_without_a_check_artifact_signatures_are_not_read() -> None:
    package = load_package(to_zip(artifact_package(VENDOR, tamper=True)))
    assert package.artifact_signatures == ()


def test_the_manifest_keeps_what_an_entry_names(anchors: Path) -> None:
    files = artifact_package(VENDOR)
    package = onboard(files, hub_check(anchors))
    assert package.manifest is not None
    (entry,) = [f for f in package.manifest.listed_files if f.path == ARTIFACT]
    assert (entry.signature, entry.certificate) == (ARTIFACT_SIGNATURE, ARTIFACT_CERTIFICATE)
    assert entry.signed_at == line_of(files, b"Signature:")


BIG = 256 * 1024**2  # an artifact of 256 MiB
# VmHWM, not ru_maxrss: that one keeps the high-water mark of the pytest process it was
# forked from across exec
PEAK = """
import sys
from pathlib import Path
from atoll.nfv.package import load_package
from tests.hub.signatures import hub_check
package = load_package(Path(sys.argv[1]), signature_check=hub_check(Path(sys.argv[2])))
assert [a.path for a in package.artifact_signatures] == [sys.argv[3]], package
status = Path("/proc/self/status").read_text().splitlines()
print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024)
"""


def test_a_large_artifact_is_streamed_to_openssl_never_held(anchors: Path, tmp_path: Path) -> None:
    """A 256 MiB artifact is verified by a reader whose memory stays well under its size
    (the whole package is read in a process of its own, its peak measured)."""
    chunk = os.urandom(1024**2)
    data = chunk * (BIG // len(chunk))
    files = artifact_package(VENDOR, data=data)
    del data
    path = tmp_path / "big.csar"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    del files
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(path), str(anchors), ARTIFACT],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) < 160, done.stdout  # MiB: the artifact is 256


def test_a_tampered_large_artifact_is_refused_too(anchors: Path) -> None:
    files = artifact_package(VENDOR, data=os.urandom(4 * 1024**2), tamper=True)
    (problem,) = refusal(files, hub_check(anchors))
    assert f"the artifact {ARTIFACT} does not match its signature" in problem
