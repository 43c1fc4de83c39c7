"""VNF package signatures at onboarding (SOL004 clause 5), as the operator set them.

A package is signed as SOL004 says, one way or both: its manifest carries a CMS signature
(security option 1: :mod:`atoll.nfv.signature`), or the package comes as a zip holding the
CSAR, its CMS signature and certificate (option 2: :mod:`atoll.nfv.signed_zip`); its
manifest may also name signed artifacts, each with a signature of its own
(:mod:`atoll.nfv.signed_artifacts`). ``load_package`` hands each signature it finds to the
check made here (:func:`signature_check`:
:class:`atoll.nfv.signature_check.ManifestSignatureCheck`, the one ``atoll vnf package
validate`` runs too), in the onboarding worker thread. ``[hub] vnf_package_signature`` says
what it does:

- ``verify-if-signed`` (the default): every signature a package has (option 1's, option
  2's, each artifact's) must verify against ``[hub] vnf_package_trust_anchors``, else the
  package is refused; an unsigned package onboards. With no trust anchors set, every
  signed package is refused, saying so;
- ``required``: the same, and a package signed neither way (option 1 or 2; a signed
  artifact is not enough) is refused;
- ``off``: no signature is read (``load_package`` gets no check; an option-2 zip's CSAR is
  still unpacked and read, unchecked).

With ``[hub] vnf_package_crls`` every certificate of a signer's chain is checked against
those CRLs too. Both files are read when the hub starts (it does not start on one it cannot
read) and again whenever they change, at the next package checked: rotating anchors or
publishing a CRL needs no restart. While one cannot be read, signed packages are refused,
naming the setting and the file (:mod:`atoll.watched_file`).
"""

from __future__ import annotations

import logging

from atoll.hub.settings import HubSettings
from atoll.nfv.signature import SignatureCheck
from atoll.nfv.signature_check import ManifestSignatureCheck, Terms
from atoll.nfv.signature_trust import trust_files

log = logging.getLogger(__name__)

POLICY = "[hub] vnf_package_signature"
ANCHORS = "[hub] vnf_package_trust_anchors"
CRLS = "[hub] vnf_package_crls"

TERMS = Terms(
    anchors=ANCHORS,
    crls=CRLS,
    required=(
        f'this hub onboards signed VNF packages only ({POLICY} = "required"; SOL004 security '
        "option 1, the manifest signed with CMS, or option 2, the CSAR signed in a zip with "
        "it)"
    ),
    unanchored=(
        "this hub has no trust anchors to verify it against: the operator sets "
        f"{ANCHORS} to a PEM bundle of the CAs trusted to sign VNF packages (or {POLICY} = "
        '"off" to onboard without checking)'
    ),
)


def signature_check(settings: HubSettings) -> SignatureCheck | None:
    """The check onboarding gives ``load_package``, per ``settings``; None when ``off``. A
    trust anchors or CRL file that cannot be read or parsed now is a ConfigError (the hub
    does not start on it)."""
    if settings.vnf_package_signature == "off":
        return None
    required = settings.vnf_package_signature == "required"
    anchors, crls = settings.vnf_package_trust_anchors, settings.vnf_package_crls
    if anchors is None:  # the default: worth a word, a warning when nothing can onboard
        log.log(
            logging.WARNING if required else logging.INFO,
            "%s is not set: signed VNF packages are refused%s%s",
            ANCHORS,
            ", and so is every other" if required else "",
            f" ({CRLS} is set, and unused)" if crls is not None else "",
        )
        return ManifestSignatureCheck(required, None, TERMS)
    trust = trust_files(anchors, crls, anchors_setting=ANCHORS, crls_setting=CRLS)
    return ManifestSignatureCheck(required, trust, TERMS)
