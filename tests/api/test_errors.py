"""Error classification from real response shapes, and that no secret leaks into messages."""

from __future__ import annotations

import pickle

import httpx
import pytest

from airflow_provider_tiktok.api.errors import (
    ErrorKind,
    TikTokAuthError,
    TikTokDailyCapError,
    TikTokError,
    TikTokInvalidParamsError,
    TikTokOAuthError,
    TikTokPermanentError,
    TikTokPublishFailedError,
    TikTokRateLimitError,
    TikTokRetryableError,
    TikTokValidationError,
    error_from_response,
    parse_retry_after,
    redact,
)

LOG_ID = "202210112248442CB9319E1FB30C1073F3"


def envelope(code: str, message: str = "", status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"data": {}, "error": {"code": code, "message": message, "log_id": LOG_ID}}
    return httpx.Response(status, json=body, headers=headers)


def test_ok_envelope_is_not_an_error() -> None:
    assert error_from_response(envelope("ok")) is None


@pytest.mark.parametrize(
    ("code", "status", "cls", "kind"),
    [
        ("access_token_invalid", 401, TikTokAuthError, ErrorKind.NEEDS_REFRESH),
        ("scope_not_authorized", 401, TikTokPermanentError, ErrorKind.PERMANENT),
        ("rate_limit_exceeded", 429, TikTokRateLimitError, ErrorKind.RETRYABLE),
        ("internal_error", 500, TikTokRetryableError, ErrorKind.RETRYABLE),
        ("spam_risk_too_many_posts", 403, TikTokDailyCapError, ErrorKind.DAILY_CAP),
        ("spam_risk_too_many_pending_share", 403, TikTokDailyCapError, ErrorKind.DAILY_CAP),
        ("reached_active_user_cap", 403, TikTokDailyCapError, ErrorKind.DAILY_CAP),
        ("spam_risk_user_banned_from_posting", 403, TikTokPermanentError, ErrorKind.PERMANENT),
        ("unaudited_client_can_only_post_to_private_accounts", 403, TikTokPermanentError, ErrorKind.PERMANENT),
        ("url_ownership_unverified", 403, TikTokPermanentError, ErrorKind.PERMANENT),
        ("privacy_level_option_mismatch", 403, TikTokPermanentError, ErrorKind.PERMANENT),
        ("invalid_params", 400, TikTokInvalidParamsError, ErrorKind.PERMANENT),
        ("invalid_param", 400, TikTokInvalidParamsError, ErrorKind.PERMANENT),
        ("invalid_publish_id", 400, TikTokPermanentError, ErrorKind.PERMANENT),
        ("some_new_code", 503, TikTokRetryableError, ErrorKind.RETRYABLE),
    ],
)
def test_classification(code: str, status: int, cls: type[TikTokError], kind: ErrorKind) -> None:
    err = error_from_response(envelope(code, "msg", status))
    assert type(err) is cls
    assert err.kind is kind
    assert (err.code, err.message, err.log_id, err.http_status) == (code, "msg", LOG_ID, status)


def test_creator_info_daily_cap_arrives_with_http_200() -> None:
    err = error_from_response(envelope("spam_risk_too_many_posts", "cap", 200))
    assert isinstance(err, TikTokDailyCapError)
    assert err.http_status == 200
    assert "24 hours" in str(err)


def test_error_without_data_key() -> None:
    response = httpx.Response(403, json={"error": {"code": "spam_risk_too_many_pending_share", "message": "x"}})
    assert isinstance(error_from_response(response), TikTokDailyCapError)


def test_retry_after_seconds_and_http_date() -> None:
    err = error_from_response(envelope("rate_limit_exceeded", "", 429, {"Retry-After": "7"}))
    assert err is not None and err.retry_after == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_bare_http_failures() -> None:
    err = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(err, TikTokRetryableError) and err.code == "http_502"
    err = error_from_response(httpx.Response(429, text=""))
    assert isinstance(err, TikTokRateLimitError)
    err = error_from_response(httpx.Response(404, text="nope"))
    assert type(err) is TikTokPermanentError and err.code == "http_404"
    assert error_from_response(httpx.Response(200, text="")) is None


def test_oauth_error_shape() -> None:
    body = {"error": "invalid_grant", "error_description": "Refresh token is invalid.", "log_id": LOG_ID}
    err = error_from_response(httpx.Response(400, json=body))
    assert isinstance(err, TikTokOAuthError)
    assert (err.code, err.kind, err.message) == ("invalid_grant", ErrorKind.PERMANENT, "Refresh token is invalid.")
    err = error_from_response(httpx.Response(503, json={"error": "temporarily_unavailable"}))
    assert isinstance(err, TikTokOAuthError) and err.kind is ErrorKind.RETRYABLE


def test_secrets_never_reach_messages_or_reprs() -> None:
    url = "https://open-upload.tiktokapis.com/video/?upload_id=1&upload_token=SECRETUPLOAD"
    err = TikTokRetryableError(f"PUT {url} failed for Bearer act.SECRETACCESS123 and rft.SECRETREFRESH456")
    for text in (str(err), repr(err), err.message, str(err.args)):
        assert "SECRET" not in text
    assert "open-upload.tiktokapis.com/video/" in str(err)
    assert redact("plain text") == "plain text"


def test_unaudited_error_explains_account_privacy() -> None:
    err = error_from_response(envelope("unaudited_client_can_only_post_to_private_accounts", "", 403))
    assert "switch the TikTok *account* to Private" in str(err)
    assert "HTTP 403" in str(err) and LOG_ID in str(err)


def test_validation_error() -> None:
    err = TikTokValidationError("title", 2200, "title is 2301 UTF-16 units; TikTok allows at most 2200")
    assert isinstance(err, ValueError)
    assert (err.field, err.limit, err.kind) == ("title", 2200, ErrorKind.PERMANENT)
    assert str(err) == "title is 2301 UTF-16 units; TikTok allows at most 2200"


@pytest.mark.parametrize(
    ("reason", "kind", "advice"),
    [
        ("internal", ErrorKind.RETRYABLE, "retrying later is safe"),
        ("spam_risk_too_many_posts", ErrorKind.DAILY_CAP, "24 hours"),
        ("auth_removed", ErrorKind.PERMANENT, "link the account again"),
        ("picture_size_check_failed", ErrorKind.PERMANENT, "1080 px"),
        ("video_pull_failed", ErrorKind.PERMANENT, "does not redirect"),
        ("brand_new_reason", ErrorKind.PERMANENT, "did not document"),
    ],
)
def test_publish_failed(reason: str, kind: ErrorKind, advice: str) -> None:
    err = TikTokPublishFailedError(reason, publish_id="v_pub_file~v2-1.1")
    assert (err.code, err.fail_reason, err.kind) == (reason, reason, kind)
    assert advice in str(err) and "v_pub_file~v2-1.1" in str(err)


def test_errors_pickle_round_trip() -> None:
    err = error_from_response(envelope("rate_limit_exceeded", "slow down", 429, {"Retry-After": "3"}))
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is TikTokRateLimitError
    assert (copy.code, copy.retry_after, str(copy)) == (err.code, 3.0, str(err))
    verr = pickle.loads(pickle.dumps(TikTokValidationError("title", 90, "title too long")))
    assert (verr.field, verr.limit, str(verr)) == ("title", 90, "title too long")
