"""The chunk upload's state machine: which chunk is next, and what each of TikTok's answers to a PUT means.

Kept apart from the HTTP calls (``client.py``) so the rules (201 ends it, 416 re-syncs to the server's progress, a
dead URL is final, 429/5xx back off) are plain code a table test can drive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import IO

import httpx

from airflow_provider_tiktok.api.chunks import ChunkPlan
from airflow_provider_tiktok.api.errors import (
    RetryPolicy,
    TikTokError,
    TikTokPermanentError,
    TikTokRetryableError,
    TikTokUploadExpiredError,
    TikTokValidationError,
    parse_retry_after,
)

log = logging.getLogger("airflow_provider_tiktok.api.client")

UPLOAD_CONTENT_TYPES = ("video/mp4", "video/quicktime", "video/webm")
UPLOAD_BLOCK_SIZE = 1024 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")

ProgressCallback = Callable[[int, int, int, int], None]


class ShortFile(Exception):
    """The file ended before the chunk did (it shrank after the plan was made)."""


class BareRangeNotSatisfiable(Exception):
    """A 416 that does not say how many bytes the server holds."""


def read_chunk(stream: IO[bytes], first: int, last: int) -> Iterator[bytes]:
    """Yield bytes ``first..last`` in blocks of at most 1 MiB, seeking first (so a retried chunk starts over)."""
    stream.seek(first)
    remaining = last - first + 1
    while remaining > 0:
        block = stream.read(min(UPLOAD_BLOCK_SIZE, remaining))
        if not block:
            raise ShortFile(f"the file ended {remaining} bytes before the end of the chunk")
        remaining -= len(block)
        yield block


def parse_upload_progress(header: str | None) -> int | None:
    """Bytes the server holds, from ``Content-Range: bytes 0-<last>/<total>`` (``bytes */<total>``: none yet)."""
    if not header:
        return None
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        return None
    return 0 if match.group(2) is None else int(match.group(2)) + 1


class UploadSession:
    """The upload state machine: which chunk is next, and what each server answer means."""

    def __init__(self, plan: ChunkPlan, content_type: str, start_offset: int, retry: RetryPolicy) -> None:
        if content_type not in UPLOAD_CONTENT_TYPES:
            raise TikTokValidationError(
                "content_type",
                UPLOAD_CONTENT_TYPES,
                f"content_type {content_type!r} is not one TikTok accepts ({', '.join(UPLOAD_CONTENT_TYPES)})",
            )
        self.plan = plan
        self.content_type = content_type
        self.retry = retry
        self.index = plan.chunk_index_at(start_offset)  # ValueError unless a chunk boundary
        self.failures = 0
        self.resyncs = 0
        self.done = False

    def next_chunk(self) -> tuple[int, int] | None:
        if self.done or self.index >= self.plan.total_chunk_count:
            return None
        return self.plan.chunk_range(self.index)

    def headers(self, first: int, last: int) -> dict[str, str]:
        return {
            "Content-Type": self.content_type,
            "Content-Length": str(last - first + 1),
            "Content-Range": f"bytes {first}-{last}/{self.plan.video_size}",
        }

    def failed(self, err: TikTokError) -> float:
        """A transient failure of the current chunk: the delay before sending it again, or raise."""
        self.failures += 1
        delay = self.retry.delay(self.failures, err.retry_after)
        if delay is None:
            raise err
        log.debug("chunk %d/%d: %s; retrying in %.2f s", self.index + 1, self.plan.total_chunk_count, err.code, delay)
        return delay

    def answered(self, response: httpx.Response, progress: ProgressCallback | None) -> float:
        status = response.status_code
        log.debug("chunk %d/%d -> HTTP %d", self.index + 1, self.plan.total_chunk_count, status)
        if status in (200, 201, 206):
            self._advance_to(self.index + 1, progress)
            self.done = self.done or status == 201
            return 0.0
        if status in (403, 404):
            why = "expired (upload URLs last one hour)" if status == 403 else "is unknown to TikTok"
            raise TikTokUploadExpiredError(
                f"the upload URL {why}; initialise the post again to get a new one",
                code=f"http_{status}",
                http_status=status,
            )
        if status == 416:
            return self._resync(response, progress)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return self.failed(
                TikTokRetryableError(
                    f"TikTok answered chunk {self.index + 1} with HTTP {status}",
                    code=f"http_{status}",
                    http_status=status,
                    retry_after=retry_after,
                )
            )
        raise TikTokPermanentError(
            f"TikTok rejected chunk {self.index + 1} with HTTP {status} (malformed headers or a Content-Length that "
            "does not match the body)",
            code=f"http_{status}",
            http_status=status,
        )

    def _resync(self, response: httpx.Response, progress: ProgressCallback | None) -> float:
        """416: the server's progress differs from ours; continue where it is, if that is a chunk boundary."""
        self.resyncs += 1
        if self.resyncs > self.plan.total_chunk_count + self.retry.max_attempts:
            raise TikTokPermanentError(
                "TikTok keeps answering 416; the upload cannot make progress", code="http_416", http_status=416
            )
        received = parse_upload_progress(response.headers.get("content-range"))
        if received is None:
            raise BareRangeNotSatisfiable("TikTok answered 416 without a usable Content-Range")
        return self.resync_to(received, progress)

    def resync_to(self, received: int, progress: ProgressCallback | None) -> float:
        """Continue where the server is (``received`` bytes), if that is a chunk boundary."""
        if received >= self.plan.video_size:
            log.debug("416 re-sync: the server already holds the whole file")
            self._advance_to(self.plan.total_chunk_count, progress)
            self.done = True
            return 0.0
        try:
            index = self.plan.chunk_index_at(received)
        except ValueError:
            raise TikTokPermanentError(
                f"TikTok holds {received} bytes, which is not a chunk boundary of this upload plan",
                code="http_416",
                http_status=416,
            ) from None
        log.debug("416 re-sync: the server holds %d bytes; continuing at chunk %d", received, index + 1)
        if index == self.index:  # the server is still busy with (or discarded) this chunk: back off and resend
            return self.failed(
                TikTokRetryableError("TikTok is not ready for this chunk yet", code="http_416", http_status=416)
            )
        self._advance_to(index, progress)
        return 0.0

    def _advance_to(self, index: int, progress: ProgressCallback | None) -> None:
        self.index = index
        self.failures = 0
        if progress is not None and index > 0:
            sent = self.plan.video_size if index >= self.plan.total_chunk_count else index * self.plan.chunk_size
            progress(sent, self.plan.video_size, index - 1, self.plan.total_chunk_count)
