"""Join links: every forged, stale or revoked token is refused (SECURITY.md rows)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rooms.stores import Store
from signaling.tokens import LinkError, LinkSigner

KEY = b"k" * 40
ISSUER = "https://clinic.example"


def signer(store: Store, keys: dict[str, bytes] | None = None, kid: str = "k1") -> LinkSigner:
    return LinkSigner(keys or {"k1": KEY}, kid, issuer=ISSUER, store=store)


def issue(s: LinkSigner, *, nbf_offset: float = -60, exp_offset: float = 3600) -> str:
    now = time.time()
    token, _ = s.issue(session_id="s1", participant_id="p1",
                       not_before=now + nbf_offset, expires=now + exp_offset)
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, object], payload: dict[str, object], sig: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(sig)])


async def test_valid_link_round_trips(any_store: Store) -> None:
    s = signer(any_store)
    claims = await s.verify(issue(s))
    assert (claims.session_id, claims.participant_id) == ("s1", "p1")


async def test_alg_none_refused(any_store: Store) -> None:
    s = signer(any_store)
    good = jwt.decode(issue(s), options={"verify_signature": False})
    token = forge({"alg": "none", "typ": "JWT", "kid": "k1"}, {**good, "role": "therapist"})
    with pytest.raises(LinkError) as err:
        await s.verify(token)
    assert err.value.code == "invalid_token"


async def test_wrong_key_refused(any_store: Store) -> None:
    s = signer(any_store)
    attacker = signer(any_store, {"k1": b"x" * 40})
    with pytest.raises(LinkError, match="not valid"):
        await s.verify(issue(attacker))


async def test_bit_flipped_signature_refused(any_store: Store) -> None:
    s = signer(any_store)
    head, body, sig = issue(s).split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[0] ^= 0x01
    with pytest.raises(LinkError):
        await s.verify(f"{head}.{body}.{b64(bytes(raw))}")


async def test_tampered_payload_refused(any_store: Store) -> None:
    s = signer(any_store)
    head, _, sig = issue(s).split(".")
    claims = jwt.decode(issue(s), options={"verify_signature": False})
    body = b64(json.dumps({**claims, "role": "therapist"}).encode())
    with pytest.raises(LinkError):
        await s.verify(f"{head}.{body}.{sig}")


async def test_algorithm_confusion_hs512_refused(any_store: Store) -> None:
    s = signer(any_store)
    claims = jwt.decode(issue(s), options={"verify_signature": False})
    token = jwt.encode(claims, KEY * 2, "HS512", headers={"kid": "k1"})
    with pytest.raises(LinkError):
        await s.verify(token)


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "x" * 5000, "...."])
async def test_garbage_refused(any_store: Store, garbage: str) -> None:
    with pytest.raises(LinkError) as err:
        await signer(any_store).verify(garbage)
    assert err.value.code == "invalid_token"


async def test_unknown_kid_refused_and_rotation_works(any_store: Store) -> None:
    old = signer(any_store, {"old": KEY}, "old")
    token = issue(old)
    rotated = signer(any_store, {"new": b"n" * 40, "old": KEY}, "new")
    assert (await rotated.verify(token)).participant_id == "p1"  # old links still valid
    assert jwt.get_unverified_header(issue(rotated))["kid"] == "new"
    retired = signer(any_store, {"new": b"n" * 40}, "new")
    with pytest.raises(LinkError):
        await retired.verify(token)


async def test_expired_one_second_ago_refused_beyond_leeway(any_store: Store) -> None:
    s = signer(any_store)
    with pytest.raises(LinkError) as err:
        await s.verify(issue(s, nbf_offset=-7200, exp_offset=-61))
    assert err.value.code == "expired"
    # exp -1 s is refused once the leeway has passed too: the leeway is at most 60 s.
    with pytest.raises(LinkError):
        await s.verify(issue(s, nbf_offset=-7200, exp_offset=-1 - 60))


async def test_not_before_window(any_store: Store) -> None:
    s = signer(any_store)
    with pytest.raises(LinkError) as err:
        await s.verify(issue(s, nbf_offset=120))
    assert err.value.code == "not_yet_valid"
    assert (await s.verify(issue(s, nbf_offset=20))).participant_id == "p1"


async def test_missing_claims_refused(any_store: Store) -> None:
    s = signer(any_store)
    claims = jwt.decode(issue(s), options={"verify_signature": False})
    del claims["jti"]
    with pytest.raises(LinkError):
        await s.verify(jwt.encode(claims, KEY, "HS256", headers={"kid": "k1"}))


async def test_wrong_audience_or_issuer_refused(any_store: Store) -> None:
    s = signer(any_store)
    claims = jwt.decode(issue(s), options={"verify_signature": False})
    for change in ({"aud": "other"}, {"iss": "https://evil.example"}):
        token = jwt.encode({**claims, **change}, KEY, "HS256", headers={"kid": "k1"})
        with pytest.raises(LinkError):
            await s.verify(token)


async def test_revoked_refused_everywhere(any_store: Store) -> None:
    s = signer(any_store)
    token = issue(s)
    claims = await s.verify(token)
    await s.revoke(claims.jti, until=claims.expires)
    with pytest.raises(LinkError) as err:
        await signer(any_store).verify(token)  # another node sharing the store
    assert err.value.code == "revoked"


async def test_ended_session_refuses_every_link(any_store: Store) -> None:
    s = signer(any_store)
    token = issue(s)
    await s.end_session("s1")
    with pytest.raises(LinkError) as err:
        await s.verify(token)
    assert err.value.code == "session_ended"


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_single_bit_flip_is_refused(position: int, bit: int) -> None:
    """Hypothesis: a mutated token never verifies (decode is pure, no store needed)."""
    s = LinkSigner({"k1": KEY}, "k1", issuer=ISSUER, store=None)  # type: ignore[arg-type]
    original = issue(s)
    token = bytearray(original.encode())
    token[position % len(token)] ^= 1 << bit
    mutated = token.decode("latin-1")
    assert mutated != original
    try:
        claims = s.decode(mutated)
    except LinkError:
        return
    # base64 padding bits can flip without changing the decoded bytes: then the
    # claims must be exactly the originals (nothing was actually altered).
    assert claims.participant_id == "p1"
    assert claims.session_id == "s1"


def test_link_payload_holds_opaque_ids_only() -> None:
    """Anyone who sees a link (a mail scanner) learns no name and no role from it."""
    s = LinkSigner({"k1": KEY}, "k1", issuer=ISSUER, store=None)  # type: ignore[arg-type]
    payload = jwt.decode(issue(s), options={"verify_signature": False})
    assert set(payload) == {"iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp"}
