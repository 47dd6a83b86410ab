"""Pure parts of linking: the client_ticket splice, check_qrcode parsing, callback parsing, exports."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_tiktok.link import authorize, qr, store
from airflow_provider_tiktok.tokens import TokenSet

DEEP_LINK = "aweme://authorize?authType=100&client_key=abcd1234&client_ticket=tobefilled&scope=user.info.basic%2Cvideo.publish&next=a%20b"


def _session(ticket: str = "tick-et_1", state: str = "st4te") -> qr.QRSession:
    return qr.QRSession(token="TOKEN", deep_link=DEEP_LINK, client_ticket=ticket, state=state)


# --- client_ticket ------------------------------------------------------------------------------------------------


def test_insert_client_ticket_changes_only_that_value():
    out = qr.insert_client_ticket(DEEP_LINK, "MyTicket-1._~")
    assert out == DEEP_LINK.replace("client_ticket=tobefilled", "client_ticket=MyTicket-1._~")
    assert parse_qs(urlsplit(out).query)["client_ticket"] == ["MyTicket-1._~"]


@given(prefix=st.text("abc=%2C&", max_size=20), suffix=st.text("xyz=%20&#", max_size=20))
def test_insert_client_ticket_keeps_every_other_byte(prefix: str, suffix: str):
    link = f"aweme://authorize?p={prefix}&client_ticket=tobefilled&s={suffix}"
    out = qr.insert_client_ticket(link, "T")
    assert out == link.replace("client_ticket=tobefilled", "client_ticket=T", 1)


@pytest.mark.parametrize(
    "link",
    [
        "aweme://authorize?authType=100&client_key=k",  # missing
        "aweme://authorize?client_ticket=a&client_ticket=b",  # twice
        "aweme://authorize",  # no query at all
        "aweme://authorize?x=1#client_ticket=tobefilled",  # only in the fragment
    ],
)
def test_insert_client_ticket_rejects_links_without_exactly_one_ticket(link: str):
    with pytest.raises(qr.QRLinkError):
        qr.insert_client_ticket(link, "T")


def test_insert_client_ticket_does_not_match_a_longer_parameter_name():
    link = "aweme://authorize?xclient_ticket=1&client_ticket=tobefilled"
    assert qr.insert_client_ticket(link, "T") == "aweme://authorize?xclient_ticket=1&client_ticket=T"


def test_client_tickets_are_random_and_url_safe():
    tickets = {qr.new_client_ticket() for _ in range(20)}
    assert len(tickets) == 20
    assert all(set(t) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for t in tickets)


# --- check_qrcode parsing ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"status": "confirmed", "client_ticket": "tick-et_1", "code": "C0de*!", "state": "st4te"},
        {"status": "confirmed", "client_ticket": "tick-et_1", "redirect_uri": "https://e.com/cb?code=C0de*!"},
        {"status": "confirmed", "client_ticket": "tick-et_1", "code": "https://e.com/cb?code=C0de*!&state=st4te"},
        {"status": "confirmed", "client_ticket": "tick-et_1", "redirect_uri": "https://e.com/cb?code=C0de%2A%21"},
    ],
)
def test_confirmed_code_is_found_in_every_documented_shape(body):
    status = qr.parse_check_response(body, _session())
    assert (status.status, status.code) == ("confirmed", "C0de*!")


def test_data_wrapper_is_tolerated():
    body = qr._unwrap({"data": {"status": "scanned", "client_ticket": "tick-et_1"}})
    assert qr.parse_check_response(body, _session()).status == "scanned"


def test_empty_ticket_is_fine_before_the_scan_but_not_after():
    assert qr.parse_check_response({"status": "new", "client_ticket": ""}, _session()).status == "new"
    assert qr.parse_check_response({"status": "expired", "client_ticket": ""}, _session()).status == "expired"
    with pytest.raises(qr.QRLinkError, match="client_ticket"):
        qr.parse_check_response({"status": "scanned", "client_ticket": ""}, _session())


@pytest.mark.parametrize("status", ["scanned", "confirmed", "utilised"])
def test_foreign_ticket_is_rejected(status):
    body = {"status": status, "client_ticket": "someone-else", "code": "C"}
    with pytest.raises(qr.QRLinkError) as info:
        qr.parse_check_response(body, _session())
    assert info.value.code == "client_ticket_mismatch"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "confirmed", "client_ticket": "tick-et_1", "code": "C", "state": "other"},
        {"status": "confirmed", "client_ticket": "tick-et_1", "redirect_uri": "https://e.com/?code=C&state=other"},
    ],
)
def test_foreign_state_is_rejected(body):
    with pytest.raises(qr.QRLinkError) as info:
        qr.parse_check_response(body, _session())
    assert info.value.code == "state_mismatch"


def test_confirmed_without_code_is_an_error():
    with pytest.raises(qr.QRLinkError):
        qr.parse_check_response({"status": "confirmed", "client_ticket": "tick-et_1"}, _session())


def test_redirect_candidate_strips_query_and_fragment():
    assert qr.redirect_uri_candidate("https://e.com/cb/?code=1&state=2#x") == "https://e.com/cb/"
    assert qr.redirect_uri_candidate("C0de") is None
    assert qr.redirect_uri_candidate(None) is None


def test_reprs_hide_tickets_and_codes():
    text = repr(_session()) + repr(qr.QRStatus("confirmed", code="SECRETCODE"))
    assert "tick-et_1" not in text and "TOKEN" not in text and "SECRETCODE" not in text


# --- authorize URL and callback -------------------------------------------------------------------------------------


def test_authorize_url_carries_hex_pkce_and_comma_scopes():
    req = authorize.build_auth_request(
        "https://www.tiktok.com/", "ck", "user.info.basic,video.publish", "http://127.0.0.1:5555/callback/"
    )
    parts = urlsplit(req.url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://www.tiktok.com/v2/auth/authorize/"
    assert params["scope"] == "user.info.basic,video.publish"
    assert params["redirect_uri"] == "http://127.0.0.1:5555/callback/"
    assert params["state"] == req.state and params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == hashlib.sha256(req.pkce.verifier.encode()).hexdigest()
    assert req.pkce.verifier not in req.url


@pytest.mark.parametrize(
    ("text", "code", "state"),
    [
        ("http://127.0.0.1:1/callback/?code=ab*c!.-_&scopes=user.info.basic&state=S", "ab*c!.-_", "S"),
        ("  ?code=X%2AY&state=S\n", "X*Y", "S"),
        ("code=X&state=S", "X", "S"),
        ("BareCode*!", "BareCode*!", None),
    ],
)
def test_parse_callback(text, code, state):
    cb = authorize.parse_callback(text)
    assert (cb.code, cb.state) == (code, state)


def test_parse_callback_reports_tiktok_errors():
    with pytest.raises(authorize.CallbackError) as info:
        authorize.parse_callback("https://x/cb?error=access_denied&error_description=User+denied&state=S")
    assert info.value.code == "access_denied" and "User denied" in str(info.value)
    with pytest.raises(authorize.CallbackError):
        authorize.parse_callback("https://x/cb?state=S")


def test_verify_state():
    authorize.verify_state(authorize.Callback("c", "S"), "S")
    authorize.verify_state(authorize.Callback("c", None), "S", allow_missing=True)
    for cb in (authorize.Callback("c", "T"), authorize.Callback("c", None)):
        with pytest.raises(authorize.CallbackError):
            authorize.verify_state(cb, "S")


@pytest.mark.parametrize(
    "uri", ["https://example.com/cb/", "http://example.com:80/cb/", "http://127.0.0.1/cb/", "ftp://localhost:1/"]
)
def test_browser_mode_needs_a_loopback_uri_with_port(uri):
    with pytest.raises(ValueError):
        authorize.parse_loopback_redirect_uri(uri)


def test_loopback_uri_parts():
    assert authorize.parse_loopback_redirect_uri("http://localhost:3455/callback/") == (3455, "/callback/")


# --- exports --------------------------------------------------------------------------------------------------------

TOKENS = TokenSet("act.ACCESS1234", 1_900_000_000, "rft.REFRESH1234", 1_930_000_000, "open-1", "user.info.basic")
LINKED = store.LinkedConnection("tiktok_main", "ck", "SECRET-1234", TOKENS, "http://127.0.0.1:9/", "TikTok: x")


def test_json_export_is_what_the_hook_reads():
    from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings

    data = json.loads(store.render(LINKED, "json", show_secrets=True))["tiktok_main"]
    settings = TikTokConnectionSettings.from_connection("tiktok_main", data["login"], data["password"], data["extra"])
    assert settings.client_secret == "SECRET-1234"
    assert settings.seed is not None
    assert (settings.seed.refresh_token, settings.seed.access_token) == ("rft.REFRESH1234", "act.ACCESS1234")
    assert settings.seed.access_expires_at == 1_900_000_000
    assert settings.token_variable_key == "tiktok_oauth__tiktok_main"


def test_the_extra_holds_no_string_the_masker_would_take_for_a_secret_but_the_two_tokens():
    """Airflow masks every string under a key naming a token: only the tokens themselves should be such strings."""
    extra = LINKED.extra()
    sensitive = {key for key, value in extra.items() if "token" in key and isinstance(value, str)}
    assert sensitive == {"access_token", "refresh_token"}
    assert extra["access_token_expires_at"] == 1_900_000_000


def test_uri_export_round_trips_through_airflow():
    from airflow.sdk import Connection

    conn = Connection.from_uri(store.render(LINKED, "uri", show_secrets=True), conn_id="tiktok_main")
    assert (conn.conn_type, conn.login, conn.password) == ("tiktok", "ck", "SECRET-1234")
    assert conn.extra_dejson["refresh_token"] == "rft.REFRESH1234"


def test_env_export_is_a_shell_line_airflow_accepts(monkeypatch):
    import shlex

    from airflow.sdk.execution_time.context import _get_connection

    line = store.render(LINKED, "env", show_secrets=True)
    name, _, value = line.removeprefix("export ").partition("=")
    assert name == "AIRFLOW_CONN_TIKTOK_MAIN"
    monkeypatch.setenv(name, shlex.split(value)[0])
    conn = _get_connection("tiktok_main")
    assert conn.password == "SECRET-1234"
    assert conn.extra_dejson["access_token"] == "act.ACCESS1234"


@pytest.mark.parametrize("fmt", ["uri", "json", "env"])
def test_exports_mask_secrets_unless_asked(fmt):
    text = store.render(LINKED, fmt, show_secrets=False)
    for secret in ("SECRET-1234", "REFRESH1234", "ACCESS1234"):
        assert secret not in text
    assert "open-1" in text


def test_linked_connection_repr_hides_secrets():
    assert "SECRET" not in repr(LINKED) and "REFRESH" not in repr(LINKED)


def test_qr_falls_back_to_ascii_terminals():
    import io

    from airflow_provider_tiktok.link.cli import Terminal, _show_qr

    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    _show_qr(Terminal(err=stream), DEEP_LINK)
    stream.flush()
    text = stream.buffer.getvalue().decode("ascii")
    assert "\x1b[" in text  # ANSI-coloured modules
    assert DEEP_LINK in text
