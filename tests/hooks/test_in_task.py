"""Inside a real task runner (``dag.test()`` on the metadata DB) the token store goes through ``airflow.sdk.Variable``
(the Execution API), and a rotated refresh token written by one task is what the next task uses."""

from __future__ import annotations

import pendulum

from airflow_provider_tiktok.tokens import VariableTokenStore
from tests.dag_runner import run_dag


def _dag(dag_id: str):
    from airflow.sdk import DAG, task

    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False) as dag:

        @task
        def first_call() -> dict:
            from airflow_provider_tiktok.compat import in_task_runner as _in_task_runner
            from airflow_provider_tiktok.hooks.tiktok import TikTokHook

            hook = TikTokHook()  # real clock: TikTok (emulator) already expired the token, so this call gets a 401
            with hook.get_client() as client:
                open_id = client.user_info().open_id
            return {"open_id": open_id, "sdk_path": _in_task_runner()}

        @task
        def second_call() -> str:
            from airflow_provider_tiktok.hooks.tiktok import TikTokHook

            with TikTokHook().get_client() as client:
                return client.user_info().open_id

        @task
        def masking_in_the_runner() -> dict:
            """A dump of the whole token Variable, read the way Airflow reads it: the tokens are masked, the rest is
            not (the key names no sensitive word, so Airflow does not register the whole value as one secret)."""
            from airflow.sdk import Variable
            from airflow.sdk._shared.secrets_masker import redact

            from airflow_provider_tiktok.hooks.tiktok import TikTokHook

            store = TikTokHook().token_store()
            tokens = store.load()
            assert tokens is not None and tokens.refresh_token
            text = str(redact(f"dump: {Variable.get(store.key)}"))
            hidden = tokens.access_token not in text and tokens.refresh_token not in text
            return {"tokens_hidden": hidden, "rest_visible": str(tokens.open_id) in text}

        first_call() >> second_call() >> masking_in_the_runner()
    return dag


def test_tasks_refresh_through_the_sdk_variable_and_share_the_rotation(tiktok_conn):
    conn = tiktok_conn
    conn.control.advance_clock(86_400)  # only TikTok's clock: the task learns of the expiry from the 401
    result = run_dag(_dag("tiktok_hook_token_rotation"))
    assert result.state == "success", result.states
    assert result.xcom("first_call") == {"open_id": conn.open_id, "sdk_path": True}
    assert result.xcom("second_call") == conn.open_id
    assert result.xcom("masking_in_the_runner") == {"tokens_hidden": True, "rest_visible": True}

    stored = VariableTokenStore(conn.token_variable_key).load()
    assert stored is not None and stored.refresh_token != conn.tokens["refresh_token"]
    (chain,) = conn.control.tokens()
    assert [g["refresh_token"] for g in chain["generations"] if g["refresh_active"]] == [stored.refresh_token]
    # One refresh for the whole DAG: the second task started from the Variable the first one wrote.
    assert [r["status"] for r in conn.control.requests() if r["path"] == "/v2/oauth/token/"] == [200]


def test_trigger_refreshes_through_the_async_path_and_the_sdk_variable(tiktok_conn):
    from airflow.sdk import DAG

    from tests.hooks.trigger_helpers import DeferToUserInfo

    conn = tiktok_conn
    conn.control.advance_clock(86_400)  # the trigger's first call gets a 401 and refreshes asynchronously
    with DAG("tiktok_hook_trigger_refresh", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        DeferToUserInfo(task_id="deferred")
    result = run_dag(dag)
    assert result.state == "success", result.states
    assert result.xcom("deferred") == {"open_id": conn.open_id, "sdk_path": True}
    stored = VariableTokenStore(conn.token_variable_key).load()
    assert stored is not None and stored.refresh_token != conn.tokens["refresh_token"]
    (chain,) = conn.control.tokens()
    assert [g["refresh_token"] for g in chain["generations"] if g["refresh_active"]] == [stored.refresh_token]
