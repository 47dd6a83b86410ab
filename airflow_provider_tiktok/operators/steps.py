"""The step-by-step path: init and upload as separate, visible tasks (wait with ``TikTokPublishStatusSensor``)."""

from __future__ import annotations

import ast
import json
import os
import time
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_tiktok.operators._common import UploadUrlVault, to_airflow_error
from airflow_provider_tiktok.operators.args import check_int, check_path_like, check_text
from airflow_provider_tiktok.operators.base import TikTokBaseOperator
from airflow_provider_tiktok.operators.upload import UploadRun
from airflow_provider_tiktok.operators.video import VideoArguments, preflight_errors
from airflow_provider_tiktok.publishing.decide import Action

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_tiktok.publishing.record import PublishRecord


class TikTokInitVideoOperator(VideoArguments):
    """Step 1 of the step-by-step path: creator info, preflight and init; no bytes are sent.

    Returns ``{publish_id, mode, source, upload_plan, video_size, content_type, creator_username}`` for
    :class:`TikTokUploadVideoOperator` (FILE_UPLOAD) or :class:`~airflow_provider_tiktok.sensors.tiktok.
    TikTokPublishStatusSensor` (PULL_FROM_URL). The upload URL carries an upload token, so it is *not* in the XCom:
    it waits in an encrypted Airflow Variable keyed by the publish_id, which the upload task reads and deletes.

    A retry, a "Clear" or a run with the same ``idempotency_key`` returns the earlier publish while it can still
    complete (not FAILED, upload URL younger than ~55 minutes or upload finished) instead of initialising a second
    one: the same ledger and decision as :class:`~airflow_provider_tiktok.operators.video.TikTokPublishVideoOperator`.
    """

    operator_extra_links: Collection[BaseOperatorLink] = ()

    def run(self, context: Context, waiting_since: float | None = None) -> dict[str, object]:
        post, video, hook, client, ledger, record, decision = self.begin(context, waiting_since, "init")
        if decision.action is Action.START_FRESH:
            record = self.start(
                context, hook, client, ledger, record, decision, post, video, waiting_since, upload=False
            )
        assert record is not None and record.publish_id is not None
        result = init_result(record)
        # Also as separate XComs, so downstream tasks can use init.output["publish_id"] / init.output["upload_plan"].
        for key in ("publish_id", "upload_plan"):
            context["ti"].xcom_push(key=key, value=result[key])
        return result


def init_result(record: PublishRecord) -> dict[str, object]:
    return {
        "publish_id": record.publish_id,
        "mode": record.mode,
        "source": record.source,
        "upload_plan": record.plan.to_dict() if record.plan else None,
        "video_size": record.plan.video_size if record.plan else None,
        "content_type": record.content_type,
        "creator_username": record.creator_username,
        "idempotency_key": record.key,
    }


def _as_mapping(value: object, name: str) -> Mapping[str, int] | None:
    """Accept an XCom dict as is, or as the string a Jinja template renders it to (without native rendering)."""
    if value is None or value == "" or isinstance(value, Mapping):
        return value or None  # type: ignore[return-value]
    try:
        parsed = json.loads(str(value))
    except ValueError:
        try:
            parsed = ast.literal_eval(str(value))
        except (ValueError, SyntaxError):
            parsed = None
    if not isinstance(parsed, Mapping):
        raise AirflowFailException(f"{name} must be a dict (the init task's upload_plan), got {value!r}")
    return parsed


class TikTokUploadVideoOperator(TikTokBaseOperator):
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
        check_path_like("video", video)
        self.publish_id = publish_id
        self.video = video
        self.upload_plan = upload_plan
        self.chunk_size = check_int("chunk_size", chunk_size, minimum=1)

    def execute(self, context: Context) -> dict[str, object]:
        return self.run(context)

    def run(self, context: Context, waiting_since: float | None = None) -> dict[str, object]:
        from airflow_provider_tiktok.api.chunks import ChunkPlan, plan_chunks
        from airflow_provider_tiktok.api.errors import TikTokError
        from airflow_provider_tiktok.operators._source import inspect_video
        from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

        self.check_rendered()
        publish_id = check_text("publish_id", self.publish_id, required=True)
        check_path_like("video", self.video)
        with preflight_errors():
            video = inspect_video(self.video)
        upload_plan = _as_mapping(self.upload_plan, "upload_plan")
        plan = ChunkPlan(**upload_plan) if upload_plan else plan_chunks(video.size, self.chunk_size or 10_000_000)
        if plan.video_size != video.size:
            raise AirflowFailException(
                f"video: {video.display} is {video.size:,} bytes but publish {publish_id} was initialised for "
                f"{plan.video_size:,}; clear the init task to start over with this file"
            )
        client = self.client(self.hook())  # paced: a full status budget sleeps (at most a window) before the check
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
        # This step has no ledger entry of its own (the init task's entry is keyed by the init task), so it resumes
        # from TikTok's uploaded_bytes without chunk digests.
        record = PublishRecord(
            account=f"conn:{self.tiktok_conn_id}",
            key=f"upload:{publish_id}",
            phase=Phase.INITIALISED,
            media="video",
            mode="direct",
            source="FILE_UPLOAD",
            owner=self.task_id,
            created_at=time.time(),
            updated_at=time.time(),
            publish_id=publish_id,
            plan=plan,
            content_type=video.content_type,
            fingerprint=video.fingerprint,
        )
        from airflow_provider_tiktok.api.errors import TikTokUploadExpiredError

        try:
            UploadRun(self.log, client, None, record, video).send(upload_url, uploaded)
        except TikTokUploadExpiredError as exc:
            UploadUrlVault.discard(publish_id, self.log)
            raise AirflowFailException(
                f"The upload URL of publish {publish_id} expired or is unknown (HTTP {exc.http_status}); that publish "
                "can never complete. Clear the init task (and this one) to initialise a new publish."
            ) from exc
        UploadUrlVault.discard(publish_id, self.log)
        return result
