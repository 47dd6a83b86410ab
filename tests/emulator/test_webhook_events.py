"""Every webhook event TikTok documents for Content Posting and Login Kit, delivered signed to a real receiver."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_tiktok.emulator.models import ALL_SCOPES

from .conftest import CLIENT_KEY, CLIENT_SECRET, OPEN_ID, Receiver, World, error_code, mp4, verify

HOUR = 3600
UPLOAD = {"source": "FILE_UPLOAD", "video_size": 3000, "chunk_size": 3000, "total_chunk_count": 1}


@pytest.fixture
def events(world: World, receiver: Receiver) -> World:
    scopes = [*ALL_SCOPES, "video.list"]
    world.control.create_app(CLIENT_KEY, CLIENT_SECRET, webhook_url=receiver.url, scopes=scopes)
    world.control.settings(webhook_retry_seconds=0.01, processing_seconds=0)
    world.tokens = world.control.grant(CLIENT_KEY, OPEN_ID)
    return world


def next_event(receiver: Receiver) -> tuple[str, dict[str, Any]]:
    event = verify(*receiver.next())
    return event["event"], json.loads(event["content"])


def direct_post(world: World, privacy: str) -> str:
    body = {"post_info": {"privacy_level": privacy, "title": "t"}, "source_info": UPLOAD}
    data = world.call("/v2/post/publish/video/init/", body).json()["data"]
    world.put(data["upload_url"], mp4(3000), 0, 3000)
    world.control.advance_clock(0)
    return str(data["publish_id"])


def video_id(world: World, publish_id: str) -> int:
    return int(next(p["video_id"] for p in world.control.posts() if p["publish_id"] == publish_id))


def test_inbox_draft_posted_by_the_creator_sends_every_step(events, receiver):
    body = {"source_info": UPLOAD}
    data = events.call("/v2/post/publish/inbox/video/init/", body).json()["data"]
    events.put(data["upload_url"], mp4(3000), 0, 3000)
    publish_id = data["publish_id"]
    share = {"publish_id": publish_id, "publish_type": "INBOX_SHARE"}
    assert next_event(receiver) == ("post.publish.inbox_delivered", share)
    events.control.creator_post(publish_id, "PUBLIC_TO_EVERYONE")
    assert next_event(receiver) == ("post.publish.complete", share)
    assert next_event(receiver) == (
        "post.publish.publicly_available",
        {**share, "post_id": video_id(events, publish_id)},
    )


def test_private_post_turned_public_and_back(events, receiver):
    publish_id = direct_post(events, "SELF_ONLY")
    direct = {"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH"}
    assert next_event(receiver) == ("post.publish.complete", direct)
    item = video_id(events, publish_id)
    events.control.change_privacy(publish_id, "PUBLIC_TO_EVERYONE")  # "unless the user makes them public later"
    assert next_event(receiver) == ("post.publish.publicly_available", {**direct, "post_id": item})
    events.control.change_privacy(publish_id, "MUTUAL_FOLLOW_FRIENDS")
    assert next_event(receiver) == ("post.publish.no_longer_publicaly_available", {**direct, "post_id": item})
    assert receiver.received.empty()
    assert [w["event"] for w in events.control.webhooks()] == [
        "post.publish.complete",
        "post.publish.publicly_available",
        "post.publish.no_longer_publicaly_available",
    ]


def test_take_down_sends_no_longer_publicaly_available(events, receiver):
    publish_id = direct_post(events, "PUBLIC_TO_EVERYONE")
    assert next_event(receiver)[0] == "post.publish.complete"
    assert next_event(receiver)[0] == "post.publish.publicly_available"
    events.control.take_down(publish_id)
    event, content = next_event(receiver)
    assert event == "post.publish.no_longer_publicaly_available"  # TikTok's spelling, kept
    assert content == {
        "publish_id": publish_id,
        "publish_type": "DIRECT_PUBLISH",
        "post_id": video_id(events, publish_id),
    }


def test_publicly_available_carries_the_id_even_when_status_never_does(events, receiver):
    events.control.settings(post_id_missing_rate=1.0)
    publish_id = direct_post(events, "PUBLIC_TO_EVERYONE")
    assert next_event(receiver)[0] == "post.publish.complete"
    event, content = next_event(receiver)
    assert event == "post.publish.publicly_available" and content["post_id"] == video_id(events, publish_id)
    assert events.status(publish_id)["publicaly_available_post_id"] == []


def test_post_id_can_be_sent_as_a_string(events, receiver):
    events.control.settings(webhook_post_id_type="string")
    publish_id = direct_post(events, "PUBLIC_TO_EVERYONE")
    assert next_event(receiver)[0] == "post.publish.complete"
    event, content = next_event(receiver)
    assert event == "post.publish.publicly_available" and content["post_id"] == str(video_id(events, publish_id))


def test_failed_publish_carries_the_reason(events, receiver):
    events.control.inject_fault("/v2/post/publish/video/init/", action="fail_publish", fail_reason="internal")
    publish_id = direct_post(events, "SELF_ONLY")
    assert next_event(receiver) == (
        "post.publish.failed",
        {"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH", "reason": "internal"},
    )


@pytest.mark.parametrize("reason", [1, 2, 4])
def test_user_removes_the_app(events, receiver, reason):
    other = events.control.grant(CLIENT_KEY, OPEN_ID)["access_token"]  # a second authorization, same user and app
    result = events.control.remove_authorization(CLIENT_KEY, OPEN_ID, reason=reason)
    assert result["chains"] == 3  # the world fixture's, the events fixture's and this one
    assert next_event(receiver) == ("authorization.removed", {"reason": reason})
    deadline = time.monotonic() + 5
    while not all(w["delivered"] for w in events.control.webhooks()) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(events.control.webhooks()) == 1  # one event, however many tokens died
    for token in (events.token, other):
        response = events.http.get("/v2/user/info/?fields=open_id", headers={"Authorization": f"Bearer {token}"})
        assert error_code(response) == "access_token_invalid"
    [log] = events.control.requests("/_emulator/remove_authorization")
    assert log["control"] == {"action": "remove_authorization", **result}


def test_removing_the_app_mid_upload_fails_the_post(events, receiver):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": UPLOAD}
    data = events.call("/v2/post/publish/video/init/", body).json()["data"]
    events.control.remove_authorization(CLIENT_KEY, OPEN_ID)
    assert next_event(receiver) == ("authorization.removed", {"reason": 1})
    events.put(data["upload_url"], mp4(3000), 0, 3000)
    event, content = next_event(receiver)
    assert event == "post.publish.failed" and content["reason"] == "auth_removed"


def test_remove_authorization_is_checked(events):
    with pytest.raises(Exception, match="reason must be an integer 0-5"):
        events.control.remove_authorization(CLIENT_KEY, OPEN_ID, reason=9)
    events.control.remove_authorization(CLIENT_KEY, OPEN_ID)
    with pytest.raises(Exception, match="no live authorization"):
        events.control.remove_authorization(CLIENT_KEY, OPEN_ID)


def test_privacy_controls_need_a_published_post(events):
    body = {"post_info": {"privacy_level": "SELF_ONLY"}, "source_info": UPLOAD}
    publish_id = events.call("/v2/post/publish/video/init/", body).json()["data"]["publish_id"]
    with pytest.raises(Exception, match="not PUBLISH_COMPLETE"):
        events.control.take_down(publish_id)
    with pytest.raises(Exception, match="unknown publish_id"):
        events.control.change_privacy("v_pub_file~v2.1", "SELF_ONLY")


# -- what a receiver must defend against ------------------------------------------------------------------------------
def signature_parts(headers: dict[str, str]) -> dict[str, str]:
    return dict(part.split("=", 1) for part in headers["tiktok-signature"].split(","))


def test_signature_time_is_the_receivers_clock_not_the_emulators(events, receiver):
    events.control.advance_clock(3 * 24 * HOUR)
    events.form("/v2/oauth/revoke/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": events.token})
    headers, body = receiver.next()
    verify(headers, body)
    assert abs(int(signature_parts(headers)["t"]) - time.time()) < 5
    assert json.loads(body)["create_time"] > time.time() + 3 * 24 * HOUR - 5  # the event time is TikTok's (emulated)


def test_stale_and_forged_signatures_on_request(events, receiver):
    events.control.settings(webhook_timestamp_offset_seconds=-600)
    events.control.remove_authorization(CLIENT_KEY, OPEN_ID)
    headers, body = receiver.next()
    verify(headers, body)  # correctly signed, but ten minutes old
    assert time.time() - int(signature_parts(headers)["t"]) >= 599
    events.control.settings(webhook_timestamp_offset_seconds=0, webhook_bad_signature=True)
    events.control.redeliver_webhook(0)
    headers, body = receiver.next()
    with pytest.raises(AssertionError):
        verify(headers, body)


def test_redelivery_is_a_duplicate_and_a_replay_repeats_the_header(events, receiver):
    events.control.remove_authorization(CLIENT_KEY, OPEN_ID, reason=2)
    first_headers, first_body = receiver.next()
    time.sleep(1.1)  # so a fresh signature has another timestamp
    events.control.redeliver_webhook(0)
    again_headers, again_body = receiver.next()
    assert again_body == first_body and verify(again_headers, again_body)["event"] == "authorization.removed"
    assert signature_parts(again_headers)["t"] != signature_parts(first_headers)["t"]
    events.control.redeliver_webhook(0, same_signature=True)
    replay_headers, replay_body = receiver.next()
    assert replay_body == first_body and replay_headers["tiktok-signature"] == first_headers["tiktok-signature"]
    deadline = time.monotonic() + 5
    while len(events.control.webhooks()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [(w["redelivery_of"], w["replayed_signature"]) for w in events.control.webhooks()] == [
        (None, False),
        (0, False),
        (0, True),
    ]
    with pytest.raises(Exception, match="no webhook delivery 7"):
        events.control.redeliver_webhook(7)
