"""A tenant's signed VNF package against the running hub and its trust anchors (SOL004
options 1 and 2, signed artifacts; ``[hub] vnf_package_trust_anchors``): what the package
carries for its signature is hostile like every other byte of it.

- A signer that chains to nothing the operator trusts is refused, whatever the package
  carries to vouch for it: a self-signed certificate (in the CMS or in its certificate
  file), or one issued by a CA named as the operator's anchor but with another key.
- Before the fix, describing the refused signer read every certificate the package carried:
  one whose basic constraints extension does not parse (a few bytes a tenant writes) made
  that read raise, and onboarding ended as the hub's internal error (``status`` 500, a
  traceback in its log) instead of the package's 422 naming the untrusted signer.
- A signed CSAR in the zip that delivers it (option 2) onboards; one changed after signing,
  or a zip holding anything more, is refused, the latter before anything is unpacked, as
  is a bzip2 bomb named as its CSAR. Before, such a zip was refused for lacking TOSCA.meta.
- An artifact its vendor signed, changed since (its manifest hash changed to match), is
  refused. Before, its ``Signature:`` was read and dropped: it onboarded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from tests.nfv.packages import IMAGE, carrying, to_zip
from tests.nfv.signing import (
    ARTIFACT,
    Signer,
    artifact_package,
    line_of,
    new_authority,
    option2,
    signature_at,
    signed_package,
)
from tests.security.daemons import RunningHub, running_hub
from tests.security.test_image_substitution import PACKAGES as API
from tests.security.test_image_substitution import onboard
from tests.security.test_vnf_package_zip import (
    no_internal_error,
    peak_memory_mib,
    with_bzip2_bomb,
)

CA = new_authority("Operator's VNF package CA")
TRUST = "is not trusted"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub trusting CA alone to sign VNF packages."""
    work = tmp_path_factory.mktemp("sig-hub")
    anchors = work / "anchors.pem"
    anchors.write_bytes(CA.pem())
    with running_hub(work, config=f'[hub]\nvnf_package_trust_anchors = "{anchors}"\n') as running:
        yield running


def refused(hub: RunningHub, token: str, files: dict[str, bytes]) -> str:
    """Onboard ``files``; what it is refused with at its signature (a 422, never the hub's
    500)."""
    package = onboard(hub, token, to_zip(files))
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    at = signature_at(files)
    (problem,) = [p for p in details["problems"] if p["where"] == at] or [details]
    return str(problem["what"])


def self_signed(cn: str, *extensions: x509.ExtensionType) -> Signer:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return Signer(key, builder.sign(key, hashes.SHA256()))


def test_the_operators_ca_signs_and_the_package_onboards(hub: RunningHub) -> None:
    tenant = hub.tenant("sg", "sg-vendor")
    files = signed_package(CA.issue("Vendor"))
    package = onboard(hub, tenant, to_zip(files))
    details = package["onboardingFailureDetails"] or {"problems": []}
    # it carries no image here: that is all that may be missing
    assert signature_at(files) not in {p["where"] for p in details["problems"]}, details
    no_internal_error(hub)


@pytest.mark.parametrize("cert_file", [None, "sample.cert"])
def test_a_self_signed_signer_the_package_carries_is_not_trusted(
    hub: RunningHub, cert_file: str | None
) -> None:
    tenant = hub.tenant("sg", "sg-self-" + ("cms" if cert_file is None else "file"))
    files = signed_package(self_signed("Self-made vendor"), cert_file=cert_file)
    assert TRUST in refused(hub, tenant, files)
    no_internal_error(hub)


def test_a_ca_of_the_anchors_name_with_another_key_is_not_trusted(hub: RunningHub) -> None:
    tenant = hub.tenant("sg", "sg-lookalike")
    lookalike = new_authority("Operator's VNF package CA")  # same subject, its own key
    files = signed_package(lookalike.issue("Vendor"), cert_file="Files/certs/vendor.pem")
    assert TRUST in refused(hub, tenant, files)  # the issuer's name is an anchor's, not its key
    no_internal_error(hub)


def test_a_carried_certificate_that_does_not_parse_is_a_422_not_the_hubs_500(
    hub: RunningHub,
) -> None:
    tenant = hub.tenant("sg", "sg-garbled")
    garbled = x509.UnrecognizedExtension(ObjectIdentifier("2.5.29.19"), b"\x05\x00")
    files = signed_package(self_signed("Garbled vendor", garbled), cert_file="sample.cert")
    problem = refused(hub, tenant, files)
    assert TRUST in problem, problem
    no_internal_error(hub)


def unpacked(hub: RunningHub, package: dict[str, object]) -> Path:
    return hub.data_dir / "vnf_packages" / f"{package['id']}.csar"


def test_a_signed_csar_in_its_zip_onboards_and_its_image_is_served(hub: RunningHub) -> None:
    """SOL004 security option 2 through the running hub: the CSAR (carrying its image)
    unpacked beside the upload, its signature verified, onboarded from it."""
    tenant = hub.tenant("sg", "sg-option2")
    image = b"QFI\xfb signed image bits"
    delivery = to_zip(option2(to_zip(carrying(image)), CA.issue("Vendor")))
    package = onboard(hub, tenant, delivery)
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert package["packageSecurityOption"] == "OPTION_2"
    assert package["signature"]["csar"] == "vnf.csar"
    assert package["signature"]["signer"] == "CN=Vendor"
    item = f"{API}/{package['id']}"
    assert hub.call("GET", f"{item}/artifacts/{IMAGE}", token=tenant).raw == image
    assert hub.call("GET", f"{item}/package_content", token=tenant).raw == delivery
    no_internal_error(hub)


def test_a_csar_changed_after_signing_is_refused_naming_its_signature(hub: RunningHub) -> None:
    tenant = hub.tenant("sg", "sg-option2-tampered")
    delivery = to_zip(option2(to_zip(carrying(b"image")), CA.issue("Vendor"), tamper=True))
    package = onboard(hub, tenant, delivery)
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    (problem,) = details["problems"]
    assert problem["where"] == "vnf.cms"
    assert problem["what"].startswith("the CSAR vnf.csar does not match its signature")
    no_internal_error(hub)


def test_a_zip_holding_more_than_its_csar_and_signature_is_refused_unread(
    hub: RunningHub,
) -> None:
    tenant = hub.tenant("sg", "sg-option2-stray")
    entries = {**option2(to_zip(carrying(b"image")), CA.issue("Vendor")), "vnf.sh": b"#!/bin/sh"}
    package = onboard(hub, tenant, to_zip(entries))
    assert package["onboardingState"] == "ERROR", package
    (problem,) = package["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "(archive) 'vnf.sh'"
    assert not unpacked(hub, package).exists()  # nothing unpacked
    no_internal_error(hub)


def test_a_bzip2_bomb_as_the_csar_is_refused_before_it_is_inflated(hub: RunningHub) -> None:
    tenant = hub.tenant("sg", "sg-option2-bomb")
    assert hub.proc is not None
    before = peak_memory_mib(hub.proc.pid)
    signature = option2(b"PK", CA.issue("Vendor"))
    del signature["vnf.csar"]
    bomb = with_bzip2_bomb(to_zip(signature), "vnf.csar", 512 << 20)
    package = onboard(hub, tenant, bomb)
    assert package["onboardingState"] == "ERROR", package
    (problem,) = package["onboardingFailureDetails"]["problems"]
    assert problem["where"] == "(archive) 'vnf.csar'"
    assert "compressed with zip method 12" in problem["what"]
    assert not unpacked(hub, package).exists()
    assert peak_memory_mib(hub.proc.pid) - before < 128
    no_internal_error(hub)


def test_an_artifact_changed_after_its_vendor_signed_it_is_refused(hub: RunningHub) -> None:
    """Its manifest hash changed to match: only the artifact's own signature tells. The
    same package as signed onboards."""
    tenant = hub.tenant("sg", "sg-artifact")
    base = carrying(b"QFI\xfb image of a package with a signed script")
    files = artifact_package(CA.issue("Vendor"), base=base, tamper=True)
    package = onboard(hub, tenant, to_zip(files))
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    (problem,) = details["problems"]
    assert problem["where"] == line_of(files, b"Signature:")
    assert problem["what"].startswith(
        f"the artifact {ARTIFACT} does not match its signature: it was changed after it was signed"
    )
    signed = artifact_package(CA.issue("Vendor"), base=base)
    package = onboard(hub, tenant, to_zip(signed))
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert [s["path"] for s in package["signature"]["signatures"]] == [ARTIFACT]
    no_internal_error(hub)
