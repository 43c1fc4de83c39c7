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
(CRLF line ends, S/MIME's default) is tried that way too. The content is bytes (a manifest),
a file (OpenSSL reads it from its path) or a way to read it in chunks (a file inside a zip
archive: piped to OpenSSL's standard input as it is read, never held whole, and read again
for the second try); OpenSSL digests it as it reads, so a file of gigabytes costs no memory
(give such content a longer ``timeout``: :func:`timeout_for`). Without anchors (None) the chain
is not verified at all (``-noverify``): only that the signature is of ``content`` and made
with the key of the certificate it names, which says who signed, not whether to trust them.

With ``crls`` (PEM CRLs, handed to OpenSSL in the anchors' file: ``openssl cms`` has no
``-CRLfile``) every certificate of the chain is checked against them (``-crl_check_all``,
not ``-crl_check``, which checks the signer's alone: a vendor's issuing CA revoked by the
anchor must refuse what it issued), so a CRL of every CA of the chain must be among them;
one missing refuses, as does one expired. CRLs the CMS carries itself are removed first
(:func:`without_crls`): OpenSSL looks for a CRL among those before the given ones and stops
at the first valid one, so a signer revoked since could present an older CRL, still valid,
that does not list it yet.

A signature that does not hold raises :class:`CmsRefused`, saying which check failed
(:attr:`CmsRefused.kind`) with OpenSSL's own words, condensed (no source locations); OpenSSL
that cannot run or takes too long raises :class:`CmsToolError`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from cryptography import x509

from atoll.errors import PermanentError

TIMEOUT = 30.0  # seconds one openssl run may take, for content of a few megabytes
STREAM_RATE = 16 * 1024**2  # bytes a second content is taken to stream at, at the least

# what is signed: its bytes, a file, or a way to read it in chunks (an error reading them is
# raised by verify_detached as it is: the caller's own)
Content = bytes | Path | Callable[[], Iterator[bytes]]

# kinds of refusal
CONTENT = "content"  # the content is not what was signed (changed after signing)
SIGNATURE = "signature"  # the signature was not made with the signer certificate's key
CERTIFICATE = "certificate"  # the signer certificate is not trusted (chain, validity)
REVOKED = "revoked"  # a certificate of the chain is revoked by one of the CRLs
CRL = "crl"  # revocation could not be checked: a CA's CRL missing, expired, not verifying
CARRIED_CRLS = "carried_crls"  # CRLs are checked, and the CMS's own cannot be set aside
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
        if "certificate revoked" in text:
            return REVOKED, text
        return (CRL if "CRL" in text else CERTIFICATE), text
    if "CMS_SignerInfo_verify_content" in functions or "content verify error" in text:
        return CONTENT, text
    if "CMS_SignerInfo_verify" in functions:
        return SIGNATURE, text
    if any(word in text for word in ("asn1", "ASN1", "no start line", "wrong tag", "not enough")):
        return MALFORMED, text
    return OTHER, text


def timeout_for(size: int, base: float = TIMEOUT) -> float:
    """How long one openssl run may take over ``size`` bytes of content: ``base``, and the
    time to stream them at :data:`STREAM_RATE` (an image of gigabytes inflated from a zip
    archive as OpenSSL reads it)."""
    return base + size / STREAM_RATE


def verify_detached(
    content: Content,
    cms: bytes,
    anchors: bytes | None,
    untrusted: bytes = b"",
    *,
    crls: bytes = b"",
    timeout: float = TIMEOUT,
    openssl: str = "openssl",
) -> x509.Certificate:
    """Check the detached CMS signature ``cms`` (DER) of ``content`` (:data:`Content`) against
    ``anchors`` (PEM certificates; None: the chain is not verified), with ``untrusted`` (PEM
    certificates: the signer's, intermediates) to build the chain from and ``crls`` (PEM
    CRLs; empty: no revocation check); the signer's certificate, or :class:`CmsRefused`."""
    if crls:
        stripped = without_crls(cms)
        if stripped is None:
            raise CmsRefused(
                CARRIED_CRLS,
                "not DER with definite lengths: the CRLs it may carry cannot be set aside",
            )
        cms = stripped
    with tempfile.TemporaryDirectory(prefix="atoll-cms-") as scratch:
        root = Path(scratch)
        (root / "cms.der").write_bytes(cms)
        stream: Callable[[], Iterator[bytes]] | None = None
        if isinstance(content, bytes):
            (root / "content").write_bytes(content)
            path = str(root / "content")
        elif isinstance(content, Path):
            path = str(content)
        else:
            stream, path = content, "/dev/stdin"
        argv = [
            openssl, "cms", "-verify", "-inform", "DER", "-in", str(root / "cms.der"),
            "-content", path, "-no-CApath", "-no-CAstore", "-purpose", "any",
            "-signer", str(root / "signer.pem"), "-out", os.devnull,
        ]  # fmt: skip
        if anchors is None:
            argv.append("-noverify")
        else:
            (root / "anchors.pem").write_bytes(anchors + b"\n" + crls if crls else anchors)
            argv += ["-CAfile", str(root / "anchors.pem")]
            if crls:
                argv.append("-crl_check_all")
        if untrusted:
            (root / "untrusted.pem").write_bytes(untrusted)
            argv += ["-certfile", str(root / "untrusted.pem")]
        refused = _run([*argv, "-binary"], timeout, stream)
        if refused is not None and refused.kind == CONTENT and _run(argv, timeout, stream) is None:
            refused = None  # signed as canonical text (CRLF line ends): it holds that way
        if refused is not None:
            raise refused
        return x509.load_pem_x509_certificates((root / "signer.pem").read_bytes())[0]


def _run(
    argv: list[str], timeout: float, stream: Callable[[], Iterator[bytes]] | None = None
) -> CmsRefused | None:
    """Run openssl (``stream``: what it reads on its standard input); its refusal, if any."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stream is None else subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise CmsToolError(f"openssl cms -verify could not run: {exc.strerror or exc}") from exc
    feeding = None
    if stream is not None:
        pipe, proc.stdin = proc.stdin, None  # the feeder's alone: communicate() leaves it
        feeding = _Feeder(stream, pipe)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise CmsToolError(f"openssl cms -verify took longer than {timeout:.0f} s") from exc
    finally:
        if feeding is not None:
            feeding.finish()
    if feeding is not None and feeding.failure is not None:
        raise feeding.failure  # the content could not be read whole: nothing was verified
    if proc.returncode == 0:
        return None
    return CmsRefused(*condensed(stderr.decode("utf-8", "replace")))


class _Feeder:
    """Copies the content's chunks into openssl's standard input, in a thread of its own
    (openssl reads them while the caller waits for openssl to end). ``failure``: reading the
    content failed (the caller's to raise). openssl that stops reading (it refused before it
    needed the content) ends the copy, quietly."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]], pipe: IO[bytes] | None) -> None:
        assert pipe is not None
        self._chunks, self._pipe = chunks, pipe
        self.failure: Exception | None = None
        self._thread = threading.Thread(target=self._copy, name="cms-content", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        chunks = None
        try:
            chunks = self._chunks()
            for chunk in chunks:
                try:
                    self._pipe.write(chunk)
                except (BrokenPipeError, ValueError):
                    return  # openssl stopped reading: it says why (or the timeout does)
        except Exception as exc:  # reading the content failed: the caller raises it
            self.failure = exc
        finally:
            close = getattr(chunks, "close", None)  # a generator: its file closes now
            if close is not None:
                close()
            with contextlib.suppress(OSError):
                self._pipe.close()

    def finish(self) -> None:
        """Wait for the copy to end (openssl has ended: its end of the pipe is closed)."""
        self._thread.join()


# ContentInfo's contentType for SignedData (1.2.840.113549.1.7.2), DER-encoded
_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
_CRLS = 0xA1  # SignedData's ``crls [1] IMPLICIT RevocationInfoChoices``
_Tlv = tuple[int, int, int, int]  # tag, where it starts, where it ends, where its value starts


def without_crls(der: bytes) -> bytes | None:
    """``der`` (a CMS ContentInfo holding SignedData) without the CRLs its SignedData carries;
    the same bytes when it carries none; None when its outer layers (ContentInfo, its
    ``[0]``, SignedData's fields) are not DER with definite lengths, or it is not SignedData:
    whether it carries CRLs cannot be told then. The signature is of the content and the
    signed attributes, not of the CRLs beside it: removing them changes nothing it proves.

    Only those outer layers are walked, each length checked against what holds it; nothing
    inside a field is read."""
    info = _fields(der, 0, len(der), tag=0x30)
    if info is None or len(info) != 2 or der[info[0][1] : info[0][2]] != _SIGNED_DATA:
        return None
    explicit = info[1]
    if explicit[0] != 0xA0:
        return None
    signed = _fields(der, explicit[3], explicit[2], tag=0x30)
    if signed is None:
        return None
    kept = [der[start:end] for tag, start, end, _ in signed if tag != _CRLS]
    if len(kept) == len(signed):
        return der
    body = _encode(0x30, b"".join(kept))
    return _encode(0x30, der[info[0][1] : info[0][2]] + _encode(0xA0, body))


def _fields(der: bytes, start: int, end: int, *, tag: int) -> list[_Tlv] | None:
    """The fields inside the one ``tag`` element spanning ``der[start:end]`` exactly."""
    outer = _tlv(der, start, end)
    if outer is None or outer[0] != tag or outer[2] != end:
        return None
    fields: list[_Tlv] = []
    at = outer[3]
    while at < end:
        field = _tlv(der, at, end)
        if field is None:
            return None
        fields.append(field)
        at = field[2]
    return fields


def _tlv(der: bytes, at: int, limit: int) -> _Tlv | None:
    """The element at ``der[at]`` (a one-byte tag, a definite length), if it ends by
    ``limit``."""
    if at + 2 > limit or der[at] & 0x1F == 0x1F:  # truncated; a multi-byte tag: not here
        return None
    tag, first = der[at], der[at + 1]
    value = at + 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or value + count > limit:  # 0: BER's indefinite length
            return None
        length = int.from_bytes(der[value : value + count], "big")
        value += count
    else:
        length = first
    end = value + length
    return None if end > limit else (tag, at, end, value)


def _encode(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes((tag, size)) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + value
