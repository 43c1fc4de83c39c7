"""SOL004 package security at the hub: the manifest's CMS signature checked against the
operator's trust anchors (``[hub] vnf_package_signature``, ``vnf_package_trust_anchors``),
with real ``openssl cms -verify`` and a CA made at test time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.cms import CmsToolError
from atoll.errors import ConfigError
from tests.hub.api.vnf_packages import images_for, package_api, upload
from tests.hub.conftest import AiohttpClient
from tests.hub.signatures import hub_check, onboard, refusal
from tests.nfv.packages import to_zip
from tests.nfv.signing import MANIFEST, new_authority, signature_at, signed_package

CA = new_authority()
SIGNER = CA.issue()


@pytest.fixture(scope="module")
def anchors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trust anchors file holding CA."""
    path = tmp_path_factory.mktemp("anchors") / "vnf-anchors.pem"
    path.write_bytes(CA.pem())
    return path


def test_a_signed_package_onboards_and_says_who_signed_it(anchors: Path) -> None:
    package = onboard(signed_package(SIGNER), hub_check(anchors))
    assert package.signature is not None
    assert package.signature.signer == "CN=Example VNF vendor"
    assert package.signature.issuer == "CN=Test VNF package CA"
    assert package.signature.chain_verified


@pytest.mark.parametrize("cert_file", ["Files/certs/vendor.pem", "sample.cert"])
def test_the_signer_certificate_may_be_a_file_of_the_package(cert_file: str, anchors: Path) -> None:
    files = signed_package(SIGNER, with_cert=False, cert_file=cert_file)
    package = onboard(files, hub_check(anchors))
    assert package.signature is not None and package.signature.signer == "CN=Example VNF vendor"


def test_a_manifest_changed_after_signing_is_refused(anchors: Path) -> None:
    files = signed_package(SIGNER, tamper=True)
    (problem,) = refusal(files, hub_check(anchors))
    assert problem.startswith(
        f"{signature_at(files)}: the manifest does not match its signature: it was changed "
        "after it was signed"
    )
    assert "openssl: " in problem and "content verify error" in problem
    assert "/" not in problem.split("openssl: ")[1]  # no source locations, no host paths


def test_a_signer_not_chained_to_an_anchor_is_refused(anchors: Path) -> None:
    stranger = new_authority("Someone else's CA").issue("Impostor")
    files = signed_package(stranger)
    (problem,) = refusal(files, hub_check(anchors))
    at = signature_at(files)
    assert problem.startswith(f"{at}: the signer's certificate (CN=Impostor, issued by ")
    assert "is not trusted: unable to get local issuer certificate" in problem
    assert problem.endswith("a signer must chain to a CA of [hub] vnf_package_trust_anchors")


def test_an_expired_signer_certificate_is_refused(anchors: Path) -> None:
    files = signed_package(CA.issue("Lapsed vendor", expired=True))
    (problem,) = refusal(files, hub_check(anchors))
    assert "the signer's certificate (CN=Lapsed vendor, " in problem
    assert "is not trusted: certificate has expired" in problem


def test_a_signer_certificate_nowhere_is_refused(anchors: Path) -> None:
    (problem,) = refusal(signed_package(SIGNER, with_cert=False), hub_check(anchors))
    assert "the signer's certificate is neither in the CMS signature nor in the certificate" in (
        problem
    )


def test_unsigned_packages_onboard_unless_signatures_are_required(anchors: Path) -> None:
    assert onboard(signed_package(None), hub_check(anchors)).signature is None
    assert refusal(signed_package(None), hub_check(anchors, required=True)) == [
        f"{MANIFEST}: the manifest carries no CMS signature, and this hub onboards signed VNF "
        'packages only ([hub] vnf_package_signature = "required"; SOL004 security option 1, '
        "the manifest signed with CMS, or option 2, the CSAR signed in a zip with it)"
    ]


def test_a_signed_package_with_no_anchors_set_is_refused_naming_the_setting() -> None:
    files = signed_package(SIGNER)
    (problem,) = refusal(files, hub_check(None))
    assert problem.startswith(f"{signature_at(files)}: the manifest is signed, but this hub has no")
    assert "[hub] vnf_package_trust_anchors" in problem


def test_an_openssl_that_cannot_run_is_the_hubs_failure_not_the_packages(anchors: Path) -> None:
    check = dataclasses.replace(hub_check(anchors), openssl="/nonexistent/openssl")
    with pytest.raises(CmsToolError, match="openssl cms -verify could not run"):
        onboard(signed_package(SIGNER), check)


def test_trust_anchors_that_cannot_be_read_stop_the_hub(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vnf_package_trust_anchors: .* cannot be read"):
        hub_check(tmp_path / "absent.pem")
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="is not a bundle of PEM certificates"):
        hub_check(tmp_path / "junk.pem")
    (tmp_path / "ok.pem").write_bytes(CA.pem())
    trust = hub_check(tmp_path / "ok.pem").trust
    assert trust is not None and trust.anchors.current().subjects == ("CN=Test VNF package CA",)


async def test_through_the_sol005_api_signed_onboards_and_tampered_fails(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    bundle = tmp_path / "vnf-anchors.pem"
    bundle.write_bytes(CA.pem())
    api = await package_api(
        aiohttp_client,
        signing_key,
        tmp_path / "hub",
        vnf_package_signature="required",
        vnf_package_trust_anchors=bundle,
    )
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    member = await api.user_with_role("am", "a", "member")
    await images_for(api, "a", "getting-started")
    good = await upload(api, member, to_zip(signed_package(SIGNER)))
    assert good["onboardingState"] == "ONBOARDED", good["onboardingFailureDetails"]
    assert good["signature"]["manifest"] == MANIFEST
    assert good["signature"]["signer"] == "CN=Example VNF vendor"
    assert good["signature"]["issuer"] == "CN=Test VNF package CA"
    bad = await upload(api, member, to_zip(signed_package(SIGNER, tamper=True)))
    assert bad["onboardingState"] == "ERROR"
    assert bad["onboardingFailureDetails"]["status"] == 422
    problems = bad["onboardingFailureDetails"]["problems"]
    assert any("the manifest does not match its signature" in str(p) for p in problems), problems
    unsigned = await upload(api, member, to_zip(signed_package(None)))
    assert unsigned["onboardingState"] == "ERROR"
    assert any("onboards signed VNF packages only" in str(p) for p in unsigned[
        "onboardingFailureDetails"]["problems"])  # fmt: skip
