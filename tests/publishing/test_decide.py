"""The decision table: one row per branch of ``decide`` (pure, no network, no DB)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_tiktok.api.chunks import ChunkPlan
from airflow_provider_tiktok.publishing.decide import Action, Situation, TikTokView, decide
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0
ME = "dag/run/publish/-1"
OTHER = "dag/other_run/publish/-1"
PLAN = ChunkPlan(video_size=11_000_000, chunk_size=5_500_000, total_chunk_count=2)
DIRECT = frozenset({"PUBLISH_COMPLETE"})
INBOX = frozenset({"SEND_TO_USER_INBOX", "PUBLISH_COMPLETE"})


def rec(phase: Phase | None, **kw: Any) -> PublishRecord | None:
    if phase is None:
        return None
    base: dict[str, Any] = {
        "account": "open-id",
        "key": "row-1",
        "phase": phase,
        "media": "video",
        "mode": "direct",
        "source": "FILE_UPLOAD",
        "owner": ME,
        "created_at": NOW - 100,
        "updated_at": NOW - 50,
        "publish_id": "v_pub~1" if phase in (Phase.INITIALISED, Phase.UPLOADED, Phase.DONE) else None,
        "plan": PLAN,
        "upload_issued_at": NOW - 60,
    }
    base.update(kw)
    return PublishRecord(**base)


def view(status: str | None, uploaded: int = 0, **kw: Any) -> TikTokView:
    return TikTokView(status=status, uploaded_bytes=uploaded, **kw)


def sit(**kw: Any) -> Situation:
    base: dict[str, Any] = {"now": NOW, "owner": ME, "wait_for": DIRECT, "upload_url_stored": True}
    base.update(kw)
    return Situation(**base)


UP = "PROCESSING_UPLOAD"
# (id, record, situation, expected action, expected supersede, expected from_byte)
ROWS = [
    ("nothing recorded", None, sit(), Action.START_FRESH, False, 0),
    ("done", rec(Phase.DONE), sit(), Action.ALREADY_DONE, False, 0),
    ("done, even for another owner", rec(Phase.DONE, owner=OTHER), sit(), Action.ALREADY_DONE, False, 0),
    ("recorded failed", rec(Phase.FAILED, fail_reason="internal"), sit(), Action.START_FRESH, True, 0),
    ("claimed by me, nothing sent", rec(Phase.CLAIMED), sit(), Action.START_FRESH, False, 0),
    ("claimed by another, recently", rec(Phase.CLAIMED, owner=OTHER), sit(), Action.BUSY_ELSEWHERE, False, 0),
    (
        "claimed by another, long ago",
        rec(Phase.CLAIMED, owner=OTHER, updated_at=NOW - 3600),
        sit(),
        Action.START_FRESH,
        False,
        0,
    ),
    ("init sent, file upload", rec(Phase.INIT_SENT), sit(), Action.START_FRESH, False, 0),
    (
        "init sent, file upload, opted out",
        rec(Phase.INIT_SENT),
        sit(ambiguous_init="fail"),
        Action.AMBIGUOUS_INIT,
        False,
        0,
    ),
    ("init sent, pull", rec(Phase.INIT_SENT, source="PULL_FROM_URL"), sit(), Action.AMBIGUOUS_INIT, False, 0),
    ("init sent by another, recently", rec(Phase.INIT_SENT, owner=OTHER), sit(), Action.BUSY_ELSEWHERE, False, 0),
    (
        "publish unknown to TikTok",
        rec(Phase.INITIALISED),
        sit(tiktok=view(None, unknown_publish=True)),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "TikTok unreachable, upload pending",
        rec(Phase.INITIALISED),
        sit(tiktok=view(None)),
        Action.CHECK_LATER,
        False,
        0,
    ),
    ("TikTok unreachable, upload complete", rec(Phase.UPLOADED), sit(tiktok=view(None)), Action.WAIT, False, 0),
    (
        "TikTok unreachable, pull",
        rec(Phase.INITIALISED, source="PULL_FROM_URL"),
        sit(tiktok=view(None)),
        Action.WAIT,
        False,
        0,
    ),
    (
        "FAILED at TikTok",
        rec(Phase.UPLOADED),
        sit(tiktok=view("FAILED", fail_reason="internal")),
        Action.START_FRESH,
        True,
        0,
    ),
    ("complete at TikTok", rec(Phase.UPLOADED), sit(tiktok=view("PUBLISH_COMPLETE")), Action.ALREADY_DONE, False, 0),
    (
        "draft in inbox",
        rec(Phase.UPLOADED, mode="draft"),
        sit(wait_for=INBOX, tiktok=view("SEND_TO_USER_INBOX")),
        Action.ALREADY_DONE,
        False,
        0,
    ),
    (
        "draft in inbox, waiting for the creator",
        rec(Phase.UPLOADED, mode="draft"),
        sit(tiktok=view("SEND_TO_USER_INBOX")),
        Action.WAIT,
        False,
        0,
    ),
    (
        "downloading",
        rec(Phase.INITIALISED, source="PULL_FROM_URL"),
        sit(tiktok=view("PROCESSING_DOWNLOAD")),
        Action.WAIT,
        False,
        0,
    ),
    ("all bytes at TikTok", rec(Phase.INITIALISED), sit(tiktok=view(UP, 11_000_000)), Action.WAIT, False, 0),
    (
        "half uploaded",
        rec(Phase.INITIALISED),
        sit(tiktok=view(UP, 5_500_000)),
        Action.CONTINUE_UPLOAD,
        False,
        5_500_000,
    ),
    ("nothing uploaded yet", rec(Phase.INITIALISED), sit(tiktok=view(UP, 0)), Action.CONTINUE_UPLOAD, False, 0),
    (
        "half uploaded, by another, now",
        rec(Phase.INITIALISED, owner=OTHER),
        sit(tiktok=view(UP, 5_500_000)),
        Action.BUSY_ELSEWHERE,
        False,
        0,
    ),
    (
        "half uploaded, URL gone",
        rec(Phase.INITIALISED),
        sit(tiktok=view(UP, 5_500_000), upload_url_stored=False),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "half uploaded, URL expiring",
        rec(Phase.INITIALISED, upload_issued_at=NOW - 3400),
        sit(tiktok=view(UP, 5_500_000)),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "half uploaded, not a chunk boundary",
        rec(Phase.INITIALISED),
        sit(tiktok=view(UP, 1234)),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "half uploaded, file changed",
        rec(Phase.INITIALISED),
        sit(tiktok=view(UP, 5_500_000), source_changed=True),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "no plan recorded",
        rec(Phase.INITIALISED, plan=None),
        sit(tiktok=view(UP, 5_500_000)),
        Action.START_FRESH,
        True,
        0,
    ),
    (
        "no publish_id recorded",
        rec(Phase.INITIALISED, publish_id=None),
        sit(tiktok=view(UP)),
        Action.START_FRESH,
        False,
        0,
    ),
    (
        "init step: upload can go on",
        rec(Phase.INITIALISED),
        sit(goal="init", tiktok=view(UP, 0)),
        Action.REUSE_INIT,
        False,
        0,
    ),
    (
        "init step: complete",
        rec(Phase.UPLOADED),
        sit(goal="init", tiktok=view("PUBLISH_COMPLETE")),
        Action.REUSE_INIT,
        False,
        0,
    ),
    (
        "init step: URL gone",
        rec(Phase.INITIALISED),
        sit(goal="init", tiktok=view(UP, 0), upload_url_stored=False),
        Action.START_FRESH,
        True,
        0,
    ),
    ("init step: unreachable", rec(Phase.INITIALISED), sit(goal="init", tiktok=view(None)), Action.WAIT, False, 0),
]


@pytest.mark.parametrize(
    ("record", "situation", "action", "supersede", "from_byte"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_decide(
    record: PublishRecord | None, situation: Situation, action: Action, supersede: bool, from_byte: int
) -> None:
    decision = decide(record, situation)
    assert decision.action is action, decision.reason
    assert decision.supersede is supersede
    assert decision.from_byte == from_byte
    assert decision.reason


def test_every_action_is_reachable() -> None:
    assert {r[3] for r in ROWS} == set(Action)


def test_record_round_trips_through_json() -> None:
    record = rec(Phase.INITIALISED, chunk_sha256=("a" * 64,), post_ids=("1",), result={"x": 1})
    assert record is not None
    assert PublishRecord.from_json(record.to_json()) == record


def test_superseding_keeps_history_and_clears_the_publish() -> None:
    record = rec(Phase.INITIALISED)
    assert record is not None
    fresh = record.superseding(NOW, "gone")
    assert fresh.phase is Phase.CLAIMED and fresh.publish_id is None and fresh.superseded == ("v_pub~1",)
