"""``TikTokResolvePostIdOperator``: find the public post id TikTok did not report, and record it in the ledger.

TikTok fills status/fetch's ``publicaly_available_post_id`` only once a public post passed moderation, and peers
report it staying empty for good; until then the ledger entry (and the "View on TikTok" link) points at the profile.
The resolver asks, in order: the ledger (already known: nothing to do), the webhook facts the receiver kept beside
the entry (``post.publish.publicly_available`` carries the id), status/fetch (the id may have arrived), then
the creator's video list (``/v2/video/list/``, scope ``video.list``, newest first), matching a video created within
``window`` after the publish's init and whose title is the publish's caption (TikTok cuts titles to 150
characters). Found: the ledger entry gets the post ids, the post URL and the status, and the task returns them and
emits an asset event on its outlets (``{publish_id, post_url, post_ids}``, as the publishing operators do).

Not found while the window is open: a plain ``AirflowException`` (give the task ``retries`` and a ``retry_delay``
that span the window). Not found after it, a failed publish, an ambiguous match or no ledger entry: fails without
retries.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_tiktok.links import TikTokPostLink
from airflow_provider_tiktok.operators._common import PUBLISH_COMPLETE, post_url
from airflow_provider_tiktok.operators.args import check_duration, check_text
from airflow_provider_tiktok.operators.base import TikTokBaseOperator

if TYPE_CHECKING:
    from airflow.sdk import BaseOperatorLink, Context

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.display import Video
    from airflow_provider_tiktok.api.models import PublishStatus
    from airflow_provider_tiktok.publishing.ledger import PublishLedger
    from airflow_provider_tiktok.publishing.record import PublishRecord

TITLE_LIMIT = 150  # the Video Object's title: "Max length: 150"
SHORTEST_CUT = 100  # a listed title this long that begins our caption counts as the caption, cut by TikTok
CLOCK_SKEW = 120.0  # seconds: the worker's clock (ledger times) against TikTok's (create_time, whole seconds)


def normalise(text: str | None) -> str:
    return " ".join((text or "").split())


def title_matches(listed: str | None, caption: str) -> bool:
    """The listed title is our caption, or TikTok's cut of it (150 characters; we allow a cut from 100 on, in case
    TikTok counts UTF-16 units or bytes)."""
    a, b = normalise(listed), normalise(caption)
    return a == b or (len(a) >= SHORTEST_CUT and b.startswith(a))


def matching(videos: Iterable[Video], caption: str, start: float, end: float) -> list[Video]:
    """Videos created in ``[start - CLOCK_SKEW, end]`` (epoch seconds) whose title is ``caption``."""
    return [
        v
        for v in videos
        if v.create_time is not None and start - CLOCK_SKEW <= v.create_time <= end and title_matches(v.title, caption)
    ]


class TikTokResolvePostIdOperator(TikTokBaseOperator):
    """Resolve the public post id of the publish recorded under ``idempotency_key``; update its ledger entry.

    :param idempotency_key: the publish's ledger key (the ``idempotency_key`` its publishing task was given; without
        one, the task-instance key ``ti:<dag_id>/<run_id>/<task_id>/<map_index>``). Templated.
    :param window: how long after the publish's init the post may appear (its create time, and how long retries
        keep looking); a timedelta or seconds. Default 24 hours.
    :param outlets: assets that get an event with ``{publish_id, post_url, post_ids}`` once the id is known.
    :returns: ``{publish_id, idempotency_key, status, post_ids, post_url, resolved_by}``; ``resolved_by`` is
        ``ledger``, ``webhook``, ``status`` or ``video_list``.
    """

    template_fields: Sequence[str] = ("tiktok_conn_id", "idempotency_key")
    operator_extra_links: Collection[BaseOperatorLink] = (TikTokPostLink(),)

    def __init__(self, *, idempotency_key: str, window: timedelta | float = timedelta(hours=24), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idempotency_key = idempotency_key
        self.window = check_duration("window", window)

    def check_rendered(self) -> None:
        super().check_rendered()
        check_text("idempotency_key", self.idempotency_key, required=True)

    def execute(self, context: Context) -> dict[str, object]:
        return self.run(context)

    def run(self, context: Context, waiting_since: float | None = None) -> dict[str, object]:
        from airflow_provider_tiktok.publishing.ledger import PublishLedger, SdkVariables, account_of
        from airflow_provider_tiktok.publishing.record import Phase
        from airflow_provider_tiktok.webhooks.facts import with_facts

        self.check_rendered()
        hook = self.hook()
        client = self.client(hook)
        ledger = PublishLedger(
            account_of(hook.settings.open_id, self.tiktok_conn_id), self.idempotency_key, SdkVariables()
        )
        record = ledger.load()
        if record is None:
            raise AirflowFailException(
                f"No publish of key {self.idempotency_key!r} in the ledger of {self.tiktok_conn_id!r}; "
                "`airflow-tiktok history` lists the keys"
            )
        told = with_facts(record, SdkVariables(), time.time())  # what TikTok's webhooks said, kept beside the entry
        if told.post_ids and told.post_ids == record.post_ids:
            self.log.info("Key %s: the ledger already has post id(s) %s", record.key, ", ".join(record.post_ids))
            return self.finish(context, record, "ledger")
        if told.post_ids:
            self.log.info("Key %s: TikTok's webhook gave post id(s) %s", record.key, ", ".join(told.post_ids))
            return self.finish(context, self.save(ledger, record, told.post_ids, told.status), "webhook")
        record = told  # a webhook may have withdrawn the ids (the post is no longer public): look again
        start = record.init_sent_at or record.created_at
        end = start + self.window.total_seconds()
        if record.phase is Phase.FAILED:
            raise AirflowFailException(f"Key {record.key}: the publish failed ({record.fail_reason or record.error})")
        if record.phase is not Phase.DONE or record.publish_id is None:
            self.not_yet(record, end, f"the publish is still {record.phase.value}")
        publish_id = record.publish_id
        status = self.ask(context, client, publish_id, waiting_since)
        if status is not None:
            if status.is_failed:
                raise AirflowFailException(f"Key {record.key}: publish {publish_id} FAILED ({status.fail_reason})")
            if status.post_ids:
                ids = tuple(str(i) for i in status.post_ids)
                return self.finish(context, self.save(ledger, record, ids, status.status), "status")
            if status.status != PUBLISH_COMPLETE:
                self.not_yet(record, end, f"TikTok reports {status.status} (not posted yet)")
        found = self.search(context, client, record, start, end, waiting_since)
        self.log.info("Key %s: found post %s in the video list (created %s)", record.key, found.id, found.create_time)
        done = status.status if status is not None else record.status
        return self.finish(context, self.save(ledger, record, (found.id,), done), "video_list")

    def ask(
        self, context: Context, client: TikTokClient, publish_id: str, waiting_since: float | None
    ) -> PublishStatus | None:
        """The publish's status; None when TikTok no longer knows the publish (the video list may still find it)."""
        from airflow_provider_tiktok.api.errors import ErrorKind, TikTokError

        try:
            return client.fetch_status(publish_id)
        except TikTokError as exc:
            if exc.kind is ErrorKind.PERMANENT and not exc.code.startswith("scope_"):
                self.log.warning("Status of publish %s unavailable (%s); looking in the video list", publish_id, exc)
                return None
            self.wait_or_raise(context, exc, f"Checking the status of publish {publish_id}", waiting_since)

    def search(
        self,
        context: Context,
        client: TikTokClient,
        record: PublishRecord,
        start: float,
        end: float,
        waiting_since: float | None,
    ) -> Video:
        from airflow_provider_tiktok.api.display import DisplayClient
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            with DisplayClient(client) as api:
                candidates = matching(api.iter_videos(created_after=start - CLOCK_SKEW), record.title, start, end)
        except TikTokError as exc:
            self.wait_or_raise(
                context, exc, "Listing the creator's videos (/v2/video/list/, scope video.list)", waiting_since
            )
        if len(candidates) > 1:
            raise AirflowFailException(
                f"Key {record.key}: {len(candidates)} videos created in the window have this caption "
                f"({', '.join(v.id for v in candidates)}); cannot tell which is publish {record.publish_id}"
            )
        if not candidates:
            self.not_yet(record, end, "no video with its caption and create time in the video list yet")
        return candidates[0]

    def not_yet(self, record: PublishRecord, end: float, why: str) -> NoReturn:
        """Retry while the window is open; fail once it closed."""
        from airflow_provider_tiktok.operators.metrics import iso

        if time.time() < end:
            raise AirflowException(
                f"Key {record.key}: {why}; trying again on the next retry (the window closes at {iso(end)})"
            )
        raise AirflowFailException(
            f"Key {record.key}: {why}, and the window of {self.window} after the publish closed at {iso(end)}: "
            "the post is private, was removed, or its caption differs (post ids appear only for public posts)"
        )

    def save(
        self, ledger: PublishLedger, record: PublishRecord, post_ids: tuple[str, ...], status: str | None
    ) -> PublishRecord:
        """Record the ids in the ledger entry (and in its stored result, which a rerun of the publish returns)."""
        current = ledger.load() or record  # the freshest copy: keep whatever else changed meanwhile
        url = post_url(current.creator_username, list(post_ids), photo=current.media == "photo")
        result = dict(current.result)
        if result:
            result.update(post_ids=list(post_ids), post_url=url)
        return ledger.save(current.evolve(time.time(), post_ids=post_ids, post_url=url, status=status, result=result))

    def finish(self, context: Context, record: PublishRecord, resolved_by: str) -> dict[str, object]:
        from airflow_provider_tiktok.operators.results import publish_outputs

        result: dict[str, object] = {
            "publish_id": record.publish_id,
            "idempotency_key": record.key,
            "status": record.status,
            "post_ids": list(record.post_ids),
            "post_url": record.post_url,
            "resolved_by": resolved_by,
        }
        publish_outputs(self.log, self.outlets, context, result)
        return result
