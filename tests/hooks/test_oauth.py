"""OAuth client against the emulator's real /v2/oauth/ endpoints: exchange, refresh, revoke, client credentials,
error shapes and retries."""

from __future__ import annotations

import hashlib
import logging
import string

import httpx
import pytest

from airflow_provider_tiktok.api.errors import ErrorKind, RetryPolicy, TikTokOAuthError
from airflow_provider_tiktok.api.http import API_TIMEOUT, REFRESH_TIMEOUT
from airflow_provider_tiktok.api.oauth import TikTokOAuthClient, generate_pkce, pkce_challenge

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:8765/callback/"
TOKEN_PATH = "/v2/oauth/token/"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def fast_retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, sleep=sleeps)


@pytest.fixture
def app(tiktok_emulator):
    """An app with a loopback redirect URI and one account."""
    control = tiktok_emulator.control
    control.create_app("ck_oauth", "cs_oauth_secret_value", redirect_uris=["http://127.0.0.1:*/callback/"])
    open_id = control.create_account(username="oauth_user")["open_id"]
    return tiktok_emulator, open_id


@pytest.fixture
def oauth(app, sleeps) -> TikTokOAuthClient:
    emulator, _ = app
    return TikTokOAuthClient("ck_oauth", "cs_oauth_secret_value", base_url=emulator.base_url, retry=fast_retry(sleeps))


def user_info_status(base_url: str, access_token: str) -> int:
    response = httpx.get(
        f"{base_url}/v2/user/info/",
        params={"fields": "open_id"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return response.status_code


def test_pkce_challenge_is_hex_sha256():
    pair = generate_pkce()
    assert 43 <= len(pair.verifier) <= 128
    assert set(pair.verifier) <= set(string.ascii_letters + string.digits + "-._~")
    assert pair.challenge == hashlib.sha256(pair.verifier.encode()).hexdigest()
    assert pkce_challenge("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert pair.verifier not in repr(pair)
    assert generate_pkce().verifier != pair.verifier
    with pytest.raises(ValueError):
        generate_pkce(42)


def test_exchange_code_with_pkce(app, oauth):
    emulator, open_id = app
    pkce = generate_pkce()
    consent = emulator.control.authorize(
        "ck_oauth", open_id, scope="user.info.basic,video.publish", redirect_uri=REDIRECT_URI,
        state="s1", code_challenge=pkce.challenge,
    )  # fmt: skip
    tokens = oauth.exchange_code(consent["code"], REDIRECT_URI, pkce.verifier)
    assert tokens.open_id == open_id
    assert tokens.scopes == ["user.info.basic", "video.publish"]
    assert tokens.expires_in == 86400 and tokens.refresh_token
    assert user_info_status(emulator.base_url, tokens.access_token) == 200
    with pytest.raises(TikTokOAuthError) as used_twice:
        oauth.exchange_code(consent["code"], REDIRECT_URI, pkce.verifier)
    assert used_twice.value.code == "invalid_grant" and used_twice.value.kind is ErrorKind.PERMANENT


def test_exchange_code_rejects_a_wrong_verifier_and_redirect(app, oauth, sleeps):
    emulator, open_id = app
    pkce = generate_pkce()
    code = emulator.control.authorize(
        "ck_oauth", open_id, scope="video.publish", redirect_uri=REDIRECT_URI, code_challenge=pkce.challenge
    )["code"]
    with pytest.raises(TikTokOAuthError) as wrong_verifier:
        oauth.exchange_code(code, REDIRECT_URI, generate_pkce().verifier)
    assert wrong_verifier.value.code == "invalid_grant"
    code = emulator.control.authorize("ck_oauth", open_id, scope="video.publish", redirect_uri=REDIRECT_URI)["code"]
    with pytest.raises(TikTokOAuthError) as wrong_redirect:
        oauth.exchange_code(code, "http://127.0.0.1:9999/elsewhere/")
    assert wrong_redirect.value.code == "invalid_grant"
    assert "Redirect_uri is not matched" in wrong_redirect.value.message
    assert sleeps == []  # permanent errors are not retried


def test_refresh_rotates_and_the_old_refresh_token_dies(app, oauth):
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["user.info.basic"])
    first = oauth.refresh(seed["refresh_token"])
    assert first.refresh_token and first.refresh_token != seed["refresh_token"]
    assert first.access_token != seed["access_token"]
    assert user_info_status(emulator.base_url, first.access_token) == 200
    with pytest.raises(TikTokOAuthError) as dead:
        oauth.refresh(seed["refresh_token"])
    assert dead.value.code == "invalid_grant" and dead.value.kind is ErrorKind.PERMANENT
    second = oauth.refresh(first.refresh_token)
    chain = emulator.control.tokens()[0]
    assert [g["refresh_active"] for g in chain["generations"]] == [False, False, True]
    assert chain["generations"][-1]["refresh_token"] == second.refresh_token


def test_refresh_without_rotation_keeps_the_refresh_token(tiktok_emulator):
    control = tiktok_emulator.control
    control.create_app("ck_norot", "cs_norot_secret", rotate_refresh_tokens=False, access_token_ttl=7200)
    open_id = control.create_account()["open_id"]
    seed = control.grant("ck_norot", open_id, ["video.publish"])
    oauth = TikTokOAuthClient("ck_norot", "cs_norot_secret", base_url=tiktok_emulator.base_url)
    refreshed = oauth.refresh(seed["refresh_token"])
    assert refreshed.refresh_token == seed["refresh_token"]
    assert refreshed.expires_in == 7200


def test_revoke_kills_the_whole_chain(app, oauth):
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["user.info.basic"])
    assert user_info_status(emulator.base_url, seed["access_token"]) == 200
    assert oauth.revoke(seed["access_token"]) is None
    assert user_info_status(emulator.base_url, seed["access_token"]) == 401
    with pytest.raises(TikTokOAuthError) as after:
        oauth.refresh(seed["refresh_token"])
    assert after.value.code == "invalid_grant"
    assert emulator.control.tokens()[0]["revoked"] is True


def test_client_credentials(oauth):
    token = oauth.client_credentials()
    assert token.access_token and token.expires_in == 7200
    assert token.refresh_token is None


def test_invalid_client_is_permanent_and_secret_free(app, sleeps, caplog):
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["video.publish"])
    wrong = TikTokOAuthClient("ck_oauth", "not-the-secret-123", base_url=emulator.base_url, retry=fast_retry(sleeps))
    with caplog.at_level(logging.DEBUG), pytest.raises(TikTokOAuthError) as exc:
        wrong.refresh(seed["refresh_token"])
    assert exc.value.code == "invalid_client" and exc.value.kind is ErrorKind.PERMANENT
    assert exc.value.http_status == 401
    assert sleeps == []
    for text in (str(exc.value), repr(exc.value), repr(wrong), caplog.text):
        assert "not-the-secret-123" not in text
        assert seed["refresh_token"] not in text


@pytest.mark.parametrize(
    ("status", "error_code"), [(503, "temporarily_unavailable"), (500, "server_error"), (502, None)]
)
def test_transient_errors_are_retried(app, oauth, sleeps, status, error_code):
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["video.publish"])
    emulator.control.inject_fault("/v2/oauth/token/", status=status, error_code=error_code)
    refreshed = oauth.refresh(seed["refresh_token"])
    assert refreshed.access_token
    assert len(sleeps) == 1


def test_connection_reset_is_retried(app, oauth, sleeps):
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["video.publish"])
    emulator.control.inject_fault("/v2/oauth/token/", action="reset")
    assert oauth.refresh(seed["refresh_token"]).access_token
    assert len(sleeps) == 1


def test_retries_are_bounded(app, oauth, sleeps):
    emulator, _ = app
    for nth in (1, 1, 1):
        emulator.control.inject_fault("/v2/oauth/token/", nth=nth, status=503, error_code="temporarily_unavailable")
    with pytest.raises(TikTokOAuthError) as exc:
        oauth.client_credentials()
    assert exc.value.code == "temporarily_unavailable" and exc.value.kind is ErrorKind.RETRYABLE
    assert len(sleeps) == 3 - 1


def test_requests_are_plain_form_posts(app):
    """TikTok rejects a charset suffix on the form content type (seen by peers), so it must be exactly this."""
    emulator, open_id = app
    seen: list[httpx.Request] = []
    with httpx.Client(event_hooks={"request": [seen.append]}) as http:
        oauth = TikTokOAuthClient("ck_oauth", "cs_oauth_secret_value", base_url=emulator.base_url, http=http)
        oauth.refresh(emulator.control.grant("ck_oauth", open_id, ["video.publish"])["refresh_token"])
    assert seen[0].method == "POST" and seen[0].url.path == "/v2/oauth/token/"
    assert seen[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=refresh_token" in seen[0].content


def test_secret_is_not_in_the_repr():
    oauth = TikTokOAuthClient("ck", "super-secret-value")
    assert "super-secret-value" not in repr(oauth)


@pytest.mark.unit
def test_a_refresh_waits_longer_for_its_answer_than_any_other_call():
    """A refresh answer lost after TikTok rotated loses the whole chain, so its read timeout is the longest."""
    oauth = TikTokOAuthClient("ck", "cs")
    assert isinstance(oauth.refresh_timeout, httpx.Timeout) and isinstance(oauth.timeout, httpx.Timeout)
    assert oauth.refresh_timeout.read is not None and API_TIMEOUT.read is not None
    assert oauth.refresh_timeout == REFRESH_TIMEOUT and oauth.timeout == API_TIMEOUT
    assert oauth.refresh_timeout.read > 2 * API_TIMEOUT.read


def test_a_refresh_answer_lost_to_a_read_timeout_is_retried_once_and_then_judged(app, sleeps):
    """The emulator delays the answer past the client's read timeout. Whether or not it processed the delayed
    refresh (rotated), the client's one retry settles it: a fresh token set if the old refresh token still works,
    else ``invalid_grant`` (the chain is lost, which the TokenManager turns into a re-link error)."""
    emulator, open_id = app
    seed = emulator.control.grant("ck_oauth", open_id, ["video.publish"])
    oauth = TikTokOAuthClient(
        "ck_oauth",
        "cs_oauth_secret_value",
        base_url=emulator.base_url,
        refresh_timeout=httpx.Timeout(5.0, read=0.3),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, sleep=sleeps),
    )
    emulator.control.inject_fault(TOKEN_PATH, action="delay", delay_seconds=0.8)
    try:
        refreshed = oauth.refresh(seed["refresh_token"])
    except TikTokOAuthError as exc:
        assert exc.code == "invalid_grant" and exc.kind is ErrorKind.PERMANENT
    else:
        assert refreshed.access_token and refreshed.refresh_token != seed["refresh_token"]
    assert len(sleeps) == 1, "the read timeout is retried exactly once"
    wait_for_delayed_requests(emulator.control, TOKEN_PATH, sent=2)
    assert len(emulator.control.requests(TOKEN_PATH)) == 2


def wait_for_delayed_requests(control, path: str, sent: int, timeout: float = 10.0) -> None:
    """Let the emulator finish the request it delayed (its client left long ago), so its log line cannot land in
    the next test's request log."""
    import time as _time

    deadline = _time.monotonic() + timeout
    while len(control.requests(path)) < sent and _time.monotonic() < deadline:
        _time.sleep(0.05)
