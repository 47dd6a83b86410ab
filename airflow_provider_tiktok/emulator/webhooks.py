"""Webhook sender: TikTok's event bodies, signed with ``TikTok-Signature``, retried with back-off.

Status changes are computed lazily on the emulator clock, so while any app has a callback URL a small loop advances
every post's state machine (a few times a second) and delivers the events queued by the state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from airflow_provider_tiktok.emulator.state import EmulatorState

TICK_SECONDS = 0.02


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<ts>,s=<hex HMAC-SHA256(client_secret, "<ts>." + raw body)>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def _timestamp(state: EmulatorState) -> int:
    """The signature's ``t``: the receiver's wall clock (not the emulator clock: a receiver rejecting stale or future
    timestamps compares ``t`` with its own time), moved by ``webhook_timestamp_offset_seconds`` to test that."""
    return int(time.time() + state.settings.webhook_timestamp_offset_seconds)


async def _deliver(
    state: EmulatorState, client: httpx.AsyncClient, event: dict[str, Any], after: asyncio.Task[None] | None
) -> None:
    """Deliver one event, after the app's previous one: each app gets its events in order. An event from
    ``redeliver`` carries ``_replay``: the raw body and, for a replay, the exact signature header sent before."""
    replay: tuple[bytes, str | None, int] | None = event.pop("_replay", None)
    if after is not None:
        await asyncio.wait([after])
    with state.lock:
        app = state.apps.get(event["client_key"])
        if app is None or not app.webhook_url:
            return
        url, secret = app.webhook_url, app.client_secret
        if state.settings.webhook_bad_signature:
            secret = "not-" + secret  # a signature the receiver cannot reproduce
        attempts, backoff = state.settings.webhook_max_attempts, state.settings.webhook_retry_seconds
        record: dict[str, Any] = {
            "event": event["event"],
            "user_openid": event["user_openid"],
            "content": json.loads(event["content"]),
            "attempts": 0,
            "status": None,
            "delivered": False,
            "redelivery_of": replay[2] if replay else None,
            "replayed_signature": bool(replay and replay[1]),
        }
        body = replay[0] if replay else json.dumps(event, separators=(",", ":")).encode()
        sent: list[str] = []
        state.webhook_log.append(record)
        state.webhook_raw.append((body, sent))
    for attempt in range(attempts):
        header = replay[1] if replay and replay[1] else signature(secret, _timestamp(state), body)
        sent.append(header)
        headers = {"Content-Type": "application/json", "TikTok-Signature": header}
        try:
            status: int | None = (await client.post(url, content=body, headers=headers)).status_code
        except httpx.HTTPError:
            status = None
        with state.lock:
            record["attempts"], record["status"] = attempt + 1, status
            if status is not None and 200 <= status < 300:
                record["delivered"] = True
                return
        if attempt + 1 < attempts:
            await asyncio.sleep(backoff * 2**attempt)


def redeliver(state: EmulatorState, index: int, *, same_signature: bool) -> None:
    """Queue delivery ``index`` again, byte for byte: freshly signed (TikTok's at-least-once duplicate) or with
    the first signature header it was sent with (a replay by someone who captured it)."""
    with state.lock:
        if not 0 <= index < len(state.webhook_raw):
            raise LookupError(f"no webhook delivery {index}")
        body, sent = state.webhook_raw[index]
        if same_signature and not sent:
            raise ValueError(f"delivery {index} has not been sent yet")
        event = json.loads(body)
        event["_replay"] = (body, sent[0] if same_signature else None, index)
        state.outbox.append(event)


async def dispatch_forever(state: EmulatorState) -> None:
    last: dict[str, asyncio.Task[None]] = {}  # newest delivery per app, so the next one queues behind it
    async with httpx.AsyncClient(trust_env=False, timeout=10, follow_redirects=False) as client:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            with state.lock:
                if any(app.webhook_url for app in state.apps.values()):
                    for post in list(state.posts.values()):
                        state.refresh_post(post)
                events, state.outbox = state.outbox, []
            for event in events:
                previous = last.get(event["client_key"])
                task = asyncio.get_running_loop().create_task(_deliver(state, client, event, previous))
                last[event["client_key"]] = task
                state.webhook_tasks.add(task)
                task.add_done_callback(state.webhook_tasks.discard)


def lifespan(state: EmulatorState) -> Any:
    """Starlette lifespan running the dispatcher for as long as the server runs."""

    @asynccontextmanager
    async def run(_: Any) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(dispatch_forever(state))
        try:
            yield
        finally:
            task.cancel()
            for pending in list(state.webhook_tasks):
                pending.cancel()

    return run
