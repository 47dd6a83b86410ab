"""The ASGI application: TikTok's routes, the control API, and the fault/logging middleware around them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_tiktok.emulator import control_api, oauth, posting, webhooks
from airflow_provider_tiktok.emulator.errors import (
    ApiError,
    OAuthError,
    api_error_handler,
    fault_response,
    oauth_error_handler,
)
from airflow_provider_tiktok.emulator.state import EmulatorState, Fault

log = logging.getLogger("airflow_provider_tiktok.emulator")

RESET_READ_LIMIT = 1024 * 1024  # bytes read from a body before an injected connection reset


class FaultAndLogMiddleware:
    """Outermost layer: applies injected faults and records every TikTok request (never query strings or tokens).

    It must wrap the app directly, so ``receive`` is still uvicorn's own and the connection can be aborted.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        started = self.state.now()
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            fault = self.state.take_fault(path)
            if fault is None or not await self._apply(fault, scope, receive, send_status):
                await self.app(scope, receive, send_status)
        finally:
            self.state.log_request(scope["method"], path, status[0] if status else None, started)
            log.info("%s %s -> %s", scope["method"], path, status[0] if status else "connection reset")

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> bool:
        """Act on a due fault; True when the request has been fully handled here."""
        if fault.action == "delay":
            await asyncio.sleep(fault.delay_seconds)
            if fault.status is None and fault.error_code is None:
                return False
        if fault.action in ("fail_publish", "stuck"):
            scope["emulator_fault"] = fault  # the init/upload handler marks the post
            return False
        if fault.action == "reset":
            await _reset_connection(scope, receive)
            return True
        response = fault_response(scope["path"], fault.status, fault.error_code, fault.message)
        await response(scope, receive, send)
        return True


async def _reset_connection(scope: Scope, receive: Receive) -> None:
    """Read part of the body (about half, as if mid-upload), then drop the TCP connection without answering."""
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length", b"0")
    limit = min(RESET_READ_LIMIT, int(length) // 2 if length.isdigit() else 0)
    read = 0
    while read < limit:
        message = await receive()
        read += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    cycle: Any = getattr(receive, "__self__", None)  # uvicorn's RequestResponseCycle owns the transport
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("connection reset fault needs uvicorn")
    transport.abort()
    for _ in range(5):  # let uvicorn notice the lost connection before we return without a response
        await asyncio.sleep(0)


def build_app(state: EmulatorState) -> FaultAndLogMiddleware:
    app = Starlette(
        routes=[*oauth.ROUTES, *posting.ROUTES, *control_api.ROUTES],
        exception_handlers={ApiError: api_error_handler, OAuthError: oauth_error_handler},
        lifespan=webhooks.lifespan(state),
    )
    app.state.emu = state
    return FaultAndLogMiddleware(app, state)
