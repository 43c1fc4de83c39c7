"""The join code (one pasteable line) and the CA discovery MAC, as a joiner relies on them."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll import certs
from atoll.errors import InvalidInput
from atoll.sync import join
from atoll.sync.join import JoinCode

TOKEN = "0123456789abcdef.s3cr3t-" + "x" * 24
PIN = "sha256:" + "ab" * 32


def test_a_code_is_one_line_and_round_trips() -> None:
    code = JoinCode("https://hub.example:8470", TOKEN, PIN)
    text = code.encode()
    assert text.startswith("atoll-join1.") and "\n" not in text and " " not in text
    assert JoinCode.decode(text) == code
    assert JoinCode.decode(f"  {text[:30]}\n{text[30:]}\n") == code  # wrapped by a terminal
    assert "s3cr3t" not in repr(code)
    assert (code.token_id, code.secret) == ("0123456789abcdef", TOKEN.split(".", 1)[1])


@given(
    host=st.from_regex(r"\A[a-z][a-z0-9-]{0,20}(\.[a-z]{2,5})?\Z"),
    port=st.integers(1, 65535),
    secret=st.from_regex(r"\A[A-Za-z0-9_-]{16,64}\Z"),
    pin=st.binary(min_size=32, max_size=32),
)
def test_every_code_round_trips(host: str, port: int, secret: str, pin: bytes) -> None:
    code = JoinCode(f"https://{host}:{port}", f"{'f' * 16}.{secret}", "sha256:" + pin.hex())
    assert JoinCode.decode(code.encode()) == code


def _raw(data: object) -> str:
    return "atoll-join1." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "starts with 'atoll-join1.'"),
        ("0123456789abcdef.secretsecretsecret", "starts with 'atoll-join1.'"),
        ("atoll-join1.%%%%", "does not decode"),
        ("atoll-join1." + "A" * 5, "does not decode"),
        (_raw([1, 2]), "not a map"),
        (_raw({"u": "https://h:1", "t": TOKEN}), "join code: ca pin: missing"),
        (_raw({"u": "http://h:1", "t": TOKEN, "p": PIN}), "https://host"),
        (_raw({"u": "https://h:1", "t": "short.x", "p": PIN}), "join code: token"),
        (_raw({"u": "https://h:1", "t": TOKEN, "p": "sha1:abc"}), "join code: ca pin"),
        ("atoll-join1." + "A" * 3000, "too long"),
    ],
)
def test_a_bad_code_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        JoinCode.decode(text)
    assert says in str(caught.value)


@given(st.text(max_size=300))
def test_decoding_any_text_is_a_code_or_invalid_input(text: str) -> None:
    with contextlib.suppress(InvalidInput):
        JoinCode.decode(text)


def test_the_pin_is_the_ca_keys_and_survives_a_reissue_with_the_same_key() -> None:
    ca = certs.new_ca()
    again = certs.KeyAndCert(ca.key, certs.new_ca().cert)  # another cert...
    assert certs.ca_pin(again.cert) != certs.ca_pin(ca.cert)  # ...of another key
    assert certs.ca_pin(ca.cert) == certs.key_pin(ca.key.public_key())
    assert join.check_pin(certs.ca_pin(ca.cert)) == certs.ca_pin(ca.cert)


def test_the_mac_proves_the_token_and_the_exact_ca() -> None:
    ca_pem = certs.new_ca().cert_pem()
    digest = join.token_digest("the-secret")
    mac = join.discovery_mac(digest, ca_pem)
    assert join.mac_matches(digest, ca_pem, mac)
    assert join.mac_matches(digest, ca_pem, mac.upper())
    assert not join.mac_matches(join.token_digest("another"), ca_pem, mac)
    assert not join.mac_matches(digest, certs.new_ca().cert_pem(), mac)
    assert not join.mac_matches(digest, ca_pem, "")
