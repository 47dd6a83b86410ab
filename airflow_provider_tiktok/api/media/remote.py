"""Photo checks over HTTP, for PULL_FROM_URL photos the user allows us to look at before TikTok does.

One ranged GET per photo (``Range: bytes=0-65535``) gives the format, the dimensions (the JPEG frame header or the
WebP chunk sits in the first few KiB; a second, larger range is asked for only when EXIF/ICC data pushes it further)
and the size (from ``Content-Range``, or ``Content-Length`` when the server ignores ranges). Redirects are not
followed, because TikTok does not follow them either.
"""

from __future__ import annotations

import io
import re

import httpx

from airflow_provider_tiktok.api.media.facts import PhotoInfo
from airflow_provider_tiktok.api.media.probe import probe_photo
from airflow_provider_tiktok.api.media.reader import MediaCheckError

_FIRST, _SECOND = 64 * 1024, 1024 * 1024
_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")


def _head_bytes(client: httpx.Client, url: str, n: int, name: str) -> tuple[bytes, int | None]:
    with client.stream("GET", url, headers={"Range": f"bytes=0-{n - 1}"}) as response:
        if 300 <= response.status_code < 400:
            raise MediaCheckError(
                name,
                response.status_code,
                "no redirect",
                f"{name} answers HTTP {response.status_code} (a redirect); TikTok does not follow redirects, so "
                "give the final URL",
                fail_reason="photo_pull_failed",
            )
        if response.status_code in (401, 403, 404, 410):
            raise MediaCheckError(
                name,
                response.status_code,
                "HTTP 200",
                f"{name} answers HTTP {response.status_code}; TikTok needs a publicly readable URL",
                fail_reason="photo_pull_failed",
            )
        response.raise_for_status()
        data = b""
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= n:
                break
        match = _TOTAL.fullmatch(response.headers.get("content-range", "").strip())
        if response.status_code == 206 and match:
            return data[:n], int(match.group(1))
        length = response.headers.get("content-length", "")
        return data[:n], int(length) if length.isdigit() and response.status_code == 200 else None


class _Sized(io.BytesIO):
    """The fetched head of a remote file, reporting the remote file's full size to the probe."""

    def __init__(self, data: bytes, size: int) -> None:
        super().__init__(data)
        self.remote_size = size

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == io.SEEK_END:
            super().seek(0, io.SEEK_END)
            return self.remote_size + offset
        return super().seek(offset, whence)


def probe_photo_url(url: str, client: httpx.Client, *, name: str = "photo") -> PhotoInfo | None:
    """The photo's facts, or None when the server could not be asked (network error, 5xx): TikTok decides then.

    Raises :class:`MediaCheckError` for what TikTok would refuse: a redirect, a 4xx, a non-JPEG/WebP format.
    """
    try:
        for n in (_FIRST, _SECOND):
            data, size = _head_bytes(client, url, n, name)
            total = size if size is not None else len(data)
            try:
                return probe_photo(_Sized(data, total), name=name)
            except MediaCheckError as exc:
                if len(data) < n or exc.value != "unreadable" or total <= len(data):
                    raise
    except (httpx.TransportError, httpx.HTTPStatusError):
        return None
    raise MediaCheckError(
        name, "unreadable", "frame header in the first 1 MiB", f"{name}: no JPEG frame header in its first 1 MiB"
    )
