"""Parsing TikTok's event body, and what each publish event changes in a ledger entry (pure functions)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_tiktok.publishing.record import Phase, PublishRecord
from airflow_provider_tiktok.webhooks import events
from airflow_provider_tiktok.webhooks.facts import updated_record

BIG_ID = 7_345_678_901_234_567_890  # above 2**53: must never pass through a float


def body(event: str = events.COMPLETE, content: object = None, **fields: object) -> bytes:
    content = {"publish_id": "v_pub_file~v2.1", "publish_type": "DIRECT_PUBLISH"} if content is None else content
    data = {"client_key": "ck", "event": event, "create_time": 1700000000, "user_openid": "open-1"}
    data["content"] = content if isinstance(content, str) else json.dumps(content)
    data.update(fields)
    return json.dumps(data).encode()


def test_parses_tiktoks_example() -> None:
    event = events.parse(body())
    assert (event.client_key, event.event, event.create_time, event.user_openid) == (
        "ck", events.COMPLETE, 1700000000, "open-1",
    )  # fmt: skip
    assert event.publish_id == "v_pub_file~v2.1"


@pytest.mark.parametrize("post_id", [BIG_ID, str(BIG_ID)])
def test_post_id_as_int_or_string_keeps_every_digit(post_id: object) -> None:
    content = {"publish_id": "p", "post_id": post_id, "publish_type": "DIRECT_PUBLISH"}
    assert events.parse(body(events.PUBLICLY_AVAILABLE, content)).post_id == str(BIG_ID)


def test_old_spelling_of_the_public_event_is_accepted() -> None:
    content = {"publish_id": "p", "post_id": 1}
    assert events.parse(body("post.publish.publicaly_available", content)).event == events.PUBLICLY_AVAILABLE


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"[1]", "body"),
        (body(client_key=""), "client_key"),
        (body(event=5), "event"),
        (body(create_time="1700000000"), "create_time"),
        (body(create_time=True), "create_time"),
        (body(content="{not json"), "content"),
        (body(content="[1]"), "content"),
        (body(content={"publish_type": "DIRECT_PUBLISH"}), "content.publish_id"),
        (body(events.PUBLICLY_AVAILABLE, {"publish_id": "p", "post_id": 1.5}), "content.post_id"),
        (body(events.PUBLICLY_AVAILABLE, {"publish_id": "p", "post_id": "12a"}), "content.post_id"),
        (body(events.AUTHORIZATION_REMOVED, {"reason": 1}, user_openid=""), "user_openid"),
    ],
)
def test_malformed_bodies_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(events.MalformedEvent, match=field.replace(".", r"\.")):
        events.parse(raw)


def test_dedup_digest_is_the_event_not_the_delivery() -> None:
    first, again = events.parse(body()), events.parse(body())
    assert first.dedup_digest == again.dedup_digest
    assert first.dedup_digest != events.parse(body(create_time=1700000001)).dedup_digest
    assert first.dedup_digest != events.parse(body(events.INBOX_DELIVERED)).dedup_digest


def record(**changes: object) -> PublishRecord:
    base = PublishRecord(
        account="open-1", key="k", phase=Phase.UPLOADED, media="video", mode="direct", source="FILE_UPLOAD",
        owner="d/r/t/-1", created_at=1.0, updated_at=1.0, conn_id="tiktok_default", publish_id="p",
        creator_username="brand",
    )  # fmt: skip
    return base.evolve(1.0, **changes)


def event_of(name: str, **content: object) -> events.WebhookEvent:
    return events.parse(body(name, {"publish_id": "p", "publish_type": "DIRECT_PUBLISH", **content}))


def test_complete_sets_the_status_and_leaves_the_phase_to_the_task() -> None:
    new = updated_record(record(), event_of(events.COMPLETE), 5.0)
    assert (new.status, new.phase, new.updated_at) == ("PUBLISH_COMPLETE", Phase.UPLOADED, 5.0)


def test_failed_records_the_reason() -> None:
    new = updated_record(record(), event_of(events.FAILED, reason="spam_risk_too_many_posts"), 5.0)
    assert (new.status, new.fail_reason) == ("FAILED", "spam_risk_too_many_posts")


def test_inbox_delivered_never_undoes_complete() -> None:
    done = record(status="PUBLISH_COMPLETE")
    assert updated_record(done, event_of(events.INBOX_DELIVERED), 5.0) is done
    assert updated_record(record(), event_of(events.INBOX_DELIVERED), 5.0).status == "SEND_TO_USER_INBOX"


def test_public_then_no_longer_public_moves_the_post_id_and_url() -> None:
    public = updated_record(record(), event_of(events.PUBLICLY_AVAILABLE, post_id=BIG_ID), 5.0)
    assert public.post_ids == (str(BIG_ID),)
    assert public.post_url == f"https://www.tiktok.com/@brand/video/{BIG_ID}"
    assert updated_record(public, event_of(events.PUBLICLY_AVAILABLE, post_id=BIG_ID), 6.0) is public
    gone = updated_record(public, event_of(events.NO_LONGER_PUBLIC, post_id=BIG_ID), 7.0)
    assert (gone.post_ids, gone.post_url) == ((), "https://www.tiktok.com/@brand")


def test_photo_posts_link_to_photo() -> None:
    new = updated_record(record(media="photo"), event_of(events.PUBLICLY_AVAILABLE, post_id=42), 5.0)
    assert new.post_url == "https://www.tiktok.com/@brand/photo/42"
