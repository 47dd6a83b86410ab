"""TikTokHook against a real (env var) connection and the emulator."""

from __future__ import annotations

import json
import logging
import os

import pytest

from airflow_provider_tiktok.api.errors import TikTokOAuthError
from airflow_provider_tiktok.hooks.tiktok import TikTokConnectionSettings, TikTokHook, parse_expires_at
from airflow_provider_tiktok.tokens import TokenSet, VariableTokenStore


def chains_snapshot(control) -> str:
    return json.dumps(control.tokens(), sort_keys=True)


def token_endpoint_calls(control) -> int:
    return sum(1 for r in control.requests() if r["path"] == "/v2/oauth/token/")


class TestConnectionSettings:
    def test_reads_unprefixed_and_legacy_prefixed_extras(self):
        extra = {
            "refresh_token": "rft.new",
            "extra__tiktok__access_token": "act.legacy",
            "extra__tiktok__access_token_expires_at": "2030-01-01T00:00:00Z",
            "open_id": "",
            "extra__tiktok__open_id": "open-legacy",
        }
        s = TikTokConnectionSettings.from_connection("my_conn", "ck", "cs", extra)
        assert s.api_base_url == "https://open.tiktokapis.com"
        assert s.token_variable_key == "tiktok_oauth__my_conn"
        assert s.seed == TokenSet(
            access_token="act.legacy", access_expires_at=1893456000.0, refresh_token="rft.new", open_id="open-legacy"
        )

    def test_overrides_and_no_seed(self):
        extra = {"api_base_url": "http://127.0.0.1:8765/", "token_variable_key": "mine"}
        s = TikTokConnectionSettings.from_connection("c", "ck", "cs", extra)
        assert (s.api_base_url, s.token_variable_key, s.seed) == ("http://127.0.0.1:8765", "mine", None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1700000000, 1700000000.0), ("1700000000.5", 1700000000.5), ("2023-11-14T22:13:20", 1700000000.0),
         ("2023-11-14T23:13:20+01:00", 1700000000.0), (None, 0.0), ("", 0.0)],
    )  # fmt: skip
    def test_expiry_formats(self, value, expected):
        assert parse_expires_at(value) == expected

    def test_bad_expiry_is_a_clear_error(self):
        with pytest.raises(ValueError, match="epoch seconds or an ISO-8601"):
            parse_expires_at("next tuesday")

    def test_missing_credentials(self):
        with pytest.raises(ValueError, match="client key as login and the client secret as password"):
            TikTokConnectionSettings.from_connection("c", "ck", None, {})

    def test_repr_hides_secrets(self):
        s = TikTokConnectionSettings.from_connection(
            "c", "ck", "the-client-secret", {"refresh_token": "rft.hidden", "access_token": "act.hidden"}
        )
        assert "the-client-secret" not in repr(s) and "hidden" not in repr(s)


def test_construction_is_free():
    """DAG parsing builds hooks constantly: no connection lookup (this id does not exist) and no network."""
    hook = TikTokHook("no_such_connection")
    assert repr(hook) == "TikTokHook(tiktok_conn_id='no_such_connection')"
    assert TikTokHook().tiktok_conn_id == "tiktok_default"
    assert (TikTokHook.conn_type, TikTokHook.conn_name_attr, TikTokHook.hook_name) == (
        "tiktok",
        "tiktok_conn_id",
        "TikTok",
    )


def test_client_calls_the_api_with_the_connection(tiktok_conn):
    hook = tiktok_conn.hook()
    with hook.get_client() as client:
        info = client.creator_info()
    assert info.username.startswith("creator_")
    assert hook.allow_http_media_urls  # the emulator is plain http
    assert isinstance(hook.token_store(), VariableTokenStore)
    assert hook.token_store().key == VariableTokenStore(tiktok_conn.token_variable_key).key
    assert token_endpoint_calls(tiktok_conn.control) == 0


def test_https_api_does_not_allow_http_media(monkeypatch):
    conn = {"conn_type": "tiktok", "login": "ck", "password": "cs", "extra": {}}
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_PROD", json.dumps(conn))
    assert not TikTokHook("tiktok_prod").allow_http_media_urls


def test_hook_refreshes_and_persists_rotation_to_the_variable(tiktok_conn):
    conn = tiktok_conn
    conn.advance_clock(86400)
    hook = conn.hook()
    with hook.get_client() as client:
        client.user_info()
    stored = VariableTokenStore(conn.token_variable_key).load()
    assert stored is not None and stored.refresh_token != conn.tokens["refresh_token"]
    live = [g["refresh_token"] for c in conn.control.tokens() for g in c["generations"] if g["refresh_active"]]
    assert live == [stored.refresh_token]
    # A new hook (the next task) starts from the Variable, not from the now-dead seed in the connection.
    with conn.hook().get_client() as client:
        assert client.user_info().open_id == conn.open_id
    assert token_endpoint_calls(conn.control) == 1


async def test_async_client_looks_the_connection_up_asynchronously(tiktok_conn, monkeypatch):
    hook = tiktok_conn.hook()

    def no_sync_lookup(*args, **kwargs):
        raise AssertionError("sync connection lookup inside the event loop")

    monkeypatch.setattr(TikTokHook, "get_connection", no_sync_lookup)
    client = await hook.aget_client()
    try:
        info = await client.creator_info()
    finally:
        await client.aclose()
    assert info.username.startswith("creator_")


async def test_async_client_refreshes(tiktok_conn):
    conn = tiktok_conn
    conn.advance_clock(86400)
    hook = conn.hook()
    client = await hook.aget_client()
    try:
        await client.creator_info()
    finally:
        await client.aclose()
    stored = VariableTokenStore(conn.token_variable_key).load()
    assert stored is not None and stored.refresh_token != conn.tokens["refresh_token"]


class TestTestConnection:
    def test_valid_token_names_the_account_and_rotates_nothing(self, tiktok_conn):
        before = chains_snapshot(tiktok_conn.control)
        ok, message = tiktok_conn.hook().test_connection()
        assert ok, message
        assert tiktok_conn.open_id in message
        assert chains_snapshot(tiktok_conn.control) == before
        assert token_endpoint_calls(tiktok_conn.control) == 0
        assert VariableTokenStore(tiktok_conn.token_variable_key).load() is None  # nothing persisted

    def test_expired_token_is_reported_honestly_without_refreshing(self, tiktok_conn):
        tiktok_conn.advance_clock(86400)
        before = chains_snapshot(tiktok_conn.control)
        ok, message = tiktok_conn.hook().test_connection()
        assert not ok, "a refresh token that was not verified is not a success"
        assert "Client key and secret are valid" in message and "could not be verified" in message
        assert chains_snapshot(tiktok_conn.control) == before  # the refresh token was not used
        assert VariableTokenStore(tiktok_conn.token_variable_key).load() is None

    def test_rejected_token_is_not_refreshed(self, tiktok_conn):
        conn = tiktok_conn
        # TikTok stops honouring the token early (here: expired by TikTok's clock while the hook's clock lags).
        conn.control.advance_clock(86400)  # only the emulator's clock moves
        before = chains_snapshot(conn.control)
        ok, message = conn.hook().test_connection()
        assert not ok
        assert "access_token_invalid" in message and "Not refreshing" in message
        assert chains_snapshot(conn.control) == before

    def test_wrong_secret(self, tiktok_conn, monkeypatch, caplog):
        conn = tiktok_conn
        conn.advance_clock(86400)
        extra = {"api_base_url": conn.emulator.base_url, "refresh_token": conn.tokens["refresh_token"]}
        spec = {"conn_type": "tiktok", "login": conn.client_key, "password": "wrong-secret-value", "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_WRONG", json.dumps(spec))
        with caplog.at_level(logging.DEBUG):
            ok, message = TikTokHook("tiktok_wrong", clock=conn.clock).test_connection()
        assert not ok
        assert "rejected the client key or client secret" in message
        for text in (message, caplog.text):
            assert "wrong-secret-value" not in text and conn.tokens["refresh_token"] not in text

    def test_nothing_to_work_with(self, tiktok_conn, monkeypatch):
        conn = tiktok_conn
        extra = {"api_base_url": conn.emulator.base_url}
        spec = {"conn_type": "tiktok", "login": conn.client_key, "password": conn.client_secret, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_EMPTY", json.dumps(spec))
        ok, message = TikTokHook("tiktok_empty").test_connection()
        assert not ok and "link the account" in message

    def test_missing_connection(self):
        ok, message = TikTokHook("no_such_connection").test_connection()
        assert not ok and "no_such_connection" in message


def test_secrets_stay_out_of_logs_reprs_and_errors(tiktok_conn, caplog):
    conn = tiktok_conn
    conn.advance_clock(86400)
    hook = conn.hook()
    with caplog.at_level(logging.DEBUG):
        with hook.get_client() as client:
            client.user_info()
        stored = VariableTokenStore(conn.token_variable_key).load()
        # Kill the chain, then force a refresh: the permanent error must not quote any secret either.
        from airflow_provider_tiktok.api.oauth import TikTokOAuthClient

        TikTokOAuthClient(conn.client_key, conn.client_secret, base_url=conn.emulator.base_url).revoke(
            stored.access_token
        )
        manager = conn.hook().token_manager()
        manager._lost_race_wait = 0.1
        assert manager.get_access_token() == stored.access_token  # handed out; TikTok then rejects it
        with pytest.raises(TikTokOAuthError) as exc:
            manager.get_access_token(force_refresh=True)
    secrets = [conn.client_secret, conn.tokens["access_token"], conn.tokens["refresh_token"], stored.access_token,
               stored.refresh_token]  # fmt: skip
    texts = [caplog.text, str(exc.value), repr(exc.value), repr(hook), repr(hook.token_manager()), repr(stored)]
    for secret in secrets:
        for text in texts:
            assert secret not in text
    assert "airflow-tiktok link" in str(exc.value)
    # Each secret seen is registered (once per process), so even a line that quotes one is masked.
    from airflow.sdk._shared.secrets_masker import redact

    for secret in secrets:
        assert secret not in str(redact(f"leaked: {secret}"))


async def test_async_settings_register_each_secret_once(tiktok_conn, monkeypatch):
    """The trigger path: the client secret and the seed tokens are masked, and the next trigger of the same creator
    (a new hook reading the same connection) sends nothing to the masker again."""
    import airflow.sdk.log
    from airflow.sdk._shared.secrets_masker import redact

    conn = tiktok_conn
    settings = await conn.hook().aget_settings()
    calls: list[str] = []
    real = airflow.sdk.log.amask_secret

    async def counting(value, name=None):
        calls.append(value)
        await real(value, name)

    monkeypatch.setattr(airflow.sdk.log, "amask_secret", counting)
    again = await conn.hook().aget_settings()
    assert again == settings
    # (Airflow's own lookup registers the extra as a dict on every read; what we add must not repeat.)
    ours = {value for value in calls if isinstance(value, str)}
    assert not ours & {conn.client_secret, conn.tokens["access_token"], conn.tokens["refresh_token"]}
    for secret in (conn.client_secret, conn.tokens["access_token"], conn.tokens["refresh_token"]):
        assert secret not in str(redact(f"leaked: {secret}"))


def _test_under_a_transient_id(extra: dict, login: str, password: str, monkeypatch) -> tuple[bool, str]:
    """What the API server's Test button (and ``POST /api/v2/connections/test``) does: an ORM Connection under a
    random transient id exported as an env var, the hook class resolved through the providers manager, then
    ``hook.test_connection()``."""
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id="transient0test", conn_type="tiktok", login=login, password=password, extra=json.dumps(extra)
    )
    monkeypatch.setenv("AIRFLOW_CONN_TRANSIENT0TEST", conn.as_json())
    return conn.test_connection()


def test_connection_test_through_airflows_own_path(tiktok_conn, monkeypatch):
    spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
    before = chains_snapshot(tiktok_conn.control)
    ok, message = _test_under_a_transient_id(spec["extra"], spec["login"], spec["password"], monkeypatch)
    assert ok, message
    assert tiktok_conn.open_id in message
    assert chains_snapshot(tiktok_conn.control) == before


class TestTheTestButtonFindsTheStoredTokens:
    """The transient id names no token Variable; the connection's contents lead to the stored, rotated tokens."""

    def _rotate(self, conn) -> TokenSet:
        """A task ran a day later: the chain rotated, the connection's own tokens are dead or expired."""
        conn.advance_clock(86400)
        with conn.hook().get_client() as client:
            client.user_info()
        stored = VariableTokenStore(conn.token_variable_key).load()
        assert stored is not None and stored.access_valid(conn.clock())
        return stored

    def test_through_the_token_variable_key(self, tiktok_conn, monkeypatch):
        conn = tiktok_conn
        self._rotate(conn)
        spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
        calls = token_endpoint_calls(conn.control)
        ok, message = _test_under_a_transient_id(spec["extra"], spec["login"], spec["password"], monkeypatch)
        assert ok, message
        # the rotated tokens, not the seed
        assert conn.open_id in message and VariableTokenStore(conn.token_variable_key).key in message
        assert token_endpoint_calls(conn.control) == calls  # nothing rotated

    def test_through_the_open_id_when_the_extra_names_no_variable(self, tiktok_conn, monkeypatch):
        conn = tiktok_conn
        self._rotate(conn)
        spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
        extra = {k: v for k, v in spec["extra"].items() if k != "token_variable_key"}
        ok, message = _test_under_a_transient_id(extra, spec["login"], spec["password"], monkeypatch)
        assert ok, message
        assert conn.open_id in message and VariableTokenStore(conn.token_variable_key).key in message

    def test_through_the_open_id_in_a_token_set_an_earlier_version_stored(self, tiktok_conn, monkeypatch):
        """Before any rotation since the upgrade, the live tokens are only under the legacy ``tiktok_tokens__`` key."""
        from airflow.models.variable import Variable as VariableModel

        conn = tiktok_conn
        stored = self._rotate(conn)
        new_key = VariableTokenStore(conn.token_variable_key).key
        legacy_key = VariableTokenStore.LEGACY_PREFIX + new_key.removeprefix(VariableTokenStore.PREFIX)
        VariableModel.delete(new_key)
        VariableModel.set(legacy_key, stored.to_json())
        spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
        extra = {k: v for k, v in spec["extra"].items() if k != "token_variable_key"}
        ok, message = _test_under_a_transient_id(extra, spec["login"], spec["password"], monkeypatch)
        assert ok, message
        assert conn.open_id in message and legacy_key in message

    def test_a_garbage_refresh_token_is_not_reported_as_success(self, tiktok_conn, monkeypatch):
        conn = tiktok_conn
        extra = {"api_base_url": conn.emulator.base_url, "refresh_token": "rft.garbage-not-a-token"}
        ok, message = _test_under_a_transient_id(extra, conn.client_key, conn.client_secret, monkeypatch)
        assert not ok
        assert "could not be verified" in message and "rft.garbage" not in message

    def test_a_chain_marked_lost_names_the_real_connection_and_the_command(self, tiktok_conn, monkeypatch):
        conn = tiktok_conn
        VariableTokenStore(conn.token_variable_key).save(
            TokenSet(
                access_token="act.dead0123456789",
                access_expires_at=1.0,
                refresh_token="rft.dead0123456789",
                open_id=conn.open_id,
                relink_reason="TikTok rejected the refresh token (invalid_grant)",
                relink_seed="x",
            )
        )
        spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
        ok, message = _test_under_a_transient_id(spec["extra"], spec["login"], spec["password"], monkeypatch)
        assert not ok
        real_conn_id = conn.token_variable_key.removeprefix("tiktok_tokens__")
        assert f"airflow-tiktok link --qr --overwrite --conn-id {real_conn_id}" in message
        assert "transient0test" not in message
