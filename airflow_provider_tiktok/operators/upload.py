"""Sending a video's bytes, recording each chunk's SHA-256 as TikTok acknowledges it, and checking them on resume.

The digests are what makes a resumed upload safe: before sending the rest of a file, the bytes TikTok already holds
are read again (once: the rest is then read while sending, so nothing is read twice) and compared chunk by chunk with
what was sent. A file edited between tries, even without changing its size, is caught, and the publish starts over.
At most one chunk can lack a digest (a crash between TikTok's answer and the ledger write); that chunk is covered by
the cheap whole-file fingerprint (size, first and last MiB) only.
"""

from __future__ import annotations

import hashlib
import time
from typing import IO, TYPE_CHECKING

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_tiktok.operators._common import to_airflow_error
from airflow_provider_tiktok.publishing.record import Phase, PublishRecord

if TYPE_CHECKING:
    from airflow.sdk.types import Logger

    from airflow_provider_tiktok.api.chunks import ChunkPlan
    from airflow_provider_tiktok.api.client import TikTokClient
    from airflow_provider_tiktok.operators._source import VideoFile
    from airflow_provider_tiktok.publishing.ledger import PublishLedger

_MB = 1_000_000
_BLOCK = 1024 * 1024


class HashingReader:
    """Wraps the file the client streams from: hashes each chunk as it is read after a seek to the chunk start."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._start = 0
        self._count = 0
        self._hash = hashlib.sha256()

    def seek(self, offset: int, whence: int = 0) -> int:
        position = self._stream.seek(offset, whence)
        self._start, self._count, self._hash = position, 0, hashlib.sha256()
        return position

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        self._count += len(data)
        return data

    def digest_of(self, first: int, length: int) -> str | None:
        """The digest of ``first .. first+length-1`` if that is exactly what was last read, else None."""
        if self._start == first and self._count == length:
            return self._hash.hexdigest()
        return None


def chunk_digest(stream: IO[bytes], first: int, last: int) -> str:
    stream.seek(first)
    digest, remaining = hashlib.sha256(), last - first + 1
    while remaining > 0:
        block = stream.read(min(_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        remaining -= len(block)
    return digest.hexdigest()


def verify_uploaded_prefix(record: PublishRecord, video: VideoFile, uploaded: int, log: Logger) -> bool:
    """True when the file's first ``uploaded`` bytes are the ones sent (per chunk digest, else the fingerprint)."""
    plan = record.plan
    if plan is None or video.size != plan.video_size or video.fingerprint != record.fingerprint:
        log.warning("Resume: the video's size or fingerprint changed since its upload began")
        return False
    chunks = uploaded // plan.chunk_size
    with video.open() as stream:
        for index in range(min(chunks, len(record.chunk_sha256))):
            first, last = plan.chunk_range(index)
            if chunk_digest(stream, first, last) != record.chunk_sha256[index]:
                log.warning("Resume: chunk %d of the video differs from the bytes TikTok already has", index + 1)
                return False
    if chunks > len(record.chunk_sha256):
        log.info(
            "Resume: %d uploaded chunk(s) have no recorded digest; the fingerprint matches",
            chunks - len(record.chunk_sha256),
        )
    return True


class UploadRun:
    """One upload of a recorded publish, from a chunk boundary to the end, with progress logs and ledger updates."""

    def __init__(
        self,
        log: Logger,
        client: TikTokClient,
        ledger: PublishLedger | None,
        record: PublishRecord,
        video: VideoFile,
    ) -> None:
        if record.plan is None or record.publish_id is None:
            raise ValueError("an upload needs a recorded publish_id and chunk plan")
        self.log = log
        self.client = client
        self.ledger = ledger
        self.record = record
        self.video = video
        self.plan: ChunkPlan = record.plan
        self._reader: HashingReader | None = None
        self._started = time.monotonic()
        self._start_offset = 0

    def send(self, upload_url: str, start: int) -> PublishRecord:
        from airflow_provider_tiktok.api.errors import TikTokError, TikTokUploadExpiredError, TikTokValidationError

        publish_id = self.record.publish_id
        where = f" from byte {start:,}" if start else ""
        self.log.info(
            "Uploading %s (%s bytes, %s)%s in %d chunk(s) of %s bytes",
            self.video.display,
            f"{self.plan.video_size:,}",
            self.video.content_type,
            where,
            self.plan.total_chunk_count,
            f"{self.plan.chunk_size:,}",
        )
        self._start_offset = start
        self.record = self.record.evolve(
            time.time(), chunk_sha256=self.record.chunk_sha256[: start // self.plan.chunk_size]
        )
        with self.video.open() as stream:
            self._reader = HashingReader(stream)
            try:
                self.client.upload(
                    upload_url,
                    self.plan,
                    self._reader,  # type: ignore[arg-type]
                    self.video.content_type,
                    start_offset=start,
                    progress=self.progress,
                    publish_id=publish_id,
                )
            except TikTokUploadExpiredError as exc:
                # The URL is dead: this publish can never complete. Record it, so no later try resumes it.
                self.save(self.record.evolve(time.time(), phase=Phase.FAILED, error=f"upload URL: {exc.code}"))
                raise
            except TikTokError as exc:
                if isinstance(exc, TikTokValidationError) and exc.field == "video":  # the file changed under us
                    raise AirflowFailException(f"Uploading publish {publish_id} failed: {exc}") from exc
                raise to_airflow_error(exc, f"Uploading publish {publish_id}") from exc
        self.record = self.save(self.record.evolve(time.time(), phase=Phase.UPLOADED))
        self.log.info("Upload of publish %s complete; TikTok is processing it", publish_id)
        return self.record

    def save(self, record: PublishRecord) -> PublishRecord:
        return self.ledger.save(record) if self.ledger is not None else record

    def progress(self, sent_bytes: int, total: int, chunk_index: int, chunk_count: int) -> None:
        """After each acknowledged chunk: record its digest (before anything else can happen), then log."""
        digests = list(self.record.chunk_sha256)
        assert self._reader is not None
        while len(digests) <= chunk_index:
            first, last = self.plan.chunk_range(len(digests))
            known = self._reader.digest_of(first, last - first + 1) if len(digests) == chunk_index else None
            if known is None:  # a chunk TikTok already had (416 re-sync): hash it from the file
                with self.video.open() as stream:
                    known = chunk_digest(stream, first, last)
            digests.append(known)
        self.record = self.save(self.record.evolve(time.time(), chunk_sha256=tuple(digests)))
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = max(sent_bytes - self._start_offset, 0) / elapsed / _MB
        self.log.info(
            "Uploaded chunk %d of %d: %s of %s bytes (%.0f%%), %.1f MB/s",
            chunk_index + 1,
            chunk_count,
            f"{sent_bytes:,}",
            f"{total:,}",
            100.0 * sent_bytes / total if total else 100.0,
            rate,
        )
