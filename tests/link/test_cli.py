"""``airflow-tiktok`` end to end: real HTTP against the emulator, real Airflow metadata DB, in-process ``main``."""

from __future__ import annotations

import html
import io
import json
import logging
import os
import re
import shlex
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest
import segno

from airflow_provider_tiktok.link import store
from airflow_provider_tiktok.link.cli import Terminal, main
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore

CLIENT_KEY = "ck_link_app"
CLIENT_SECRET = "cs_link_SECRET_value_42"
WEB_REDIRECT = "https://app.example.com/tiktok/callback/"
OPEN_ID = "open-alice"

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def emu(tiktok_emulator):
    tiktok_emulator.control.create_app(
        CLIENT_KEY, CLIENT_SECRET, redirect_uris=[WEB_REDIRECT, "http://127.0.0.1:*/callback/"]
    )
    tiktok_emulator.control.create_account(OPEN_ID, username="alice", nickname="Alice Anders")
    return tiktok_emulator


@pytest.fixture
def conn_id(airflow_db) -> Iterator[str]:
    """A fresh connection id; whatever the test linked is removed afterwards (the metadata DB is per session)."""
    conn_id = f"tiktok_{uuid.uuid4().hex[:8]}"
    yield conn_id
    stored = store.get_connection(conn_id)
    if stored is not None:
        store.delete(stored)


@pytest.fixture
def server_context(monkeypatch):
    """Let the SDK read connections from the metadata DB, as it does in the API server / scheduler."""
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")


@dataclass
class Run:
    """One in-process CLI run: scripted input, and a sleep/browser that can act as the user's phone or browser."""

    answers: list[str | Callable[[str], str]] = field(default_factory=list)
    on_sleep: Callable[[Run], None] | None = None
    on_browser: Callable[[str], None] | None = None
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)
    prompts: list[str] = field(default_factory=list)
    sleeps: int = 0
    clock: float = 1000.0
    code: int | None = None

    def terminal(self) -> Terminal:
        return Terminal(
            out=self.out,
            err=self.err,
            input=self._input,
            getpass=self._getpass,
            sleep=self._sleep,
            monotonic=lambda: self.clock,
            open_browser=self._browser,
        )

    def _input(self, prompt: str) -> str:
        self.prompts.append(prompt)
        answer = self.answers.pop(0)
        return answer(prompt) if callable(answer) else answer

    def _getpass(self, prompt: str) -> str:
        return self._input(f"(hidden) {prompt}")

    def _sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.clock += seconds
        if self.on_sleep is not None:
            self.on_sleep(self)

    def _browser(self, url: str) -> bool:
        assert self.on_browser is not None, "the CLI opened a browser in a test that did not expect it"
        self.on_browser(url)
        return True

    def __call__(self, *argv: str) -> Run:
        self.code = main(list(argv), self.terminal())
        return self

    @property
    def text(self) -> str:
        return self.out.getvalue() + self.err.getvalue()

    def deep_links(self) -> list[str]:
        return re.findall(r"aweme://\S+", self.err.getvalue())


def link_args(emu, conn_id: str, *extra: str) -> list[str]:
    return [
        "link",
        *extra,
        "--conn-id",
        conn_id,
        "--client-key",
        CLIENT_KEY,
        "--client-secret",
        CLIENT_SECRET,
        "--api-base-url",
        emu.base_url,
        "--auth-base-url",
        emu.base_url,
    ]


class Phone:
    """The TikTok app: scans the QR the CLI rendered (taking token and ticket from that deep link) and confirms."""

    def __init__(self, emu, *, ticket: str | None = None, open_id: str = OPEN_ID) -> None:
        self.emu, self.ticket, self.open_id = emu, ticket, open_id

    def scan_and_confirm(self, run: Run) -> None:
        link = run.deep_links()[-1]
        query = parse_qs(urlsplit(link).query)
        token = query["qr_token"][0]
        self.emu.control.scan_qrcode(token, self.ticket or query["client_ticket"][0])
        self.emu.control.confirm_qrcode(token, self.open_id)


def stored_tokens(conn_id: str) -> TokenSet:
    tokens = VariableTokenStore(store.default_variable_key(conn_id)).load()
    assert tokens is not None
    return tokens


def user_info_error(emu, access_token: str) -> str:
    response = httpx.get(
        f"{emu.base_url}/v2/user/info/",
        params={"fields": "open_id"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return response.json()["error"]["code"]


# --- QR ---------------------------------------------------------------------------------------------------------


def test_qr_link_writes_a_connection_the_hook_uses(emu, conn_id, server_context):
    phone = Phone(emu)
    run = Run(on_sleep=lambda r: phone.scan_and_confirm(r) if r.sleeps == 1 else None)
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 0, run.text
    err = run.err.getvalue()
    assert "Linked TikTok account: Alice Anders" in err
    assert "Granted scopes: user.info.basic, video.publish, video.upload" in err
    assert "warning" not in err
    # The QR drawn is exactly the deep link with our ticket (which the phone read and TikTok echoed back).
    (link,) = run.deep_links()
    assert "client_ticket=tobefilled" not in link
    expected_qr = io.StringIO()
    segno.make(link, error="l", micro=False).terminal(out=expected_qr, compact=True)
    assert expected_qr.getvalue() in err

    from airflow_provider_tiktok.hooks.tiktok import TikTokHook

    hook = TikTokHook(conn_id)
    assert hook.settings.client_key == CLIENT_KEY and hook.settings.api_base_url == emu.base_url
    assert hook.get_client().user_info().open_id == OPEN_ID
    assert stored_tokens(conn_id).open_id == OPEN_ID
    assert stored_tokens(conn_id).scope == "user.info.basic,video.publish,video.upload"


def test_qr_answer_with_a_foreign_client_ticket_is_rejected(emu, conn_id):
    phone = Phone(emu, ticket="attackers-ticket")
    run = Run(on_sleep=lambda r: phone.scan_and_confirm(r) if r.sleeps == 1 else None)
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 1
    assert "client_ticket" in run.err.getvalue()
    assert not store.connection_exists(conn_id)
    assert emu.control.tokens() == []  # the code was never exchanged


def test_expired_qr_offers_a_fresh_one(emu, conn_id):
    phone = Phone(emu)

    def on_sleep(run: Run) -> None:
        if run.sleeps == 1:
            emu.control.advance_clock(301)  # past the emulator's QR lifetime: the next poll says "expired"
        elif run.sleeps == 2:
            phone.scan_and_confirm(run)

    run = Run(answers=["y"], on_sleep=on_sleep)
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 0, run.text
    assert run.prompts == ["The QR code expired. Show a new one? [Y/n] "]
    first, second = run.deep_links()
    assert parse_qs(urlsplit(first).query)["qr_token"] != parse_qs(urlsplit(second).query)["qr_token"]
    assert store.connection_exists(conn_id)


def test_declining_a_fresh_qr_links_nothing(emu, conn_id):
    run = Run(answers=["n"], on_sleep=lambda r: emu.control.advance_clock(301))
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 1
    assert "expired" in run.err.getvalue()
    assert not store.connection_exists(conn_id)


def test_local_cap_ends_a_qr_nobody_scans(emu, conn_id):
    run = Run(answers=["n"])
    run(*link_args(emu, conn_id, "--qr", "--qr-timeout", "10", "--poll-interval", "2"))

    assert run.code == 1
    assert run.sleeps == 5  # polled every 2 s of the (injected) monotonic clock until the 10 s cap
    assert run.prompts == ["The QR code expired. Show a new one? [Y/n] "]


# --- browser (desktop loopback + PKCE) ---------------------------------------------------------------------------


def consent_browser(emu, decision: str = "approve") -> Callable[[str], None]:
    """A browser: load TikTok's consent page, submit its form, follow the redirect to the CLI's listener."""

    def open_url(url: str) -> None:
        with httpx.Client(follow_redirects=False) as browser:
            page = browser.get(url)
            assert page.status_code == 200, page.text
            form = page.text.split("<form", 2)[1]  # the first account's form
            fields = {
                html.unescape(name): html.unescape(value)
                for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', form)
            }
            redirect = browser.post(url.split("?")[0], data={**fields, "decision": decision})
            assert redirect.status_code == 302
            landing = browser.get(redirect.headers["location"])
            assert landing.status_code == 200

    return open_url


def test_browser_flow_with_local_listener_and_pkce(emu, conn_id):
    run = Run(on_browser=consent_browser(emu))
    run(*link_args(emu, conn_id, "--browser"))

    assert run.code == 0, run.text
    assert "Linked TikTok account: Alice Anders" in run.err.getvalue()
    assert stored_tokens(conn_id).open_id == OPEN_ID


def test_browser_flow_rejects_a_forged_state(emu, conn_id):
    def forge(url: str) -> None:
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        code = emu.control.authorize(CLIENT_KEY, OPEN_ID, redirect_uri=redirect_uri)["code"]
        httpx.get(redirect_uri, params={"code": code, "state": "forged"})

    run = Run(on_browser=forge)
    run(*link_args(emu, conn_id, "--browser"))

    assert run.code == 1
    assert "state" in run.err.getvalue()
    assert not store.connection_exists(conn_id)
    assert emu.control.tokens() == []


def test_browser_flow_reports_a_denied_consent(emu, conn_id):
    run = Run(on_browser=consent_browser(emu, decision="deny"))
    run(*link_args(emu, conn_id, "--browser"))

    assert run.code == 1
    assert "access_denied" in run.err.getvalue()


def test_browser_flow_no_browser_prints_the_url(emu, conn_id):
    run = Run()
    run(*link_args(emu, conn_id, "--browser", "--no-browser", "--timeout", "0.2"))

    assert run.code == 1  # nobody followed the URL; the listener timed out
    assert f"{emu.base_url}/v2/auth/authorize/?client_key={CLIENT_KEY}" in run.err.getvalue()
    assert "callback_timeout" in run.err.getvalue()


# --- paste ------------------------------------------------------------------------------------------------------


def pasted_redirect(emu, run: Run, *, scope: str | None = None, state: str | None = None) -> Callable[[str], str]:
    """The user opened the printed URL elsewhere, approved, and pastes the URL the browser ended on."""

    def answer(prompt: str) -> str:
        url = re.findall(rf"{re.escape(emu.base_url)}/v2/auth/authorize/\S+", run.err.getvalue())[-1]
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        granted = emu.control.authorize(
            CLIENT_KEY,
            OPEN_ID,
            scope=scope or params["scope"],
            redirect_uri=params["redirect_uri"],
            state=state or params["state"],
            code_challenge=params["code_challenge"],
        )
        return granted["redirect_url"]

    return answer


def paste_run(emu, **kwargs) -> Run:
    run = Run()
    run.answers.append(pasted_redirect(emu, run, **kwargs))
    return run


def test_paste_flow(emu, conn_id):
    run = paste_run(emu)
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))

    assert run.code == 0, run.text
    assert run.prompts == ["Paste the redirected URL (or just the code): "]
    assert stored_tokens(conn_id).open_id == OPEN_ID


def test_paste_flow_rejects_a_foreign_state(emu, conn_id):
    run = paste_run(emu, state="from-another-attempt")
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))

    assert run.code == 1
    assert "state" in run.err.getvalue()
    assert not store.connection_exists(conn_id)


def test_credentials_from_environment_and_hidden_prompt(emu, conn_id, monkeypatch):
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", CLIENT_KEY)
    monkeypatch.delenv("TIKTOK_CLIENT_SECRET", raising=False)
    run = Run(answers=[CLIENT_SECRET])
    run.answers.append(pasted_redirect(emu, run))
    args = ["link", "--paste", "--redirect-uri", WEB_REDIRECT, "--conn-id", conn_id]
    run(*args, "--api-base-url", emu.base_url, "--auth-base-url", emu.base_url)

    assert run.code == 0, run.text
    assert run.prompts == ["(hidden) TikTok client secret: ", "Paste the redirected URL (or just the code): "]
    assert CLIENT_SECRET not in run.text
    from airflow.models import Connection

    assert Connection.get_connection_from_secrets(conn_id).password == CLIENT_SECRET


def test_username_is_shown_when_the_profile_scope_was_granted(emu, conn_id):
    run = paste_run(emu)
    scopes = "user.info.basic,user.info.profile,video.publish,video.upload"
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--scopes", scopes))

    assert run.code == 0, run.text
    assert "Linked TikTok account: Alice Anders (@alice), open_id open-alice" in run.err.getvalue()
    assert store.get_connection(conn_id).description == "TikTok: Alice Anders (@alice), open_id open-alice"


def test_invalid_conn_id_is_refused_before_anything_happens(emu, airflow_db):
    run = Run()(*link_args(emu, "bad id/../x", "--qr"))
    assert run.code == 1 and "invalid --conn-id" in run.err.getvalue()
    assert emu.control.requests() == []


def test_paste_needs_the_registered_redirect_uri(emu, conn_id):
    run = Run()(*link_args(emu, conn_id, "--paste"))
    assert run.code == 1 and "--redirect-uri" in run.err.getvalue()


def test_missing_posting_scopes_are_warned_about(emu, conn_id):
    run = paste_run(emu, scope="user.info.basic")  # the user unticked the posting scopes
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))

    assert run.code == 0, run.text
    err = run.err.getvalue()
    assert "Granted scopes: user.info.basic\n" in err
    assert "warning: scope video.publish was not granted" in err
    assert "warning: scope video.upload was not granted" in err


# --- where the connection goes --------------------------------------------------------------------------------------


def test_existing_connection_needs_overwrite(emu, conn_id):
    first = paste_run(emu)(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))
    assert first.code == 0, first.text
    old = stored_tokens(conn_id)

    refused = Run()(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))
    assert refused.code == 1 and "--overwrite" in refused.err.getvalue()
    assert refused.prompts == []  # refused before the user went through consent

    again = paste_run(emu)(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--overwrite"))
    assert again.code == 0, again.text
    assert f"Updated Airflow connection {conn_id!r}" in again.err.getvalue()
    assert stored_tokens(conn_id).refresh_token != old.refresh_token  # the Variable restarts from the new chain


def _secrets_of(run: Run, emu) -> list[str]:
    chain = emu.control.tokens()[-1]
    values = [CLIENT_SECRET]
    for generation in chain["generations"]:
        values += [generation["access_token"], generation["refresh_token"]]
    return values


class _Tee(io.StringIO):
    """Writes through to a real stream (captured by capsys) and keeps a copy (the phone reads the deep link)."""

    def __init__(self, target: io.TextIOBase) -> None:
        super().__init__()
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(text)
        return super().write(text)


def test_link_never_prints_secrets_by_default(emu, conn_id, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    phone = Phone(emu)
    run = Run(on_sleep=lambda r: phone.scan_and_confirm(r) if r.sleeps == 1 else None)
    run.out, run.err = _Tee(sys.stdout), _Tee(sys.stderr)
    run(*link_args(emu, conn_id, "--qr"))

    captured = capsys.readouterr()
    assert run.code == 0, captured.err
    assert "Linked TikTok account: Alice Anders" in captured.err
    assert caplog.records  # the logs were captured, and hold no secret either
    for secret in _secrets_of(run, emu):
        assert secret not in captured.out + captured.err + caplog.text


@pytest.mark.parametrize("fmt", ["uri", "json", "env"])
def test_output_formats_mask_secrets_and_write_nothing(emu, conn_id, fmt):
    run = paste_run(emu)
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--output", fmt))

    assert run.code == 0, run.text
    assert "***" in unquote(run.out.getvalue())
    for secret in _secrets_of(run, emu):
        assert secret not in run.text
    assert not store.connection_exists(conn_id)


def test_env_output_with_secrets_feeds_the_hook(emu, conn_id, monkeypatch):
    run = paste_run(emu)
    run(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--output", "env", "--show-secrets"))
    assert run.code == 0, run.text

    name, _, value = run.out.getvalue().strip().removeprefix("export ").partition("=")
    monkeypatch.setenv(name, shlex.split(value)[0])
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook

    hook = TikTokHook(conn_id)
    assert hook.settings.client_secret == CLIENT_SECRET
    assert hook.settings.seed is not None and hook.settings.seed.refresh_token
    assert not store.connection_exists(conn_id)


def test_output_file_holds_the_secrets_with_private_mode(emu, conn_id, tmp_path):
    target = tmp_path / "conn.json"
    run = paste_run(emu)
    run(
        *link_args(
            emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--output", "json", "--output-file", str(target)
        )
    )

    assert run.code == 0, run.text
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    data = json.loads(target.read_text())[conn_id]
    assert data["password"] == CLIENT_SECRET
    assert data["extra"]["open_id"] == OPEN_ID
    assert CLIENT_SECRET not in run.text


# --- list and revoke ----------------------------------------------------------------------------------------------


def linked(emu, conn_id: str) -> None:
    run = paste_run(emu)(*link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT))
    assert run.code == 0, run.text


def test_list_shows_account_and_freshness_without_network(emu, conn_id):
    linked(emu, conn_id)
    before = len(emu.control.requests())

    run = Run()("list")

    assert run.code == 0, run.text
    block = run.out.getvalue().split(conn_id, 1)[1].split("\ntiktok_", 1)[0]
    assert "Alice Anders (@alice)" in block or "Alice Anders" in block
    assert f"open_id:  {OPEN_ID}" in block
    assert re.search(r"access: +valid (23h|1d)", block)
    assert re.search(r"refresh: +valid 36[45]d", block)
    assert f"tokens:   from variable (tiktok_oauth__{conn_id})" in block
    assert len(emu.control.requests()) == before  # list alone never calls TikTok
    for secret in _secrets_of(run, emu):
        assert secret not in run.text


def test_list_check_asks_tiktok(emu, conn_id):
    linked(emu, conn_id)
    run = Run()("list", "--check")
    block = run.out.getvalue().split(conn_id, 1)[1].split("\ntiktok_", 1)[0]
    assert f"check:    ok, Alice Anders (open_id {OPEN_ID})" in block
    assert "stats:    not granted (link again with --scopes including user.info.stats)" in block


def test_list_check_shows_the_accounts_stats_when_granted(emu, conn_id):
    scopes = "user.info.basic,user.info.stats,video.publish,video.upload"
    run = paste_run(emu, scope=scopes)(
        *link_args(emu, conn_id, "--paste", "--redirect-uri", WEB_REDIRECT, "--scopes", scopes)
    )
    assert run.code == 0, run.text
    run = Run()("list", "--check")
    block = run.out.getvalue().split(conn_id, 1)[1].split("\ntiktok_", 1)[0]
    assert re.search(r"stats: +\d+ followers, \d+ following, \d+ likes, \d+ videos", block), block


def test_list_shows_a_connection_that_must_be_linked_again(emu, conn_id):
    """A lost token chain recorded by a task or trigger: `list` says so, with the exact command, without a call."""
    from dataclasses import replace

    from airflow_provider_tiktok.tokens import VariableTokenStore

    linked(emu, conn_id)
    store = VariableTokenStore(f"tiktok_tokens__{conn_id}")
    store.save(replace(stored_tokens(conn_id), relink_reason="TikTok rejected the refresh token (invalid_grant)"))
    before = len(emu.control.requests())
    run = Run()("list")
    block = run.out.getvalue().split(conn_id, 1)[1].split("\ntiktok_", 1)[0]
    assert "RELINK:   TikTok rejected the refresh token (invalid_grant)" in block
    assert f"run: airflow-tiktok link --qr --overwrite --conn-id {conn_id}" in block
    assert len(emu.control.requests()) == before
    check = Run()("list", "--check")
    assert "FAILED" in check.out.getvalue() and "must be linked again" in check.out.getvalue()
    assert len(emu.control.requests()) == before  # --check fails fast too: no OAuth call for a lost chain


def test_link_refuses_before_consent_when_airflow_has_no_fernet_key(emu, conn_id, monkeypatch):
    from airflow.models.crypto import get_fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    get_fernet.cache_clear()
    try:
        before = len(emu.control.requests())
        run = Run()(*link_args(emu, conn_id, "--qr"))
    finally:
        monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY")
        get_fernet.cache_clear()
    assert run.code == 1
    assert "plain text" in run.err.getvalue() and "TIKTOK_ALLOW_PLAINTEXT_TOKENS" in run.err.getvalue()
    assert len(emu.control.requests()) == before  # refused before any TikTok call
    assert not store.connection_exists(conn_id)


def test_revoke_kills_the_tokens_and_removes_the_connection(emu, conn_id):
    linked(emu, conn_id)
    tokens = stored_tokens(conn_id)
    assert user_info_error(emu, tokens.access_token) == "ok"

    run = Run()("revoke", "--conn-id", conn_id)

    assert run.code == 0, run.text
    assert user_info_error(emu, tokens.access_token) == "access_token_invalid"
    assert emu.control.tokens()[-1]["revoked"] is True
    assert not store.connection_exists(conn_id)
    assert VariableTokenStore(store.default_variable_key(conn_id)).load() is None


def test_revoke_keep_connection(emu, conn_id):
    linked(emu, conn_id)
    tokens = stored_tokens(conn_id)

    run = Run()("revoke", "--conn-id", conn_id, "--keep-connection")

    assert run.code == 0, run.text
    assert user_info_error(emu, tokens.access_token) == "access_token_invalid"
    assert store.connection_exists(conn_id)


def test_revoke_unknown_connection(airflow_db):
    run = Run()("revoke", "--conn-id", "tiktok_nope")
    assert run.code == 1 and "no connection" in run.err.getvalue()


# --- packaging ------------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_module_help_in_a_subprocess():
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_tiktok.link", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "{link,list,revoke,history,forget}" in result.stdout


# --- QR edge cases --------------------------------------------------------------------------------------------------


def test_transient_check_qrcode_failures_are_ridden_out(emu, conn_id):
    emu.control.inject_fault("/v2/oauth/check_qrcode/", nth=1, status=503, error_code="server_error")
    phone = Phone(emu)
    run = Run(on_sleep=lambda r: phone.scan_and_confirm(r) if r.sleeps == 1 else None)
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 0, run.text
    assert store.connection_exists(conn_id)


def test_persistent_check_qrcode_failures_end_the_qr(emu, conn_id):
    for _ in range(3):
        emu.control.inject_fault("/v2/oauth/check_qrcode/", nth=1, status=503, error_code="server_error")
    run = Run(answers=["n"])
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 1
    assert "keeps failing" in run.err.getvalue()
    assert run.prompts == ["The QR code expired. Show a new one? [Y/n] "]


def test_qr_code_handed_to_another_poller_is_utilised(emu, conn_id):
    """Someone else polled check_qrcode first and got the one-shot code: this CLI must not link anything."""
    phone = Phone(emu)

    def on_sleep(run: Run) -> None:
        phone.scan_and_confirm(run)
        token = parse_qs(urlsplit(run.deep_links()[-1]).query)["qr_token"][0]
        form = {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": token}
        assert httpx.post(f"{emu.base_url}/v2/oauth/check_qrcode/", data=form).json()["status"] == "confirmed"

    run = Run(on_sleep=on_sleep)
    run(*link_args(emu, conn_id, "--qr"))

    assert run.code == 1
    assert "already handed out" in run.err.getvalue()
    assert not store.connection_exists(conn_id)


def test_qr_exchange_retries_without_redirect_uri_when_tiktok_rejects_it():
    """TikTok's QR docs do not say which redirect_uri to send; a real server that rejects ours is not emulated."""
    import respx

    from airflow_provider_tiktok.api.oauth import TikTokOAuthClient
    from airflow_provider_tiktok.link.cli import Grant, _exchange

    sent: list[dict[str, list[str]]] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        sent.append(form)
        if "redirect_uri" in form:
            return httpx.Response(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "Redirect_uri is not matched with the uri when requesting code.",
                    "log_id": "L1",
                },
            )
        return httpx.Response(200, json={"access_token": "act.x", "expires_in": 86400, "open_id": "o", "scope": "a"})

    with respx.mock(base_url="https://open.tiktokapis.com") as mock:
        mock.post("/v2/oauth/token/").mock(side_effect=token_endpoint)
        oauth = TikTokOAuthClient("ck", "cs")
        grant = Grant("CODE", "https://e.com/cb/", from_qr=True)
        response = _exchange(oauth, grant)

    assert response.open_id == "o"
    assert [form.get("redirect_uri") for form in sent] == [["https://e.com/cb/"], None]
    assert all("code_verifier" not in form for form in sent)


def test_refused_revoke_keeps_the_connection_unless_forced(emu, conn_id):
    linked(emu, conn_id)
    emu.control.create_app(CLIENT_KEY, "a-rotated-secret", redirect_uris=[WEB_REDIRECT])  # the stored secret is stale

    refused = Run()("revoke", "--conn-id", conn_id)
    assert refused.code == 1
    assert "invalid_client" in refused.err.getvalue() and "--force" in refused.err.getvalue()
    assert store.connection_exists(conn_id)

    forced = Run()("revoke", "--conn-id", conn_id, "--force")
    assert forced.code == 0, forced.text
    assert "removing the connection anyway" in forced.err.getvalue()
    assert not store.connection_exists(conn_id)


@pytest.mark.integration
def test_missing_metadata_db_is_a_clear_error(tmp_path):
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/empty.db",
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_tiktok.link", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    assert "error: cannot use the Airflow metadata DB (OperationalError: no such table" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_reads_hand_made_connections(conn_id):
    """Connections added by hand (UI, `airflow connections add`) have no Variable yet; one lacks its secret."""
    from airflow.models import Connection
    from airflow.utils.session import create_session

    extra = {"refresh_token": "rft.hand", "access_token_expires_at": "2020-01-01T00:00:00Z", "open_id": "open-hand"}
    with create_session() as session:
        session.add(Connection(conn_id=conn_id, conn_type="tiktok", login="ck", password="cs", extra=json.dumps(extra)))
        session.add(Connection(conn_id=conn_id + "_broken", conn_type="tiktok", login="ck"))
    try:
        run = Run()("list")
    finally:
        store.delete(store.get_connection(conn_id + "_broken"))

    assert run.code == 0, run.text
    block = run.out.getvalue().split(conn_id + "\n", 1)[1].split("\ntiktok_", 1)[0]
    assert "open_id:  open-hand" in block
    assert f"tokens:   from connection (tiktok_oauth__{conn_id})" in block
    assert "access:   expired 2020-01-01T00:00:00+00:00" in block
    assert "refresh:  unknown" in block
    broken = run.out.getvalue().split(conn_id + "_broken\n", 1)[1]
    assert "problem:  TikTok connection" in broken and "client secret as password" in broken
    assert "rft.hand" not in run.text
