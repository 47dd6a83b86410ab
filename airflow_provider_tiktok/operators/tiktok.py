"""Operators for TikTok's Content Posting API.

One task does it all (:class:`TikTokPublishVideoOperator`, :class:`TikTokPhotoPostOperator`): creator info ("Posting
as ..."), preflight checks that cost no quota, init, chunked upload with progress logs, then a deferral to
:class:`~airflow_provider_tiktok.triggers.tiktok.TikTokPublishStatusTrigger` so no worker slot is held while TikTok
processes. :class:`TikTokCreatorInfoOperator`, :class:`TikTokInitVideoOperator` and :class:`TikTokUploadVideoOperator`
(with :class:`~airflow_provider_tiktok.sensors.tiktok.TikTokPublishStatusSensor`) expose the same steps as separate
tasks for DAGs that want each one visible.

Exactly once: before any byte is sent the publish_id (and what a retry needs: mode, plan, source fingerprint) is
saved in ``context["task_state_store"]``, which every retry and every "Clear" of the task instance reads back (see
``PublishJournal``). A retry therefore polls a publish that already went through, resumes an upload from TikTok's
``uploaded_bytes``, and starts over with a new init only when the old publish can no longer complete (FAILED, upload
URL expired or lost, source changed before the upload finished). Each branch is logged.

Daily caps (``spam_risk_too_many_posts``, ``spam_risk_too_many_pending_share``, ``reached_active_user_cap``) and
rate limits that outlast the client's retries are waited out by deferring to a ``DateTimeTrigger`` (no worker slot
held) and trying again, for up to ``cap_max_wait``; with ``on_daily_cap="fail"`` the task fails at once instead.

Module imports stay cheap (no httpx, no API layer): DAG parsing imports this module constantly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_tiktok.links import TikTokPostLink
from airflow_provider_tiktok.operators._common import (
    FAILED,
    POST_URL_XCOM_KEY,
    PUBLISH_COMPLETE,
    PublishJournal,
    UploadUrlVault,
    final_statuses,
    post_url,
    raise_for_event,
    to_airflow_error,
)

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.errors import TikTokError
    from airflow_provider_tiktok.api.models import CreatorInfo, PublishStatus
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.operators._source import VideoFile

DEFAULT_CONN_ID = "tiktok_default"
OnDailyCap = Literal["defer", "fail"]
# TikTok's upload URLs live one hour; reuse a stored one only with a safety margin.
_UPLOAD_URL_TTL = 3600.0
_UPLOAD_URL_MARGIN = 300.0
_RATE_LIMIT_WAIT = 60.0
_MB = 1_000_000


@contextmanager
def _preflight_checks() -> Iterator[None]:
    """A broken rule fails the task without retries: retrying cannot make a bad caption, URL or file valid."""
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    try:
        yield
    except TikTokValidationError as exc:
        raise AirflowFailException(f"Preflight check failed ({exc.field}): {exc}") from exc


class _TikTokOperator(BaseOperator):
    """Connection handling, creator info and the daily-cap policy shared by every TikTok operator."""

    template_fields: Sequence[str] = ("tiktok_conn_id",)
    ui_color = "#fe2c55"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        tiktok_conn_id: str = DEFAULT_CONN_ID,
        on_daily_cap: OnDailyCap = "defer",
        cap_retry_interval: timedelta = timedelta(hours=1),
        cap_max_wait: timedelta = timedelta(hours=24),
        api_max_attempts: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_daily_cap not in ("defer", "fail"):
            raise ValueError(f"on_daily_cap must be 'defer' or 'fail', got {on_daily_cap!r}")
        self.tiktok_conn_id = tiktok_conn_id
        self.on_daily_cap = on_daily_cap
        self.cap_retry_interval = cap_retry_interval
        self.cap_max_wait = cap_max_wait
        self.api_max_attempts = api_max_attempts

    def hook(self) -> TikTokHook:
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        if self.api_max_attempts is None:
            return TikTokHook(tiktok_conn_id=self.tiktok_conn_id)
        from airflow_provider_tiktok.api.client import RetryPolicy

        return TikTokHook(tiktok_conn_id=self.tiktok_conn_id, retry=RetryPolicy(max_attempts=self.api_max_attempts))

    def creator_info(self, client: TikTokClient, context: Context) -> CreatorInfo:
        """Fetch creator info and say who we post as (TikTok's UX rules require showing the nickname)."""
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            creator = client.creator_info()
        except TikTokError as exc:
            self.raise_or_wait(context, exc, "Querying creator info")
        self.log.info("Posting as %s (@%s)", creator.nickname, creator.username)
        return creator

    def raise_or_wait(self, context: Context, exc: TikTokError, action: str) -> NoReturn:
        """Daily caps and rate limits: defer and try again later (or fail, per ``on_daily_cap``); others: raise."""
        from airflow_provider_tiktok.api.errors import TikTokDailyCapError, TikTokRateLimitError

        if not isinstance(exc, TikTokDailyCapError | TikTokRateLimitError):
            raise to_airflow_error(exc, action) from exc
        what = "daily cap" if isinstance(exc, TikTokDailyCapError) else "rate limit"
        if self.on_daily_cap == "fail":
            raise AirflowFailException(f"{action} hit TikTok's {what}: {exc} (on_daily_cap='fail')") from exc
        journal = PublishJournal.from_context(context, self.log)
        record = journal.load()
        since = float(record.get("cap_waiting_since") or time.time())
        waited = time.time() - since
        if waited >= self.cap_max_wait.total_seconds():
            raise AirflowFailException(
                f"{action} still hits TikTok's {what} after waiting {waited / 3600:.1f} h (cap_max_wait): {exc}"
            ) from exc
        wait = self.cap_retry_interval.total_seconds()
        if isinstance(exc, TikTokRateLimitError):
            wait = min(wait, exc.retry_after if exc.retry_after is not None else _RATE_LIMIT_WAIT)
        journal.update(cap_waiting_since=since, cap_code=exc.code)
        self.log.warning(
            "%s hit TikTok's %s (%s). Nothing was created. Deferring %.0f s without holding a worker slot, then "
            "trying again (waited %.0f s of at most %.0f s).",
            action,
            what,
            exc.code,
            wait,
            waited,
            self.cap_max_wait.total_seconds(),
        )
        self._defer_wait(wait)

    def _defer_wait(self, seconds: float) -> NoReturn:
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
        from airflow.sdk import timezone

        self.defer(
            trigger=DateTimeTrigger(moment=timezone.utcnow() + timedelta(seconds=max(seconds, 0.0))),
            method_name="resume_after_wait",
        )

    def resume_after_wait(self, context: Context, event: Any = None) -> Any:
        """Back from a cap/rate-limit wait: run the task again from the top (the journal says what was done)."""
        self.log.info("Waited out TikTok's limit; trying again")
        return self.execute(context)

    @staticmethod
    def clear_cap_wait(journal: PublishJournal) -> None:
        record = journal.load()
        if "cap_waiting_since" in record:
            record.pop("cap_waiting_since", None)
            record.pop("cap_code", None)
            journal.save(record)


class TikTokCreatorInfoOperator(_TikTokOperator):
    """Return the creator's info: who posts, which privacy levels they may use, which interactions are off.

    Logs "Posting as <nickname> (@username)". A creator who cannot post right now (daily cap) is handled per
    ``on_daily_cap``: wait by deferring and ask again, or fail at once.

    :param tiktok_conn_id: the TikTok connection.
    :param on_daily_cap: ``"defer"`` (default) or ``"fail"``.
    :param cap_retry_interval: how long to wait before asking again after a cap.
    :param cap_max_wait: give up after waiting this long in total.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        client = self.hook().get_client()
        creator = self.creator_info(client, context)
        self.clear_cap_wait(PublishJournal.from_context(context, self.log))
        return {
            "nickname": creator.nickname,
            "username": creator.username,
            "avatar_url": creator.avatar_url,
            "privacy_level_options": list(creator.privacy_level_options),
            "comment_disabled": creator.comment_disabled,
            "duet_disabled": creator.duet_disabled,
            "stitch_disabled": creator.stitch_disabled,
            "max_video_post_duration_sec": creator.max_video_post_duration_sec,
            "profile_url": post_url(creator.username, []),
        }


class _PublishingOperator(_TikTokOperator):
    """Init, upload, defer until TikTok reports a final state, then build the result, the link and asset events."""

    operator_extra_links: Collection[BaseOperatorLink] = (TikTokPostLink(),)
    is_photo: ClassVar[bool] = False

    def __init__(
        self,
        *,
        draft: bool = False,
        wait_for_creator_post: bool = False,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        wait_timeout: timedelta = timedelta(hours=2),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.draft = draft
        self.wait_for_creator_post = wait_for_creator_post
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.wait_timeout = wait_timeout

    @property
    def mode(self) -> str:
        return "draft" if self.draft else "direct"

    def execute(self, context: Context) -> dict[str, Any]:
        """Finish what an earlier try of this task instance started, or start a new publish; then wait for TikTok."""
        hook = self.hook()
        self.preflight_static(hook)
        client = hook.get_client()
        journal = PublishJournal.from_context(context, self.log)
        if journal.load().get("phase") and not self.resume_previous(context, client, journal):
            return self.wait_or_finish(context, client, journal.load()["publish_id"])
        return self.wait_or_finish(context, client, self.start(context, hook, client, journal))

    def preflight_static(self, hook: TikTokHook) -> None:
        """Checks that need no API call, so a bad caption or URL fails in a second, before any quota is spent."""
        raise NotImplementedError

    def start(self, context: Context, hook: TikTokHook, client: TikTokClient, journal: PublishJournal) -> str:
        """Creator info, preflight and init (and the upload, for files); returns the new publish_id."""
        raise NotImplementedError

    # -- waiting --

    def defer_for_status(self, publish_id: str, last_status: str | None = None) -> NoReturn:
        from airflow_provider_tiktok.triggers.tiktok import TikTokPublishStatusTrigger

        wait_for = final_statuses(draft=self.draft, wait_for_creator_post=self.wait_for_creator_post)
        self.log.info(
            "Deferring until TikTok reports %s for publish %s (at most %s); no worker slot is held meanwhile",
            " or ".join(wait_for),
            publish_id,
            self.wait_timeout,
        )
        self.defer(
            trigger=TikTokPublishStatusTrigger(
                tiktok_conn_id=self.tiktok_conn_id,
                publish_id=publish_id,
                end_time=time.time() + self.wait_timeout.total_seconds(),
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                wait_for=wait_for,
                last_status=last_status,
            ),
            method_name="execute_complete",
            # A little longer than the trigger's own deadline, so the trigger's clear timeout event wins.
            timeout=self.wait_timeout + timedelta(minutes=5),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the status trigger: a result dict, the "View on TikTok" link, asset events; or a failure."""
        journal = PublishJournal.from_context(context, self.log)
        try:
            ok = raise_for_event(event, what="TikTok publish")
        except AirflowException:
            if event and event.get("publish_status") == FAILED:
                journal.update(phase="failed", fail_reason=event.get("fail_reason"))
            raise
        record = journal.load()
        result = self.build_result(record, ok)
        journal.update(phase="done", result=result)
        self.publish_outputs(context, result)
        return result

    def build_result(self, record: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
        post_ids = [str(p) for p in event.get("post_ids") or []]
        username = record.get("creator_username")
        return {
            "publish_id": event["publish_id"],
            "status": event.get("publish_status"),
            "post_ids": post_ids,
            "post_url": post_url(username, post_ids, photo=self.is_photo),
            "creator_username": username,
            "creator_nickname": record.get("creator_nickname"),
            "mode": record.get("mode"),
            "source": record.get("source"),
            "video_size": record.get("video_size"),
        }

    def publish_outputs(self, context: Context, result: Mapping[str, Any]) -> None:
        """Log the outcome, push the link's XCom and attach the publish to any Asset outlets."""
        url = result.get("post_url")
        if result.get("post_ids"):
            self.log.info("Published: %s", url)
        elif result.get("status") == PUBLISH_COMPLETE:
            self.log.info(
                "Published (TikTok gives no public post id for private posts or posts still in moderation): %s", url
            )
        else:
            self.log.info("Sent to the creator's TikTok inbox to finish in the app: %s", url)
        if url:
            context["ti"].xcom_push(key=POST_URL_XCOM_KEY, value=url)
        self.emit_asset_events(context, result)

    def emit_asset_events(self, context: Context, result: Mapping[str, Any]) -> None:
        from airflow.sdk import Asset

        extra = {
            "publish_id": result["publish_id"],
            "post_url": result.get("post_url"),
            "post_ids": list(result.get("post_ids") or []),
        }
        for outlet in self.outlets or []:
            if isinstance(outlet, Asset):
                context["outlet_events"][outlet].extra.update(extra)

    # -- resuming an earlier try --

    def resume_previous(self, context: Context, client: TikTokClient, journal: PublishJournal) -> bool:
        """Continue what an earlier try of this task instance started. True when this try must start over.

        Returns normally only to ask for a fresh init; otherwise it defers, returns via ``execute_complete`` or raises.
        """
        from airflow_provider_tiktok.api.errors import TikTokError

        record = journal.load()
        publish_id = record.get("publish_id")
        if not publish_id:
            return self.after_unfinished_init(record)
        self.log.info("An earlier try created publish %s; checking it before doing anything else", publish_id)
        try:
            status = client.fetch_status(publish_id)
        except TikTokError as exc:
            if exc.retryable:
                raise to_airflow_error(exc, f"Checking earlier publish {publish_id}") from exc
            self.log.warning(
                "Resume: TikTok no longer knows publish %s (%s); it cannot complete, so starting over", publish_id, exc
            )
            return True
        self.log.info("Resume: publish %s is %s (uploaded %s bytes)", publish_id, status.status, status.uploaded_bytes)
        if status.status == FAILED:
            self.log.warning(
                "Resume: earlier publish %s FAILED (%s); it can never complete, so starting over with a new init",
                publish_id,
                status.fail_reason,
            )
            journal.update(superseded=[*record.get("superseded", []), publish_id])
            return True
        wait_for = final_statuses(draft=self.draft, wait_for_creator_post=self.wait_for_creator_post)
        if status.status in wait_for:
            self.log.info("Resume: publish %s already reached %s; not posting again", publish_id, status.status)
            return False
        if status.status == "PROCESSING_UPLOAD" and record.get("source") == "FILE_UPLOAD":
            return self.resume_upload(context, client, journal, record, status)
        self.log.info("Resume: TikTok is processing publish %s; waiting for it", publish_id)
        return False

    def after_unfinished_init(self, record: Mapping[str, Any]) -> bool:
        """An init was sent but its answer never recorded (timeout, crash): decide whether a new init is safe."""
        if record.get("phase") != "init_pending":
            return True
        if record.get("source") == "FILE_UPLOAD":
            self.log.warning(
                "Resume: an earlier try's init may have reached TikTok but its answer was lost. That publish never got "
                "its upload URL, so it can never receive bytes or become a post; starting a new init is safe."
            )
            return True
        raise AirflowFailException(
            "An earlier try sent a PULL_FROM_URL init whose answer was lost; TikTok may be pulling the media and "
            "posting it already, and there is no API to check without a publish_id. Not posting again blindly. "
            "Check the creator's profile/inbox; to post anyway, delete the task state key 'tiktok_publish' "
            "(REST API: DELETE /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store/"
            "tiktok_publish) and clear the task."
        )

    def resume_upload(
        self,
        context: Context,
        client: TikTokClient,
        journal: PublishJournal,
        record: Mapping[str, Any],
        status: PublishStatus,
    ) -> bool:
        raise NotImplementedError  # only video publishing uploads bytes

    def wait_or_finish(self, context: Context, client: TikTokClient, publish_id: str) -> dict[str, Any]:
        """Check once synchronously (dbt-cloud pattern), defer only if TikTok is not done yet."""
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            status = client.fetch_status(publish_id)
        except TikTokError as exc:
            # Nothing is lost: the next try finds the publish in the journal and resumes polling it.
            raise to_airflow_error(exc, f"Checking publish {publish_id}") from exc
        self.log.info("TikTok reports publish %s as %s", publish_id, status.status)
        wait_for = final_statuses(draft=self.draft, wait_for_creator_post=self.wait_for_creator_post)
        if status.status in wait_for or status.status == FAILED:
            from airflow_provider_tiktok.status_event import final_event

            return self.execute_complete(context, event=final_event(publish_id, status).payload)
        self.defer_for_status(publish_id, status.status)

    def record_creator(self, context: Context, journal: PublishJournal, creator: CreatorInfo) -> None:
        """Remember who posts (for the post URL after a resume) and link to their profile until the post exists."""
        journal.update(creator_username=creator.username, creator_nickname=creator.nickname)
        profile = post_url(creator.username, [])
        if profile:
            context["ti"].xcom_push(key=POST_URL_XCOM_KEY, value=profile)

    def init_call(self, context: Context, journal: PublishJournal, source_kind: str, call: Any) -> Any:
        """Run an init call with the journal bracketing it, so an ambiguous failure is recognised on the next try."""
        from airflow_provider_tiktok.api.errors import TikTokError

        journal.update(phase="init_pending", source=source_kind, init_sent_at=time.time(), publish_id=None)
        try:
            return call()
        except TikTokError as exc:
            definite = exc.http_status is not None and 400 <= exc.http_status < 500
            if definite:
                journal.update(phase=None)  # TikTok refused it: nothing was created
            else:
                self.log.warning(
                    "Init failed without a clear answer (%s); the next try checks before initialising again", exc
                )
            self.raise_or_wait(context, exc, "Initialising the post")


def _as_mapping(value: Any, name: str) -> Mapping[str, Any] | None:
    """Accept an XCom dict as is, or as the string a Jinja template renders it to (without native rendering)."""
    if value is None or value == "" or isinstance(value, Mapping):
        return value or None
    import ast
    import json

    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        try:
            parsed = ast.literal_eval(str(value))
        except (ValueError, SyntaxError):
            parsed = None
    if not isinstance(parsed, Mapping):
        raise AirflowFailException(f"{name} must be a dict (the init task's upload_plan), got {value!r}")
    return parsed


def _check_prefixes(urls: Sequence[tuple[str, str]], prefixes: Sequence[str] | None) -> None:
    """Optional client-side check that media URLs sit under the app's verified URL prefixes (saves an init call)."""
    if not prefixes:
        return
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    for field, url in urls:
        if not any(url.startswith(p) for p in prefixes):
            raise TikTokValidationError(
                field,
                list(prefixes),
                f"{field} is not under a verified URL prefix ({', '.join(prefixes)}); TikTok would answer "
                "url_ownership_unverified",
            )


def _progress_logger(log: Any, start_offset: int) -> Any:
    """A progress callback logging chunk k of n, bytes, percent and throughput after every chunk."""
    started = time.monotonic()

    def progress(sent_bytes: int, total: int, chunk_index: int, chunk_count: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = max(sent_bytes - start_offset, 0) / elapsed / _MB
        log.info(
            "Uploaded chunk %d of %d: %s of %s bytes (%.0f%%), %.1f MB/s",
            chunk_index + 1,
            chunk_count,
            f"{sent_bytes:,}",
            f"{total:,}",
            100.0 * sent_bytes / total if total else 100.0,
            rate,
        )

    return progress


def upload_video(
    log: Any,
    client: TikTokClient,
    publish_id: str,
    upload_url: str,
    plan: Any,
    video_file: VideoFile,
    *,
    start_offset: int,
) -> None:
    """Stream ``video_file`` to the upload URL in the planned chunks, from ``start_offset``, logging progress.

    ``TikTokUploadExpiredError`` (403/404: the URL expired or is unknown) propagates for the caller to decide;
    other TikTok errors become Airflow errors (permanent ones fail without retries).
    """
    from airflow_provider_tiktok.api.errors import TikTokError, TikTokUploadExpiredError

    where = f" from byte {start_offset:,}" if start_offset else ""
    log.info(
        "Uploading %s (%s bytes, %s)%s in %d chunk(s) of %s bytes",
        video_file.display,
        f"{plan.video_size:,}",
        video_file.content_type,
        where,
        plan.total_chunk_count,
        f"{plan.chunk_size:,}",
    )
    progress = _progress_logger(log, start_offset)
    with video_file.open() as stream:
        try:
            client.upload(
                upload_url, plan, stream, video_file.content_type, start_offset=start_offset, progress=progress
            )
        except TikTokUploadExpiredError:
            raise
        except TikTokError as exc:
            raise to_airflow_error(exc, f"Uploading publish {publish_id}") from exc
    log.info("Upload of publish %s complete; TikTok is processing it", publish_id)


class _VideoOperator(_PublishingOperator):
    """Video parameters, preflight and init shared by the one-task publish and the step-by-step init."""

    template_fields: Sequence[str] = ("tiktok_conn_id", "video", "video_url", "title", "privacy_level")

    def __init__(
        self,
        *,
        video: str | os.PathLike[str] | ObjectStoragePath | None = None,
        video_url: str | None = None,
        title: str = "",
        privacy_level: str | None = None,
        allow_comment: bool = False,
        allow_duet: bool = False,
        allow_stitch: bool = False,
        brand_content_toggle: bool = False,
        brand_organic_toggle: bool = False,
        is_aigc: bool = False,
        video_cover_timestamp_ms: int | None = None,
        chunk_size: int = 10_000_000,
        unaudited: bool = False,
        verified_url_prefixes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (video is None) == (video_url is None):
            raise ValueError("give exactly one of video= (file upload) or video_url= (TikTok pulls the URL)")
        self.video = video
        self.video_url = video_url
        self.title = title
        self.privacy_level = privacy_level
        self.allow_comment = allow_comment
        self.allow_duet = allow_duet
        self.allow_stitch = allow_stitch
        self.brand_content_toggle = brand_content_toggle
        self.brand_organic_toggle = brand_organic_toggle
        self.is_aigc = is_aigc
        self.video_cover_timestamp_ms = video_cover_timestamp_ms
        self.chunk_size = chunk_size
        self.unaudited = unaudited
        self.verified_url_prefixes = list(verified_url_prefixes) if verified_url_prefixes else None

    @property
    def source_kind(self) -> str:
        return "FILE_UPLOAD" if self.video is not None else "PULL_FROM_URL"

    def post_info(self) -> Any:
        from airflow_provider_tiktok.api.models import VideoPostInfo

        return VideoPostInfo(
            title=self.title or "",
            privacy_level=self.privacy_level or None,
            disable_comment=not self.allow_comment,
            disable_duet=not self.allow_duet,
            disable_stitch=not self.allow_stitch,
            video_cover_timestamp_ms=self.video_cover_timestamp_ms,
            brand_content_toggle=self.brand_content_toggle,
            brand_organic_toggle=self.brand_organic_toggle,
            is_aigc=self.is_aigc,
        )

    def preflight_static(self, hook: TikTokHook) -> None:
        """Checks that need no API call: a bad caption or URL fails in a second, before any quota is spent."""
        from airflow_provider_tiktok.api import rules

        with _preflight_checks():
            rules.validate_video_post(
                self.post_info(),
                None,
                draft=self.draft,
                video_url=self.video_url,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            if self.video_url:
                _check_prefixes([("video_url", self.video_url)], self.verified_url_prefixes)

    def preflight(self, hook: TikTokHook, creator: CreatorInfo) -> tuple[VideoFile | None, Any]:
        """Checks against the creator's settings and the media itself; returns the inspected file and chunk plan."""
        from airflow_provider_tiktok.api import rules
        from airflow_provider_tiktok.api.chunks import plan_chunks
        from airflow_provider_tiktok.operators._source import inspect_video

        with _preflight_checks():
            video_file = inspect_video(self.video) if self.video is not None else None
            rules.validate_video_post(
                self.post_info(),
                creator,
                draft=self.draft,
                video_size=video_file.size if video_file else None,
                duration_s=video_file.duration_s if video_file else None,
                video_url=self.video_url,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            plan = plan_chunks(video_file.size, self.chunk_size) if video_file else None
        if video_file is not None:
            duration = f", {video_file.duration_s:.1f} s" if video_file.duration_s is not None else ""
            self.log.info(
                "Preflight passed: %s, %s bytes, %s%s",
                video_file.display,
                f"{video_file.size:,}",
                video_file.content_type,
                duration,
            )
        else:
            self.log.info("Preflight passed: TikTok will pull %s", self.video_url)
        return video_file, plan

    def init(self, context: Context, hook: TikTokHook, client: TikTokClient, journal: PublishJournal) -> str:
        """Creator info, preflight, init; persists the publish_id, plan and upload URL before any byte is sent."""
        from airflow_provider_tiktok.api.models import FileUploadSource, PullFromUrlSource

        creator = self.creator_info(client, context)
        video_file, plan = self.preflight(hook, creator)
        self.record_creator(context, journal, creator)
        self.clear_cap_wait(journal)
        source = FileUploadSource.from_plan(plan) if plan else PullFromUrlSource(str(self.video_url))
        post_info = self.post_info()
        result = self.init_call(
            context, journal, self.source_kind, lambda: client.init_video(source, post_info, draft=self.draft)
        )
        self.log.info("Initialised %s publish %s (%s)", self.mode, result.publish_id, self.source_kind)
        record: dict[str, Any] = {"phase": "initialised", "publish_id": result.publish_id, "mode": self.mode}
        if video_file is not None and plan is not None:
            if not result.upload_url:
                raise AirflowException(f"TikTok returned no upload URL for publish {result.publish_id}")
            UploadUrlVault.put(result.publish_id, result.upload_url)
            record.update(
                plan=plan.to_dict(),
                video_size=video_file.size,
                content_type=video_file.content_type,
                fingerprint=video_file.fingerprint,
                upload_issued_at=time.time(),
            )
        journal.update(**record)
        return str(result.publish_id)


class TikTokPublishVideoOperator(_VideoOperator):
    """Publish a video in one task: creator info, preflight, init, chunked upload, then wait (deferred) for TikTok.

    Give exactly one source: ``video`` (a local path, or any ``ObjectStoragePath``/URL such as ``s3://``, ``gs://``,
    ``file://``, streamed through fsspec and never loaded whole; sent with FILE_UPLOAD) or ``video_url`` (an https URL
    under a prefix verified for the app; TikTok pulls it with PULL_FROM_URL).

    Direct posts need an explicit ``privacy_level`` among the creator's options (TikTok forbids a default);
    comments, duets and stitches stay off unless allowed here and by the creator. ``draft=True`` uploads to the
    creator's inbox instead (no privacy needed); the task then ends at SEND_TO_USER_INBOX unless
    ``wait_for_creator_post=True``. Returns ``{publish_id, status, post_ids, post_url, creator_username, ...}``;
    with ``outlets=[Asset(...)]`` the asset event carries ``{publish_id, post_url, post_ids}``.

    A retry or a "Clear" never posts twice: see the module docstring.

    :param video: local path or ``ObjectStoragePath`` of an MP4, MOV or WebM file (templated).
    :param video_url: https URL for PULL_FROM_URL instead of ``video`` (templated).
    :param title: caption, at most 2200 UTF-16 units (templated).
    :param privacy_level: PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, FOLLOWER_OF_CREATOR or SELF_ONLY (templated).
    :param allow_comment: allow comments (off by default; an error if the creator turned them off).
    :param allow_duet: allow duets (same rules).
    :param allow_stitch: allow stitches (same rules).
    :param brand_content_toggle: paid partnership ("Branded content"); cannot be SELF_ONLY.
    :param brand_organic_toggle: promotes the creator's own business ("Your brand").
    :param is_aigc: label the video as AI-generated.
    :param video_cover_timestamp_ms: the frame used as cover.
    :param draft: upload to the creator's inbox instead of posting.
    :param wait_for_creator_post: for drafts, wait until the creator posts it in the app.
    :param chunk_size: preferred upload chunk size in bytes (fitted to TikTok's chunk rules).
    :param unaudited: the TikTok app is not audited: only SELF_ONLY is allowed (checked before any call).
    :param verified_url_prefixes: optional; check ``video_url`` against the app's verified prefixes before init.
    :param poll_interval: first delay between status polls while deferred, seconds (backs off to
        ``max_poll_interval``).
    :param wait_timeout: how long to wait for TikTok to finish after the upload.
    :param on_daily_cap: ``"defer"`` (wait out daily caps and rate limits without a worker slot) or ``"fail"``.
    :param cap_retry_interval: wait between attempts while capped (default 1 hour).
    :param cap_max_wait: give up (fail) after waiting this long in total (default 24 hours).
    :param api_max_attempts: attempts per API call inside one try (the client's own retries; default 5).
    """

    def start(self, context: Context, hook: TikTokHook, client: TikTokClient, journal: PublishJournal) -> str:
        from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError

        publish_id = self.init(context, hook, client, journal)
        if self.source_kind == "FILE_UPLOAD":
            record = journal.load()
            upload_url = UploadUrlVault.get(publish_id)
            if upload_url is None:
                raise AirflowException(f"The upload URL of publish {publish_id} could not be read back")
            video_file = self.video_file_for(record)
            try:
                upload_video(
                    self.log, client, publish_id, upload_url, self.plan_for(record), video_file, start_offset=0
                )
            except TikTokUploadExpiredError as exc:
                raise AirflowException(f"The fresh upload URL of publish {publish_id} was refused: {exc}") from exc
            self.upload_done(journal, publish_id)
        return publish_id

    def video_file_for(self, record: Mapping[str, Any]) -> VideoFile:
        from airflow_provider_tiktok.api.errors import TikTokValidationError
        from airflow_provider_tiktok.operators._source import inspect_video

        try:
            return inspect_video(self.video)  # type: ignore[arg-type]
        except TikTokValidationError as exc:
            raise AirflowFailException(f"Cannot read the video: {exc}") from exc

    @staticmethod
    def plan_for(record: Mapping[str, Any]) -> Any:
        from airflow_provider_tiktok.api.chunks import ChunkPlan

        return ChunkPlan(**record["plan"])

    def upload_done(self, journal: PublishJournal, publish_id: str) -> None:
        journal.update(phase="uploaded")
        UploadUrlVault.discard(publish_id, self.log)

    def resume_upload(
        self,
        context: Context,
        client: TikTokClient,
        journal: PublishJournal,
        record: Mapping[str, Any],
        status: PublishStatus,
    ) -> bool:
        from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError

        publish_id = record["publish_id"]
        plan = self.plan_for(record)
        uploaded = status.uploaded_bytes or 0
        if uploaded >= plan.video_size:
            self.log.info("Resume: all %s bytes of publish %s were uploaded; waiting for TikTok", uploaded, publish_id)
            return False
        video_file = self.video_file_for(record)
        if video_file.fingerprint != record.get("fingerprint"):
            self.log.warning(
                "Resume: the video changed since publish %s was initialised; that upload is abandoned (without its "
                "remaining bytes it can never become a post) and a new init starts",
                publish_id,
            )
            return self.abandon(journal, record, publish_id)
        upload_url = UploadUrlVault.get(publish_id)
        if upload_url is None:
            self.log.warning(
                "Resume: the upload URL of publish %s is gone, so it can never complete; starting over with a new init",
                publish_id,
            )
            return self.abandon(journal, record, publish_id)
        self.log.info(
            "Resume: TikTok has %s of %s bytes of publish %s; continuing the upload from there",
            f"{uploaded:,}",
            f"{plan.video_size:,}",
            publish_id,
        )
        try:
            upload_video(self.log, client, publish_id, upload_url, plan, video_file, start_offset=uploaded)
        except TikTokUploadExpiredError as exc:
            self.log.warning(
                "Resume: the upload URL of publish %s expired or is unknown (HTTP %s); that publish can never "
                "complete, so starting over with a new init",
                publish_id,
                exc.http_status,
            )
            return self.abandon(journal, record, publish_id)
        self.upload_done(journal, publish_id)
        return False

    def abandon(self, journal: PublishJournal, record: Mapping[str, Any], publish_id: str) -> bool:
        UploadUrlVault.discard(publish_id, self.log)
        journal.update(superseded=[*record.get("superseded", []), publish_id], publish_id=None, phase=None)
        return True


class TikTokInitVideoOperator(_VideoOperator):
    """Step 1 of the step-by-step path: creator info, preflight and init; no bytes are sent.

    Returns ``{publish_id, mode, source, upload_plan, video_size, content_type, creator_username}`` for
    :class:`TikTokUploadVideoOperator` (FILE_UPLOAD) or :class:`~airflow_provider_tiktok.sensors.tiktok.
    TikTokPublishStatusSensor` (PULL_FROM_URL). The upload URL carries an upload token, so it is *not* in the XCom:
    it waits in an encrypted Airflow Variable keyed by the publish_id, which the upload task reads and deletes.

    A retry or "Clear" returns the earlier publish while it can still complete (not FAILED, upload URL younger than
    ~55 minutes or upload finished) instead of initialising a second one. Parameters as for
    :class:`TikTokPublishVideoOperator`.
    """

    operator_extra_links: Collection[BaseOperatorLink] = ()

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook()
        self.preflight_static(hook)
        client = hook.get_client()
        journal = PublishJournal.from_context(context, self.log)
        record = journal.load()
        if record.get("phase") and self.earlier_init_usable(client, record):
            self.log.info(
                "Returning publish %s initialised by an earlier try; not initialising again", record["publish_id"]
            )
        else:
            self.init(context, hook, client, journal)
        result = self.init_result(journal.load())
        # Also as separate XComs, so downstream tasks can use init.output["publish_id"] / init.output["upload_plan"].
        for key in ("publish_id", "upload_plan"):
            context["ti"].xcom_push(key=key, value=result[key])
        return result

    def earlier_init_usable(self, client: TikTokClient, record: Mapping[str, Any]) -> bool:
        from airflow_provider_tiktok.api.errors import TikTokError

        publish_id = record.get("publish_id")
        if not publish_id:
            return not self.after_unfinished_init(record)
        try:
            status = client.fetch_status(publish_id)
        except TikTokError as exc:
            if exc.retryable:
                raise to_airflow_error(exc, f"Checking earlier publish {publish_id}") from exc
            self.log.warning("TikTok no longer knows publish %s (%s); initialising again", publish_id, exc)
            return False
        if status.status == FAILED:
            self.log.warning("Earlier publish %s FAILED (%s); initialising again", publish_id, status.fail_reason)
            return False
        if record.get("source") != "FILE_UPLOAD" or status.status != "PROCESSING_UPLOAD":
            return True
        if (status.uploaded_bytes or 0) >= int(record.get("video_size") or 0):
            return True
        age = time.time() - float(record.get("upload_issued_at") or 0)
        if age >= _UPLOAD_URL_TTL - _UPLOAD_URL_MARGIN:
            why = f"its upload URL is expired or about to (issued {age:.0f} s ago)"
        elif UploadUrlVault.get(publish_id) is None:
            why = "its upload URL is no longer stored (the upload task found it expired)"
        else:
            return True
        self.log.warning("Earlier publish %s can never complete: %s; initialising again", publish_id, why)
        UploadUrlVault.discard(publish_id, self.log)
        return False

    def init_result(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "publish_id": record["publish_id"],
            "mode": record.get("mode"),
            "source": record.get("source"),
            "upload_plan": record.get("plan"),
            "video_size": record.get("video_size"),
            "content_type": record.get("content_type"),
            "creator_username": record.get("creator_username"),
        }


class TikTokUploadVideoOperator(_TikTokOperator):
    """Step 2 of the step-by-step path: stream the file to the upload URL of an initialised publish.

    Reads the upload URL from the Variable :class:`TikTokInitVideoOperator` stored (never from XCom), uploads the
    planned chunks with progress logs, and deletes the Variable. A retry asks TikTok how many bytes arrived and
    continues from there. If the URL expired (one hour), the upload cannot complete: clear the init task too.
    Returns ``{publish_id, uploaded_bytes, video_size}``; wait for the result with ``TikTokPublishStatusSensor``.

    :param publish_id: from the init task's XCom (templated).
    :param video: the same file the init task planned (templated).
    :param upload_plan: the init task's ``upload_plan`` (templated); re-planned from the file and ``chunk_size`` if
        omitted.
    """

    template_fields: Sequence[str] = ("tiktok_conn_id", "publish_id", "video", "upload_plan")

    def __init__(
        self,
        *,
        publish_id: str,
        video: str | os.PathLike[str] | ObjectStoragePath,
        upload_plan: Mapping[str, int] | None = None,
        chunk_size: int = 10_000_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.publish_id = publish_id
        self.video = video
        self.upload_plan = upload_plan
        self.chunk_size = chunk_size

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_tiktok.api.chunks import ChunkPlan, plan_chunks
        from airflow_provider_tiktok.api.errors import TikTokError, TikTokUploadExpiredError, TikTokValidationError
        from airflow_provider_tiktok.operators._source import inspect_video

        publish_id = str(self.publish_id)
        try:
            video_file = inspect_video(self.video)
        except TikTokValidationError as exc:
            raise AirflowFailException(f"Cannot read the video: {exc}") from exc
        upload_plan = _as_mapping(self.upload_plan, "upload_plan")
        plan = ChunkPlan(**upload_plan) if upload_plan else plan_chunks(video_file.size, self.chunk_size)
        if plan.video_size != video_file.size:
            raise AirflowFailException(
                f"{video_file.display} is {video_file.size:,} bytes but publish {publish_id} was initialised for "
                f"{plan.video_size:,}; clear the init task to start over with this file"
            )
        client = self.hook().get_client()
        try:
            status = client.fetch_status(publish_id)
        except TikTokError as exc:
            raise to_airflow_error(exc, f"Checking publish {publish_id}") from exc
        uploaded = status.uploaded_bytes or 0
        result = {"publish_id": publish_id, "uploaded_bytes": plan.video_size, "video_size": plan.video_size}
        if status.status != "PROCESSING_UPLOAD" or uploaded >= plan.video_size:
            self.log.info("Publish %s is %s with all bytes uploaded; nothing to send", publish_id, status.status)
            UploadUrlVault.discard(publish_id, self.log)
            return result
        upload_url = UploadUrlVault.get(publish_id)
        if upload_url is None:
            raise AirflowFailException(
                f"No upload URL is stored for publish {publish_id} (it is kept only until the upload completes); "
                "clear the init task to initialise a new publish"
            )
        if uploaded:
            self.log.info(
                "TikTok already has %s bytes of publish %s; continuing from there", f"{uploaded:,}", publish_id
            )
        try:
            upload_video(self.log, client, publish_id, upload_url, plan, video_file, start_offset=uploaded)
        except TikTokUploadExpiredError as exc:
            UploadUrlVault.discard(publish_id, self.log)
            raise AirflowFailException(
                f"The upload URL of publish {publish_id} expired or is unknown (HTTP {exc.http_status}); that publish "
                "can never complete. Clear the init task (and this one) to initialise a new publish."
            ) from exc
        UploadUrlVault.discard(publish_id, self.log)
        return result


class TikTokPhotoPostOperator(_PublishingOperator):
    """Post a photo carousel (1 to 35 JPEG/WebP URLs TikTok pulls), directly or as a draft, then wait for it.

    Direct posts (DIRECT_POST) need an explicit ``privacy_level`` among the creator's options; drafts (MEDIA_UPLOAD)
    go to the creator's inbox and end at SEND_TO_USER_INBOX unless ``wait_for_creator_post=True``. Photo posts
    have only "Allow Comment" (off by default). Returns ``{publish_id, status, post_ids, post_url, ...}`` with a
    ``/photo/`` post URL.

    :param photo_images: 1..35 https URLs under a prefix verified for the app (templated).
    :param photo_cover_index: 0-based index of the cover photo.
    :param title: at most 90 UTF-16 units (templated).
    :param description: at most 4000 UTF-16 units (templated).
    :param privacy_level: required for direct posts (templated).
    :param allow_comment: allow comments (off by default).
    :param auto_add_music: let TikTok add recommended music (direct posts).
    :param brand_content_toggle: paid partnership; cannot be SELF_ONLY.
    :param brand_organic_toggle: promotes the creator's own business.
    :param is_aigc: label the post as AI-generated.
    :param verified_url_prefixes: optional; check every photo URL against them before init.
    """

    template_fields: Sequence[str] = ("tiktok_conn_id", "photo_images", "title", "description", "privacy_level")
    is_photo = True

    def __init__(
        self,
        *,
        photo_images: Sequence[str],
        photo_cover_index: int = 0,
        title: str = "",
        description: str = "",
        privacy_level: str | None = None,
        allow_comment: bool = False,
        auto_add_music: bool = False,
        brand_content_toggle: bool = False,
        brand_organic_toggle: bool = False,
        is_aigc: bool = False,
        unaudited: bool = False,
        verified_url_prefixes: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.photo_images = photo_images
        self.photo_cover_index = photo_cover_index
        self.title = title
        self.description = description
        self.privacy_level = privacy_level
        self.allow_comment = allow_comment
        self.auto_add_music = auto_add_music
        self.brand_content_toggle = brand_content_toggle
        self.brand_organic_toggle = brand_organic_toggle
        self.is_aigc = is_aigc
        self.unaudited = unaudited
        self.verified_url_prefixes = list(verified_url_prefixes) if verified_url_prefixes else None

    def post_parts(self) -> tuple[Any, Any]:
        from airflow_provider_tiktok.api.models import PhotoPostInfo, PhotoSource

        info = PhotoPostInfo(
            title=self.title or "",
            description=self.description or "",
            privacy_level=self.privacy_level or None,
            disable_comment=not self.allow_comment,
            auto_add_music=self.auto_add_music,
            brand_content_toggle=self.brand_content_toggle,
            brand_organic_toggle=self.brand_organic_toggle,
        )
        images = [self.photo_images] if isinstance(self.photo_images, str) else list(self.photo_images)
        return info, PhotoSource(photo_images=images, photo_cover_index=self.photo_cover_index)

    def validate(self, hook: TikTokHook, creator: CreatorInfo | None) -> None:
        from airflow_provider_tiktok.api import rules

        info, source = self.post_parts()
        with _preflight_checks():
            rules.validate_photo_post(
                info,
                source,
                creator,
                draft=self.draft,
                allow_http=hook.allow_http_media_urls,
                unaudited=self.unaudited,
            )
            _check_prefixes(
                [(f"photo_images[{i}]", u) for i, u in enumerate(source.photo_images)], self.verified_url_prefixes
            )

    def preflight_static(self, hook: TikTokHook) -> None:
        self.validate(hook, None)

    def start(self, context: Context, hook: TikTokHook, client: TikTokClient, journal: PublishJournal) -> str:
        creator = self.creator_info(client, context)
        self.validate(hook, creator)
        self.log.info(
            "Preflight passed: %d photo(s), cover #%d", len(self.post_parts()[1].photo_images), self.photo_cover_index
        )
        self.record_creator(context, journal, creator)
        self.clear_cap_wait(journal)
        info, source = self.post_parts()
        result = self.init_call(
            context,
            journal,
            "PHOTO_PULL_FROM_URL",
            lambda: client.init_photo(source, info, draft=self.draft, is_aigc=self.is_aigc),
        )
        self.log.info("Initialised %s photo publish %s", self.mode, result.publish_id)
        journal.update(phase="initialised", publish_id=result.publish_id, mode=self.mode)
        return str(result.publish_id)
