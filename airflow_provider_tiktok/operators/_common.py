"""Pieces shared by the TikTok operators and the status sensor.

Kept free of module-level httpx/api imports: DAG parsing imports the operators module constantly.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_tiktok.api.errors import TikTokError

TIKTOK_WEB = "https://www.tiktok.com"
POST_URL_XCOM_KEY = "tiktok_post_url"
UPLOAD_VARIABLE_PREFIX = "tiktok_upload_token__"

PUBLISH_COMPLETE = "PUBLISH_COMPLETE"
SEND_TO_USER_INBOX = "SEND_TO_USER_INBOX"
FAILED = "FAILED"


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` when the deployment set it (env var or airflow.cfg), otherwise True.

    Apache providers write ``conf.getboolean("operators", "default_deferrable", fallback=False)``, but Airflow ships a
    built-in default (False) for the option, so a ``fallback`` never applies: to default to deferrable we have to
    look at whether the option was set explicitly.
    """
    from airflow.sdk import conf

    from airflow_provider_tiktok.compat import option_set_explicitly

    if option_set_explicitly("operators", "default_deferrable"):
        return conf.getboolean("operators", "default_deferrable", fallback=True)
    return True


def final_statuses(*, draft: bool, wait_for_creator_post: bool) -> list[str]:
    """Statuses that end the wait successfully. A draft ends in the creator's inbox unless we wait for their post."""
    if draft and not wait_for_creator_post:
        return [SEND_TO_USER_INBOX, PUBLISH_COMPLETE]
    return [PUBLISH_COMPLETE]


def post_url(username: str | None, post_ids: list[str], *, photo: bool = False) -> str | None:
    """The public URL of the first post, or the creator's profile when TikTok gave no id (private posts, drafts)."""
    if not username:
        return None
    if post_ids:
        return f"{TIKTOK_WEB}/@{username}/{'photo' if photo else 'video'}/{post_ids[0]}"
    return f"{TIKTOK_WEB}/@{username}"


# -- errors --------------------------------------------------------------------------------------------------------


def to_airflow_error(exc: TikTokError, action: str) -> Exception:
    """Permanent TikTok errors fail the task without retries; transient ones keep the error so Airflow retries."""
    from airflow_provider_tiktok.api.errors import ErrorKind

    message = f"{action} failed: {exc}"
    if exc.kind is ErrorKind.RETRYABLE:
        return AirflowException(message + " (transient; Airflow's retries apply)")
    return AirflowFailException(message)


def raise_for_event(event: Mapping[str, Any] | None, *, what: str = "TikTok publish") -> Mapping[str, Any]:
    """Turn a TikTokPublishStatusTrigger event into the event itself (success) or the right failure.

    - None: the trigger never produced an event (should not happen); fail so it is visible.
    - error + FAILED: ``internal`` is TikTok's own outage -> plain exception, Airflow retries; every other
      fail_reason is permanent -> AirflowFailException with TikTok's reason and what to do about it.
    - error while polling: retryable -> plain exception; permanent -> AirflowFailException.
    - timeout: the publish may still finish -> plain exception naming the publish_id and how to check it.
    """
    if not event:
        raise AirflowException(f"{what}: the status trigger returned no event; check the triggerer logs")
    status = event.get("status")
    publish_id = event.get("publish_id")
    if status == "success":
        return event
    if status == "timeout":
        raise AirflowException(
            f"{what} {publish_id} is still processing at TikTok (last status {event.get('publish_status')}). "
            f"{event.get('message', '')}"
        )
    if status == "error" and event.get("publish_status") == FAILED:
        from airflow_provider_tiktok.api.errors import ErrorKind, TikTokPublishFailedError

        failure = TikTokPublishFailedError(event.get("fail_reason"), publish_id=publish_id)
        if failure.kind is ErrorKind.RETRYABLE:
            raise AirflowException(f"{failure} (fail_reason {failure.fail_reason}; Airflow will retry)")
        raise AirflowFailException(f"{failure} (fail_reason {failure.fail_reason}; not retried)")
    message = event.get("message") or f"{what} {publish_id}: unexpected event {dict(event)!r}"
    if event.get("retryable"):
        raise AirflowException(message)
    raise AirflowFailException(message)


# -- the upload URL: encrypted, out of XCom, logs and the ledger ------------------------------------------------


class UploadUrlVault:
    """Where an upload URL waits between the init call and the (possibly retried) upload.

    The upload URL carries an upload token, so it must not go to XCom, logs, trigger kwargs or the task state store
    (stored in clear text). It goes to an Airflow Variable instead: Fernet-encrypted at rest, writable from tasks in
    Airflow 3, readable by the separate upload task of the step-by-step path, and its key contains "token" so the UI
    and logs mask the value. The key is a digest of the publish_id (publish ids contain ``~``). The Variable is deleted
    as soon as the upload completes; the URL itself expires after one hour anyway.
    """

    @staticmethod
    def key(publish_id: str) -> str:
        return UPLOAD_VARIABLE_PREFIX + hashlib.sha256(publish_id.encode()).hexdigest()[:32]

    @classmethod
    def put(cls, publish_id: str, upload_url: str) -> str:
        from airflow.sdk import Variable

        from airflow_provider_tiktok.masking import mask_secrets

        mask_secrets(upload_url)
        key = cls.key(publish_id)
        Variable.set(
            key,
            json.dumps({"publish_id": publish_id, "upload_url": upload_url, "issued_at": time.time()}),
            description="TikTok upload URL (carries an upload token); deleted when the upload completes",
        )
        return key

    @classmethod
    def get(cls, publish_id: str) -> str | None:
        from airflow.sdk import Variable

        from airflow_provider_tiktok.masking import mask_secrets

        raw = Variable.get(cls.key(publish_id), default=None)
        if not raw:
            return None
        data = json.loads(raw)
        if data.get("publish_id") != publish_id:
            return None
        mask_secrets(data["upload_url"])
        return str(data["upload_url"])

    @classmethod
    def discard(cls, publish_id: str, log: Any) -> None:
        from airflow.sdk import Variable

        try:
            Variable.delete(cls.key(publish_id))
        except Exception as exc:  # cleanup only: the URL expires within the hour anyway
            log.warning("Could not delete the upload-URL Variable for publish %s: %s", publish_id, exc)
