"""TokenSet, token stores and TokenManager (refresh, rotation, races) against the emulator's real OAuth server."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_tiktok.api.models import TokenResponse
from airflow_provider_tiktok.tokens import MemoryTokenStore, TokenSet, VariableTokenStore

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
        bare = make_tokens(refresh_token=None, refresh_expires_at=None)
        assert TokenSet.from_json(bare.to_json()) == bare

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
        store = VariableTokenStore("tiktok_tokens__roundtrip")
        assert store.load() is None
        store.save(make_tokens())
        assert store.load() == make_tokens()
        store.save(make_tokens(access_token="act.second0123456789"))
        assert store.load().access_token == "act.second0123456789"

    def test_tokens_are_encrypted_at_rest(self, airflow_db):
        from airflow.models.variable import Variable as VariableModel
        from airflow.utils.session import create_session

        VariableTokenStore("tiktok_tokens__encrypted").save(make_tokens())
        with create_session() as session:
            row = session.query(VariableModel).filter(VariableModel.key == "tiktok_tokens__encrypted").one()
            raw = row._val
            assert row.is_encrypted
        assert ACCESS not in raw and REFRESH not in raw
        assert json.loads(VariableModel.get("tiktok_tokens__encrypted"))["refresh_token"] == REFRESH

    def test_garbage_in_the_variable_reads_as_empty(self, airflow_db, caplog):
        from airflow.models.variable import Variable as VariableModel

        VariableModel.set("tiktok_tokens__garbage", "not json")
        with caplog.at_level(logging.WARNING):
            assert VariableTokenStore("tiktok_tokens__garbage").load() is None
        assert "does not hold a TikTok token set" in caplog.text

    def test_loaded_tokens_are_registered_with_the_log_masker(self, airflow_db):
        from airflow.sdk._shared.secrets_masker import redact

        VariableTokenStore("tiktok_tokens__masked").save(make_tokens(access_token="act.maskme0123456789"))
        VariableTokenStore("tiktok_tokens__masked").load()
        assert "act.maskme0123456789" not in str(redact("token is act.maskme0123456789"))
