"""The one decision every publishing path makes: given the record and what TikTok says now, what next?

Pure: no I/O, no clock, no Airflow. The operators gather the facts (:class:`Situation`), call :func:`decide`, and carry
out the :class:`Decision`; tests/publishing/test_decide.py has a row per branch. The vocabulary follows Airflow 3.3's
``ResumableJobMixin`` where it fits: a fresh submit (``START_FRESH``), a reconnect (``WAIT``/``CONTINUE_UPLOAD``), an
already-succeeded job (``ALREADY_DONE``) and a terminal resubmit (``START_FRESH`` with ``supersede``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

Goal = Literal["publish", "init"]
AmbiguousInitPolicy = Literal["retry", "fail"]

# TikTok's upload URLs live one hour; a stored one is reused only with a safety margin.
UPLOAD_URL_TTL = 3600.0
UPLOAD_URL_MARGIN = 300.0
# An entry another task instance updated this recently is taken to be that task's work in progress.
OWNER_LEASE_SECONDS = 600.0

FAILED = "FAILED"
PROCESSING_UPLOAD = "PROCESSING_UPLOAD"


class Action(StrEnum):
    START_FRESH = "start_fresh"  # init a new publish (superseding the recorded one, if any)
    WAIT = "wait"  # TikTok is processing the recorded publish: wait for its final status
    CONTINUE_UPLOAD = "continue_upload"  # send the rest of the file, from ``from_byte``
    ALREADY_DONE = "already_done"  # the recorded publish reached the wanted status: do nothing more
    REUSE_INIT = "reuse_init"  # (init step only) the recorded publish can still complete: hand it on
    AMBIGUOUS_INIT = "ambiguous_init"  # an init may have reached TikTok and cannot be checked: fail, explain
    BUSY_ELSEWHERE = "busy_elsewhere"  # another task instance is working on this key right now: retry later
    CHECK_LATER = "check_later"  # TikTok could not be asked (rate limit, outage) and the answer matters: retry


@dataclass(frozen=True)
class TikTokView:
    """What ``status/fetch`` said about the recorded publish_id (``None`` status: TikTok could not be asked)."""

    status: str | None = None
    uploaded_bytes: int = 0
    fail_reason: str | None = None
    unknown_publish: bool = False  # TikTok answered invalid_publish_id
    post_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Situation:
    """Everything :func:`decide` looks at besides the record."""

    now: float
    owner: str  # this task instance (``dag/run/task/map_index``)
    wait_for: frozenset[str]  # statuses that end the wait successfully
    tiktok: TikTokView | None = None  # None: not asked (no publish_id recorded)
    upload_url_stored: bool = False
    source_changed: bool = False  # the file differs from the bytes already sent
    goal: Goal = "publish"
    ambiguous_init: AmbiguousInitPolicy = "retry"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    publish_id: str | None = None
    from_byte: int = 0
    supersede: bool = False  # START_FRESH: the recorded publish_id can never complete


def _fresh(reason: str, supersede: bool = False) -> Decision:
    return Decision(Action.START_FRESH, reason, supersede=supersede)


def decide(record: PublishRecord | None, s: Situation) -> Decision:
    """The next step for this key. Every return is one row of the table test."""
    if record is None:
        return _fresh("nothing was recorded for this key")
    busy = record.owner != s.owner and s.now - record.updated_at < OWNER_LEASE_SECONDS
    if record.phase is Phase.DONE:
        return Decision(Action.ALREADY_DONE, "an earlier try recorded this publish as done", record.publish_id)
    if record.phase is Phase.FAILED:
        return _fresh(f"the recorded publish ended {record.fail_reason or 'failed'}; trying again", supersede=True)
    if record.phase in (Phase.CLAIMED, Phase.INIT_SENT) and busy:
        return Decision(Action.BUSY_ELSEWHERE, f"task {record.owner} is initialising this key right now")
    if record.phase is Phase.CLAIMED:
        return _fresh("the entry was claimed but nothing was sent to TikTok")
    if record.phase is Phase.INIT_SENT:
        return _ambiguous(record, s)
    publish_id = record.publish_id
    view = s.tiktok
    if publish_id is None or view is None:  # a recorded phase past init always has a publish_id
        return _fresh("the record has no publish_id to resume")
    if view.unknown_publish:
        return _fresh(f"TikTok does not know publish {publish_id}", supersede=True)
    if view.status is None:
        if record.phase is Phase.UPLOADED or record.source == "PULL_FROM_URL" or s.goal == "init":
            return Decision(Action.WAIT, "TikTok could not be asked now; only its processing remains", publish_id)
        return Decision(Action.CHECK_LATER, "TikTok could not say how many bytes it has", publish_id)
    if view.status == FAILED:
        return _fresh(f"publish {publish_id} FAILED ({view.fail_reason}); it can never complete", supersede=True)
    if view.status in s.wait_for and s.goal == "publish":
        return Decision(Action.ALREADY_DONE, f"publish {publish_id} already reached {view.status}", publish_id)
    if view.status != PROCESSING_UPLOAD or record.source != "FILE_UPLOAD":
        return _waiting(publish_id, f"TikTok reports {view.status}", s)
    plan = record.plan
    if plan is None:
        return _fresh("the record has no chunk plan to resume the upload with", supersede=True)
    if view.uploaded_bytes >= plan.video_size:
        return _waiting(publish_id, "every byte was uploaded; TikTok is processing", s)
    if busy:
        return Decision(Action.BUSY_ELSEWHERE, f"task {record.owner} is uploading publish {publish_id} right now")
    if not s.upload_url_stored:
        return _fresh(f"the upload URL of publish {publish_id} is gone, so it can never complete", supersede=True)
    age = s.now - (record.upload_issued_at or 0.0)
    if age >= UPLOAD_URL_TTL - UPLOAD_URL_MARGIN:
        return _fresh(f"the upload URL of publish {publish_id} expires (issued {age:.0f} s ago)", supersede=True)
    if view.uploaded_bytes % plan.chunk_size and view.uploaded_bytes:
        return _fresh(f"TikTok holds {view.uploaded_bytes} bytes, not a chunk boundary", supersede=True)
    if s.source_changed:
        return _fresh("the video changed since its upload began", supersede=True)
    if s.goal == "init":
        return Decision(Action.REUSE_INIT, f"publish {publish_id} can still receive its bytes", publish_id)
    return Decision(
        Action.CONTINUE_UPLOAD,
        f"TikTok has {view.uploaded_bytes:,} of {plan.video_size:,} bytes",
        publish_id,
        from_byte=view.uploaded_bytes,
    )


def _waiting(publish_id: str, reason: str, s: Situation) -> Decision:
    if s.goal == "init":
        return Decision(Action.REUSE_INIT, reason, publish_id)
    return Decision(Action.WAIT, reason, publish_id)


def _ambiguous(record: PublishRecord, s: Situation) -> Decision:
    """An init was sent but its answer never recorded (timeout, crash, lost answer)."""
    if record.source == "FILE_UPLOAD" and s.ambiguous_init == "retry":
        # That publish never got its upload URL, so it can never receive bytes or become a post. It may still count
        # toward the creator's daily cap while TikTok keeps it pending: the price of not failing here.
        return _fresh("an earlier init's answer was lost; a FILE_UPLOAD publish without its URL can never post")
    what = "FILE_UPLOAD" if record.source == "FILE_UPLOAD" else "PULL_FROM_URL"
    return Decision(Action.AMBIGUOUS_INIT, f"an earlier {what} init's answer was lost")
