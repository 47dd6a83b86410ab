"""Login Kit: QR code v2, the consent page, and /v2/user/info/."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_tiktok.emulator import EmulatorControlError

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, REDIRECT, World


def _get_qr(world: World, scope: str = "user.info.basic,video.publish", state: str = "st-1") -> dict:
    response = world.form("/v2/oauth/get_qrcode/", {"client_key": CLIENT_KEY, "scope": scope, "state": state})
    assert response.status_code == 200, response.text
    return response.json()


def _check(world: World, token: str) -> dict:
    response = world.form(
        "/v2/oauth/check_qrcode/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": token}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_qr_login_full_flow(world):
    qr = _get_qr(world)
    assert qr["scan_qrcode_url"].startswith("aweme://authorize?")
    assert qr["scan_qrcode_url"].count("client_ticket=tobefilled") == 1
    rendered = qr["scan_qrcode_url"].replace("client_ticket=tobefilled", "client_ticket=my-ticket.123")
    ticket = parse_qs(urlsplit(rendered).query)["client_ticket"][0]
    assert _check(world, qr["token"]) == {"client_ticket": "", "status": "new"}
    world.control.scan_qrcode(qr["token"], ticket)
    assert _check(world, qr["token"]) == {"client_ticket": "my-ticket.123", "status": "scanned"}
    world.control.confirm_qrcode(qr["token"], OPEN_ID)
    confirmed = _check(world, qr["token"])
    assert confirmed["status"] == "confirmed" and confirmed["client_ticket"] == "my-ticket.123"
    assert confirmed["state"] == "st-1"
    assert confirmed["redirect_uri"].startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(confirmed["redirect_uri"]).query)
    assert query["code"] == [confirmed["code"]] and query["state"] == ["st-1"]
    assert _check(world, qr["token"]) == {"client_ticket": "my-ticket.123", "status": "utilised"}
    token = world.form(
        "/v2/oauth/token/",
        {
            "client_key": CLIENT_KEY,
            "client_secret": CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": confirmed["code"],
            "redirect_uri": REDIRECT,
        },
    ).json()
    assert token["open_id"] == OPEN_ID and token["scope"] == "user.info.basic,video.publish"


def test_qr_code_may_be_exchanged_without_redirect_uri(world):
    qr = _get_qr(world)
    world.control.scan_qrcode(qr["token"], "t")
    world.control.confirm_qrcode(qr["token"], OPEN_ID)
    code = _check(world, qr["token"])["code"]
    response = world.form(
        "/v2/oauth/token/",
        {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "grant_type": "authorization_code", "code": code},
    )
    assert response.status_code == 200


def test_qr_expires_on_the_emulator_clock(world):
    qr = _get_qr(world)
    world.control.scan_qrcode(qr["token"], "t")
    world.control.advance_clock(300)
    assert _check(world, qr["token"]) == {"client_ticket": "", "status": "expired"}
    with pytest.raises(EmulatorControlError, match="expired"):
        world.control.confirm_qrcode(qr["token"], OPEN_ID)


def test_qr_lifetime_is_a_setting(world):
    world.control.settings(qr_lifetime_seconds=10)
    qr = _get_qr(world)
    world.control.advance_clock(10)
    assert _check(world, qr["token"])["status"] == "expired"


def test_qr_scan_needs_the_clients_ticket(world):
    qr = _get_qr(world)
    with pytest.raises(EmulatorControlError, match="client_ticket"):
        world.control.scan_qrcode(qr["token"], "tobefilled")


def test_qr_errors(world):
    bad_scope = world.form(
        "/v2/oauth/get_qrcode/", {"client_key": CLIENT_KEY, "scope": "user.info.basic video.publish"}
    )
    assert bad_scope.status_code == 400 and bad_scope.json()["error"] == "invalid_scope"
    qr = _get_qr(world)
    wrong_secret = world.form(
        "/v2/oauth/check_qrcode/", {"client_key": CLIENT_KEY, "client_secret": "no", "token": qr["token"]}
    )
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"
    unknown = world.form(
        "/v2/oauth/check_qrcode/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": "NOPE"}
    )
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"


def _authorize_params(**extra: str) -> dict[str, str]:
    return {
        "client_key": CLIENT_KEY,
        "response_type": "code",
        "scope": "user.info.basic,video.upload",
        "redirect_uri": "http://127.0.0.1:4321/callback/",
        "state": "s t&ate",
        **extra,
    }


def test_consent_page_lists_accounts_and_approve_redirects_with_code(world):
    page = world.http.get("/v2/auth/authorize/", params=_authorize_params())
    assert page.status_code == 200 and "Alice" in page.text and "@alice" in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    assert fields["open_id"] == OPEN_ID
    response = world.http.post(
        "/v2/auth/authorize/", data={**_authorize_params(), "open_id": OPEN_ID, "decision": "approve"}
    )
    assert response.status_code == 302
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "http://127.0.0.1:4321/callback/"
    query = parse_qs(target.query)
    assert query["state"] == ["s t&ate"] and query["scopes"] == ["user.info.basic,video.upload"]
    token = world.form(
        "/v2/oauth/token/",
        {
            "client_key": CLIENT_KEY,
            "client_secret": CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://127.0.0.1:4321/callback/",
        },
    )
    assert token.json()["scope"] == "user.info.basic,video.upload"


def test_consent_page_deny_and_bad_requests(world):
    denied = world.http.post(
        "/v2/auth/authorize/", data={**_authorize_params(), "open_id": OPEN_ID, "decision": "deny"}
    )
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]
    bad_scope = world.http.get("/v2/auth/authorize/", params=_authorize_params(scope="nope"))
    assert parse_qs(urlsplit(bad_scope.headers["location"]).query)["error"] == ["invalid_scope"]
    bad_type = world.http.get("/v2/auth/authorize/", params=_authorize_params(response_type="token"))
    assert parse_qs(urlsplit(bad_type.headers["location"]).query)["error"] == ["unsupported_response_type"]
    unregistered = world.http.get(
        "/v2/auth/authorize/", params=_authorize_params(redirect_uri="https://evil.example.com/cb/")
    )
    assert unregistered.status_code == 400 and "redirect_uri" in unregistered.text


def test_consent_page_binds_pkce(world):
    import hashlib

    verifier = "q" * 50
    challenge = hashlib.sha256(verifier.encode()).hexdigest()
    params = _authorize_params(code_challenge=challenge, code_challenge_method="S256")
    response = world.http.post("/v2/auth/authorize/", data={**params, "open_id": OPEN_ID, "decision": "approve"})
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    base = {
        "client_key": CLIENT_KEY,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
    }
    assert world.form("/v2/oauth/token/", {**base, "code_verifier": verifier}).status_code == 200


def test_user_info_returns_requested_fields(world):
    response = world.http.get(
        "/v2/user/info/",
        params={"fields": "open_id,union_id,avatar_url,display_name,username"},
        headers={"Authorization": f"Bearer {world.token}"},
    )
    assert response.status_code == 200
    user = response.json()["data"]["user"]
    assert set(user) == {"open_id", "union_id", "avatar_url", "display_name", "username"}
    assert (user["open_id"], user["display_name"], user["username"]) == (OPEN_ID, "Alice", "alice")


def test_user_info_field_scopes(world):
    tokens = world.control.grant(CLIENT_KEY, OPEN_ID, scopes=["user.info.basic", "video.publish"])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    ok = world.http.get("/v2/user/info/", params={"fields": "open_id,display_name"}, headers=headers)
    assert ok.status_code == 200
    missed = world.http.get("/v2/user/info/", params={"fields": "open_id,username"}, headers=headers)
    assert missed.status_code == 400 and missed.json()["error"]["code"] == "scope_permission_missed"
    publish_only = world.control.grant(CLIENT_KEY, OPEN_ID, scopes=["video.publish"])
    denied = world.http.get(
        "/v2/user/info/",
        params={"fields": "open_id"},
        headers={"Authorization": f"Bearer {publish_only['access_token']}"},
    )
    assert denied.status_code == 401 and denied.json()["error"]["code"] == "scope_not_authorized"
    no_fields = world.http.get("/v2/user/info/", headers=headers)
    assert no_fields.status_code == 400 and no_fields.json()["error"]["code"] == "invalid_params"
