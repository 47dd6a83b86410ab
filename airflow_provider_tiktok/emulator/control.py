"""``EmulatorControl``: a small typed httpx client for the emulator's ``/_emulator`` control API."""

from __future__ import annotations

from typing import Any, Literal

import httpx

FaultAction = Literal["respond", "reset", "delay", "lost", "fail_publish", "stuck"]
LostAnswer = Literal["error", "reset", "stall"]


class EmulatorControlError(RuntimeError):
    """The control API refused a call (bad input, unknown id)."""


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class EmulatorControl:
    """One method per control endpoint. Only tests and the demo use this; nothing here exists on real TikTok."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        return self._http_call(method, path, _drop_none(body) if body is not None else None, params)

    def _http_call(
        self, method: str, path: str, json_body: dict[str, Any] | None, params: dict[str, Any] | None = None
    ) -> Any:
        """Send ``json_body`` as is (None values included)."""
        response = self._http.request(method, path, json=json_body, params=_drop_none(params or {}))
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise EmulatorControlError(f"{method} /_emulator{path}: {response.status_code} {detail}")
        return response.json()

    def reset(self) -> None:
        """Forget everything: apps, accounts, tokens, posts, faults, request log, settings, clock offset."""
        self._call("POST", "/reset", {})

    def create_app(
        self,
        client_key: str,
        client_secret: str,
        *,
        audited: bool = True,
        verified_url_prefixes: list[str] | None = None,
        redirect_uris: list[str] | None = None,
        scopes: list[str] | None = None,
        access_token_ttl: int | None = None,
        refresh_token_ttl: int | None = None,
        rotate_refresh_tokens: bool | None = None,
        active_user_cap: int | None = None,
        webhook_url: str | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a client app; returns it without the secret."""
        return self._call(
            "POST",
            "/apps",
            {
                "client_key": client_key,
                "client_secret": client_secret,
                "audited": audited,
                "verified_url_prefixes": verified_url_prefixes,
                "redirect_uris": redirect_uris,
                "scopes": scopes,
                "access_token_ttl": access_token_ttl,
                "refresh_token_ttl": refresh_token_ttl,
                "rotate_refresh_tokens": rotate_refresh_tokens,
                "active_user_cap": active_user_cap,
                "webhook_url": webhook_url,
            },
        )

    def create_account(
        self,
        open_id: str | None = None,
        *,
        username: str | None = None,
        nickname: str | None = None,
        is_private: bool = False,
        privacy_level_options: list[str] | None = None,
        comment_disabled: bool | None = None,
        duet_disabled: bool | None = None,
        stitch_disabled: bool | None = None,
        max_video_post_duration_sec: int | None = None,
        banned: bool | None = None,
        app_version: str | None = None,
        **profile: Any,
    ) -> dict[str, Any]:
        """Create (or replace) a TikTok account; privacy options follow ``is_private`` unless given."""
        return self._call(
            "POST",
            "/accounts",
            {
                "open_id": open_id,
                "username": username,
                "nickname": nickname,
                "is_private": is_private,
                "privacy_level_options": privacy_level_options,
                "comment_disabled": comment_disabled,
                "duet_disabled": duet_disabled,
                "stitch_disabled": stitch_disabled,
                "max_video_post_duration_sec": max_video_post_duration_sec,
                "banned": banned,
                "app_version": app_version,
                **profile,
            },
        )

    def grant(self, client_key: str, open_id: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """Skip the consent dance: the token response ``/v2/oauth/token/`` would send for a fresh authorization."""
        return self._call("POST", "/grants", {"client_key": client_key, "open_id": open_id, "scopes": scopes})

    def authorize(
        self,
        client_key: str,
        open_id: str,
        *,
        scope: str | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
        code_challenge: str | None = None,
    ) -> dict[str, Any]:
        """The user approves on the consent page: returns ``{code, redirect_url}``."""
        return self._call(
            "POST",
            "/authorize",
            {
                "client_key": client_key,
                "open_id": open_id,
                "scope": scope,
                "redirect_uri": redirect_uri,
                "state": state,
                "code_challenge": code_challenge,
            },
        )

    def scan_qrcode(self, token: str, client_ticket: str) -> dict[str, Any]:
        """The phone scans the QR; ``client_ticket`` is the one the client wrote into ``scan_qrcode_url``."""
        return self._call("POST", f"/qrcode/{token}/scan", {"client_ticket": client_ticket})

    def confirm_qrcode(self, token: str, open_id: str) -> dict[str, Any]:
        return self._call("POST", f"/qrcode/{token}/confirm", {"open_id": open_id})

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator clock forward; returns ``{now, offset}``."""
        return self._call("POST", "/clock/advance", {"seconds": seconds})

    def settings(self, **changes: Any) -> dict[str, Any]:
        """Change settings (processing_seconds, moderation_seconds, strict_brand_toggles, ...); returns all."""
        return self._call("POST", "/settings", changes)

    def inject_fault(
        self,
        path: str,
        *,
        method: str | None = None,
        after: int | None = None,
        times: int | None = 1,
        nth: int | None = None,
        action: FaultAction = "respond",
        status: int | None = None,
        error_code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        answer: LostAnswer | None = None,
        delay_seconds: float | None = None,
        fail_reason: str | None = None,
    ) -> dict[str, Any]:
        """Make requests to ``path`` (an fnmatch glob, no query string) misbehave; see docs/emulator.md, Faults.

        Matches ``method`` (any if None); skips the first ``after`` matches, then fires ``times`` times (None: on
        every later match). ``nth=n`` is the older spelling of ``after=n-1``. ``action="lost"`` processes the
        request for real, then loses the answer as ``answer``: "error" (``status``, default 500), "reset" or
        "stall" (the real answer ``delay_seconds`` late). ``headers`` go on ``respond``/``lost`` error answers.
        """
        body = _drop_none(
            {
                "path": path,
                "method": method,
                "after": after,
                "nth": nth,
                "action": action,
                "status": status,
                "error_code": error_code,
                "message": message,
                "headers": headers,
                "answer": answer,
                "delay_seconds": delay_seconds,
                "fail_reason": fail_reason,
            }
        )
        body["times"] = times  # None (JSON null) means unlimited, so it is sent even when None
        result: dict[str, Any] = self._http_call("POST", "/faults", body)
        return result

    def expire_token(self, token: str) -> dict[str, Any]:
        """The given access, refresh or client token expires now (logged in :meth:`requests` as method CONTROL)."""
        return self._call("POST", "/tokens/expire", {"token": token})

    def fail_publish(self, publish_id: str, fail_reason: str = "internal") -> dict[str, Any]:
        """A publish still processing ends FAILED now with ``fail_reason`` (logged as method CONTROL); the post."""
        return self._call("POST", f"/posts/{publish_id}/fail", {"fail_reason": fail_reason})

    def creator_post(self, publish_id: str, privacy_level: str | None = None) -> dict[str, Any]:
        """The creator posts a draft from the inbox (SEND_TO_USER_INBOX -> PUBLISH_COMPLETE)."""
        return self._call("POST", f"/posts/{publish_id}/creator_post", {"privacy_level": privacy_level})

    def change_privacy(self, publish_id: str, privacy_level: str) -> dict[str, Any]:
        """The creator changes who can see a published post in the app: leaving PUBLIC_TO_EVERYONE sends
        ``post.publish.no_longer_publicaly_available``; becoming public runs moderation, then
        ``post.publish.publicly_available``. Logged as method CONTROL; returns the post."""
        return self._call("POST", f"/posts/{publish_id}/privacy", {"privacy_level": privacy_level})

    def take_down(self, publish_id: str) -> dict[str, Any]:
        """TikTok's moderation removes a published post: no longer public (webhook), gone from the Display API,
        its metrics stop. Logged as method CONTROL; returns the post."""
        return self._call("POST", f"/posts/{publish_id}/take_down", {})

    def set_video_metrics(
        self,
        publish_id: str,
        *,
        view_count: int | None = None,
        like_count: int | None = None,
        comment_count: int | None = None,
        share_count: int | None = None,
    ) -> dict[str, Any]:
        """Pin a published post's counts to these values now (growth carries on from them); returns the counts."""
        counts = {
            "view_count": view_count,
            "like_count": like_count,
            "comment_count": comment_count,
            "share_count": share_count,
        }
        return self._call("POST", f"/posts/{publish_id}/metrics", counts)

    def remove_authorization(self, client_key: str, open_id: str, reason: int = 1) -> dict[str, Any]:
        """The user removes the app in TikTok (reason 1; 2 account deleted, 3 age changed, 4 banned, 0 unknown):
        all of that user's tokens for the app die now and one ``authorization.removed`` webhook is sent."""
        return self._call(
            "POST", "/authorizations/remove", {"client_key": client_key, "open_id": open_id, "reason": reason}
        )

    def videos(self, open_id: str | None = None) -> list[dict[str, Any]]:
        """Every published post as a Video Object with all fields (``id`` a string), newest first, plus
        ``publish_id``, ``open_id``, ``privacy_level``, ``public``, ``taken_down``, ``listed`` (shown by the
        Display API) and ``status_post_ids`` (what status/fetch reports now)."""
        result: list[dict[str, Any]] = self._call("GET", "/videos", params={"open_id": open_id})
        return result

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every TikTok request received (only those whose path matches the glob ``path``, if given): method, path
        (no query string), status sent (None if none), time, reset, fault (the action applied, or None),
        processed (whether TikTok's handling ran), and the controls that changed state (method CONTROL)."""
        result: list[dict[str, Any]] = self._call("GET", "/requests", params={"path": path})
        return result

    def request_count(self, path: str | None = None) -> int:
        """How many requests :meth:`requests` would list, without transferring the log."""
        return int(self._call("GET", "/requests/count", params={"path": path})["count"])

    def rates(self, by: str = "token") -> list[dict[str, Any]]:
        """Per token (``by="account"``: per creator, every token together) and rate-limited bucket (``init`` covers
        the three init endpoints): ``requests`` made, admitted or not, ``rejected`` (429s), ``max_per_60s`` (the
        most in any sliding 60 s window) against TikTok's ``limit``, and ``busiest_window_from``."""
        result: list[dict[str, Any]] = self._call("GET", "/rates", params={"by": by})
        return result

    def posts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/posts")
        return result

    def tokens(self) -> list[dict[str, Any]]:
        """Token chains (one per authorization) with every generation, for rotation tests."""
        result: list[dict[str, Any]] = self._call("GET", "/tokens")
        return result

    def webhooks(self) -> list[dict[str, Any]]:
        """Webhook deliveries in order: event, user_openid, content (decoded), attempts, last status, delivered,
        redelivery_of (the index it repeats, or None), replayed_signature."""
        result: list[dict[str, Any]] = self._call("GET", "/webhooks")
        return result

    def redeliver_webhook(self, index: int, *, same_signature: bool = False) -> None:
        """Send delivery ``index`` of :meth:`webhooks` again with the same body: freshly signed, as TikTok's
        at-least-once delivery may (a duplicate to deduplicate), or with ``same_signature`` the very header it
        was first sent with (a replay, whose timestamp has gone stale)."""
        self._call("POST", f"/webhooks/{index}/redeliver", {"same_signature": same_signature})

    def __repr__(self) -> str:
        return f"EmulatorControl({self.base_url!r})"
