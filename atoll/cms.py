"""Verifying a detached CMS (RFC 5652) signature against trust anchors: ``openssl cms -verify``.

The ``cryptography`` library builds CMS/PKCS#7 signatures but cannot verify them; OpenSSL's
command line can, and it is on every machine Atoll runs on. :func:`verify_detached` is
blocking (it runs ``openssl`` with a timeout): call it from a worker thread.

What it checks, as ``openssl cms -verify`` does: the signature is of ``content`` and made
with the signer certificate's key, and that certificate chains, through the certificates
the CMS carries or the caller adds (``untrusted``), to one of ``anchors`` and only those
(not the system's CA store), each certificate valid now. The certificate's purpose is not
restricted (``-purpose any``): the anchors say whom to trust for what they are given for.
Content is taken as bytes (``-binary``); a signature made of the content as canonical text
(CRLF line ends, S/MIME's default) is tried that way too.

A signature that does not hold raises :class:`CmsRefused`, saying which check failed
(:attr:`CmsRefused.kind`) with OpenSSL's own words, condensed (no source locations); OpenSSL
that cannot run or takes too long raises :class:`CmsToolError`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509

from atoll.errors import PermanentError

TIMEOUT = 30.0  # seconds one openssl run may take

# kinds of refusal
CONTENT = "content"  # the content is not what was signed (changed after signing)
SIGNATURE = "signature"  # the signature was not made with the signer certificate's key
CERTIFICATE = "certificate"  # the signer certificate is not trusted (chain, validity)
NO_SIGNER = "no_signer"  # the signer certificate is neither in the CMS nor given
MALFORMED = "malformed"  # not a CMS SignedData
OTHER = "other"

# "<hex>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<extra>"
_ERROR = re.compile(r"error:[0-9A-Fa-f]+:([^:]*):([^:]*):([^:]*):[^:]*:\d+:?(.*)$")


class CmsRefused(Exception):
    """The signature does not hold: ``kind`` (one of the kinds above), ``said`` what OpenSSL
    said, condensed to one line."""

    def __init__(self, kind: str, said: str) -> None:
        super().__init__(f"{kind}: {said}")
        self.kind = kind
        self.said = said


class CmsToolError(PermanentError):
    """``openssl`` could not run, or did not finish in time."""

    code = "tool_failed"


def condensed(stderr: str) -> tuple[str, str]:
    """The kind of refusal OpenSSL's ``stderr`` reports, and what it said in one line: each
    error's reason (and its ``Verify error: ...``), without codes or source locations."""
    reasons: list[str] = []
    functions: list[str] = []
    for line in stderr.splitlines():
        match = _ERROR.search(line.strip())
        if match is None:
            continue
        function, reason, extra = match.group(2), match.group(3).strip(), match.group(4).strip()
        functions.append(function)
        said = f"{reason} ({extra.removeprefix('Verify error:').strip()})" if extra else reason
        if said and said not in reasons:
            reasons.append(said)
    text = "; ".join(reasons) or " ".join(stderr.split())[:300] or "no reason given"
    if "signer certificate not found" in text:
        return NO_SIGNER, text
    if "certificate verify error" in text:
        return CERTIFICATE, text
    if "CMS_SignerInfo_verify_content" in functions or "content verify error" in text:
        return CONTENT, text
    if "CMS_SignerInfo_verify" in functions:
        return SIGNATURE, text
    if any(word in text for word in ("asn1", "ASN1", "no start line", "wrong tag", "not enough")):
        return MALFORMED, text
    return OTHER, text


def verify_detached(
    content: bytes,
    cms: bytes,
    anchors: bytes,
    untrusted: bytes = b"",
    *,
    timeout: float = TIMEOUT,
    openssl: str = "openssl",
) -> x509.Certificate:
    """Check the detached CMS signature ``cms`` (DER) of ``content`` against ``anchors`` (PEM
    certificates), with ``untrusted`` (PEM certificates: the signer's, intermediates) to
    build the chain from; the signer's certificate, or :class:`CmsRefused`."""
    with tempfile.TemporaryDirectory(prefix="atoll-cms-") as scratch:
        root = Path(scratch)
        for name, data in (("content", content), ("cms.der", cms), ("anchors.pem", anchors)):
            (root / name).write_bytes(data)
        argv = [
            openssl, "cms", "-verify", "-inform", "DER", "-in", str(root / "cms.der"),
            "-content", str(root / "content"), "-CAfile", str(root / "anchors.pem"),
            "-no-CApath", "-no-CAstore", "-purpose", "any",
            "-signer", str(root / "signer.pem"), "-out", os.devnull,
        ]  # fmt: skip
        if untrusted:
            (root / "untrusted.pem").write_bytes(untrusted)
            argv += ["-certfile", str(root / "untrusted.pem")]
        refused = _run([*argv, "-binary"], timeout)
        if refused is not None and refused.kind == CONTENT and _run(argv, timeout) is None:
            refused = None  # signed as canonical text (CRLF line ends): it holds that way
        if refused is not None:
            raise refused
        return x509.load_pem_x509_certificates((root / "signer.pem").read_bytes())[0]


def _run(argv: list[str], timeout: float) -> CmsRefused | None:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CmsToolError(f"openssl cms -verify took longer than {timeout:.0f} s") from exc
    except OSError as exc:
        raise CmsToolError(f"openssl cms -verify could not run: {exc.strerror or exc}") from exc
    if proc.returncode == 0:
        return None
    return CmsRefused(*condensed(proc.stderr.decode("utf-8", "replace")))
