"""``TikTokVideoMetricsOperator``: a snapshot of the posts' counts from TikTok's Display API, as rows ready to load.

Which posts: ``post_ids`` (TikTok video ids), and/or ``idempotency_keys``, each looked up in the publish ledger of
this connection's account (``publishing/ledger.py``), with the post id a webhook gave when the entry has none. A
task cannot *list* the ledger (that needs the metadata DB, and tasks reach Variables only one key at a time through
the API server), so the keys are named: the same keys the publishing tasks were given (calendar row ids, YouTube
ids, ...). To measure every post as it is published, without naming anything, read the publishing tasks' events on
``assets.published_posts()`` instead, as ``dags_examples/tiktok_post_performance.py`` does. Entries without a post
id yet are skipped with a warning naming ``TikTokResolvePostIdOperator``.

One ``/v2/video/query/`` call per 20 ids (scope ``video.list``; TikTok allows 600 a minute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_tiktok.operators.args import TikTokArgumentError, check_str_list
from airflow_provider_tiktok.operators.base import TikTokBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tiktok.api.display import Video
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook
    from airflow_provider_tiktok.publishing.record import PublishRecord

METRIC_FIELDS = (
    "id",
    "create_time",
    "title",
    "duration",
    "cover_image_url",
    "share_url",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
)


def check_post_ids(field: str, value: object) -> list[str]:
    """TikTok video ids (strings of digits; Python ints accepted), each once."""
    from airflow_provider_tiktok.api.display import check_video_ids
    from airflow_provider_tiktok.api.errors import TikTokValidationError

    if value is None:
        return []
    items = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(items, list | tuple):
        raise TikTokArgumentError(field, f"must be a list of TikTok video ids, got {type(value).__name__} {value!r}")
    try:
        return check_video_ids(items, field)
    except TikTokValidationError as exc:
        raise TikTokArgumentError(exc.field or field, exc.message) from None


def check_since(field: str, value: object) -> float | None:
    """A point in time: a datetime (naive means UTC), an ISO-8601 string (a rendered ``{{ data_interval_start }}``)
    or epoch seconds; as epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise TikTokArgumentError(field, f"must be an ISO-8601 time, got {value!r}") from None
    if not isinstance(value, datetime):
        raise TikTokArgumentError(field, f"must be a datetime, ISO-8601 string or epoch seconds, got {value!r}")
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass(frozen=True)
class Origin:
    """Where a post id came from: its publish, when the ledger knows it."""

    publish_id: str | None = None
    idempotency_key: str | None = None


class TikTokVideoMetricsOperator(TikTokBaseOperator):
    """Counts and details of the given posts now: one JSON row per video, ready to load into a table.

    Each row: ``snapshot_at`` (ISO-8601 UTC, one per task run), ``account`` (the ledger's account: the open_id),
    ``conn_id``, ``post_id``, ``publish_id`` and ``idempotency_key`` (when the post came from the ledger),
    ``view_count``, ``like_count``, ``comment_count``, ``share_count``, ``duration`` (s), ``title``,
    ``cover_image_url`` (expires after 6 h), ``share_url`` and ``create_time`` (ISO-8601 UTC).
    Ids TikTok does not return (deleted, taken down, not public, another account's) are logged and left out.

    :param post_ids: TikTok video ids (templated; strings: they exceed 2**53).
    :param idempotency_keys: publish ledger keys of this connection (templated); their post ids are measured.
    :param since: only ledger entries created at or after this time (templated: datetime, ISO string, epoch).
    """

    template_fields: Sequence[str] = ("tiktok_conn_id", "post_ids", "idempotency_keys", "since")

    def __init__(
        self,
        *,
        post_ids: list[str] | str | None = None,
        idempotency_keys: list[str] | str | None = None,
        since: datetime | str | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if post_ids is None and idempotency_keys is None:
            raise TikTokArgumentError(
                "post_ids", "give post_ids, idempotency_keys (publish ledger keys of this connection), or both"
            )
        self.post_ids = post_ids
        self.idempotency_keys = idempotency_keys
        self.since = since

    def check_rendered(self) -> None:
        super().check_rendered()
        check_post_ids("post_ids", self.post_ids)
        if self.idempotency_keys is not None:
            check_str_list("idempotency_keys", self.idempotency_keys)
        check_since("since", self.since)

    def execute(self, context: Context) -> list[dict[str, object]]:
        return self.run(context)

    def run(self, context: Context, waiting_since: float | None = None) -> list[dict[str, object]]:
        import time

        from airflow_provider_tiktok.api.errors import TikTokError

        self.check_rendered()
        hook = self.hook()
        client = self.client(hook)
        origins = self.wanted(hook)
        if not origins:
            self.log.info("No post ids to measure")
            return []
        snapshot = time.time()
        from airflow_provider_tiktok.api.display import DisplayClient

        try:
            with DisplayClient(client) as api:
                videos = api.query_videos(list(origins), METRIC_FIELDS)
        except TikTokError as exc:
            self.wait_or_raise(
                context, exc, "Querying video metrics (/v2/video/query/, scope video.list)", waiting_since
            )
        found = {v.id for v in videos}
        missing = [i for i in origins if i not in found]
        if missing:
            self.log.warning(
                "TikTok returned no video for %d id(s) (deleted, taken down, not public, or another account's): %s",
                len(missing),
                ", ".join(missing),
            )
        account = self.account(hook)
        rows = [self.row(v, origins[v.id], account, snapshot) for v in videos]
        self.log.info("Metrics of %d video(s) at %s", len(rows), iso(snapshot))
        return rows

    def account(self, hook: TikTokHook) -> str:
        from airflow_provider_tiktok.publishing.ledger import account_of

        return account_of(hook.settings.open_id, self.tiktok_conn_id)

    def wanted(self, hook: TikTokHook) -> dict[str, Origin]:
        """Every post id to measure, in order, with its publish when the ledger knows it."""
        origins = {post_id: Origin() for post_id in check_post_ids("post_ids", self.post_ids)}
        if self.idempotency_keys is None:
            return origins
        from airflow_provider_tiktok.publishing.ledger import PublishLedger, SdkVariables
        from airflow_provider_tiktok.webhooks.facts import with_facts

        since = check_since("since", self.since)
        account = self.account(hook)
        for key in check_str_list("idempotency_keys", self.idempotency_keys):
            record = PublishLedger(account, key, SdkVariables()).load()
            if record is not None and not record.post_ids:  # the receiver keeps webhook facts beside the entry
                record = with_facts(record, SdkVariables(), record.updated_at)
            if record is None:
                self.log.warning("Key %r: no publish of it in the ledger of %s; skipped", key, self.tiktok_conn_id)
            elif since is not None and record.created_at < since:
                self.log.info("Key %r: published before %s; skipped", key, iso(since))
            elif not record.post_ids:
                self.log.warning(
                    "Key %r (publish %s): no post id yet (private, in moderation, or TikTok left it empty); "
                    "TikTokResolvePostIdOperator can find it",
                    key,
                    record.publish_id,
                )
            else:
                for post_id in record.post_ids:
                    origins[post_id] = self.origin(record)
        return origins

    @staticmethod
    def origin(record: PublishRecord) -> Origin:
        return Origin(publish_id=record.publish_id, idempotency_key=record.key)

    def row(self, video: Video, origin: Origin, account: str, snapshot: float) -> dict[str, object]:
        return {
            "snapshot_at": iso(snapshot),
            "account": account,
            "conn_id": self.tiktok_conn_id,
            "post_id": video.id,
            "publish_id": origin.publish_id,
            "idempotency_key": origin.idempotency_key,
            "view_count": video.view_count,
            "like_count": video.like_count,
            "comment_count": video.comment_count,
            "share_count": video.share_count,
            "duration": video.duration,
            "title": video.title,
            "cover_image_url": video.cover_image_url,
            "share_url": video.share_url,
            "create_time": iso(video.create_time),
        }
