"""Join tokens and unlock keys: format, round trips, and rejection of anything mutated."""

from __future__ import annotations

import hashlib
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmkit_py.pki import (
    InvalidJoinTokenError,
    JoinToken,
    JoinTokens,
    RootCA,
    ca_digest,
    generate_id,
    generate_join_token,
    generate_unlock_key,
    is_valid_id,
    parse_join_token,
    parse_unlock_key,
    tokens_equal,
)
from swarmkit_py.pki.ids import to_base36

TOKEN_RE = re.compile(r"^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$")
BASE36 = string.digits + string.ascii_lowercase
ROOT_PEM = RootCA.create().cert_pem

digests = st.integers(min_value=0, max_value=(1 << 256) - 1).map(lambda n: to_base36(n, 50))
secrets_ = st.integers(min_value=0, max_value=(1 << 128) - 1).map(lambda n: to_base36(n, 25))


def test_generated_token_has_docker_shape_and_digest_of_root_bundle() -> None:
    token = generate_join_token(ROOT_PEM)
    text = str(token)
    assert TOKEN_RE.match(text)
    assert len(text) == 85
    assert int(token.digest, 36) == int.from_bytes(hashlib.sha256(ROOT_PEM).digest(), "big")
    assert token.matches_ca(ROOT_PEM)
    assert not token.matches_ca(RootCA.create().cert_pem)
    assert token.secret not in repr(token)


def test_ids_are_25_base36_characters_and_distinct() -> None:
    ids = {generate_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_valid_id(node_id) and len(node_id) == 25 for node_id in ids)


@settings(max_examples=300)
@given(digests, secrets_)
def test_token_round_trips(digest: str, secret: str) -> None:
    token = JoinToken(digest, secret)
    assert parse_join_token(str(token)) == token
    assert tokens_equal(str(token), token)


@settings(max_examples=300)
@given(digests, secrets_, st.data())
def test_any_mutated_token_is_rejected(digest: str, secret: str, data: st.DataObject) -> None:
    token = JoinToken(digest, secret)
    text = str(token)
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != text[position]))
    mutated = text[:position] + replacement + text[position + 1 :]
    # Either the parser rejects it, or the constant-time comparison does.
    try:
        parse_join_token(mutated)
    except InvalidJoinTokenError:
        return
    assert not tokens_equal(mutated, token)


@settings(max_examples=200)
@given(st.text(max_size=120))
def test_arbitrary_text_is_rejected_or_well_formed(text: str) -> None:
    try:
        token = parse_join_token(text)
    except InvalidJoinTokenError:
        return
    assert str(token) == text


@settings(max_examples=100)
@given(digests, secrets_, st.integers(min_value=1, max_value=10), st.booleans())
def test_truncated_or_extended_tokens_name_the_length(
    digest: str, secret: str, count: int, extend: bool
) -> None:
    text = str(JoinToken(digest, secret))
    changed = text + "a" * count if extend else text[:-count]
    with pytest.raises(InvalidJoinTokenError, match="expected 85 characters"):
        parse_join_token(changed)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SWMTKN-2-" + "0" * 50 + "-" + "0" * 25, "must start with 'SWMTKN-1-'"),
        ("swmtkn-1-" + "0" * 50 + "-" + "0" * 25, "must start with 'SWMTKN-1-'"),
        ("", "must start with 'SWMTKN-1-'"),
        ("SWMTKN-1-" + "0" * 50 + "-" + "0" * 24, "expected 85 characters, got 84"),
        ("SWMTKN-1-" + "0" * 49 + "A" + "-" + "0" * 25, "only contain 0-9 and a-z"),
        ("SWMTKN-1-" + "0" * 50 + "-" + "0" * 24 + "_", "only contain 0-9 and a-z"),
        ("SWMTKN-1-" + "0" * 50 + "x" + "0" * 25, "expected SWMTKN-1-<50-character digest>"),
        ("SWMTKN-1-" + "0" * 50 + "-" + "z" * 25, "out of range"),
    ],
)
def test_malformed_tokens_get_precise_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidJoinTokenError, match=re.escape(message)):
        parse_join_token(text)


def test_rotating_one_token_keeps_the_other() -> None:
    tokens = JoinTokens.generate(ROOT_PEM)
    rotated = tokens.rotated("worker", ROOT_PEM)
    assert rotated.manager == tokens.manager
    assert rotated.worker != tokens.worker
    assert rotated.worker.digest == tokens.worker.digest == ca_digest(ROOT_PEM)
    with pytest.raises(ValueError, match="unknown join token role"):
        tokens.rotated("admin", ROOT_PEM)


def test_unlock_key_round_trips_and_rejects_garbage() -> None:
    key = generate_unlock_key()
    assert re.fullmatch(r"SWMKEY-1-[A-Za-z0-9+/]{43}", key)
    assert len(parse_unlock_key(key)) == 32
    for bad in ("SWMKEY-2-" + key[9:], key[:-2], "SWMKEY-1-!!!!"):
        with pytest.raises(ValueError, match="invalid unlock key"):
            parse_unlock_key(bad)


@given(st.binary(min_size=1, max_size=300))
def test_digest_is_50_base36_characters(data: bytes) -> None:
    digest = ca_digest(data)
    assert len(digest) == 50 and set(digest) <= set(BASE36)
