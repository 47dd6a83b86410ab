"""Webhook sender: TikTok's event bodies, signed with ``TikTok-Signature``, retried with back-off.

Status changes are computed lazily on the emulator clock, so while any app has a callback URL a small loop advances
every post's state machine (a few times a second) and delivers the events queued by the state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
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


async def _deliver(
    state: EmulatorState, client: httpx.AsyncClient, event: dict[str, Any], after: asyncio.Task[None] | None
) -> None:
    """Deliver one event, after the app's previous one: each app gets its events in order."""
    if after is not None:
        await asyncio.wait([after])
    with state.lock:
        app = state.apps.get(event["client_key"])
        if app is None or not app.webhook_url:
            return
        url, secret = app.webhook_url, app.client_secret
        attempts, backoff = state.settings.webhook_max_attempts, state.settings.webhook_retry_seconds
        record: dict[str, Any] = {
            "event": event["event"],
            "user_openid": event["user_openid"],
            "content": json.loads(event["content"]),
            "attempts": 0,
            "status": None,
            "delivered": False,
        }
        state.webhook_log.append(record)
    body = json.dumps(event, separators=(",", ":")).encode()
    for attempt in range(attempts):
        headers = {"Content-Type": "application/json", "TikTok-Signature": signature(secret, int(state.now()), body)}
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
