"""How many ledger round trips one publish makes (the figure the README quotes), counted on the real Variables."""

from __future__ import annotations

from collections import Counter

import pytest
from airflow.sdk import DAG

from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from airflow_provider_tiktok.publishing.ledger import SdkVariables
from tests.dag_runner import run_dag
from tests.operators.conftest import START, assert_one_post


@pytest.mark.parametrize(("fixture", "chunks"), [("small_video", 1), ("video", 2)])
def test_a_publish_makes_eight_round_trips_plus_one_per_chunk(tiktok_conn, request, monkeypatch, fixture, chunks):
    tiktok_conn.control.settings(processing_seconds=0)
    path = request.getfixturevalue(fixture)
    calls: Counter[str] = Counter()
    real_get, real_set = SdkVariables.get, SdkVariables.set

    def counted_get(self: SdkVariables, key: str) -> str | None:
        calls["get"] += 1
        return real_get(self, key)

    def counted_set(self: SdkVariables, key: str, value: str, description: str) -> None:
        calls["set"] += 1
        real_set(self, key, value, description)

    monkeypatch.setattr(SdkVariables, "get", counted_get)
    monkeypatch.setattr(SdkVariables, "set", counted_set)
    with DAG(f"round_trips_{chunks}", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(task_id="publish", video=str(path), privacy_level="SELF_ONLY", chunk_size=5_242_880)
    result = run_dag(dag)
    assert_one_post(tiktok_conn, path, result)
    # read, claim (write + read back), the publish_id index, initialised, a digest per chunk, uploaded, then done
    # (read + write)
    assert calls == {"get": 3, "set": 5 + chunks}
