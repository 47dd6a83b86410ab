"""Container sniffing and duration reading, round-tripped through the shared media generators."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_tiktok.api.errors import TikTokValidationError
from airflow_provider_tiktok.api.media import probe_photo, probe_video, probe_video_file, sniff_video
from airflow_provider_tiktok.testing.media import make_jpeg, make_mov, make_mp4, make_png, make_webm, make_webp


class CountingReader(io.RawIOBase):
    """A seekable file that counts the bytes actually read, to prove payloads are seeked over."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.bytes_read += len(data)
        return data


@settings(max_examples=60, deadline=None)
@given(
    maker=st.sampled_from([make_mp4, make_mov, make_webm]),
    duration=st.floats(min_value=0.5, max_value=600, allow_nan=False).map(lambda d: round(d, 3)),
    extra=st.integers(min_value=0, max_value=50_000),
    moov_at_end=st.booleans(),
    large=st.booleans(),
)
def test_round_trip(maker, duration: float, extra: int, moov_at_end: bool, large: bool) -> None:
    buf = io.BytesIO()
    kwargs = {} if maker is make_webm else {"moov_at_end": moov_at_end, "large_boxes": large}
    minimum = maker(io.BytesIO(), duration_s=duration, size=None, **kwargs) - 1024
    size = maker(buf, duration_s=duration, size=minimum + extra, **kwargs)
    assert size == len(buf.getvalue()) == minimum + extra
    info = probe_video(buf)
    expected_type = {make_mp4: "video/mp4", make_mov: "video/quicktime", make_webm: "video/webm"}[maker]
    assert info.content_type == expected_type
    assert info.size == size
    assert info.duration_s == pytest.approx(duration, abs=0.002)


def test_moov_after_a_large_mdat_is_found_without_reading_the_mdat(tmp_path: Path) -> None:
    path = tmp_path / "camera.mp4"
    make_mp4(path, duration_s=42.0, size=30_000_000, moov_at_end=True)
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        info = probe_video(reader)
    assert info.duration_s == 42.0
    assert reader.bytes_read < 4096


def test_64_bit_mdat_beyond_4_gib(tmp_path: Path) -> None:
    """A sparse file whose mdat (64-bit size) spans 5 GiB, with moov (mvhd version 1) after it."""
    small = io.BytesIO()
    make_mp4(small, duration_s=90.5, moov_at_end=True, large_boxes=True)
    data = small.getvalue()
    moov = data[data.index(b"moov") - 4 :]
    ftyp = data[: struct.unpack(">I", data[:4])[0]]
    payload = 5 * 1024**3
    path = tmp_path / "huge.mp4"
    with open(path, "wb") as out:
        out.write(ftyp)
        out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + payload))
        out.seek(payload, 1)
        out.write(moov)
    info = probe_video_file(path)
    assert info.duration_s == 90.5
    assert info.size == len(ftyp) + 16 + payload + len(moov)


def test_webm_duration_uses_timecode_scale() -> None:
    buf = io.BytesIO()
    make_webm(buf, duration_s=12.0, timecode_scale=100_000)
    assert probe_video(buf).duration_s == pytest.approx(12.0)


def test_webm_without_duration_is_derived_from_the_last_cluster() -> None:
    buf = io.BytesIO()
    make_webm(buf, duration_s=None, fps=30)  # one cluster holding one frame at timecode 0
    info = probe_video(buf)
    assert info.duration_s == pytest.approx(1 / 30) and info.notes


def test_matroska_is_not_webm() -> None:
    buf = io.BytesIO()
    make_webm(buf, doctype="matroska")
    with pytest.raises(TikTokValidationError, match=r"Matroska.*not WebM"):
        probe_video(buf)


@pytest.mark.parametrize("head", [b"GIF89a" + b"\x00" * 10, b"RIFF\x00\x00\x00\x00AVI LIST", b"", b"\x00\x00"])
def test_unknown_containers_name_what_tiktok_accepts(head: bytes) -> None:
    with pytest.raises(TikTokValidationError, match="TikTok accepts MP4, MOV \\(QuickTime\\) and WebM"):
        sniff_video(head)


def test_quicktime_without_ftyp() -> None:
    assert sniff_video(struct.pack(">I4s", 8, b"wide") + b"\x00" * 8) == "video/quicktime"


def test_mp4_without_moov_is_rejected() -> None:
    buf = io.BytesIO(struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0) + struct.pack(">I4s", 1008, b"mdat") + bytes(1000))
    with pytest.raises(TikTokValidationError, match="no moov box"):
        probe_video(buf)


def test_empty_and_truncated_files() -> None:
    with pytest.raises(TikTokValidationError, match="empty"):
        probe_video(io.BytesIO())
    with pytest.raises(TikTokValidationError, match="truncated"):
        probe_video(io.BytesIO(struct.pack(">I4s4s", 1, b"ftyp", b"isom")))


def test_stream_position_is_reset() -> None:
    buf = io.BytesIO()
    make_mp4(buf, size=5000)
    buf.seek(123)
    probe_video(buf)
    assert buf.tell() == 0


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 4096), height=st.integers(1, 4096))
def test_photo_dimensions(width: int, height: int) -> None:
    jpeg = probe_photo(make_jpeg(width, height))
    assert (jpeg.content_type, jpeg.width, jpeg.height) == ("image/jpeg", width, height)
    webp = probe_photo(io.BytesIO(make_webp(width, height)))
    assert (webp.content_type, webp.width, webp.height) == ("image/webp", width, height)


def test_jpeg_with_exif_and_fill_bytes_before_the_frame_header() -> None:
    jpeg = make_jpeg(941, 1672)
    exif = b"\xff\xe1" + struct.pack(">H", 2 + 5000) + b"Exif\x00" + bytes(4995)
    data = jpeg[:2] + exif + b"\xff" + jpeg[2:]
    assert probe_photo(data).width == 941


def test_lossy_and_extended_webp_headers() -> None:
    vp8 = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", 1080, 1350)
    lossy = b"RIFF" + struct.pack("<I", 4 + 8 + len(vp8)) + b"WEBP" + b"VP8 " + struct.pack("<I", len(vp8)) + vp8
    info = probe_photo(lossy)
    assert (info.width, info.height) == (1080, 1350)
    vp8x = b"\x10\x00\x00\x00" + (1079).to_bytes(3, "little") + (1919).to_bytes(3, "little")
    extended = b"RIFF" + struct.pack("<I", 4 + 8 + 10) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x
    info = probe_photo(extended)
    assert (info.width, info.height) == (1080, 1920)


def test_png_is_rejected_with_advice() -> None:
    with pytest.raises(TikTokValidationError, match=r"PNG.*convert it to JPEG or WebP") as info:
        probe_photo(make_png(64, 64))
    assert info.value.field == "photo"


def test_other_images_are_rejected() -> None:
    with pytest.raises(TikTokValidationError, match="not a JPEG or WebP"):
        probe_photo(b"GIF89a" + bytes(20))
    with pytest.raises(TikTokValidationError, match="no readable frame header"):
        probe_photo(b"\xff\xd8\xff\xd9")


def test_generated_files_stream_to_disk(tmp_path: Path) -> None:
    path = tmp_path / "big.webm"
    assert make_webm(path, duration_s=2.0, size=3_000_000) == path.stat().st_size == 3_000_000
    data = path.read_bytes()
    assert data[1_000_000:1_000_100] != data[2_000_000:2_000_100], "filler must differ by position"


def test_generators_return_bytes_without_a_target() -> None:
    for maker, kind in ((make_mp4, "video/mp4"), (make_mov, "video/quicktime"), (make_webm, "video/webm")):
        data = maker(duration_s=3.0, size=4096)
        assert isinstance(data, bytes) and len(data) == 4096
        assert probe_video(io.BytesIO(data)).content_type == kind
    with pytest.raises(ValueError, match="minimum"):
        make_mp4(size=100)


def test_fsspec_file_objects_work(tmp_path: Path) -> None:
    """ObjectStoragePath opens fsspec files; probing must work on those, not only on local files."""
    import fsspec

    fs = fsspec.filesystem("memory")
    with fs.open("/clips/a.mov", "wb") as out:
        make_mov(out, duration_s=33.0, size=200_000, moov_at_end=True)
    with fs.open("/clips/a.mov", "rb") as stream:
        info = probe_video(stream)
    assert (info.content_type, info.size, info.duration_s) == ("video/quicktime", 200_000, 33.0)
    fs.rm("/clips", recursive=True)


def test_the_api_layer_imports_no_airflow() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_tiktok.api.client, airflow_provider_tiktok.api.rules\n"
        "import airflow_provider_tiktok.api.media\n"
        "import airflow_provider_tiktok.testing.media\n"
        "assert not [m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')], 'airflow imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fragmented_mp4_duration_comes_from_mehd() -> None:
    from fractions import Fraction

    from airflow_provider_tiktok.testing.media import _box, _full_box, _mvhd, _trak

    trak = _trak(0, 1000, 720, 1280, codec=b"avc1", rate=Fraction(30), frames=0, chunk_offset=0, sample_size=0)
    mvex = _box(b"mvex", _full_box(b"mehd", 1, struct.pack(">Q", 61_500)))
    moov = _box(b"moov", _mvhd(0, 1000, 0), trak, mvex)
    data = _box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6") + moov + _box(b"moof", bytes(16))
    assert probe_video(io.BytesIO(data)).duration_s == 61.5
    no_duration = _box(b"ftyp", b"isom", struct.pack(">I", 0)) + _box(b"moov", _mvhd(0, 1000, 0), trak)
    assert probe_video(io.BytesIO(no_duration)).duration_s is None
