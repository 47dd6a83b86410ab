"""``TikTok-Signature`` verification: a table of deliveries and what the pure function says about each."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from airflow_provider_tiktok.webhooks.signature import SignatureError, parse_header, sign, verify

SECRET = "cs-secret"
BODY = b'{"client_key":"ck","event":"post.publish.complete","create_time":1,"user_openid":"u","content":"{}"}'
NOW = 1_800_000_000


def tiktok_header(secret: str, t: int, body: bytes) -> str:
    """TikTok's recipe, written out independently of the module under test (docs: webhooks-verification)."""
    return f"t={t},s=" + hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


GOOD = tiktok_header(SECRET, NOW, BODY)
DIGEST = GOOD.partition(",s=")[2]


@pytest.mark.parametrize(
    ("header", "body", "now", "expected"),
    [
        (GOOD, BODY, NOW, 0),
        (GOOD, BODY, NOW + 300, 0),  # exactly at the tolerance
        (GOOD, BODY, NOW - 300, 0),  # a sender clock 5 min ahead, still tolerated
        (f"s={DIGEST},t={NOW}", BODY, NOW, 0),  # order-free
        (f"t={NOW}, s={DIGEST.upper()}", BODY, NOW, 0),  # spaces, upper-case hex
        (f"t={NOW},s={DIGEST},v1=whatever", BODY, NOW, 0),  # unknown elements ignored
        (GOOD, BODY, NOW + 301, "outside the 300 s tolerance"),  # stale
        (GOOD, BODY, NOW - 301, "outside the 300 s tolerance"),  # from the future
        (GOOD, BODY + b" ", NOW, "does not match"),  # body changed after signing
        (tiktok_header("not-" + SECRET, NOW, BODY), BODY, NOW, "does not match"),  # forged
        (tiktok_header(SECRET, NOW - 1, BODY).replace(f"t={NOW - 1}", f"t={NOW}"), BODY, NOW, "does not match"),
        (None, BODY, NOW, "missing"),
        ("", BODY, NOW, "missing"),
        (f"s={DIGEST}", BODY, NOW, "t must be"),
        (f"t=abc,s={DIGEST}", BODY, NOW, "t must be"),
        (f"t=-{NOW},s={DIGEST}", BODY, NOW, "t must be"),
        (f"t={NOW}", BODY, NOW, "s must be"),
        (f"t={NOW},s={DIGEST[:-1]}", BODY, NOW, "s must be"),
        (f"t={NOW},s={DIGEST[:-1]}g", BODY, NOW, "s must be"),
        ("garbage", BODY, NOW, "t must be"),
    ],
)
def test_verify_table(header: str | None, body: bytes, now: float, expected: int | str) -> None:
    if isinstance(expected, int):
        assert verify(header, body, [SECRET], now=now) == expected
    else:
        with pytest.raises(SignatureError, match=expected):
            verify(header, body, [SECRET], now=now)


def test_the_matching_secret_is_named_among_several() -> None:
    assert verify(GOOD, BODY, ["other", SECRET, "third"], now=NOW) == 1
    with pytest.raises(SignatureError, match="does not match"):
        verify(GOOD, BODY, [], now=NOW)


def test_tolerance_is_a_parameter() -> None:
    assert verify(GOOD, BODY, [SECRET], now=NOW + 3000, tolerance=3600) == 0
    with pytest.raises(SignatureError, match="outside the 5 s"):
        verify(GOOD, BODY, [SECRET], now=NOW + 6, tolerance=5)


def test_sign_matches_tiktoks_recipe_and_parses_back() -> None:
    assert sign(SECRET, NOW, BODY) == GOOD
    parsed = parse_header(GOOD)
    assert (parsed.timestamp, parsed.digest) == (NOW, DIGEST)


def test_refusals_never_echo_the_digest_or_secret() -> None:
    with pytest.raises(SignatureError) as info:
        verify(tiktok_header("x", NOW, BODY), BODY, [SECRET], now=NOW)
    assert SECRET not in str(info.value) and DIGEST not in str(info.value)
