"""TokenSet, token stores and TokenManager (refresh, rotation, races) against the emulator's real OAuth server."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest

from airflow_provider_tiktok.api.client import AsyncTikTokClient, RetryPolicy, StaticToken, TikTokClient
from airflow_provider_tiktok.api.errors import ErrorKind, TikTokOAuthError
from airflow_provider_tiktok.api.models import TokenResponse
from airflow_provider_tiktok.api.oauth import TikTokOAuthClient
from airflow_provider_tiktok.masking import secret_digest
from airflow_provider_tiktok.token_manager import TokenManager
from airflow_provider_tiktok.tokens import (
    ALLOW_PLAINTEXT_ENV,
    MemoryTokenStore,
    PlaintextTokensRefused,
    TokenSet,
    VariableTokenStore,
)
from tests.hooks.test_oauth import wait_for_delayed_requests

ACCESS = "act.SECRETaccess0123456789"
REFRESH = "rft.SECRETrefresh0123456789"


def make_tokens(**overrides) -> TokenSet:
    values = dict(
        access_token=ACCESS,
        access_expires_at=1_800_000_000.0,
        refresh_token=REFRESH,
        refresh_expires_at=1_900_000_000.0,
        open_id="open-1",
        scope="video.publish,video.upload",
    )
    values.update(overrides)
    return TokenSet(**values)


class TestTokenSet:
    def test_repr_and_str_hide_tokens(self):
        tokens = make_tokens()
        for text in (repr(tokens), str(tokens), f"{tokens}", repr([tokens])):
            assert ACCESS not in text and REFRESH not in text
        assert "open-1" in repr(tokens)

    def test_json_round_trip(self):
        tokens = make_tokens()
        assert TokenSet.from_json(tokens.to_json()) == tokens
        assert "relink" not in tokens.to_json()  # the usual record keeps the format earlier versions wrote
        bare = make_tokens(refresh_token=None, refresh_expires_at=None)
        assert TokenSet.from_json(bare.to_json()) == bare
        marked = make_tokens(relink_reason="chain lost", relink_seed="abc")
        assert TokenSet.from_json(marked.to_json()) == marked

    def test_from_json_rejects_non_objects(self):
        with pytest.raises(ValueError):
            TokenSet.from_json("[1, 2]")

    def test_access_valid_honours_margin(self):
        tokens = make_tokens(access_expires_at=1000.0)
        assert tokens.access_valid(now=600.0, margin=300.0)
        assert not tokens.access_valid(now=700.0, margin=300.0)
        assert not make_tokens(access_expires_at=0.0).access_valid(now=-1.0)  # unknown expiry counts as expired

    def test_from_response_trusts_expires_in(self):
        # Two doc versions disagree (24 h vs 2 h): whatever the server says wins.
        for expires_in in (7200, 86400):
            response = TokenResponse.from_api(
                {"access_token": "act.x", "expires_in": expires_in, "refresh_token": "rft.y",
                 "refresh_expires_in": 15_552_000, "open_id": "o", "scope": "video.publish"}
            )  # fmt: skip
            tokens = TokenSet.from_response(response, issued_at=1000.0)
            assert tokens.access_expires_at == 1000.0 + expires_in
            assert tokens.refresh_expires_at == 1000.0 + 15_552_000

    def test_from_response_keeps_previous_values_the_server_left_out(self):
        previous = make_tokens()
        response = TokenResponse.from_api({"access_token": "act.new", "expires_in": 60})
        tokens = TokenSet.from_response(response, issued_at=10.0, previous=previous)
        assert tokens.refresh_token == REFRESH
        assert tokens.refresh_expires_at == previous.refresh_expires_at
        assert tokens.open_id == "open-1"


def test_memory_store_round_trip():
    store = MemoryTokenStore()
    assert store.load() is None
    store.save(make_tokens())
    assert store.load() == make_tokens()
    assert ACCESS not in repr(store)


class TestVariableTokenStore:
    """Outside a task runner the store writes the metadata DB through airflow.models.Variable."""

    def test_round_trip_through_the_metadata_db(self, airflow_db):
        store = VariableTokenStore("tiktok_oauth__roundtrip")
        assert store.load() is None
        store.save(make_tokens())
        assert store.load() == make_tokens()
        store.save(make_tokens(access_token="act.second0123456789"))
        assert store.load().access_token == "act.second0123456789"

    def test_tokens_are_encrypted_at_rest(self, airflow_db):
        from airflow.models.variable import Variable as VariableModel
        from airflow.utils.session import create_session

        VariableTokenStore("tiktok_oauth__encrypted").save(make_tokens())
        with create_session() as session:
            row = session.query(VariableModel).filter(VariableModel.key == "tiktok_oauth__encrypted").one()
            raw = row._val
            assert row.is_encrypted
        assert ACCESS not in raw and REFRESH not in raw
        assert json.loads(VariableModel.get("tiktok_oauth__encrypted"))["refresh_token"] == REFRESH

    def test_without_a_fernet_key_tokens_are_not_written_in_plain_text(self, airflow_db, no_fernet_key, monkeypatch):
        store = VariableTokenStore("tiktok_oauth__plaintext")
        with pytest.raises(PlaintextTokensRefused) as refused:
            store.save(make_tokens())
        assert "fernet_key" in str(refused.value) and ALLOW_PLAINTEXT_ENV in str(refused.value)
        assert store.load() is None

    def test_plain_text_tokens_are_written_only_when_allowed_and_loudly(
        self, airflow_db, no_fernet_key, monkeypatch, caplog
    ):
        monkeypatch.setenv(ALLOW_PLAINTEXT_ENV, "true")
        store = VariableTokenStore("tiktok_oauth__plaintext_allowed")
        with caplog.at_level(logging.WARNING):
            store.save(make_tokens())
        assert "PLAIN TEXT" in caplog.text
        assert store.load() == make_tokens()

    def test_garbage_in_the_variable_reads_as_empty(self, airflow_db, caplog):
        from airflow.models.variable import Variable as VariableModel

        VariableModel.set("tiktok_oauth__garbage", "not json")
        with caplog.at_level(logging.WARNING):
            assert VariableTokenStore("tiktok_oauth__garbage").load() is None
        assert "does not hold a TikTok token set" in caplog.text

    def test_loaded_tokens_are_registered_with_the_log_masker(self, airflow_db):
        from airflow.sdk._shared.secrets_masker import redact

        VariableTokenStore("tiktok_oauth__masked").save(make_tokens(access_token="act.maskme0123456789"))
        VariableTokenStore("tiktok_oauth__masked").load()
        assert "act.maskme0123456789" not in str(redact("token is act.maskme0123456789"))

    def test_the_key_is_not_sensitive_so_only_the_tokens_inside_are_registered(self, airflow_db):
        """Airflow registers a sensitive-named Variable's whole value on every read; ours is not, and a dump of the
        whole JSON still shows no token (each is registered), nor does the UI (it redacts by the inner keys)."""
        from airflow.api_fastapi.core_api.datamodels.variables import VariableResponse
        from airflow.sdk._shared.secrets_masker import redact, should_hide_value_for_key

        assert not should_hide_value_for_key(VariableTokenStore.PREFIX + "brand")
        assert should_hide_value_for_key(VariableTokenStore.LEGACY_PREFIX + "brand")  # why the prefix changed
        tokens = make_tokens(access_token="act.dumped0123456789", refresh_token="rft.dumped0123456789")
        store = VariableTokenStore(VariableTokenStore.PREFIX + "dumped")
        store.save(tokens)
        assert store.load() == tokens
        for text in (str(redact(f"value: {tokens.to_json()}")), str(redact(tokens.to_json(), store.key))):
            assert "dumped0123456789" not in text and '"open_id": "open-1"' in text
        ui = VariableResponse(
            key=store.key, value=tokens.to_json(), description=None, is_encrypted=True, team_name=None
        )
        assert "dumped0123456789" not in str(ui.val) and "open-1" in str(ui.val)

    def test_a_legacy_key_is_read_until_the_first_rotation_moves_it(self, airflow_db):
        from airflow.models.variable import Variable as VariableModel

        old, new = make_tokens(), make_tokens(access_token="act.moved0123456789", refresh_token="rft.moved0123456789")
        VariableModel.set("tiktok_tokens__migrating", old.to_json())
        for key in ("tiktok_tokens__migrating", "tiktok_oauth__migrating"):  # a connection may name either
            store = VariableTokenStore(key)
            assert (store.key, store.lock_key) == ("tiktok_oauth__migrating", "variable:tiktok_oauth__migrating")
            assert store.load() == old
        VariableTokenStore("tiktok_tokens__migrating").save(new)
        assert json.loads(VariableModel.get("tiktok_oauth__migrating")) == new.to_dict()
        assert VariableTokenStore("tiktok_tokens__migrating").load() == new  # the new key wins from now on
        assert json.loads(VariableModel.get("tiktok_tokens__migrating")) == old.to_dict()  # left as it was
        assert VariableTokenStore("custom_key").key == "custom_key"  # other names are used as given


# --- TokenManager against the emulator ------------------------------------------------------------------------------


TOKEN_PATH = "/v2/oauth/token/"


@pytest.fixture
def no_fernet_key(monkeypatch):
    from airflow.models.crypto import get_fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")
    get_fernet.cache_clear()
    yield
    monkeypatch.undo()
    get_fernet.cache_clear()


def token_requests(conn) -> int:
    return sum(1 for r in conn.control.requests() if r["path"] == TOKEN_PATH)


def seed_of(conn) -> TokenSet:
    t = conn.tokens
    return TokenSet(
        access_token=t["access_token"],
        access_expires_at=conn.clock() - 5 + t["expires_in"],
        refresh_token=t["refresh_token"],
        refresh_expires_at=conn.clock() + t["refresh_expires_in"],
        open_id=t["open_id"],
        scope=t["scope"],
    )


def oauth_for(conn) -> TikTokOAuthClient:
    return TikTokOAuthClient(conn.client_key, conn.client_secret, base_url=conn.emulator.base_url)


def manager_for(conn, store=None, seed=None, **kwargs) -> TokenManager:
    kwargs.setdefault("clock", conn.clock)
    kwargs.setdefault("sleep", lambda s: None)
    return TokenManager(oauth_for(conn), store if store is not None else MemoryTokenStore(), seed, **kwargs)


def chain_of(conn) -> dict:
    """The emulator's token chain that the seed (conn.tokens) belongs to."""
    (chain,) = [
        c
        for c in conn.control.tokens()
        if any(g["refresh_token"] == conn.tokens["refresh_token"] for g in c["generations"])
    ]
    return chain


def live_refresh_tokens(conn) -> list[str]:
    return [g["refresh_token"] for g in chain_of(conn)["generations"] if g["refresh_active"]]


def generations(conn) -> int:
    return len(chain_of(conn)["generations"])


def works(conn, access_token: str) -> bool:
    client = TikTokClient(conn.emulator.base_url, StaticToken(access_token), retry=RetryPolicy(max_attempts=1))
    with client:
        try:
            return client.user_info().open_id == conn.open_id
        except Exception:
            return False


@pytest.fixture
def short_lived(tiktok_conn):
    """Rotation on, 2-hour access tokens (the Nov 2026 docs), fresh grant under those settings."""
    control = tiktok_conn.control
    control.create_app(
        tiktok_conn.client_key, tiktok_conn.client_secret, access_token_ttl=7200, rotate_refresh_tokens=True
    )
    tiktok_conn.tokens = control.grant(
        tiktok_conn.client_key, tiktok_conn.open_id, ["user.info.basic", "video.publish"]
    )
    return tiktok_conn


def test_fresh_seed_is_used_without_refreshing(short_lived):
    manager = manager_for(short_lived, seed=seed_of(short_lived))
    assert manager.get_access_token() == short_lived.tokens["access_token"]
    assert token_requests(short_lived) == 0


@pytest.mark.parametrize("ttl", [7200, 86400])
def test_refreshes_refresh_margin_before_expiry_and_persists_the_rotation(tiktok_conn, ttl):
    conn = tiktok_conn
    conn.control.create_app(conn.client_key, conn.client_secret, access_token_ttl=ttl, rotate_refresh_tokens=True)
    conn.tokens = conn.control.grant(conn.client_key, conn.open_id, ["user.info.basic"])
    store = MemoryTokenStore()
    manager = manager_for(conn, store, seed_of(conn), refresh_margin=300)

    conn.advance_clock(ttl - 400)  # 400 s left (minus the seed's 5 s safety): outside the margin
    assert manager.get_access_token() == conn.tokens["access_token"]
    assert token_requests(conn) == 0

    conn.advance_clock(150)  # inside the 300 s margin, still valid at TikTok: refresh early
    token = manager.get_access_token()
    assert token != conn.tokens["access_token"]
    assert token_requests(conn) == 1
    saved = store.load()
    assert saved.access_token == token
    assert live_refresh_tokens(conn) == [saved.refresh_token] != [conn.tokens["refresh_token"]]
    assert saved.access_expires_at == pytest.approx(conn.clock() + ttl, abs=5)  # trusts expires_in
    assert works(conn, token)


def test_stored_chain_wins_over_a_stale_seed(short_lived):
    conn = short_lived
    store = MemoryTokenStore()
    first = manager_for(conn, store, seed_of(conn))
    conn.advance_clock(7200)
    rotated = first.get_access_token()
    # A later task starts from the connection (stale seed), but the store has the rotated chain.
    second = manager_for(conn, store, seed_of(conn))
    assert second.get_access_token() == rotated
    assert token_requests(conn) == 1


def test_refresh_right_after_another_worker_rotated_uses_their_tokens(short_lived):
    """Worker A read the store, worker B rotated the chain, then A refreshed with the dead refresh token."""
    conn = short_lived
    shared = MemoryTokenStore(seed_of(conn))
    other = manager_for(conn, shared)

    class RaceStore(MemoryTokenStore):
        """A's view: its first read returns what was stored *before* B's rotation landed (B rotates meanwhile)."""

        def __init__(self) -> None:
            super().__init__()
            self.reads = 0

        @property
        def lock_key(self) -> str:
            return "race"

        def load(self):
            self.reads += 1
            before = shared.load()
            if self.reads == 1:
                other.get_access_token(force_refresh=True)  # B rotates between A's read and A's refresh
            return before if self.reads == 1 else shared.load()

        def save(self, tokens):
            shared.save(tokens)

    conn.advance_clock(7200)
    a = manager_for(conn, RaceStore())
    token = a.get_access_token()
    assert token == shared.load().access_token
    assert works(conn, token)
    # One rotation by B; A's attempt with the dead token failed with invalid_grant and did not rotate again.
    assert generations(conn) == 2
    assert live_refresh_tokens(conn) == [shared.load().refresh_token]


def test_dead_chain_without_a_newer_token_fails_permanently_with_a_relink_hint(short_lived, caplog):
    conn = short_lived
    oauth_for(conn).revoke(conn.tokens["access_token"])
    seed = seed_of(conn)
    conn.advance_clock(7200)
    sleeps: list[float] = []
    manager = manager_for(conn, MemoryTokenStore(), seed, lost_race_wait=1.0, sleep=sleeps.append)
    with caplog.at_level(logging.DEBUG), pytest.raises(TikTokOAuthError) as exc:
        manager.get_access_token()
    assert exc.value.code == "invalid_grant" and exc.value.kind is ErrorKind.PERMANENT
    assert "airflow-tiktok link" in str(exc.value)
    assert sum(sleeps) == pytest.approx(1.0)  # polled the store briefly for a racing worker's tokens
    assert token_requests(conn) == 1  # and never retried the dead refresh token
    for text in (str(exc.value), repr(exc.value), caplog.text):
        assert conn.tokens["refresh_token"] not in text and conn.client_secret not in text


def test_relinked_seed_replaces_a_dead_stored_chain(short_lived):
    conn = short_lived
    dead = seed_of(conn)
    oauth_for(conn).revoke(dead.access_token)
    conn.tokens = conn.control.grant(conn.client_key, conn.open_id, ["user.info.basic"])  # the user re-linked
    relinked = seed_of(conn)
    conn.advance_clock(7200)
    store = MemoryTokenStore(dead)
    manager = manager_for(conn, store, relinked, lost_race_wait=0.2)
    token = manager.get_access_token()
    assert works(conn, token)
    assert store.load().refresh_token in live_refresh_tokens(conn)


def test_access_token_invalid_refreshes_once_and_retries(short_lived):
    conn = short_lived
    # The manager's clock says the token is fine; TikTok says it expired (clock skew, early revocation...).
    manager = manager_for(conn, MemoryTokenStore(), seed_of(conn), clock=lambda: conn.clock() - 7200)
    conn.advance_clock(7200)
    with TikTokClient(conn.emulator.base_url, manager, retry=RetryPolicy(max_attempts=1)) as client:
        assert client.user_info().open_id == conn.open_id
    statuses = [(r["path"], r["status"]) for r in conn.control.requests()]
    assert statuses == [("/v2/user/info/", 401), (TOKEN_PATH, 200), ("/v2/user/info/", 200)]


def test_threads_sharing_a_store_refresh_once(short_lived):
    conn = short_lived
    store = MemoryTokenStore(seed_of(conn))
    conn.advance_clock(7200)
    managers = [manager_for(conn, store) for _ in range(6)]
    results: list[str] = []
    barrier = threading.Barrier(len(managers))

    def run(manager: TokenManager) -> None:
        barrier.wait()
        results.append(manager.get_access_token())

    threads = [threading.Thread(target=run, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 6
    assert token_requests(conn) == 1


async def test_async_clients_run_the_sync_manager_off_the_loop_and_refresh_once(short_lived):
    """Triggers: each has its own manager (one per hook); they share the store, so the first refresh serves all."""
    conn = short_lived
    store = MemoryTokenStore(seed_of(conn))
    conn.advance_clock(7200)
    managers = [manager_for(conn, store) for _ in range(5)]
    clients = [AsyncTikTokClient(conn.emulator.base_url, m, retry=RetryPolicy(max_attempts=1)) for m in managers]
    infos = await asyncio.gather(*(c.user_info() for c in clients))
    for client in clients:
        await client.aclose()
    assert {i.open_id for i in infos} == {conn.open_id}
    assert token_requests(conn) == 1
    assert live_refresh_tokens(conn) == [store.load().refresh_token]
    # Fresh in memory now: the next call needs no thread and no store read.
    assert managers[0].fresh_access_token() == store.load().access_token


def test_tokens_seen_are_masked_in_logs(short_lived):
    from airflow.sdk._shared.secrets_masker import redact

    conn = short_lived
    seed = seed_of(conn)
    conn.advance_clock(7200)
    store = MemoryTokenStore()
    manager_for(conn, store, seed).get_access_token()
    new = store.load()
    for secret in (conn.tokens["access_token"], conn.tokens["refresh_token"], new.access_token, new.refresh_token):
        assert secret not in str(redact(f"leaked {secret}"))


def test_without_a_refresh_token(short_lived):
    conn = short_lived
    bare = TokenSet(access_token=conn.tokens["access_token"], access_expires_at=0.0)  # unknown expiry
    assert manager_for(conn, seed=bare).get_access_token() == conn.tokens["access_token"]  # let the API judge it
    expired = TokenSet(access_token=conn.tokens["access_token"], access_expires_at=conn.clock() - 1)
    with pytest.raises(TikTokOAuthError) as exc:
        manager_for(conn, seed=expired).get_access_token()
    assert exc.value.code == "no_refresh_token" and exc.value.kind is ErrorKind.PERMANENT
    assert "airflow-tiktok link" in str(exc.value)
    with pytest.raises(TikTokOAuthError):
        manager_for(conn).get_access_token()  # nothing at all
    assert token_requests(conn) == 0


def test_a_chain_rotated_elsewhere_is_recorded_and_later_readers_fail_fast(short_lived, caplog):
    """The lost-answer case, made deterministic: TikTok rotated (here by a refresh whose new tokens went nowhere,
    as when the answer is lost), so the stored refresh token is dead. The first reader names the connection and
    the exact re-link command and records it in the store; every later reader fails at once, with no OAuth call."""
    conn = short_lived
    store = MemoryTokenStore(seed_of(conn))
    oauth_for(conn).refresh(conn.tokens["refresh_token"])  # rotated; the answer "never arrived"
    conn.advance_clock(7200)
    with caplog.at_level(logging.DEBUG), pytest.raises(TikTokOAuthError) as first:
        manager_for(conn, store, seed_of(conn), conn_id="tiktok_brand", lost_race_wait=0.2).get_access_token()
    message = str(first.value)
    assert first.value.kind is ErrorKind.PERMANENT
    assert "tiktok_brand" in message and "airflow-tiktok link --qr --overwrite --conn-id tiktok_brand" in message
    assert store.load().relink_reason and "invalid_grant" in store.load().relink_reason
    assert store.load().relink_seed == secret_digest(conn.tokens["refresh_token"])
    before = token_requests(conn)
    for _ in range(3):  # later tasks and triggers: fail fast, same instructions, TikTok not called
        with pytest.raises(TikTokOAuthError) as later:
            manager_for(conn, store, seed_of(conn), conn_id="tiktok_brand").get_access_token()
        assert later.value.code == "relink_required"
        assert "airflow-tiktok link --qr --overwrite --conn-id tiktok_brand" in str(later.value)
    assert token_requests(conn) == before
    for text in (message, caplog.text):
        assert conn.tokens["refresh_token"] not in text


def test_a_new_refresh_token_in_the_connection_replaces_a_chain_marked_lost(short_lived):
    conn = short_lived
    dead_seed = seed_of(conn)
    store = MemoryTokenStore(
        TokenSet(
            access_token="act.dead0123456789",
            access_expires_at=1.0,
            refresh_token="rft.dead0123456789",
            open_id=conn.open_id,
            relink_reason="chain lost",
            relink_seed=secret_digest(dead_seed.refresh_token or ""),
        )
    )
    # The same seed as when it was marked: fail fast.
    with pytest.raises(TikTokOAuthError):
        manager_for(conn, store, dead_seed).get_access_token()
    # The user pasted a newly linked refresh token into the connection: it is used, and the marker goes.
    conn.tokens = conn.control.grant(conn.client_key, conn.open_id, ["user.info.basic"])
    fresh = seed_of(conn)
    conn.advance_clock(7200)
    token = manager_for(conn, store, fresh).get_access_token()
    assert works(conn, token)
    assert store.load().relink_reason is None


@pytest.mark.unit
def test_a_refresh_that_could_not_be_saved_is_never_attempted():
    """No Fernet key (or any store that refuses): checked before rotating, so no chain is lost to it."""

    class Refusing(MemoryTokenStore):
        def ensure_writable(self) -> None:
            raise PlaintextTokensRefused("no key")

    class NoOAuth:
        def refresh(self, refresh_token: str) -> TokenResponse:
            raise AssertionError("must not rotate a chain it cannot save")

    stale = make_tokens(access_expires_at=1.0)
    manager = TokenManager(NoOAuth(), Refusing(stale), clock=lambda: 1_000.0)  # type: ignore[arg-type]
    with pytest.raises(PlaintextTokensRefused):
        manager.get_access_token()


def test_each_secret_is_registered_with_the_masker(monkeypatch):
    import airflow.sdk.log
    from airflow.sdk._shared.secrets_masker import redact

    from airflow_provider_tiktok.masking import mask_secrets

    calls: list[str] = []
    real = airflow.sdk.log.mask_secret

    def counting(value, name=None):
        calls.append(value)
        real(value, name)

    monkeypatch.setattr(airflow.sdk.log, "mask_secret", counting)
    mask_secrets("act.once0123456789", None, "", "rft.once0123456789", "act.once0123456789")
    assert calls == ["act.once0123456789", "rft.once0123456789"]  # empty values skipped, duplicates once
    assert "once0123456789" not in str(redact("tokens act.once0123456789 rft.once0123456789"))


def test_a_refresh_answer_lost_to_a_read_timeout_either_recovers_or_is_recorded_at_once(short_lived):
    """The emulator's delay fault holds the refresh answer past the read timeout. If the emulator rotated anyway,
    the one retry gets invalid_grant: the chain is lost, and the first failure says so and records it. If it did
    not rotate (today's emulator drops a delayed request whose client has gone), the retry refreshes normally.
    Both outcomes are right; what must never happen is a silent success on a dead chain or a retry storm."""
    import httpx

    conn = short_lived
    store = MemoryTokenStore(seed_of(conn))
    conn.advance_clock(7200)
    oauth = TikTokOAuthClient(
        conn.client_key,
        conn.client_secret,
        base_url=conn.emulator.base_url,
        refresh_timeout=httpx.Timeout(5.0, read=0.3),
        retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, sleep=lambda s: None),
    )
    manager = TokenManager(oauth, store, seed_of(conn), conn_id="tiktok_lost", clock=conn.clock, lost_race_wait=0.2)
    conn.control.inject_fault(TOKEN_PATH, action="delay", delay_seconds=0.8)
    try:
        token = manager.get_access_token()
    except TikTokOAuthError as exc:
        assert "airflow-tiktok link --qr --overwrite --conn-id tiktok_lost" in str(exc)
        assert store.load().relink_reason
    else:
        assert works(conn, token)
        assert store.load().refresh_token in live_refresh_tokens(conn)
    wait_for_delayed_requests(conn.control, TOKEN_PATH, sent=2)
    # The lost attempt and at most one retry; no storm. On a loaded machine the delayed request's log line has been
    # seen to land after the wait (one CI run counted 1), so the lower bound is one.
    assert 1 <= token_requests(conn) <= 2


def test_a_really_lost_refresh_answer_names_the_relink_command(short_lived):
    """The emulator processes the refresh (TikTok rotates the chain), then drops the answer: the chain is gone, and
    the first failure says so with the exact command; the store remembers it for every later reader."""
    conn = short_lived
    store = MemoryTokenStore(seed_of(conn))
    conn.advance_clock(7200)
    conn.control.inject_fault("/v2/oauth/token/", action="lost", answer="reset")
    with pytest.raises(TikTokOAuthError) as first:
        manager_for(conn, store, seed_of(conn), conn_id="tiktok_brand", lost_race_wait=0.2).get_access_token()
    assert "airflow-tiktok link --qr --overwrite --conn-id tiktok_brand" in str(first.value)
    assert store.load().relink_reason


class TestMaskedOncePerProcess:
    """Airflow's masker recompiles its regex for each new secret and tells the supervisor about every call: a
    secret is registered once per process, and every one of them stays masked."""

    @staticmethod
    def counting(monkeypatch, name: str) -> list[str]:
        import airflow.sdk.log

        calls: list[str] = []
        real = getattr(airflow.sdk.log, name)
        if name == "amask_secret":

            async def acount(value, secret_name=None):
                calls.append(value)
                await real(value, secret_name)

            monkeypatch.setattr(airflow.sdk.log, name, acount)
        else:

            def count(value, secret_name=None):
                calls.append(value)
                real(value, secret_name)

            monkeypatch.setattr(airflow.sdk.log, name, count)
        return calls

    def test_a_reread_registers_nothing_again(self, monkeypatch):
        from airflow.sdk._shared.secrets_masker import redact

        calls = self.counting(monkeypatch, "mask_secret")
        tokens = make_tokens(access_token="act.reread0123456789", refresh_token="rft.reread0123456789")
        for _ in range(3):
            assert VariableTokenStore.parse("tiktok_tokens__reread", tokens.to_json()) == tokens
        TokenManager(None, MemoryTokenStore(), tokens)  # type: ignore[arg-type]  # the seed: same tokens
        assert calls == ["act.reread0123456789", "rft.reread0123456789"]
        assert "reread0123456789" not in str(redact("act.reread0123456789 rft.reread0123456789"))

    async def test_the_async_path_shares_the_registry(self, monkeypatch):
        from airflow.sdk._shared.secrets_masker import redact

        from airflow_provider_tiktok.masking import amask_secrets, mask_secrets

        acalls = self.counting(monkeypatch, "amask_secret")
        calls = self.counting(monkeypatch, "mask_secret")
        await amask_secrets("cs_async0123456789", None, "act.async0123456789", "cs_async0123456789")
        await amask_secrets("act.async0123456789")
        mask_secrets("cs_async0123456789", "act.async0123456789")
        assert acalls == ["cs_async0123456789", "act.async0123456789"] and calls == []
        assert "async0123456789" not in str(redact("cs_async0123456789 act.async0123456789"))

    def test_a_failed_registration_is_tried_again(self, monkeypatch):
        import airflow.sdk.log

        from airflow_provider_tiktok.masking import mask_secrets

        real, calls = airflow.sdk.log.mask_secret, []

        def flaky(value, name=None):
            calls.append(value)
            if len(calls) == 1:
                raise RuntimeError("supervisor channel closed")
            real(value, name)

        monkeypatch.setattr(airflow.sdk.log, "mask_secret", flaky)
        with pytest.raises(RuntimeError):
            mask_secrets("act.flaky0123456789")
        mask_secrets("act.flaky0123456789")
        mask_secrets("act.flaky0123456789")
        assert calls == ["act.flaky0123456789"] * 2

    def test_a_forked_child_registers_again(self):
        """Airflow resets the masker in a new task process: what the parent registered must not count there."""
        import os
        import time

        from airflow.sdk._shared.secrets_masker import redact, reset_secrets_masker

        from airflow_provider_tiktok.masking import mask_secrets

        secret = "rft.forked0123456789"
        mask_secrets(secret)
        pid = os.fork()
        if pid == 0:  # the child: reset as Airflow's supervise() does, then register through our path
            code = 3
            try:
                reset_secrets_masker()
                mask_secrets(secret)
                code = 0 if secret not in str(redact(f"x {secret}")) else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("forked child did not finish")
        assert os.waitstatus_to_exitcode(done[1]) == 0
        assert secret not in str(redact(f"x {secret}"))  # and the parent's masker still has it

    def test_many_new_secrets_all_stay_masked(self):
        """Dropping ``re``'s cache after each new secret keeps the masker's own compiled pattern working."""
        import secrets as random_secrets

        from airflow.sdk._shared.secrets_masker import redact

        from airflow_provider_tiktok.masking import mask_secrets

        values = [f"act.many{random_secrets.token_urlsafe(24)}" for _ in range(200)]
        for value in values:
            mask_secrets(value, value.replace("act.", "rft."))
        text = str(redact(" ".join(values + [v.replace("act.", "rft.") for v in values])))
        assert "act.many" not in text and "rft.many" not in text
        assert text.split() == ["***"] * 400
