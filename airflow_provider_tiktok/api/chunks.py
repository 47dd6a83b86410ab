"""The FILE_UPLOAD chunk planner, exactly per TikTok's Media Transfer Guide.

The rule is FLOOR, not ceil: ``total_chunk_count = video_size // chunk_size`` and the trailing bytes join the final
chunk (which may therefore be up to ``2 * chunk_size - 1`` bytes, always below 128,000,000). "MB" in TikTok's text is
ambiguous, so both bounds are read conservatively: chunks are at least 5,242,880 bytes (binary 5 MiB satisfies the
decimal reading too) and at most 64,000,000 (decimal: TikTok started rejecting 64 MiB single chunks in 2026).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from airflow_provider_tiktok.api.errors import TikTokValidationError

MIN_CHUNK_SIZE = 5_242_880
MAX_CHUNK_SIZE = 64_000_000
MAX_FINAL_CHUNK_SIZE = 128_000_000  # never binds: the final chunk is < 2 * MAX_CHUNK_SIZE by construction
MAX_SINGLE_CHUNK_SIZE = MAX_CHUNK_SIZE
MAX_CHUNKS = 1000
MAX_VIDEO_SIZE = 4 * 1024**3
DEFAULT_CHUNK_SIZE = 10_000_000


@dataclass(frozen=True)
class ChunkPlan:
    """Sizes announced at init and the byte ranges to PUT, in order."""

    video_size: int
    chunk_size: int
    total_chunk_count: int

    def chunk_range(self, index: int) -> tuple[int, int]:
        """``(first_byte, last_byte_inclusive)`` of chunk ``index`` (0-based); the last one takes the remainder."""
        if not 0 <= index < self.total_chunk_count:
            raise IndexError(f"chunk index {index} outside 0..{self.total_chunk_count - 1}")
        first = index * self.chunk_size
        last = self.video_size - 1 if index == self.total_chunk_count - 1 else first + self.chunk_size - 1
        return first, last

    def ranges(self) -> Iterator[tuple[int, int]]:
        """Every chunk's ``(first_byte, last_byte_inclusive)``; together they tile ``0..video_size-1`` exactly."""
        for index in range(self.total_chunk_count):
            yield self.chunk_range(index)

    def chunk_index_at(self, offset: int) -> int:
        """The chunk starting at ``offset``; raises ValueError when ``offset`` is not a chunk boundary."""
        index, rest = divmod(offset, self.chunk_size)
        if rest or not 0 <= index < self.total_chunk_count:
            raise ValueError(f"offset {offset} is not a chunk boundary of this plan")
        return index

    def to_dict(self) -> dict[str, int]:
        return {
            "video_size": self.video_size,
            "chunk_size": self.chunk_size,
            "total_chunk_count": self.total_chunk_count,
        }


def plan_chunks(video_size: int, preferred_chunk_size: int = DEFAULT_CHUNK_SIZE) -> ChunkPlan:
    """Plan an upload of ``video_size`` bytes.

    Files under 5,242,880 bytes go whole (TikTok requires it); files up to 64,000,000 go whole when the preferred
    chunk size would give a single chunk anyway (so ``chunk_size`` always equals what is PUT); larger files are split
    into at least two chunks (TikTok requires it), each ``preferred_chunk_size`` clamped to 5,242,880..64,000,000.
    """
    if video_size <= 0:
        raise TikTokValidationError("video_size", 1, f"video is {video_size} bytes; TikTok needs a non-empty file")
    if video_size > MAX_VIDEO_SIZE:
        raise TikTokValidationError(
            "video_size",
            MAX_VIDEO_SIZE,
            f"video is {video_size} bytes; TikTok allows at most {MAX_VIDEO_SIZE} bytes (4 GB)",
        )
    if preferred_chunk_size <= 0:
        raise ValueError(f"preferred_chunk_size must be positive, got {preferred_chunk_size}")
    chunk = min(max(preferred_chunk_size, MIN_CHUNK_SIZE), MAX_CHUNK_SIZE)
    if video_size > MAX_SINGLE_CHUNK_SIZE:
        chunk = min(chunk, video_size // 2)  # at least two chunks above 64,000,000 bytes
    elif video_size // chunk <= 1:
        return ChunkPlan(video_size, video_size, 1)
    count = video_size // chunk
    if count > MAX_CHUNKS:  # cannot happen below 4 GiB with >= 5 MiB chunks; kept as a guard on the constants
        raise TikTokValidationError("video_size", MAX_CHUNKS, f"video needs {count} chunks; TikTok allows {MAX_CHUNKS}")
    return ChunkPlan(video_size, chunk, count)
