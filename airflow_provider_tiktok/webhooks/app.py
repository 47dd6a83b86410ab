"""The FastAPI app the Airflow API server mounts at ``/tiktok``, receiving at ``/tiktok/webhooks`` (see :mod:`.plugin`).

``POST /tiktok/webhooks`` (the callback URL to register in TikTok's developer portal), in this order, so a forged
or stale delivery is refused before its body is parsed or the DB is written:

1. ``TikTok-Signature``: present, ``t`` within the tolerance, HMAC matching a known client secret: else **401**;
2. the body parses as a TikTok event of that app's client key: else **400** (401 for another app's key);
3. the event's digest is claimed in the dedup store: a redelivery or replay gets **200** ``duplicate`` (TikTok
   stops retrying; nothing changes);
4. the event is handled (ledger, asset events, re-link marker): **200** ``handled``. If handling fails, the claim
   is released and the answer is **500**, so TikTok's retry handles it again.

The tolerance is ``[tiktok] webhook_tolerance_seconds`` (env ``AIRFLOW__TIKTOK__WEBHOOK_TOLERANCE_SECONDS``),
default 300. No Airflow login: the signature is the authentication.
"""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_tiktok.webhooks import events, handle, seen
from airflow_provider_tiktok.webhooks.signature import DEFAULT_TOLERANCE_SECONDS, SignatureError, verify

log = logging.getLogger(__name__)

URL_PREFIX = "/tiktok"  # the plugin's mount point; the receiver is its /webhooks route
WEBHOOK_PATH = "/webhooks"
SIGNATURE_HEADER = "TikTok-Signature"
MAX_BODY_BYTES = 64 * 1024  # TikTok's events are a few hundred bytes


def tolerance_seconds() -> float:
    from airflow.sdk import conf

    return conf.getfloat("tiktok", "webhook_tolerance_seconds", fallback=DEFAULT_TOLERANCE_SECONDS)


def receive(header: str | None, body: bytes, now: float) -> tuple[int, dict[str, object]]:
    """The whole decision for one delivery (sync: it reads and writes the metadata DB). Status code and JSON body."""
    if len(body) > MAX_BODY_BYTES:
        return 413, {"status": "refused", "reason": f"body over {MAX_BODY_BYTES} bytes"}
    apps = handle.known_apps()
    try:
        app = apps[verify(header, body, [a.client_secret for a in apps], now=now, tolerance=tolerance_seconds())]
    except SignatureError as exc:
        log.warning("TikTok webhook refused: %s", exc.reason)
        return 401, {"status": "refused", "reason": exc.reason}
    try:
        event = events.parse(body)
    except events.MalformedEvent as exc:
        log.warning("TikTok webhook refused: %s", exc)
        return 400, {"status": "refused", "reason": str(exc)}
    if event.client_key not in app.client_keys:
        log.warning("TikTok webhook refused: client_key is not the key of the app that signed it")
        return 401, {"status": "refused", "reason": "client_key: not the app whose secret signed the body"}
    if not seen.claim(event, now):
        log.info("TikTok webhook %s: already handled (a redelivery or replay)", event.event)
        return 200, {"status": "duplicate", "event": event.event}
    try:
        outcome = handle.handle(event, now)
    except Exception:
        seen.release(event)
        log.exception("TikTok webhook %s: handling failed; TikTok will redeliver it", event.event)
        return 500, {"status": "error", "event": event.event}
    return 200, outcome.as_dict()


def create_app() -> FastAPI:
    app = FastAPI(title="TikTok webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        code, payload = await run_in_threadpool(receive, request.headers.get(SIGNATURE_HEADER), body, time.time())
        return JSONResponse(payload, status_code=code)

    # Mounted at "/tiktok" (not "/tiktok/webhooks": the API server's root router would answer the mount point
    # without its trailing slash with a 307, and TikTok's sender is not known to follow redirects; the emulator's
    # does not). Both spellings are answered directly.
    for path in (WEBHOOK_PATH, WEBHOOK_PATH + "/"):
        app.add_api_route(path, webhook, methods=["POST"], include_in_schema=False)
    return app
