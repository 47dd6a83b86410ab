"""What preflight learns about a media file, read from its headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
PHOTO_TYPES = ("image/jpeg", "image/webp")


@dataclass(frozen=True)
class VideoInfo:
    """A video's container facts. Fields the file does not record are None (checks then warn, not refuse)."""

    content_type: str
    size: int
    duration_s: float | None  # None when the container does not record it and it cannot be derived cheaply
    codec: str | None = None  # "h264", "h265", "vp8", "vp9", or the file's own codec tag for anything else
    width: int | None = None  # as displayed: a 90-degree rotation matrix swaps the coded width and height
    height: int | None = None
    frame_rate: Fraction | None = None  # nominal rate: the dominant frame duration; the mean for variable rates
    rotation: int = 0
    fragmented: bool = False
    notes: tuple[str, ...] = field(default=())  # how a fact was derived when the obvious header was missing

    @property
    def fps(self) -> float | None:
        return None if self.frame_rate is None else float(self.frame_rate)


@dataclass(frozen=True)
class PhotoInfo:
    content_type: str
    size: int
    width: int
    height: int


def snap_rate(rate: Fraction) -> Fraction:
    """Exact NTSC-style rates (24000/1001, 30000/1001, ...) from a rate rounded to a nanosecond or a millisecond."""
    near = rate.limit_denominator(1001)
    return near if abs(near - rate) <= rate * rate / 1_000_000_000 + Fraction(1, 10**9) else rate
