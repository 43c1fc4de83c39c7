"""``atoll vnf ...``: VNF packages from the command line.

The hub commands (``upload|list|show|delete|enable|disable|vnfd``) are in
:mod:`atoll.nfv.client_cli`; ``atoll vnf instance ...`` and ``atoll vnf op ...`` (the
lifecycle, SOL003 v2) in :mod:`atoll.nfv.lcm_cli`.

``atoll vnf package validate PATH [-f json]`` reads a package (a ``.csar``/``.zip`` file or
an unpacked directory) exactly as onboarding does, and prints a summary of its deployment
model, or every problem found (exit code 1). With ``-f json`` the full model (or the
problems) is printed as JSON on stdout either way.

PATH may also be a zip delivering a signed CSAR (SOL004 security option 2: ``NAME.csar``
with its signature ``NAME.cms`` and certificate ``NAME.cert``): its CSAR is unpacked into a
scratch directory of this command's own (removed when it ends) and read from there.

Its signatures (the manifest's, SOL004 security option 1; the CSAR's, option 2; each signed
artifact's) are checked with the hub's own check
(:class:`atoll.nfv.signature_check.ManifestSignatureCheck`): ``--trust-anchors FILE``
verifies them as a hub whose ``[hub] vnf_package_trust_anchors`` is that file would, with
``--crls FILE`` as its ``vnf_package_crls``, refusing with the hub's words but for the names
of the rules (the options here); ``--require-signature`` refuses a package signed neither
way, as ``vnf_package_signature = "required"`` does. Without ``--trust-anchors`` the summary
says who signed (each signature checked against its own certificate, the chain not
verified).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.cli import Subparsers
from atoll.errors import ConfigError, InvalidInput, Problem
from atoll.nfv import lcm_cli
from atoll.nfv.client_cli import add_commands
from atoll.output import add_format_option, emit

if TYPE_CHECKING:  # imported when a command runs (cryptography is slow to import)
    from atoll.nfv.model import VnfPackage
    from atoll.nfv.signature import SignatureCheck, VerifiedSignature


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("vnf", help="ETSI VNF packages, instances and their lifecycle")
    nouns = parser.add_subparsers(title="objects", metavar="OBJECT", required=True)
    package = nouns.add_parser("package", help="VNF packages (SOL004 CSAR)")
    cmds = package.add_subparsers(title="commands", metavar="COMMAND", required=True)
    validate = cmds.add_parser(
        "validate", help="read a package as onboarding does; print its model or its problems"
    )
    validate.add_argument(
        "path",
        type=Path,
        help="a .csar/.zip file, an unpacked package, or a zip of NAME.csar, NAME.cms and "
        "NAME.cert (SOL004 security option 2)",
    )
    signature = validate.add_argument_group(
        "signatures (SOL004: the manifest or the CSAR signed with CMS, signed artifacts)"
    )
    signature.add_argument(
        "--trust-anchors",
        type=Path,
        metavar="FILE",
        help="verify signatures against these CAs (PEM), as a hub with them as "
        "[hub] vnf_package_trust_anchors would; without it, say who signed, unverified",
    )
    signature.add_argument(
        "--crls",
        type=Path,
        metavar="FILE",
        help="check every certificate of the signer's chain against these CRLs (PEM), as "
        "[hub] vnf_package_crls (needs --trust-anchors)",
    )
    signature.add_argument(
        "--require-signature",
        action="store_true",
        help="refuse a package whose manifest and CSAR are both unsigned, as [hub] "
        'vnf_package_signature = "required"',
    )
    add_format_option(validate)
    validate.set_defaults(func=_validate)
    add_commands(cmds)
    lcm_cli.add_commands(nouns)


def _validate(args: argparse.Namespace) -> int:
    from atoll.nfv.errors import InvalidPackage
    from atoll.nfv.package import SUMMARY, load_package
    from atoll.nfv.summary import summarize, summarize_flavour

    path: Path = args.path
    check = _signature_check(args)
    try:
        if not path.exists():  # the reader names no host path; here it is the caller's own
            raise InvalidPackage(SUMMARY, [Problem(str(path), "does not exist")])
        with tempfile.TemporaryDirectory(prefix="atoll-vnf-validate-") as scratch:
            unpack_to = Path(scratch) / "delivered.csar"  # an option-2 zip's CSAR, if it is one
            package = load_package(path, signature_check=check, unpack_to=unpack_to)
    except InvalidInput as exc:
        if args.format != "json":
            raise
        problems = [{"where": p.where, "what": p.what} for p in exc.problems]
        emit({"valid": False, "error": exc.summary, "problems": problems}, "json")
        return 1
    if args.format == "json":
        emit({"valid": True, "package": package.to_dict()}, "json")
        return 0
    emit({**summarize(package), **_signature_lines(package, args)}, "table")
    for flavour in package.vnfd.flavours:
        print()
        emit(summarize_flavour(flavour), "table")
    for warning in package.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _signature_check(args: argparse.Namespace) -> SignatureCheck:
    """The hub's check, its rules named as this command's options; the files are read now
    (an error naming the option if one cannot be)."""
    from atoll.nfv.signature_check import ManifestSignatureCheck, Terms
    from atoll.nfv.signature_trust import trust_files

    if args.crls is not None and args.trust_anchors is None:
        raise ConfigError(
            "--crls: revocation is checked along a verified chain: give --trust-anchors too"
        )
    terms = Terms(
        anchors="--trust-anchors",
        crls="--crls",
        required="a signed package is required (--require-signature; SOL004 security "
        "option 1, the manifest signed with CMS, or option 2, the CSAR signed in a zip with "
        "it)",
        unanchored=None,  # say who signed, without verifying the chain
    )
    trust = None
    if args.trust_anchors is not None:
        trust = trust_files(
            args.trust_anchors,
            args.crls,
            anchors_setting="--trust-anchors",
            crls_setting="--crls",
        )
    return ManifestSignatureCheck(args.require_signature, trust, terms)


def _signature_lines(package: VnfPackage, args: argparse.Namespace) -> dict[str, str]:
    """What the summary says of the package's signatures: the manifest's, the CSAR's when
    it came in a zip with it (option 2), the artifacts' when it has signed ones."""
    found = package.signature
    if found is not None:
        manifest = _signed_by(found, args)
    else:
        manifest = "none (unsigned)" if package.manifest is not None else "none (no manifest)"
    lines = {"signature": manifest}
    if package.delivered_as is not None:
        csar = package.csar_signature
        lines["csar signature"] = "not checked" if csar is None else _signed_by(csar, args)
    for number, artifact in enumerate(package.artifact_signatures):
        lines[f"artifact signature {number + 1}"] = _signed_by(artifact, args)
    return lines


def _signed_by(found: VerifiedSignature, args: argparse.Namespace) -> str:
    if not found.chain_verified:
        how = "its chain not verified: --trust-anchors verifies it"
    else:
        how = "verified against --trust-anchors" + (", and --crls" if args.crls else "")
    return f"{found.path}: signed by {found.signer}, issued by {found.issuer} ({how})"
