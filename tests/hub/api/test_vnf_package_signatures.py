"""SOL004 package security at the hub: the manifest's CMS signature checked against the
operator's trust anchors (``[hub] vnf_package_signature``, ``vnf_package_trust_anchors``),
with real ``openssl cms -verify`` and a CA made at test time."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.cms import CmsToolError
from atoll.errors import ConfigError
from tests.hub.api.vnf_packages import (
    BASE,
    create,
    fetch,
    images_for,
    package_api,
    put_content,
    upload,
    wait_onboarded,
)
from tests.hub.conftest import AiohttpClient
from tests.hub.signatures import hub_check, onboard, refusal
from tests.nfv.packages import to_zip
from tests.nfv.signing import (
    ARTIFACT,
    MANIFEST,
    artifact_package,
    new_authority,
    option2,
    signature_at,
    signed_package,
)

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
    assert good["packageSecurityOption"] == "OPTION_1"
    assert good["signature"]["options"] == ["OPTION_1"]
    assert good["signature"]["manifest"] == MANIFEST and good["signature"]["csar"] is None
    assert good["signature"]["signer"] == "CN=Example VNF vendor"
    assert good["signature"]["issuer"] == "CN=Test VNF package CA"
    assert [s["kind"] for s in good["signature"]["signatures"]] == ["manifest"]
    bad = await upload(api, member, to_zip(signed_package(SIGNER, tamper=True)))
    assert bad["onboardingState"] == "ERROR"
    assert bad["onboardingFailureDetails"]["status"] == 422
    problems = bad["onboardingFailureDetails"]["problems"]
    assert any("the manifest does not match its signature" in str(p) for p in problems), problems
    unsigned = await upload(api, member, to_zip(signed_package(None)))
    assert unsigned["onboardingState"] == "ERROR"
    assert any("onboards signed VNF packages only" in str(p) for p in unsigned[
        "onboardingFailureDetails"]["problems"])  # fmt: skip


async def test_through_the_sol005_api_a_signed_csar_in_its_zip_onboards_and_is_served(
    aiohttp_client: AiohttpClient,
    aiohttp_server: Any,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    """SOL004 security option 2 by upload and by upload_from_uri: the record says OPTION_2
    and who signed (the CSAR, and the artifact it has signed), the content served is the
    zip as uploaded, the VNFD and artifacts come from the CSAR unpacked beside it, which
    goes with the package."""
    bundle = tmp_path / "vnf-anchors.pem"
    bundle.write_bytes(CA.pem())
    inner_files = artifact_package(CA.issue("Script author"))  # its manifest is unsigned
    inner = to_zip(inner_files)
    delivery = to_zip(option2(inner, SIGNER))

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.Response(body=delivery, content_type="application/zip")

    files = web.Application()
    files.router.add_get("/{name}", serve)
    server = await aiohttp_server(files)
    api = await package_api(
        aiohttp_client,
        signing_key,
        tmp_path / "hub",
        vnf_package_signature="required",
        vnf_package_trust_anchors=bundle,
        vnf_package_uri_hosts=("127.0.0.1:*",),
    )
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    member = await api.user_with_role("am", "a", "member")
    await images_for(api, "a", "getting-started")

    good = await upload(api, member, delivery)
    assert good["onboardingState"] == "ONBOARDED", good["onboardingFailureDetails"]
    assert good["packageSecurityOption"] == "OPTION_2"
    assert good["signature"] == {
        "options": ["OPTION_2"],
        "signer": "CN=Example VNF vendor",
        "issuer": "CN=Test VNF package CA",
        "notAfter": good["signature"]["notAfter"],
        "manifest": None,
        "csar": "vnf.csar",
        "signatures": [
            {
                "kind": "csar",
                "path": "vnf.csar",
                "signer": "CN=Example VNF vendor",
                "issuer": "CN=Test VNF package CA",
                "notAfter": good["signature"]["notAfter"],
            },
            {
                "kind": "artifact",
                "path": ARTIFACT,
                "signer": "CN=Script author",
                "issuer": "CN=Test VNF package CA",
                "notAfter": good["signature"]["signatures"][1]["notAfter"],
            },
        ],
    }
    item = f"{BASE}/{good['id']}"
    assert await fetch(api, f"{item}/package_content", member) == (200, delivery, "application/zip")
    status, vnfd, _ = await fetch(api, f"{item}/vnfd", member, accept="application/zip")
    assert status == 200 and vnfd.startswith(b"PK")
    assert ARTIFACT in {a["artifactPath"] for a in good["additionalArtifacts"]}
    status, served, _ = await fetch(api, f"{item}/artifacts/{ARTIFACT}", member)
    assert (status, served) == (200, inner_files[ARTIFACT])
    unpacked = tmp_path / "hub" / "vnf_packages" / f"{good['id']}.csar"
    assert unpacked.read_bytes() == inner

    package = await create(api, member)
    path = f"{BASE}/{package['id']}/package_content/upload_from_uri"
    body = {"addressInformation": f"http://127.0.0.1:{server.port}/delivery.zip"}
    status, data, _ = await api.call("POST", path, member, body)
    assert status == 202, data
    fetched = await wait_onboarded(api, member, package["id"])
    assert fetched["onboardingState"] == "ONBOARDED", fetched["onboardingFailureDetails"]
    assert fetched["packageSecurityOption"] == "OPTION_2"

    bad = await upload(api, member, to_zip(option2(inner, SIGNER, tamper=True)))
    assert bad["onboardingState"] == "ERROR" and bad["packageSecurityOption"] is None
    (problem,) = bad["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "vnf.cms"
    assert problem["what"].startswith("the CSAR vnf.csar does not match its signature")
    # content again, a CSAR as it is: what the refused zip unpacked goes, the new one is read
    stale = tmp_path / "hub" / "vnf_packages" / f"{bad['id']}.csar"
    assert stale.exists()
    plain = artifact_package(
        CA.issue("Script author"), data=b"#!/bin/sh\necho v2\n", manifest_signer=SIGNER
    )
    status, body = await put_content(api, member, bad["id"], to_zip(plain))
    assert status == 202, body
    again = await wait_onboarded(api, member, bad["id"])
    assert again["onboardingState"] == "ONBOARDED", again["onboardingFailureDetails"]
    assert again["packageSecurityOption"] == "OPTION_1" and not stale.exists()
    status, served, _ = await fetch(api, f"{BASE}/{bad['id']}/artifacts/{ARTIFACT}", member)
    assert (status, served) == (200, b"#!/bin/sh\necho v2\n")

    await api.ok("PATCH", item, member, {"operationalState": "DISABLED"})
    status, _, _ = await api.call("DELETE", item, member)
    assert status == 204 and not unpacked.exists()
