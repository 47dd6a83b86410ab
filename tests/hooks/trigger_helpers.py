"""A minimal deferring operator and trigger exercising TikTokHook's async path inside Airflow's trigger runner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent


class UserInfoTrigger(BaseTrigger):
    """Calls /v2/user/info/ through ``TikTokHook.aget_client()`` (async connection lookup, async token refresh)."""

    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("tests.hooks.trigger_helpers.UserInfoTrigger", {"conn_id": self.conn_id})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_tiktok.compat import in_task_runner as _in_task_runner
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        client = await TikTokHook(self.conn_id).aget_client()
        try:
            info = await client.user_info()
        finally:
            await client.aclose()
        yield TriggerEvent({"open_id": info.open_id, "sdk_path": _in_task_runner()})


class DeferToUserInfo(BaseOperator):
    def __init__(self, *, conn_id: str = "tiktok_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def execute(self, context: Any) -> None:
        self.defer(trigger=UserInfoTrigger(self.conn_id), method_name="execute_complete")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        assert event is not None
        return event
