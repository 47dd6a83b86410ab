"""The example DAGs' exactly-once ledger: skip what an earlier run posted, record a post in the task that made it.

Mixed into a publishing operator by the calendar, YouTube and Shopify examples. The ledger is the Airflow 3.3 asset
state store of a ledger asset each DAG names (``ledger``), keyed by ``ledger_key``. It lives in the installed package,
not next to the DAGs, so the DAG processor, the workers and ``dag.test()`` import it without relying on the DAGs folder
being on ``sys.path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_tiktok.operators.tiktok import _PublishingOperator

RESULT_KEYS = ("publish_id", "status", "post_url")


class AssetLedgerMixin(_PublishingOperator):
    """Skip if ``ledger_key`` is in the ``ledger`` asset's state store; record the result before the task succeeds.

    Put it first in the bases, before the operator it extends: ``class X(AssetLedgerMixin, TikTokPhotoPostOperator)``.
    """

    ledger: ClassVar[Asset]
    # Formatted with ``key`` and ``publish_id`` for the skip's reason.
    skip_message: ClassVar[str] = "{key} already published as {publish_id}"

    def __init__(self, *, ledger_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ledger_key = ledger_key

    def execute(self, context: Any) -> Any:
        entry = context["asset_state_store"][self.ledger].get(self.ledger_key)
        if entry:  # a parallel or earlier run got there first
            reason = self.skip_message.format(key=self.ledger_key, publish_id=entry.get("publish_id"))
            raise AirflowSkipException(reason)
        return super().execute(context)

    def execute_complete(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """Every successful end goes through here (also when TikTok was done before any deferral)."""
        result = super().execute_complete(context, event)
        context["asset_state_store"][self.ledger].set(self.ledger_key, self.ledger_entry(result))
        return result

    def ledger_entry(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """What the ledger keeps of a post: its publish id, final status and URL, and when it was recorded."""
        return {**{k: result.get(k) for k in RESULT_KEYS}, "at": datetime.now(UTC).isoformat()}
