"""Bounded random access to a media file, and the error every media check raises.

Parsers never call ``read()`` on the stream themselves: they ask :class:`Reader` for ``n`` bytes at an offset, so
every read is clamped to the file, counted, and capped by a byte budget. A hostile file therefore cannot make a
probe read more than the budget, whatever its box sizes claim.
"""

from __future__ import annotations

import os
from typing import IO

from airflow_provider_tiktok.api.errors import TikTokValidationError

# Headers of a real 10-minute 120 fps file stay well under 1 MiB; the budget only stops hostile or absurd input.
READ_BUDGET = 4 * 1024 * 1024


class MediaCheckError(TikTokValidationError):
    """A media file TikTok would refuse: names the field, the value found, the limit, and the ``fail_reason``
    TikTok would have reported after the upload (so callers can tell which post-upload failure was avoided)."""

    def __init__(
        self, field: str, value: object, limit: object, message: str, *, fail_reason: str = "file_format_check_failed"
    ) -> None:
        self.value = value
        self.fail_reason = fail_reason
        super().__init__(field, limit, message)

    def __repr__(self) -> str:
        return (
            f"MediaCheckError(field={self.field!r}, value={self.value!r}, limit={self.limit!r}, "
            f"fail_reason={self.fail_reason!r}, message={self.message!r})"
        )


def unreadable(what: str, field: str = "video") -> MediaCheckError:
    """The error for a file whose structure is broken: TikTok fails these with file_format_check_failed."""
    return MediaCheckError(field, "unreadable", "a complete, well-formed file", what)


def truncated(declared_end: int, size: int, what: str, field: str = "video") -> MediaCheckError:
    return MediaCheckError(
        field,
        size,
        declared_end,
        f"the file is truncated or still being written: its {what} ends at byte {declared_end:,} but the file has "
        f"only {size:,} bytes",
    )


class Reader:
    """Reads of at most ``budget`` bytes in total from a seekable binary stream of known size."""

    def __init__(self, stream: IO[bytes], size: int, *, budget: int = READ_BUDGET, field: str = "video") -> None:
        self.stream = stream
        self.size = size
        self.budget = budget
        self.field = field
        self.bytes_read = 0
        self.reads = 0

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``offset`` (fewer at the end of the file)."""
        n = max(0, min(n, self.size - offset))
        if n == 0 or offset < 0:
            return b""
        if self.bytes_read + n > self.budget:
            raise MediaCheckError(
                self.field,
                self.bytes_read + n,
                self.budget,
                f"the file's headers would need more than {self.budget:,} bytes of reading; it is corrupt or not a "
                "file TikTok can read",
            )
        self.stream.seek(offset)
        data = self.stream.read(n) or b""
        self.bytes_read += len(data)
        self.reads += 1
        return data

    def exact(self, offset: int, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes at ``offset``, or a "truncated" error naming ``what`` was cut."""
        data = self.read(offset, n)
        if len(data) != n:
            raise truncated(offset + n, self.size, what, self.field)
        return data


def stream_size(stream: IO[bytes]) -> int:
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end
