"""The outermost ASGI layer: transport-level strictness, injected faults, and the request log.

It must wrap the Starlette app directly, so ``receive`` is still uvicorn's own and a connection can be aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_tiktok.emulator.errors import fault_response, refusal
from airflow_provider_tiktok.emulator.faults import Fault
from airflow_provider_tiktok.emulator.state import EmulatorState

log = logging.getLogger("airflow_provider_tiktok.emulator")

RESET_READ_LIMIT = 1024 * 1024  # bytes read from a body before an injected connection reset


class FaultAndLogMiddleware:
    """Applies injected faults and records every TikTok request (never query strings or tokens)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        entry = _Entry(self.state, scope["method"], path)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        try:
            if _chunked(scope):
                # TikTok wants a Content-Length on every request; refuse and close, the body is never read.
                entry.processed = False
                await refusal(path, "Transfer-Encoding: chunked is not supported; send a Content-Length.")(
                    scope, receive, send_logged
                )
                return
            fault = self.state.take_fault(entry.method, path)
            if fault is None:
                await self.app(scope, receive, send_logged)
            else:
                entry.fault = fault.action
                entry.processed = await self._apply(fault, scope, receive, send_logged, entry)
        finally:
            entry.write()

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send, entry: _Entry) -> bool:
        """Act on a due fault; returns whether TikTok's handler ran (the request was processed)."""
        if fault.action in ("fail_publish", "stuck"):
            scope["emulator_fault"] = fault  # the init handler marks the post
            await self.app(scope, receive, send)
            return True
        if fault.action == "reset":
            await _read_part(scope, receive)
            entry.processed = False
            await _reset(receive, entry)
            return False
        if fault.action == "respond":
            await _respond(fault, scope, receive, send)
            return False
        if fault.action == "delay":
            return await self._delay(fault, scope, receive, send)
        return await self._lose_answer(fault, scope, receive, send, entry)

    async def _delay(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer late. The whole request has arrived, so TikTok processes it even if the client gives up waiting."""
        body = await _read_body(receive)
        if body is None:
            return False  # the client went away before its request was complete: nothing to process
        epoch = self.state.epoch
        await asyncio.sleep(fault.delay_seconds)
        if epoch != self.state.epoch:
            return False  # the world was reset meanwhile: this request belongs to a test that has ended
        if fault.status is not None or fault.error_code is not None:
            await _respond(fault, scope, _replay(body, receive), _lenient(send))
            return False
        await self.app(scope, _replay(body, receive), _lenient(send))
        return True

    async def _lose_answer(self, fault: Fault, scope: Scope, receive: Receive, send: Send, entry: _Entry) -> bool:
        """Process for real (state changes stick), then replace the answer: an error, a reset, or a stall."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        if fault.answer == "reset":
            await _reset(receive, entry)
        elif fault.answer == "stall":
            # Logged now, with the status it will get late: the log shows the request as soon as it took effect.
            entry.status = next((m["status"] for m in held if m["type"] == "http.response.start"), None)
            entry.write()
            await asyncio.sleep(fault.delay_seconds)
            late = _lenient(send)
            for message in held:
                await late(message)
        else:
            await _respond(fault, scope, receive, send, default_status=None if fault.error_code else 500)
        return True


async def _respond(fault: Fault, scope: Scope, receive: Receive, send: Send, default_status: int | None = None) -> None:
    status = fault.status if fault.status is not None else default_status
    response = fault_response(scope["path"], status, fault.error_code, fault.message, fault.headers)
    await response(scope, receive, send)


def _chunked(scope: Scope) -> bool:
    return any(
        name == b"transfer-encoding" and b"chunked" in value.lower() for name, value in scope.get("headers") or []
    )


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client disconnected before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the real one (disconnects)."""
    pending = [body]

    async def replay() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def _lenient(send: Send) -> Send:
    """A ``send`` for answers that may find the client gone: nobody is listening, and that is fine."""

    async def late(message: Message) -> None:
        with contextlib.suppress(OSError):  # uvicorn's ClientDisconnected is an OSError
            await send(message)

    return late


async def _read_part(scope: Scope, receive: Receive) -> None:
    """Read about half of the body (as if mid-upload) before a reset."""
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length", b"0")
    limit = min(RESET_READ_LIMIT, int(length) // 2 if length.isdigit() else 0)
    read = 0
    while read < limit:
        message = await receive()
        read += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            break


async def _reset(receive: Receive, entry: _Entry) -> None:
    """Drop the TCP connection without an answer (logged first: the client may ask the log at once)."""
    cycle: Any = getattr(receive, "__self__", None)  # uvicorn's RequestResponseCycle owns the transport
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("connection reset fault needs uvicorn")
    entry.write()
    transport.abort()
    for _ in range(5):  # let uvicorn notice the lost connection before we return without a response
        await asyncio.sleep(0)


class _Entry:
    """One request's line in the request log, written once."""

    def __init__(self, state: EmulatorState, method: str, path: str) -> None:
        self.state, self.method, self.path = state, method, path
        self.started = state.now()
        self.status: int | None = None
        self.fault: str | None = None
        self.processed = True
        self._written = False

    def write(self) -> None:
        if self._written:
            return
        self._written = True
        self.state.log_request(
            self.method, self.path, self.status, self.started, fault=self.fault, processed=self.processed
        )
        log.info("%s %s -> %s", self.method, self.path, self.status or "no answer")
