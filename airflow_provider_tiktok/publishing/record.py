"""The publish record: what one publish (one ledger key) has done so far, as a typed, frozen value.

It is written before init and after every step, so whichever process runs next (a retry, a "Clear", a new DAG run
with the same idempotency key) knows exactly where the last one stopped. It holds ids, sizes and digests only: never
a token or an upload URL (those stay in the encrypted upload-URL Variable).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from airflow_provider_tiktok.api.chunks import ChunkPlan

Media = Literal["video", "photo"]
Mode = Literal["direct", "draft"]
Source = Literal["FILE_UPLOAD", "PULL_FROM_URL"]
FORMAT_VERSION = 1


class Phase(StrEnum):
    """How far a publish got. Each phase is written before the step it names can have an effect at TikTok."""

    CLAIMED = "claimed"  # the entry exists; nothing was sent to TikTok
    INIT_SENT = "init_sent"  # an init request may have reached TikTok; its publish_id was not recorded
    INITIALISED = "initialised"  # publish_id recorded; for FILE_UPLOAD, bytes still to send
    UPLOADED = "uploaded"  # every byte sent (or TikTok is pulling the media): only TikTok's processing remains
    DONE = "done"  # TikTok reported the wanted final status; ``result`` holds the task's return value
    FAILED = "failed"  # TikTok reported FAILED, or the publish was abandoned; a new try starts fresh


IN_FLIGHT = frozenset({Phase.CLAIMED, Phase.INIT_SENT, Phase.INITIALISED})


@dataclass(frozen=True)
class PublishRecord:
    """One ledger entry. ``owner`` names the task instance that wrote it last (``dag/run/task/map_index``)."""

    account: str
    key: str
    phase: Phase
    media: Media
    mode: Mode
    source: Source
    owner: str
    created_at: float
    updated_at: float
    conn_id: str = ""
    title: str = ""
    publish_id: str | None = None
    plan: ChunkPlan | None = None
    content_type: str | None = None
    fingerprint: str | None = None  # cheap whole-file fingerprint (size, first and last MiB)
    chunk_sha256: tuple[str, ...] = ()  # SHA-256 of each chunk sent so far, in order
    upload_issued_at: float | None = None
    init_sent_at: float | None = None
    creator_username: str | None = None
    creator_nickname: str | None = None
    status: str | None = None  # TikTok's last reported status
    fail_reason: str | None = None
    error: str | None = None
    post_ids: tuple[str, ...] = ()
    post_url: str | None = None
    superseded: tuple[str, ...] = ()  # earlier publish_ids of this key that can never complete
    pull_retries: int = 0  # re-inits after video_pull_failed / photo_pull_failed
    result: Mapping[str, object] = field(default_factory=dict)

    def evolve(self, now: float, **changes: object) -> PublishRecord:
        """A copy with ``changes`` and a new ``updated_at``."""
        return dataclasses.replace(self, updated_at=now, **changes)  # type: ignore[arg-type]

    def superseding(self, now: float, reason: str) -> PublishRecord:
        """Forget the current publish (it can never complete) so the next init starts clean; keep it in history."""
        ids = (*self.superseded, self.publish_id) if self.publish_id else self.superseded
        return self.evolve(
            now,
            phase=Phase.CLAIMED,
            publish_id=None,
            chunk_sha256=(),
            upload_issued_at=None,
            status=None,
            fail_reason=None,
            error=reason,
            superseded=ids,
        )

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["phase"] = self.phase.value
        data["plan"] = self.plan.to_dict() if self.plan else None
        data["version"] = FORMAT_VERSION
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PublishRecord:
        data = json.loads(text)
        data.pop("version", None)
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        data["phase"] = Phase(data["phase"])
        data["plan"] = ChunkPlan(**data["plan"]) if data.get("plan") else None
        for name in ("chunk_sha256", "post_ids", "superseded"):
            data[name] = tuple(data.get(name) or ())
        data["result"] = dict(data.get("result") or {})
        return cls(**data)
