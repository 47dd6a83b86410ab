"""The ledger as users see it: ``airflow-tiktok history`` lists what was posted, ``forget`` allows a repost."""

from __future__ import annotations

import io
import json

from airflow.sdk import DAG

from airflow_provider_tiktok.link.cli import Terminal, main
from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
from tests.dag_runner import run_dag
from tests.operators.conftest import INIT_PATHS, START, completed_posts, requests_to


def _dag(video) -> DAG:
    with DAG("ledger_history", schedule=None, start_date=START) as dag:
        TikTokPublishVideoOperator(
            task_id="publish", video=str(video), title="History", privacy_level="SELF_ONLY", idempotency_key="row-7"
        )
    return dag


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Terminal(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


def test_history_lists_the_post_and_forget_allows_one_deliberate_repost(tiktok_conn, small_video):
    tiktok_conn.control.settings(processing_seconds=0)
    first = run_dag(_dag(small_video))
    code, out, _ = _cli("history", "--json", "--conn-id", tiktok_conn.conn_id)
    assert code == 0
    (entry,) = [e for e in map(json.loads, out.splitlines()) if e["account"] == tiktok_conn.open_id]
    assert entry["key"] == "row-7" and entry["phase"] == "done" and entry["status"] == "PUBLISH_COMPLETE"
    assert entry["publish_id"] == first.xcom("publish")["publish_id"]
    code, table, _ = _cli("history", "--status", "PUBLISH_COMPLETE")
    assert code == 0 and "row-7" in table and "publish_id" in table.splitlines()[0]
    assert _cli("history", "--since", "2999-01-01")[1] == ""

    assert run_dag(_dag(small_video), logical_date=START.add(days=3)).states == {"publish": "success"}
    assert len(requests_to(tiktok_conn.control, *INIT_PATHS)) == 1  # a new run with the same key: no repost

    code, _, said = _cli("forget", "--key", "row-7")
    assert code == 0 and "the next run posts it again" in said
    assert run_dag(_dag(small_video), logical_date=START.add(days=4)).states == {"publish": "success"}
    assert len(completed_posts(tiktok_conn.control)) == 2
    assert _cli("forget", "--key", "no-such-key")[0] == 1
