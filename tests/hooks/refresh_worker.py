"""Child-process entry point for the concurrent-refresh test (preloaded by the forkserver, imported by name).

Importing it pulls in the hook and every ORM model once, in the forkserver, so the ten children start warm.
"""

from __future__ import annotations

import os
import time
from typing import Any

from airflow.models import import_all_models

import airflow_provider_tiktok.hooks.tiktok  # noqa: F401  (preload)

import_all_models()


def refresh_once(conn_id: str, conn_json: str, clock_offset: float, barrier: Any, results: Any) -> None:
    """Build a TikTokHook (own TokenManager, own VariableTokenStore over the metadata DB), wait for the others,
    get an access token and prove it works with a real API call."""
    pid = os.getpid()
    try:
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = conn_json  # explicit: a forkserver keeps its own environ
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        hook = TikTokHook(conn_id, clock=lambda: time.time() + clock_offset)
        manager = hook.token_manager()
        manager.store.load()  # warm up the ORM so the barrier releases everyone into the refresh itself
        barrier.wait(timeout=240)
        token = manager.get_access_token()
        with hook.get_client() as client:
            open_id = client.user_info().open_id
        results.put({"pid": pid, "ok": True, "access_token": token, "open_id": open_id})
    except BaseException as exc:  # report everything: the parent asserts that no task failed
        results.put({"pid": pid, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
