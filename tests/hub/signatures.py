"""A hub's VNF package signature check, as its settings make it, and packages put to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.errors import InvalidInput
from atoll.hub.catalog.vnf_package_signature import signature_check
from atoll.hub.settings import HubSettings
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import load_package
from atoll.nfv.signature_check import ManifestSignatureCheck
from tests.nfv.packages import to_zip


def hub_check(
    anchors: Path | None, *, required: bool = False, crls: Path | None = None
) -> ManifestSignatureCheck:
    """The check a hub with these settings gives onboarding."""
    settings = HubSettings(
        vnf_package_signature="required" if required else "verify-if-signed",
        vnf_package_trust_anchors=anchors,
        vnf_package_crls=crls,
    )
    check = signature_check(settings)
    assert isinstance(check, ManifestSignatureCheck)
    return check


def onboard(files: dict[str, bytes], check: ManifestSignatureCheck) -> VnfPackage:
    return load_package(to_zip(files), signature_check=check)


def refusal(files: dict[str, bytes], check: ManifestSignatureCheck) -> list[str]:
    """Every problem ``files`` is refused with."""
    with pytest.raises(InvalidInput) as caught:
        onboard(files, check)
    return [str(p) for p in caught.value.problems]
