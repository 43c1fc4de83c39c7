"""Tokens: signed offline-verifiable claims, expiry, tampering, key trust, revocation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import Unauthenticated
from atoll.tokens import (
    Claims,
    RevocationList,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
)

KEY = generate_signing_key()
SIGNER = TokenSigner(KEY)
VERIFIER = TokenVerifier([KEY.public_key()])


def claims(**over: object) -> Claims:
    base: dict[str, object] = {
        "token_id": "t1",
        "user": "alice",
        "project": "a",
        "system": False,
        "roles": ("member",),
        "issued_at": 100.0,
        "expires_at": 200.0,
    }
    return Claims(**{**base, **over})  # type: ignore[arg-type]


def test_round_trip_carries_every_claim() -> None:
    signed = SIGNER.sign(claims(app_credential="c1", project_id="p1", user_id="u1"))
    got = VERIFIER.verify(signed, now=150)
    assert got.user == "alice" and got.project == "a" and got.roles == ("member",)
    assert got.app_credential == "c1" and got.key_id == SIGNER.key_id
    assert got.project_id == "p1" and got.user_id == "u1"


def test_a_token_without_a_project_id_still_verifies() -> None:
    """Tokens issued before the ``pid`` claim existed carry none; the hub fills it in."""
    assert "pid" not in claims().to_json()
    assert VERIFIER.verify(SIGNER.sign(claims()), now=150).project_id is None


def test_a_token_without_a_user_id_still_verifies() -> None:
    """Tokens issued before the ``uid`` claim existed carry none; the hub fills it in."""
    assert "uid" not in claims().to_json()
    assert VERIFIER.verify(SIGNER.sign(claims()), now=150).user_id is None


def test_a_user_id_that_is_not_text_is_malformed() -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        VERIFIER.verify(SIGNER.sign(claims(user_id=7)), now=150)


def test_expired_token_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="expired"):
        VERIFIER.verify(SIGNER.sign(claims()), now=200)


def test_token_from_an_untrusted_key_is_refused() -> None:
    other = TokenSigner(generate_signing_key())
    with pytest.raises(Unauthenticated, match="does not trust"):
        VERIFIER.verify(other.sign(claims()), now=150)


def test_rotation_trusts_old_and_new_keys() -> None:
    new = generate_signing_key()
    both = TokenVerifier([KEY.public_key(), new.public_key()])
    assert both.verify(TokenSigner(new).sign(claims()), now=150).user == "alice"
    assert both.verify(SIGNER.sign(claims()), now=150).user == "alice"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_changed_byte_is_refused(position: int, value: int) -> None:
    token = SIGNER.sign(claims())
    i = position % len(token)
    if chr(value) == token[i]:
        return
    tampered = token[:i] + chr(value) + token[i + 1 :]
    with pytest.raises(Unauthenticated):
        VERIFIER.verify(tampered, now=150)


@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_cleanly(text: str) -> None:
    with pytest.raises(Unauthenticated):
        VERIFIER.verify(text, now=150)


def test_revocation_by_id_user_and_time() -> None:
    revoked = RevocationList()
    token = claims()
    assert not revoked.is_revoked(token)
    revoked.add("token", "t1", 0)
    assert revoked.is_revoked(token)
    revoked.discard("token", "t1")
    revoked.add("user", "alice", 150.0)
    assert revoked.is_revoked(token)
    assert not revoked.is_revoked(claims(issued_at=151.0))
    revoked.add("project", "b", 1e12)
    assert not revoked.is_revoked(claims(issued_at=151.0))


def test_revocations_read_from_their_wire_form_match_as_the_hub_does() -> None:
    """What ``GET /v1/revocations`` lists; a site builds the same list from it."""
    entries = [
        {"subject": "token", "value": "t9", "revoked_at": 1, "prune_after": 9},
        {"subject": "user", "value": "alice", "revoked_at": 150.0, "prune_after": 9},
        {"subject": "application_credential", "value": "c1", "revoked_at": 150.0},
        {"subject": "project", "value": "a", "revoked_at": 99.0},  # before the token
        {"subject": "group", "value": "x", "revoked_at": 1e12},  # unknown subject
        {"subject": "user", "value": 7, "revoked_at": 1e12},
        {"subject": "user", "value": "bob", "revoked_at": True},
        {"subject": "user", "value": "carol"},
        "not an entry",
    ]
    revoked = RevocationList.from_entries(entries)
    assert len(revoked.entries) == 4
    assert revoked.is_revoked(claims())  # alice, issued at 100 <= 150
    assert not revoked.is_revoked(claims(issued_at=151.0))  # issued after
    assert revoked.is_revoked(claims(token_id="t9", user="bob", issued_at=151.0))
    assert revoked.is_revoked(claims(user="bob", app_credential="c1"))
    assert not revoked.is_revoked(claims(user="bob"))  # project a revoked before it
    assert not revoked.is_revoked(claims(user="carol"))
    assert not RevocationList().add_entry({"subject": "token", "value": "t1"})


def test_keys_survive_pem_files(tmp_path: object) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    (base / "k.pem").write_bytes(private_key_pem(KEY))
    (base / "p.pem").write_bytes(public_key_pem(KEY.public_key()))
    signer = TokenSigner(load_private_key(base / "k.pem"))
    verifier = TokenVerifier([load_public_key(base / "p.pem")])
    assert verifier.verify(signer.sign(claims()), now=150).user == "alice"


def test_cached_verifier_still_checks_expiry_and_never_caches_bad_tokens() -> None:
    cached = TokenVerifier([KEY.public_key()], cache_size=2)
    token = SIGNER.sign(claims())
    assert cached.verify(token, now=150).user == "alice"
    assert cached.verify(token, now=150).user == "alice"
    with pytest.raises(Unauthenticated, match="expired"):
        cached.verify(token, now=250)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            cached.verify(tampered, now=150)
    for i in range(5):  # the cache stays bounded
        cached.verify(SIGNER.sign(claims(token_id=f"t{i}")), now=150)
    assert len(cached._cache) == 2
