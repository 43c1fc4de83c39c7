"""``atoll.cms``: ``openssl cms -verify`` with CRLs, without a chain, and the CRLs a CMS
carries set aside (real openssl, a CA made at test time)."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll import cms
from tests.nfv.signing import cms_block, new_authority, with_crl

CONTENT = b"metadata:\nvnf_product_name: x\n"
CA = new_authority("CMS test CA")
SIGNER = CA.issue("CMS test signer")


def der_of(block: bytes) -> bytes:
    return base64.b64decode(b"".join(block.splitlines()[1:-1]))


SIGNED = der_of(cms_block(CONTENT, SIGNER))


def refused(crls: bytes, signed: bytes = SIGNED) -> cms.CmsRefused:
    with pytest.raises(cms.CmsRefused) as caught:
        cms.verify_detached(CONTENT, signed, CA.pem(), crls=crls)
    return caught.value


def test_a_signer_no_crl_revokes_verifies() -> None:
    signer = cms.verify_detached(CONTENT, SIGNED, CA.pem(), crls=CA.crl())
    assert signer.subject == SIGNER.cert.subject


def test_a_revoked_signer_is_refused_as_revoked() -> None:
    exc = refused(CA.crl(SIGNER.cert))
    assert exc.kind == cms.REVOKED and "certificate revoked" in exc.said


def test_with_crls_a_ca_without_one_refuses() -> None:
    other = new_authority("Another CA")
    exc = refused(other.crl())  # a CRL, but not of the signer's issuer
    assert exc.kind == cms.CRL and "unable to get certificate CRL" in exc.said
    assert refused(CA.crl(expired=True)).kind == cms.CRL


def test_an_older_crl_the_signature_carries_does_not_unrevoke_its_signer() -> None:
    """OpenSSL takes a valid CRL the CMS carries before those it is given: a signer revoked
    since would present the CA's previous CRL, still valid, that does not list it yet."""
    before = CA.crl(age=dt.timedelta(days=1))  # yesterday's: valid a week, without the signer
    carrying = with_crl(SIGNED, before)
    exc = refused(CA.crl(SIGNER.cert), carrying)
    assert exc.kind == cms.REVOKED
    assert cms.without_crls(carrying) == SIGNED  # set aside: what OpenSSL is given


def test_without_anchors_the_signature_is_checked_but_not_its_chain() -> None:
    stranger = new_authority("Nobody's CA").issue("Unanchored vendor")
    signed = der_of(cms_block(CONTENT, stranger))
    signer = cms.verify_detached(CONTENT, signed, None)
    assert signer.subject == stranger.cert.subject
    with pytest.raises(cms.CmsRefused) as caught:
        cms.verify_detached(CONTENT + b"changed\n", signed, None)
    assert caught.value.kind == cms.CONTENT


def test_a_cms_not_in_der_cannot_have_its_crls_set_aside() -> None:
    indefinite = b"\x30\x80" + SIGNED[2:] + b"\x00\x00"
    assert cms.without_crls(indefinite) is None
    assert cms.without_crls(SIGNED + b"\x00") is None  # trailing bytes
    assert refused(CA.crl(), indefinite).kind == cms.CARRIED_CRLS
    assert cms.without_crls(SIGNED) is SIGNED


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=len(SIGNED)))
def test_without_crls_reads_any_bytes_without_raising(noise: bytes, cut: int) -> None:
    for der in (noise, SIGNED[:cut], SIGNED[:cut] + noise + SIGNED[cut + len(noise) :]):
        out = cms.without_crls(der)
        assert out is None or isinstance(out, bytes)


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("40:error:17000064:CMS routines:cms_signerinfo_verify_cert:certificate verify error:"
         "../crypto/cms/cms_smime.c:289:Verify error: certificate revoked", cms.REVOKED),
        ("40:error:17000064:CMS routines:cms_signerinfo_verify_cert:certificate verify error:"
         "../crypto/cms/cms_smime.c:289:Verify error: CRL has expired", cms.CRL),
        ("40:error:17000064:CMS routines:cms_signerinfo_verify_cert:certificate verify error:"
         "../crypto/cms/cms_smime.c:289:Verify error: certificate has expired", cms.CERTIFICATE),
    ],
)  # fmt: skip
def test_openssls_words_say_the_kind_of_refusal(stderr: str, kind: str) -> None:
    assert cms.condensed(stderr)[0] == kind


def chunks_of(data: bytes, size: int = 7) -> Callable[[], Iterator[bytes]]:
    """``data`` as a stream of chunks, read anew each time it is opened."""
    return lambda: (data[at : at + size] for at in range(0, len(data), size))


def test_content_from_a_file_or_a_stream_verifies_as_bytes_do(tmp_path: Path) -> None:
    path = tmp_path / "content"
    path.write_bytes(CONTENT)
    for content in (path, chunks_of(CONTENT)):
        assert cms.verify_detached(content, SIGNED, CA.pem()).subject == SIGNER.cert.subject
    path.write_bytes(CONTENT + b"x")
    for changed in (path, chunks_of(CONTENT + b"x")):
        with pytest.raises(cms.CmsRefused) as caught:
            cms.verify_detached(changed, SIGNED, CA.pem())
        assert caught.value.kind == cms.CONTENT


def test_a_stream_of_megabytes_is_piped_through_in_chunks() -> None:
    big = bytes(range(256)) * (12 * 4096)  # 12 MiB
    signed = der_of(cms_block(big, SIGNER))
    opened: list[int] = []

    def stream() -> Iterator[bytes]:
        opened.append(1)
        yield from (big[at : at + 65536] for at in range(0, len(big), 65536))

    assert cms.verify_detached(stream, signed, CA.pem()).subject == SIGNER.cert.subject
    assert opened == [1]  # read once: it verified as bytes


def test_a_stream_that_fails_to_read_raises_its_own_error() -> None:
    """A file whose data is corrupt (a zip entry's CRC) is not a signature that verified,
    nor one that did not: the reader's error reaches the caller."""

    def failing() -> Iterator[bytes]:
        yield CONTENT[:5]
        raise OSError("Bad CRC-32")

    with pytest.raises(OSError, match="Bad CRC-32"):
        cms.verify_detached(failing, SIGNED, CA.pem())


def test_openssl_refusing_before_it_reads_the_stream_ends_the_copy() -> None:
    endless = lambda: iter(lambda: b"\0" * 65536, b"")  # noqa: E731 (never ends by itself)
    with pytest.raises(cms.CmsRefused) as caught:
        cms.verify_detached(endless, b"\x30\x03\x02\x01\x01", CA.pem(), timeout=20)
    assert caught.value.kind in (cms.MALFORMED, cms.OTHER)


def test_time_for_content_grows_with_its_size() -> None:
    assert cms.timeout_for(0) == cms.TIMEOUT
    assert cms.timeout_for(10 * 1024**3) > cms.TIMEOUT + 600  # 10 GiB: minutes, not 30 s
