"""OAuth: authorization code (+ hex PKCE), refresh with rotation, client credentials, revoke, error shapes."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, REDIRECT, World

TOKEN = "/v2/oauth/token/"


def _exchange(world: World, code: str, redirect_uri: str | None = REDIRECT, **extra: str):
    data = {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "authorization_code", "code": code}
    if redirect_uri is not None:
        data["redirect_uri"] = redirect_uri
    return world.form(TOKEN, {**data, **extra})


def _refresh(world: World, refresh_token: str):
    data = {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return world.form(TOKEN, data)


def _assert_oauth_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert len(body["log_id"]) == 34


def test_authorization_code_exchange_returns_tiktoks_flat_token_response(world):
    issued = world.control.authorize(CLIENT_KEY, OPEN_ID, scope="user.info.basic,video.publish", state="xyz")
    assert issued["redirect_url"].startswith(REDIRECT + "?code=")
    assert "state=xyz" in issued["redirect_url"] and "scopes=user.info.basic%2Cvideo.publish" in issued["redirect_url"]
    response = _exchange(world, issued["code"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "expires_in",
        "open_id",
        "refresh_expires_in",
        "refresh_token",
        "scope",
        "token_type",
    }
    assert body["open_id"] == OPEN_ID and body["token_type"] == "Bearer"
    assert body["scope"] == "user.info.basic,video.publish"
    assert body["expires_in"] == 86400 and body["refresh_expires_in"] == 31536000
    assert body["access_token"].startswith("act.") and body["refresh_token"].startswith("rft.")


def test_codes_are_single_use_and_short_lived(world):
    code = world.control.authorize(CLIENT_KEY, OPEN_ID)["code"]
    assert _exchange(world, code).status_code == 200
    _assert_oauth_error(_exchange(world, code), "invalid_grant")
    late = world.control.authorize(CLIENT_KEY, OPEN_ID)["code"]
    world.control.advance_clock(301)
    _assert_oauth_error(_exchange(world, late), "invalid_grant")


def test_code_is_bound_to_redirect_uri_and_client(world):
    code = world.control.authorize(CLIENT_KEY, OPEN_ID, redirect_uri="http://127.0.0.1:5123/callback/")["code"]
    mismatch = _exchange(world, code, REDIRECT)
    _assert_oauth_error(mismatch, "invalid_grant")
    assert mismatch.json()["error_description"] == "Redirect_uri is not matched with the uri when requesting code."
    world.control.create_app("other", "other-secret")
    stolen = world.form(
        TOKEN,
        {
            "client_key": "other",
            "client_secret": "other-secret",
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:5123/callback/",
        },
    )
    _assert_oauth_error(stolen, "invalid_grant")


def test_unregistered_redirect_uri_is_refused(world):
    with pytest.raises(EmulatorControlError, match="redirect_uri"):
        world.control.authorize(CLIENT_KEY, OPEN_ID, redirect_uri="https://evil.example.com/callback/")


def test_pkce_challenge_is_hex_sha256_of_the_verifier(world):
    verifier = "v" * 43 + "-._~Abc123"
    hex_challenge = hashlib.sha256(verifier.encode()).hexdigest()
    code = world.control.authorize(CLIENT_KEY, OPEN_ID, code_challenge=hex_challenge)["code"]
    _assert_oauth_error(_exchange(world, code), "invalid_grant")  # verifier missing
    code = world.control.authorize(CLIENT_KEY, OPEN_ID, code_challenge=hex_challenge)["code"]
    _assert_oauth_error(_exchange(world, code, code_verifier="w" * 43), "invalid_grant")
    code = world.control.authorize(CLIENT_KEY, OPEN_ID, code_challenge=hex_challenge)["code"]
    assert _exchange(world, code, code_verifier=verifier).status_code == 200


def test_base64url_pkce_challenge_is_not_tiktoks(world):
    import base64

    verifier = "z" * 64
    b64 = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = world.control.authorize(CLIENT_KEY, OPEN_ID, code_challenge=b64)["code"]
    _assert_oauth_error(_exchange(world, code, code_verifier=verifier), "invalid_grant")


def test_refresh_rotates_and_kills_the_old_refresh_token(world):
    first = world.tokens
    second = _refresh(world, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    _assert_oauth_error(_refresh(world, first["refresh_token"]), "invalid_grant")
    assert _refresh(world, second["refresh_token"]).status_code == 200
    [chain] = world.control.tokens()
    assert [g["refresh_active"] for g in chain["generations"]] == [False, False, True]


def test_refresh_expires_in_counts_down_and_does_not_reset(world):
    world.control.advance_clock(1000)
    refreshed = _refresh(world, world.tokens["refresh_token"]).json()
    assert 31536000 - 1001 <= refreshed["refresh_expires_in"] <= 31536000 - 999


def test_refresh_without_rotation_keeps_the_refresh_token(world):
    world.control.create_app(
        CLIENT_KEY, CLIENT_SECRET, rotate_refresh_tokens=False, access_token_ttl=7200, refresh_token_ttl=15552000
    )
    tokens = world.control.grant(CLIENT_KEY, OPEN_ID)
    assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (7200, 15552000)
    again = _refresh(world, tokens["refresh_token"]).json()
    assert again["refresh_token"] == tokens["refresh_token"]
    assert _refresh(world, tokens["refresh_token"]).status_code == 200


def test_refresh_token_expires(world):
    world.control.advance_clock(31536000)
    _assert_oauth_error(_refresh(world, world.tokens["refresh_token"]), "invalid_grant")


def test_access_token_expiry_gives_access_token_invalid(world):
    assert world.call("/v2/post/publish/creator_info/query/").status_code == 200
    world.control.advance_clock(86400)
    response = world.call("/v2/post/publish/creator_info/query/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "access_token_invalid"


def test_client_credentials_token_cannot_post(world):
    response = world.form(
        TOKEN, {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    )
    body = response.json()
    assert body["expires_in"] == 7200 and body["token_type"] == "Bearer" and "refresh_token" not in body
    denied = world.call("/v2/post/publish/creator_info/query/", token=body["access_token"])
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "scope_not_authorized"


def test_revoke_kills_access_token_and_refresh_chain(world):
    refreshed = _refresh(world, world.tokens["refresh_token"]).json()
    response = world.form(
        "/v2/oauth/revoke/",
        {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": refreshed["access_token"]},
    )
    assert response.status_code == 200 and response.json() == {}
    assert world.call("/v2/post/publish/creator_info/query/", token=refreshed["access_token"]).status_code == 401
    _assert_oauth_error(_refresh(world, refreshed["refresh_token"]), "invalid_grant")
    assert world.control.tokens()[0]["revoked"] is True


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        (
            {"client_key": CLIENT_KEY, "client_secret": "wrong", "grant_type": "refresh_token", "refresh_token": "x"},
            "invalid_client",
            401,
        ),
        ({"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET}, "invalid_request", 400),
        (
            {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "password"},
            "unsupported_grant_type",
            400,
        ),
        (
            {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token"},
            "invalid_request",
            400,
        ),
        (
            {
                "client_key": CLIENT_KEY,
                "client_secret": CLIENT_SECRET,
                "grant_type": "refresh_token",
                "refresh_token": "rft.unknown",
            },
            "invalid_grant",
            400,
        ),
    ],
)
def test_token_endpoint_errors(world, data, error, status):
    _assert_oauth_error(world.form(TOKEN, data), error, status)


def test_token_endpoint_requires_form_encoding(world):
    response = world.http.post(
        TOKEN, json={"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials"}
    )
    _assert_oauth_error(response, "invalid_request")


def test_tokens_never_appear_in_the_request_log(world):
    _refresh(world, world.tokens["refresh_token"])
    world.call("/v2/post/publish/creator_info/query/")
    log = repr(world.control.requests())
    assert world.tokens["refresh_token"] not in log and world.tokens["access_token"] not in log
    assert [r["path"] for r in world.control.requests()] == [TOKEN, "/v2/post/publish/creator_info/query/"]
