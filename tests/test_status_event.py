"""The one status event shared by the trigger, the sensor and the operators."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_tiktok.api.models import PublishStatus
from airflow_provider_tiktok.status_event import StatusEvent, final_event

pytestmark = pytest.mark.unit


def test_final_events() -> None:
    done = StatusEvent.final("p1", PublishStatus("PUBLISH_COMPLETE", post_ids=[7_300_000_000_000_000_001]))
    assert done.status == "success" and done.payload["post_ids"] == ["7300000000000000001"]  # strings: > 2**53
    failed = final_event("p2", PublishStatus("FAILED", fail_reason="internal"))
    assert failed.status == "error" and failed.retryable and failed.payload["fail_reason"] == "internal"
    assert not StatusEvent.final("p3", PublishStatus("FAILED", fail_reason="spam_risk_text")).retryable


def test_payload_round_trip_is_json() -> None:
    event = StatusEvent("timeout", "p1", "still processing", publish_status="PROCESSING_UPLOAD", retryable=True)
    payload = json.loads(json.dumps(event.payload))
    assert StatusEvent.from_payload(payload) == event
    assert set(payload) == {
        "status", "publish_id", "publish_status", "fail_reason", "post_ids", "uploaded_bytes", "downloaded_bytes",
        "message", "retryable",
    }  # fmt: skip
    with pytest.raises(ValueError, match="not a TikTok status event"):
        StatusEvent.from_payload({"status": "maybe"})


def test_importing_it_imports_no_trigger_and_no_airflow() -> None:
    code = (
        "import sys, airflow_provider_tiktok.status_event; "
        "print(sorted(m for m in sys.modules if m.startswith(('airflow.', 'airflow_provider_tiktok.triggers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
