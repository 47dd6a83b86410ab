"""Webhook events: TikTok's body, the TikTok-Signature HMAC, retries."""

from __future__ import annotations

import json
import time

from .conftest import CLIENT_KEY, CLIENT_SECRET, mp4
from .conftest import verify as _verify


def test_public_direct_post_sends_complete_then_publicly_available(hooked, receiver):
    data = mp4(3000)
    publish_id, url = hooked.init_upload(data, "PUBLIC_TO_EVERYONE")
    hooked.put(url, data, 0, len(data))
    hooked.control.advance_clock(1)  # no status/fetch call: the emulator notices on its own
    complete = _verify(*receiver.next())
    assert complete["event"] == "post.publish.complete"
    assert json.loads(complete["content"]) == {"publish_id": publish_id, "publish_type": "DIRECT_PUBLISH"}
    public = _verify(*receiver.next())
    assert public["event"] == "post.publish.publicly_available"
    content = json.loads(public["content"])
    assert content["publish_id"] == publish_id and len(str(content["post_id"])) == 19


def test_failed_publish_event_carries_the_reason(hooked, receiver):
    hooked.control.inject_fault("/v2/post/publish/video/init/", action="fail_publish", fail_reason="spam_risk_text")
    data = mp4(3000)
    publish_id, url = hooked.init_upload(data)
    hooked.put(url, data, 0, len(data))
    hooked.control.advance_clock(1)
    event = _verify(*receiver.next())
    assert event["event"] == "post.publish.failed"
    assert json.loads(event["content"]) == {
        "publish_id": publish_id,
        "publish_type": "DIRECT_PUBLISH",
        "reason": "spam_risk_text",
    }


def test_inbox_delivery_event(hooked, receiver):
    data = mp4(3000)
    body = {"source_info": {"source": "FILE_UPLOAD", "video_size": 3000, "chunk_size": 3000, "total_chunk_count": 1}}
    response = hooked.call("/v2/post/publish/inbox/video/init/", body).json()["data"]
    hooked.put(response["upload_url"], data, 0, len(data))
    hooked.control.advance_clock(1)
    event = _verify(*receiver.next())
    assert event["event"] == "post.publish.inbox_delivered"
    assert json.loads(event["content"])["publish_type"] == "INBOX_SHARE"


def test_revoke_sends_authorization_removed(hooked, receiver):
    hooked.form("/v2/oauth/revoke/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": hooked.token})
    event = _verify(*receiver.next())
    assert event["event"] == "authorization.removed" and json.loads(event["content"]) == {"reason": 5}


def test_failed_deliveries_are_retried(hooked, receiver):
    receiver.statuses = [500, 503]
    hooked.form("/v2/oauth/revoke/", {"client_key": CLIENT_KEY, "client_secret": CLIENT_SECRET, "token": hooked.token})
    bodies = [receiver.next()[1] for _ in range(3)]
    assert bodies[0] == bodies[1] == bodies[2]  # the same event, redelivered
    deadline = time.monotonic() + 10
    while not hooked.control.webhooks()[0]["delivered"] and time.monotonic() < deadline:
        time.sleep(0.01)
    [record] = hooked.control.webhooks()
    assert record == {**record, "event": "authorization.removed", "attempts": 3, "status": 200, "delivered": True}


def test_no_webhook_url_no_events(world, receiver):
    data = mp4(3000)
    _, url = world.init_upload(data)
    world.put(url, data, 0, len(data))
    world.control.advance_clock(1)
    world.status(world.control.posts()[0]["publish_id"])
    assert world.control.webhooks() == []
    assert receiver.received.empty()
