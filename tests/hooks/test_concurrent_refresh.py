"""Ten tasks refreshing the same connection at once leave exactly one valid token chain and no failed task.

Ten real OS processes, each with its own TikTokHook, TokenManager and VariableTokenStore over the session's real
sqlite metadata DB, race (released together by a barrier) to refresh one expired access token against the emulator
with refresh-token rotation on. Only one refresh can win; the losers get ``invalid_grant``, find the winner's chain
in the Variable and use it.

Store: outside a task runner the SDK ``Variable`` cannot write (no supervisor channel) and reads only env vars and
external secrets backends, so ``VariableTokenStore`` itself switches to ``airflow.models.Variable`` there: the same
DB rows a task reaches through the Execution API. No test-only store is involved.

Start method: ``forkserver`` rather than ``spawn``. Both give fresh processes that share nothing with the pytest
process (no emulator thread, no DB connection, no in-process refresh locks); forkserver imports Airflow once in the
server instead of ten times (with every ORM model), which took this test from ~130 s to ~20 s on a loaded
2-core machine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue

from airflow_provider_tiktok.tokens import VariableTokenStore

WORKERS = 10
PRELOAD = ["tests.hooks.refresh_worker"]


def test_ten_processes_refreshing_at_once_leave_one_chain(tiktok_conn, monkeypatch):
    conn = tiktok_conn
    control = conn.control
    # Short-lived access tokens (10 minutes) with rotation; re-grant under these settings and seed the connection.
    control.create_app(conn.client_key, conn.client_secret, access_token_ttl=600, rotate_refresh_tokens=True)
    conn.tokens = control.grant(conn.client_key, conn.open_id, ["user.info.basic", "video.publish"])
    spec = json.loads(os.environ["AIRFLOW_CONN_TIKTOK_DEFAULT"])
    spec["extra"].update(
        refresh_token=conn.tokens["refresh_token"],
        access_token=conn.tokens["access_token"],
        access_token_expires_at=conn.clock() + conn.tokens["expires_in"],
    )
    monkeypatch.setenv("AIRFLOW_CONN_TIKTOK_DEFAULT", json.dumps(spec))
    conn.advance_clock(601)  # every worker now needs a refresh

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    from tests.hooks.refresh_worker import refresh_once

    args = (conn.conn_id, json.dumps(spec), conn.clock_offset, barrier, results)
    procs = [ctx.Process(target=refresh_once, args=args) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    outcomes = []
    try:
        for _ in range(WORKERS):
            outcomes.append(results.get(timeout=240))
    except queue.Empty:
        pass
    for p in procs:
        p.join(timeout=60)

    assert [o["error"] for o in outcomes if not o["ok"]] == []
    assert len(outcomes) == WORKERS and all(p.exitcode == 0 for p in procs)
    assert {o["open_id"] for o in outcomes} == {conn.open_id}  # every task made a real call with its token

    seed_chain = [c for c in control.tokens() if c["generations"][0]["refresh_token"] == conn.tokens["refresh_token"]]
    assert len(seed_chain) == 1 and not seed_chain[0]["revoked"]
    generations = seed_chain[0]["generations"]
    assert len(generations) == 2  # the seed plus exactly one rotation: no duplicate refresh
    stored = VariableTokenStore(conn.token_variable_key).load()
    assert stored is not None
    assert [g["refresh_token"] for g in generations if g["refresh_active"]] == [stored.refresh_token]
    assert {o["access_token"] for o in outcomes} == {stored.access_token}

    token_calls = [r for r in control.requests() if r["path"] == "/v2/oauth/token/"]
    assert [r["status"] for r in token_calls].count(200) == 1
    assert all(r["status"] in (200, 400) for r in token_calls)  # the losers saw invalid_grant, nothing else
