"""Media inspection without decoding: container, codec, pixel size, frame rate, duration, truncation; photos.

Only headers are read, by seeking over payloads, so a 4 GB video costs a few kilobytes of I/O wherever it lives
(local file, or an fsspec / ``ObjectStoragePath`` file opened in binary mode: anything with ``read``/``seek``/``tell``).
``probe_*`` functions return facts and refuse what TikTok cannot read; ``check_*`` functions apply TikTok's limits
to the facts. Both raise :class:`MediaCheckError`, a ``TikTokValidationError`` naming the field, value and limit.
"""

from airflow_provider_tiktok.api.media.checks import (
    API_MAX_VIDEO_DURATION_SEC,
    DEFAULT_POLICY,
    MAX_FPS,
    MAX_SIDE,
    MIN_FPS,
    MIN_SIDE,
    PHOTO_MAX_BYTES,
    PHOTO_MAX_LONG_SIDE,
    PHOTO_MAX_SHORT_SIDE,
    VIDEO_CODECS,
    MediaPolicy,
    check_photo,
    check_video,
    check_video_duration,
)
from airflow_provider_tiktok.api.media.facts import PHOTO_TYPES, VIDEO_TYPES, PhotoInfo, VideoInfo
from airflow_provider_tiktok.api.media.images import sniff_photo
from airflow_provider_tiktok.api.media.probe import (
    probe_photo,
    probe_video,
    probe_video_counted,
    probe_video_file,
    sniff_video,
)
from airflow_provider_tiktok.api.media.reader import MediaCheckError

__all__ = [
    "API_MAX_VIDEO_DURATION_SEC",
    "DEFAULT_POLICY",
    "MAX_FPS",
    "MAX_SIDE",
    "MIN_FPS",
    "MIN_SIDE",
    "PHOTO_MAX_BYTES",
    "PHOTO_MAX_LONG_SIDE",
    "PHOTO_MAX_SHORT_SIDE",
    "PHOTO_TYPES",
    "VIDEO_CODECS",
    "VIDEO_TYPES",
    "MediaCheckError",
    "MediaPolicy",
    "PhotoInfo",
    "VideoInfo",
    "check_photo",
    "check_video",
    "check_video_duration",
    "probe_photo",
    "probe_video",
    "probe_video_counted",
    "probe_video_file",
    "sniff_photo",
    "sniff_video",
]
