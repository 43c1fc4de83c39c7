"""A tenant's signed VNF package against the running hub and its trust anchors (SOL004
option 1, ``[hub] vnf_package_trust_anchors``): what the package carries for its signature
is hostile like every other byte of it.

- A signer that chains to nothing the operator trusts is refused, whatever the package
  carries to vouch for it: a self-signed certificate (in the CMS or in its certificate
  file), or one issued by a CA named as the operator's anchor but with another key.
- Before the fix, describing the refused signer read every certificate the package carried:
  one whose basic constraints extension does not parse (a few bytes a tenant writes) made
  that read raise, and onboarding ended as the hub's internal error (``status`` 500, a
  traceback in its log) instead of the package's 422 naming the untrusted signer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from tests.nfv.packages import to_zip
from tests.nfv.signing import Signer, new_authority, signature_at, signed_package
from tests.security.daemons import RunningHub, running_hub
from tests.security.test_image_substitution import onboard
from tests.security.test_vnf_package_zip import no_internal_error

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
