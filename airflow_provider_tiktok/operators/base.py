"""What every TikTok operator shares: the connection, the hook, creator info and waiting out TikTok's limits.

Daily caps (``spam_risk_too_many_posts``, ``spam_risk_too_many_pending_share``, ``reached_active_user_cap``), rate
limits that outlast the client's retries, and "another task is on this key" are waited out by deferring to a
``DateTimeTrigger`` (no worker slot held) and trying again, up to ``cap_max_wait`` counted from the *first* wait (the
start travels in the deferral's kwargs); with ``on_daily_cap="fail"`` the task fails at once instead.

Every attempt of an init, a creator_info call or a status check is first counted in the account's budget by the
client's pacer (:mod:`airflow_provider_tiktok.budgets.pacer`); a full budget the operator defers for
(``BudgetWait``) is waited out the same way, for exactly the time the budget computes, instead of sending the call
and discovering a 429.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_tiktok.operators._common import post_url, to_airflow_error
from airflow_provider_tiktok.operators.args import (
    check_choice,
    check_duration,
    check_int,
    check_optional_text,
    check_text,
)
from airflow_provider_tiktok.triggers.queue import TriggerQueueMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.api.errors import TikTokError
    from airflow_provider_tiktok.api.models import CreatorInfo
    from airflow_provider_tiktok.budgets import Kind
    from airflow_provider_tiktok.budgets.pacer import BudgetWait
    from airflow_provider_tiktok.hooks.tiktok import TikTokHook

DEFAULT_CONN_ID = "tiktok_default"


@dataclass(frozen=True)
class Identity:
    """Who a post goes out as: creator info when the app may read it (always, for direct posts)."""

    username: str | None
    nickname: str | None
    creator: CreatorInfo | None


OnDailyCap = Literal["defer", "fail"]
RATE_LIMIT_WAIT = 60.0  # when a 429 carries no Retry-After and no budget knows better: TikTok's windows are a minute


class TikTokBaseOperator(TriggerQueueMixin, BaseOperator):
    """Connection handling, creator info and the wait policy shared by every TikTok operator."""

    template_fields: Sequence[str] = ("tiktok_conn_id",)
    ui_color = "#fe2c55"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        tiktok_conn_id: str = DEFAULT_CONN_ID,
        on_daily_cap: OnDailyCap = "defer",
        cap_retry_interval: timedelta | float = timedelta(hours=1),
        cap_max_wait: timedelta | float = timedelta(hours=24),
        api_max_attempts: int | None = None,
        trigger_queue: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tiktok_conn_id = tiktok_conn_id
        # Deferrals go to this triggerer queue (Airflow's [triggerer] queues_enabled); default [tiktok] trigger_queue.
        self.trigger_queue = check_optional_text("trigger_queue", trigger_queue)
        self.on_daily_cap: OnDailyCap = check_choice("on_daily_cap", on_daily_cap, ("defer", "fail"))  # type: ignore[assignment]
        self.cap_retry_interval = check_duration("cap_retry_interval", cap_retry_interval)
        self.cap_max_wait = check_duration("cap_max_wait", cap_max_wait)
        self.api_max_attempts = check_int("api_max_attempts", api_max_attempts, minimum=1, optional=True)

    def check_rendered(self) -> None:
        """Rendered template fields, checked before anything else runs (subclasses extend it)."""
        check_text("tiktok_conn_id", self.tiktok_conn_id, required=True)

    def hook(self) -> TikTokHook:
        from airflow_provider_tiktok.hooks.tiktok import TikTokHook

        if self.api_max_attempts is None:
            return TikTokHook(tiktok_conn_id=self.tiktok_conn_id)
        from airflow_provider_tiktok.api.client import RetryPolicy

        return TikTokHook(tiktok_conn_id=self.tiktok_conn_id, retry=RetryPolicy(max_attempts=self.api_max_attempts))

    def client(self, hook: TikTokHook, *, defer: Collection[Kind] = ()) -> TikTokClient:
        """The paced client (``defer``: kinds whose full budget defers the task rather than sleep); a connection
        that cannot work (missing, no secret, bad URL) fails without retries."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return hook.get_client(defer=defer)
        except (KeyError, ValueError, LookupError, AirflowNotFoundException) as exc:
            raise AirflowFailException(f"TikTok connection {self.tiktok_conn_id!r} cannot be used: {exc}") from exc

    def identify(
        self, client: TikTokClient, context: Context, *, draft: bool = False, since: float | None = None
    ) -> Identity:
        """Say who we post as (TikTok's UX rules). Drafts need only ``video.upload`` while creator_info needs
        ``video.publish``, so for a draft without it the name comes from ``/v2/user/info/``."""
        from airflow_provider_tiktok.api.errors import TikTokError
        from airflow_provider_tiktok.budgets.pacer import BudgetWait

        try:
            creator = client.creator_info()
        except BudgetWait as full:
            self.defer_for_budget(context, full, "Querying creator info", since)
        except TikTokError as exc:
            if draft and exc.code == "scope_not_authorized":
                return self._draft_identity(client)
            self.wait_or_raise(context, exc, "Querying creator info", since)
        self.log.info("Posting as %s (@%s)", creator.nickname, creator.username)
        return Identity(creator.username, creator.nickname, creator)

    def _draft_identity(self, client: TikTokClient) -> Identity:
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            user = client.user_info()
        except TikTokError as exc:
            self.log.info("Uploading a draft; the app may not read creator or user info (%s)", exc.code)
            return Identity(None, None, None)
        self.log.info("Uploading a draft to the inbox of %s (creator_info needs video.publish)", user.display_name)
        return Identity(user.username, user.display_name, None)

    def wait_or_raise(
        self,
        context: Context,
        exc: TikTokError,
        action: str,
        since: float | None = None,
        rate_limit_wait: float | None = None,
    ) -> NoReturn:
        """Daily caps and rate limits: defer and try again (or fail, per ``on_daily_cap``); other errors raise.

        A 429 waits for its Retry-After, else ``rate_limit_wait`` (what the budget computed), else a minute.
        """
        from airflow_provider_tiktok.api.errors import TikTokDailyCapError, TikTokRateLimitError

        if not isinstance(exc, TikTokDailyCapError | TikTokRateLimitError):
            raise to_airflow_error(exc, action) from exc
        what = "daily cap" if isinstance(exc, TikTokDailyCapError) else "rate limit"
        if self.on_daily_cap == "fail":
            raise AirflowFailException(f"{action} hit TikTok's {what}: {exc} (on_daily_cap='fail')") from exc
        wait = self.cap_retry_interval.total_seconds()
        if isinstance(exc, TikTokRateLimitError):
            fallback = rate_limit_wait if rate_limit_wait is not None else RATE_LIMIT_WAIT
            wait = min(wait, exc.retry_after if exc.retry_after is not None else fallback)
        self.defer_wait(f"{action} hit TikTok's {what} ({exc.code}); nothing was created", wait, since)

    def defer_for_budget(self, context: Context, full: BudgetWait, action: str, since: float | None) -> NoReturn:
        """The account's budget has no room for this attempt: defer for exactly that long (nothing was sent). When
        it was a retry, the earlier attempt's error decides, as if the client had given up on it (a 429: the
        ``on_daily_cap`` policy, waiting what the budget computed)."""
        if full.after is not None:
            self.wait_or_raise(context, full.after, action, since, rate_limit_wait=full.wait)
        self.defer_wait(str(full), full.wait, since)

    def defer_wait(self, why: str, seconds: float, since: float | None) -> NoReturn:
        """Run the task again after ``seconds`` without holding a worker slot, within ``cap_max_wait`` in total."""
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger
        from airflow.sdk import timezone

        first = time.time() if since is None else since
        waited = time.time() - first
        limit = self.cap_max_wait.total_seconds()
        if waited + seconds > limit:
            raise AirflowFailException(
                f"{why}; still so after waiting {waited:.0f} s of at most {limit:.0f} s (cap_max_wait)"
            )
        self.log.warning(
            "%s. Deferring %.0f s without holding a worker slot, then trying again (waited %.0f s of at most %.0f s).",
            why,
            seconds,
            waited,
            limit,
        )
        self.defer(
            trigger=DateTimeTrigger(moment=timezone.utcnow() + timedelta(seconds=max(seconds, 0.0))),
            method_name="resume_after_wait",
            kwargs={"waiting_since": first},
        )

    def resume_after_wait(self, context: Context, event: object = None, waiting_since: float | None = None) -> object:
        """Back from a wait: run the task again from the top (the ledger says what was done)."""
        self.log.info("Waited out TikTok's limit; trying again")
        return self.run(context, waiting_since=waiting_since)

    def run(self, context: Context, waiting_since: float | None = None) -> object:
        """``execute`` with the time the current run of waits began."""
        raise NotImplementedError


class TikTokCreatorInfoOperator(TikTokBaseOperator):
    """Return the creator's info: who posts, which privacy levels they may use, which interactions are off.

    Logs "Posting as <nickname> (@username)". A creator who cannot post right now (daily cap) is handled per
    ``on_daily_cap``: wait by deferring and ask again, or fail at once.

    :param tiktok_conn_id: the TikTok connection.
    :param on_daily_cap: ``"defer"`` (default) or ``"fail"``.
    :param cap_retry_interval: how long to wait before asking again after a cap.
    :param cap_max_wait: give up after waiting this long in total.
    """

    def execute(self, context: Context) -> dict[str, object]:
        return self.run(context)

    def run(self, context: Context, waiting_since: float | None = None) -> dict[str, object]:
        self.check_rendered()
        client = self.client(self.hook())
        from airflow_provider_tiktok.api.errors import TikTokError

        try:
            creator = client.creator_info()
        except TikTokError as exc:
            self.wait_or_raise(context, exc, "Querying creator info", waiting_since)
        self.log.info("Posting as %s (@%s)", creator.nickname, creator.username)
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
