"""SOL004 security option 2: a VNF package delivered as a zip holding the CSAR, its CMS
signature and the signer's certificate.

SOL004 (clause 5.1, option 2): the VNF provider signs the whole CSAR and delivers one zip
holding the CSAR (``NAME.csar``), its signature (``NAME.cms``: a detached CMS SignedData of
the CSAR's bytes, DER or PEM ``-----BEGIN CMS-----``) and the signer's certificate
(``NAME.cert``, PEM or DER; it may be left out when the CMS carries it), all at the zip's
root, named alike.

:func:`signed_zip` tells such a zip from a CSAR by what it holds: no ``TOSCA.meta`` and no
YAML file at its root (a CSAR has one or the other), and a ``.csar``, ``.cms`` or ``.cert``
file (anywhere: one in a folder is refused as such). Such a zip holds exactly
``NAME.csar``, ``NAME.cms`` and, optionally, ``NAME.cert``: any other entry, a signature or
certificate named for another CSAR, or a missing signature is refused, naming the entry.
The zip itself was opened as every package is (:mod:`.csar`: traversal, symbolic links,
encryption, compression methods, entry and total sizes, zip bombs), so each of its entries
is bounded the same way, and one left out (unsafe) refuses the zip before anything else is
judged; the signature and certificate are read whole (1 MiB at most each).

:func:`unpack` writes the CSAR to the one file the caller names (the hub: beside the upload,
in the package's own directory; ``atoll vnf package validate``: a scratch directory of its
own), streamed and bounded, never to a path the zip names; the caller reads it from there as
any CSAR, and verifies the signature over that file's bytes.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from atoll.errors import PermanentError
from atoll.nfv.csar import PackageFiles, UnreadableEntry, read_chunks, read_logged
from atoll.nfv.errors import ProblemLog
from atoll.nfv.manifest import META_PATH
from atoll.nfv.signature import (
    CERTIFICATE_MAX_BYTES,
    CSAR,
    SIGNATURE_MAX_BYTES,
    DetachedSignature,
    cms_der,
)

SUFFIXES = (".csar", ".cms", ".cert")
OPTION_2 = "SOL004 security option 2"


@dataclass(frozen=True)
class SignedZip:
    """An option-2 zip whose entries are right: the CSAR's name in it (``vnf.csar``), and its
    signature (None when the ``.cms`` cannot be read as one: ``log`` says why)."""

    csar: str
    signature: DetachedSignature | None


class UnpackFailed(PermanentError):
    """The CSAR of an option-2 zip could not be written where the caller asked (the disk is
    full...): the reader's failure, not the package's."""

    code = "unpack_failed"


def is_signed_zip(names: frozenset[str]) -> bool:
    """Whether a package holding ``names`` is an option-2 zip, not a CSAR."""
    roots = [n for n in names if "/" not in n]
    if META_PATH in names or any(n.endswith((".yaml", ".yml")) for n in roots):
        return False
    return any(n.endswith(SUFFIXES) for n in names)


def signed_zip(files: PackageFiles, log: ProblemLog) -> SignedZip | None:
    """The option-2 zip ``files`` is, checked; None when it is not one (a CSAR, to be read as
    one) or when its entries are wrong (with an error naming each; ``log`` holds what opening
    the zip found, an entry it left out among them: the CSAR is not read then either)."""
    names = files.names
    if not is_signed_zip(names):
        return None
    if log.errors:  # an entry left out (unsafe, a bomb): what remains is not judged
        return None
    csars = sorted(n for n in names if "/" not in n and n.endswith(".csar"))
    if len(csars) != 1:
        log.error(
            "(archive)",
            f"holds {len(csars)} .csar files at its root; a zip delivering a signed CSAR "
            f"({OPTION_2}) holds one, NAME.csar, with its signature NAME.cms and "
            "(optionally) its certificate NAME.cert",
        )
        return None
    csar = csars[0]
    stem = csar.removesuffix(".csar")
    signature, certificate = f"{stem}.cms", f"{stem}.cert"
    for name in sorted(names - {csar, signature, certificate}):
        log.error(f"(archive) {name!r}", _stray(name, csar, signature, certificate))
    if signature not in names:
        log.error(
            "(archive)",
            f"holds {csar} but no {signature}: a zip delivering a CSAR ({OPTION_2}) holds "
            "its CMS signature beside it, named alike",
        )
    if log.errors:
        return None
    return SignedZip(csar, _signature(files, csar, signature, certificate, log))


def _stray(name: str, csar: str, signature: str, certificate: str) -> str:
    if "/" not in name and name.endswith((".cms", ".cert")):
        which = signature if name.endswith(".cms") else certificate
        return (
            f"is not named for the CSAR {csar}: its {name.rsplit('.', 1)[1]} file is {which} "
            f"({OPTION_2}: the signature and certificate are named as the CSAR is)"
        )
    return (
        f"is not part of a zip delivering a signed CSAR ({OPTION_2}), which holds {csar}, "
        f"{signature} and (optionally) {certificate}, nothing else"
    )


def _signature(
    files: PackageFiles, csar: str, signature: str, certificate: str, log: ProblemLog
) -> DetachedSignature | None:
    raw = read_logged(files, signature, SIGNATURE_MAX_BYTES, "a CMS signature", log)
    der = None if raw is None else cms_der(signature, raw, log)
    cert_data = None
    if certificate in files.names:
        cert_data = read_logged(files, certificate, CERTIFICATE_MAX_BYTES, "a certificate", log)
        if cert_data is None:
            return None
    if der is None:
        return None
    shown = certificate if cert_data is not None else None
    return DetachedSignature(CSAR, csar, signature, der, signature, shown, cert_data)


def unpack(
    files: PackageFiles, name: str, target: Path, max_bytes: int, log: ProblemLog
) -> int | None:
    """Write ``name`` (the CSAR of an option-2 zip) to ``target``, through ``target.part``
    (a file of this process's user alone), its size bounded by ``max_bytes``; its size, or
    None with an error naming it (too big, its data corrupt). :class:`UnpackFailed` when
    ``target`` cannot be written."""
    size = files.size(name)
    if size > max_bytes:
        log.error(name, f"is {size} bytes, over the {max_bytes}-byte limit for a VNF package")
        return None
    part = target.with_name(target.name + ".part")
    done = False
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            for chunk in read_chunks(files, name):
                out.write(chunk)
        part.replace(target)
        done = True
    except UnreadableEntry as exc:
        log.error(name, str(exc))
    except OSError as exc:
        raise UnpackFailed(
            f"the CSAR inside the zip could not be unpacked here ({exc.strerror or exc})"
        ) from exc
    finally:
        if not done:
            with contextlib.suppress(OSError):
                part.unlink()
    return size if done else None
