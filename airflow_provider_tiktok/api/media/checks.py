"""TikTok's media rules applied to the facts read from a file's headers.

Documented rules ([MTG]: containers, codecs, 23-60 fps, 360-4096 px per side, <= 4 GB, <= 10 min through the API;
photos JPEG/WebP, <= 20 MB) refuse with :class:`MediaCheckError`. Rules TikTok does not document precisely are
:class:`MediaPolicy` settings, warnings by default: the minimum duration (peers assume 3 s), the aspect ratio (one
peer saw failures outside about 9:16..16:9) and facts a file does not record. The photo size rule ("maximum 1080p",
read as short side <= 1080 and long side <= 1920 from field reports) refuses by default because one oversized photo
fails a whole carousel; it is a setting too.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from airflow_provider_tiktok.api.chunks import MAX_VIDEO_SIZE
from airflow_provider_tiktok.api.media.facts import PhotoInfo, VideoInfo
from airflow_provider_tiktok.api.media.reader import MediaCheckError

Action = Literal["refuse", "warn", "ignore"]

VIDEO_CODECS = {"h264": "H.264", "h265": "H.265", "vp8": "VP8", "vp9": "VP9"}
MIN_FPS, MAX_FPS = 23, 60
MIN_SIDE, MAX_SIDE = 360, 4096
API_MAX_VIDEO_DURATION_SEC = 600
PHOTO_MAX_BYTES = 20 * 1024 * 1024
PHOTO_MAX_SHORT_SIDE, PHOTO_MAX_LONG_SIDE = 1080, 1920
_WIDEST = Fraction(16, 9) * Fraction(101, 100)  # 1% slack: 1080x1920 encoders often round to 1088 or 1072


@dataclass(frozen=True)
class MediaPolicy:
    """What to do about the media rules TikTok does not document precisely (README, "Known TikTok limits")."""

    min_duration_s: float = 3.0
    short_video: Action = "warn"
    aspect_ratio: Action = "warn"
    unknown_facts: Action = "warn"
    photo_dimensions: Action = "refuse"


DEFAULT_POLICY = MediaPolicy()


def _apply(action: Action, error: MediaCheckError, warnings: list[str]) -> None:
    if action == "refuse":
        raise error
    if action == "warn":
        warnings.append(error.message)


def check_video(info: VideoInfo, policy: MediaPolicy = DEFAULT_POLICY) -> list[str]:
    """Every documented video rule; returns the warnings of the uncertain ones (raises for a refusal)."""
    warnings: list[str] = []
    if info.size <= 0:
        raise MediaCheckError("video_size", info.size, 1, "the video file is empty")
    if info.size > MAX_VIDEO_SIZE:
        raise MediaCheckError(
            "video_size", info.size, MAX_VIDEO_SIZE, f"video is {info.size:,} bytes; TikTok allows at most 4 GB"
        )
    unknown: list[str] = []
    if info.codec is None:
        unknown.append("codec")
    elif info.codec not in VIDEO_CODECS:
        raise MediaCheckError(
            "video_codec",
            info.codec,
            list(VIDEO_CODECS.values()),
            f"the video codec is {info.codec}; TikTok accepts {', '.join(VIDEO_CODECS.values())} (re-encode it, "
            "H.264 is recommended)",
        )
    if info.frame_rate is None:
        unknown.append("frame rate")
    elif not MIN_FPS <= info.frame_rate <= MAX_FPS:
        raise MediaCheckError(
            "frame_rate",
            round(float(info.frame_rate), 3),
            f"{MIN_FPS}-{MAX_FPS} fps",
            f"the video is {float(info.frame_rate):.3f} fps; TikTok accepts {MIN_FPS} to {MAX_FPS} fps "
            "(re-encode it, e.g. at 30 fps)",
            fail_reason="frame_rate_check_failed",
        )
    if info.width is None or info.height is None:
        unknown.append("resolution")
    else:
        for name, side in (("width", info.width), ("height", info.height)):
            if not MIN_SIDE <= side <= MAX_SIDE:
                raise MediaCheckError(
                    name,
                    side,
                    f"{MIN_SIDE}-{MAX_SIDE} px",
                    f"the video is {info.width}x{info.height} px; TikTok needs {MIN_SIDE} to {MAX_SIDE} px for both "
                    "width and height (resize it)",
                    fail_reason="picture_size_check_failed",
                )
        ratio = Fraction(max(info.width, info.height), min(info.width, info.height))
        if ratio > _WIDEST:
            _apply(
                policy.aspect_ratio,
                MediaCheckError(
                    "aspect_ratio",
                    f"{info.width}x{info.height}",
                    "9:16 to 16:9",
                    f"the video is {info.width}x{info.height} px, outside 9:16 to 16:9; TikTok does not document an "
                    "aspect-ratio limit but has been seen failing such videos with picture_size_check_failed",
                    fail_reason="picture_size_check_failed",
                ),
                warnings,
            )
    if info.duration_s is None:
        unknown.append("duration")
    else:
        if info.duration_s > API_MAX_VIDEO_DURATION_SEC:
            raise MediaCheckError(
                "duration",
                round(info.duration_s, 3),
                API_MAX_VIDEO_DURATION_SEC,
                f"video is {info.duration_s:.1f} s long; TikTok's API allows at most {API_MAX_VIDEO_DURATION_SEC} s",
                fail_reason="duration_check_failed",
            )
        if info.duration_s < policy.min_duration_s:
            _apply(
                policy.short_video,
                MediaCheckError(
                    "duration",
                    round(info.duration_s, 3),
                    policy.min_duration_s,
                    f"video is {info.duration_s:.2f} s long; TikTok documents no minimum but integrations assume "
                    f"{policy.min_duration_s:g} s",
                    fail_reason="duration_check_failed",
                ),
                warnings,
            )
    if unknown:
        _apply(
            policy.unknown_facts,
            MediaCheckError(
                "video",
                "unknown " + ", ".join(unknown),
                "recorded in the file's headers",
                f"the file's headers do not record its {', '.join(unknown)}; TikTok checks them after the upload",
            ),
            warnings,
        )
    return warnings


def check_video_duration(duration_s: float | None, max_duration_s: int | None, who: str = "the creator") -> None:
    """Duration within the creator's ``max_video_post_duration_sec`` (and the API's 10-minute ceiling)."""
    if duration_s is None:
        return
    limit = API_MAX_VIDEO_DURATION_SEC
    if max_duration_s is not None and max_duration_s > 0:
        limit = min(limit, max_duration_s)
    if duration_s > limit:
        raise MediaCheckError(
            "duration",
            round(duration_s, 3),
            limit,
            f"video is {duration_s:.1f} s long; {who} may post at most {limit} s (max_video_post_duration_sec)",
            fail_reason="duration_check_failed",
        )


def check_photo(info: PhotoInfo, policy: MediaPolicy = DEFAULT_POLICY, *, name: str = "photo") -> list[str]:
    """Format is checked when probing; this checks bytes (<= 20 MB) and pixels (the safe 1080p reading)."""
    warnings: list[str] = []
    if info.size > PHOTO_MAX_BYTES:
        raise MediaCheckError(
            name,
            info.size,
            PHOTO_MAX_BYTES,
            f"{name} is {info.size:,} bytes; TikTok allows at most {PHOTO_MAX_BYTES:,} (20 MB) per photo",
            fail_reason="picture_size_check_failed",
        )
    short, long = sorted((info.width, info.height))
    if short > PHOTO_MAX_SHORT_SIDE or long > PHOTO_MAX_LONG_SIDE:
        _apply(
            policy.photo_dimensions,
            MediaCheckError(
                name,
                f"{info.width}x{info.height}",
                f"{PHOTO_MAX_SHORT_SIDE}x{PHOTO_MAX_LONG_SIDE}",
                f"{name} is {info.width}x{info.height} px; TikTok allows at most {PHOTO_MAX_SHORT_SIDE} px on the "
                f"short side and {PHOTO_MAX_LONG_SIDE} px on the long side (one oversized photo fails the whole "
                "carousel)",
                fail_reason="picture_size_check_failed",
            ),
            warnings,
        )
    return warnings
