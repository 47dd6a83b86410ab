"""The one event a publish-status wait ends with, shared by the trigger, the sensor and the operators.

The trigger yields it (as a ``TriggerEvent`` payload); the sensor and the operators build the same event when TikTok
is already done before they defer, and parse it in ``execute_complete``. Only the standard library and the API
models' shape are used here, so operators can build and read events without importing trigger code.

Payload (JSON, what Airflow stores for the deferred task)::

    {"status": "success" | "error" | "timeout" | "token_expired", "publish_id", "publish_status", "fail_reason",
     "post_ids", "uploaded_bytes", "downloaded_bytes", "message", "retryable"}

plus ``"end_time"`` (the wait's absolute deadline) on ``token_expired``: the trigger never refreshes, so when its
stored access token is expired or rejected it hands the wait back to the task, which refreshes, checks once and
defers again with the same deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FAILED = "FAILED"
TOKEN_EXPIRED: Literal["token_expired"] = "token_expired"
EventStatus = Literal["success", "error", "timeout", "token_expired"]


class _FinalStatus(Protocol):
    """What :meth:`StatusEvent.final` reads from ``api.models.PublishStatus``."""

    @property
    def status(self) -> str: ...
    @property
    def fail_reason(self) -> str | None: ...
    @property
    def uploaded_bytes(self) -> int | None: ...
    @property
    def downloaded_bytes(self) -> int | None: ...
    @property
    def post_ids(self) -> Iterable[Any]: ...


@dataclass(frozen=True)
class StatusEvent:
    status: EventStatus
    publish_id: str
    message: str
    publish_status: str | None = None
    fail_reason: str | None = None
    # Strings: TikTok post ids exceed 2**53 and would be rounded by JavaScript readers of the XCom.
    post_ids: tuple[str, ...] = field(default=())
    uploaded_bytes: int | None = None
    downloaded_bytes: int | None = None
    retryable: bool = False
    end_time: float | None = None  # token_expired only: the deadline the task defers again with

    def __post_init__(self) -> None:
        object.__setattr__(self, "post_ids", tuple(str(p) for p in self.post_ids))

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON form (what ``TriggerEvent(payload)`` carries and ``execute_complete`` receives)."""
        payload: dict[str, Any] = {
            "status": self.status,
            "publish_id": self.publish_id,
            "publish_status": self.publish_status,
            "fail_reason": self.fail_reason,
            "post_ids": list(self.post_ids),
            "uploaded_bytes": self.uploaded_bytes,
            "downloaded_bytes": self.downloaded_bytes,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.end_time is not None:
            payload["end_time"] = self.end_time
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> StatusEvent:
        status = payload.get("status")
        if status not in ("success", "error", "timeout", TOKEN_EXPIRED):
            raise ValueError(f"not a TikTok status event: status {status!r}")
        return cls(
            status=status,
            publish_id=str(payload.get("publish_id") or ""),
            message=str(payload.get("message") or ""),
            publish_status=payload.get("publish_status"),
            fail_reason=payload.get("fail_reason"),
            post_ids=tuple(payload.get("post_ids") or ()),
            uploaded_bytes=payload.get("uploaded_bytes"),
            downloaded_bytes=payload.get("downloaded_bytes"),
            retryable=bool(payload.get("retryable")),
            end_time=None if payload.get("end_time") is None else float(payload["end_time"]),
        )

    @classmethod
    def final(cls, publish_id: str, status: _FinalStatus) -> StatusEvent:
        """The event for a final status (``FAILED`` is an error; only ``internal`` failures are retryable)."""
        fields: dict[str, Any] = {
            "publish_status": status.status,
            "fail_reason": status.fail_reason,
            "post_ids": tuple(status.post_ids),
            "uploaded_bytes": status.uploaded_bytes,
            "downloaded_bytes": status.downloaded_bytes,
        }
        if status.status == FAILED:
            reason = status.fail_reason or "unknown"
            message = f"TikTok reports publish {publish_id} FAILED: {reason}"
            return cls("error", publish_id, message, retryable=reason == "internal", **fields)
        return cls("success", publish_id, f"Publish {publish_id} reached {status.status}", **fields)

    @classmethod
    def polling_failed(
        cls, publish_id: str, message: str, *, retryable: bool, publish_status: str | None = None
    ) -> StatusEvent:
        return cls("error", publish_id, message, publish_status=publish_status, retryable=retryable)

    @classmethod
    def token_expired(
        cls, publish_id: str, message: str, *, end_time: float, publish_status: str | None = None
    ) -> StatusEvent:
        """The trigger's stored access token is expired or rejected: the task refreshes it and waits again."""
        return cls(TOKEN_EXPIRED, publish_id, message, publish_status=publish_status, retryable=True, end_time=end_time)


def final_event(publish_id: str, status: _FinalStatus) -> StatusEvent:
    """:meth:`StatusEvent.final`; ``final_event(...).payload`` is what ``execute_complete`` receives."""
    return StatusEvent.final(publish_id, status)
