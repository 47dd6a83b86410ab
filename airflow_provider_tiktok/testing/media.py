"""Synthetic media for tests and demos: containers with the structure TikTok's checks look at.

What "valid" means here, honestly:

* ``make_mp4`` / ``make_mov`` write an ISO base media file with ``ftyp``, a ``moov`` holding ``mvhd`` (the
  duration), one video ``trak`` (``tkhd``, ``mdia/mdhd``, ``hdlr``, ``minf`` with a sample table: a ``codec``
  sample entry with the pixel size, ``fps`` frames of equal duration in one chunk of the ``mdat``) and an ``mdat``
  whose payload pads the file to the requested size. ``make_webm`` writes an EBML header (DocType ``webm``), a
  ``Segment`` with ``Info`` (TimecodeScale, Duration), one video track (``codec``, pixel size, ``fps`` as
  DefaultDuration) and a ``Cluster`` whose block pads the file. Real muxings for tests come from
  ``tests/media/corpus.py`` (PyAV).
  Container parsers (ours, the emulator's, ``ffprobe``'s header reading) accept them and read the duration; they are
  **not playable videos** (the payload is filler, not encoded frames).
* The payload is a deterministic byte pattern that differs per position (not zeros), so an upload that reorders,
  drops or repeats a chunk changes the file's sha256.
* Files are streamed to disk in 1 MiB blocks, so a 4 GB test file costs 1 MiB of memory.
* ``make_jpeg`` builds a baseline greyscale JPEG of a uniform image and ``make_png`` a greyscale PNG; both follow
  their formats (headers, tables, entropy-coded/deflated data) and carry the requested dimensions. ``make_webp``
  writes a lossless (VP8L) header with the dimensions and a solid-colour bitstream. Only the headers and dimensions
  are checked by this project's tests; no image decoder is run on them.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from functools import partial
from typing import BinaryIO, TypedDict, Unpack, overload

__all__ = ["make_jpeg", "make_mov", "make_mp4", "make_png", "make_webm", "make_webp"]

_BLOCK = 1024 * 1024
_MATRIX = struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)


Target = str | os.PathLike[str] | BinaryIO


@contextmanager
def _open(target: Target) -> Iterator[BinaryIO]:
    if isinstance(target, str | os.PathLike):
        with open(target, "wb") as stream:
            yield stream
    else:
        yield target


def _write_filler(stream: BinaryIO, length: int, seed: int) -> None:
    """Write ``length`` bytes of a position-dependent pattern in 1 MiB blocks."""
    base = random.Random(seed).randbytes(_BLOCK)
    block_index = 0
    while length > 0:
        shift = (block_index * 7919) % _BLOCK
        block = base[shift:] + base[:shift]
        n = min(length, _BLOCK)
        stream.write(block[:n])
        length -= n
        block_index += 1


# --- ISO base media (MP4 / MOV) -----------------------------------------------------------------------------------


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24), payload)


def _mvhd(duration_units: int, timescale: int, version: int) -> bytes:
    if version == 1:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration_units)
    else:
        times = struct.pack(">IIII", 0, 0, timescale, duration_units)
    rest = struct.pack(">IH10x", 0x00010000, 0x0100) + _MATRIX + b"\x00" * 24 + struct.pack(">I", 2)
    return _full_box(b"mvhd", version, times + rest)


def _sample_entry(codec: bytes, width: int, height: int) -> bytes:
    """A VisualSampleEntry (no decoder configuration box: nothing here decodes the filler)."""
    return _box(
        codec,
        b"\x00" * 6 + struct.pack(">H", 1) + b"\x00" * 16,
        struct.pack(">HHIIIH", width, height, 0x00480000, 0x00480000, 0, 1),
        b"\x00" * 32 + struct.pack(">Hh", 0x18, -1),
    )


def _trak(
    duration_units: int,
    timescale: int,
    width: int,
    height: int,
    *,
    codec: bytes,
    rate: Fraction,
    frames: int,
    chunk_offset: int,
    sample_size: int,
) -> bytes:
    """One video track: frames at ``rate`` in one chunk of equal-sized samples at ``chunk_offset``."""
    tkhd = _box(
        b"tkhd",
        struct.pack(">I", 0x000007),  # version 0; flags: enabled, in movie, in preview
        struct.pack(">III4xI8xHHH2x", 0, 0, 1, duration_units, 0, 0, 0)
        + _MATRIX
        + struct.pack(">II", width << 16, height << 16),
    )
    media_scale, delta = rate.numerator, rate.denominator
    mdhd = _full_box(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, media_scale, frames * delta, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, struct.pack(">I4s12x", 0, b"vide") + b"VideoHandler\x00")
    vmhd = _box(b"vmhd", struct.pack(">I", 1), b"\x00" * 8)
    dinf = _box(b"dinf", _full_box(b"dref", 0, struct.pack(">I", 1) + _box(b"url ", struct.pack(">I", 1))))
    if chunk_offset > 0xFFFFFFFF:
        chunks = _full_box(b"co64", 0, struct.pack(">IQ", 1, chunk_offset))
    else:
        chunks = _full_box(b"stco", 0, struct.pack(">II", 1, chunk_offset))
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, struct.pack(">I", 1) + _sample_entry(codec, width, height)),
        _full_box(b"stts", 0, struct.pack(">III", 1, frames, delta)),
        _full_box(b"stsc", 0, struct.pack(">IIII", 1, 1, frames, 1)),
        _full_box(b"stsz", 0, struct.pack(">II", sample_size, frames)),
        chunks,
    )
    return _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, _box(b"minf", vmhd, dinf, stbl)))


def _iso_file(
    target: Target,
    *,
    brand: bytes,
    compatible: tuple[bytes, ...],
    duration_s: float,
    size: int | None,
    moov_at_end: bool,
    large_boxes: bool,
    timescale: int,
    width: int,
    height: int,
    seed: int,
    fps: float | Fraction,
    codec: bytes,
) -> int:
    units = round(duration_s * timescale)
    rate = Fraction(fps).limit_denominator(1001)
    frames = max(1, round(duration_s * rate))
    ftyp = _box(b"ftyp", brand, struct.pack(">I", 0x200), *compatible)
    mdat_header = 16 if large_boxes else 8

    def moov_for(offset: int, sample_size: int) -> bytes:
        trak = _trak(
            units,
            timescale,
            width,
            height,
            codec=codec,
            rate=rate,
            frames=frames,
            chunk_offset=offset,
            sample_size=sample_size,
        )
        return _box(b"moov", _mvhd(units, timescale, 1 if large_boxes else 0), trak)

    fixed = len(ftyp) + len(moov_for(0, 0)) + mdat_header
    payload = 1024 if size is None else size - fixed
    offset = len(ftyp) + mdat_header + (0 if moov_at_end else fixed - len(ftyp) - mdat_header)
    moov = moov_for(offset, max(0, payload) // frames)
    if len(moov) != fixed - len(ftyp) - mdat_header:  # stco became co64: the payload shrinks by 4 bytes
        fixed = len(ftyp) + len(moov) + mdat_header
        payload = 1024 if size is None else size - fixed
        offset = len(ftyp) + mdat_header + (0 if moov_at_end else len(moov))
        moov = moov_for(offset, max(0, payload) // frames)
    if payload < 0:
        raise ValueError(f"size {size} is below this container's minimum of {fixed} bytes")
    if not large_boxes and mdat_header + payload > 0xFFFFFFFF:
        raise ValueError("an mdat over 4 GiB needs large_boxes=True (64-bit box size)")
    if large_boxes:
        header = struct.pack(">I4sQ", 1, b"mdat", mdat_header + payload)
    else:
        header = struct.pack(">I4s", mdat_header + payload, b"mdat")
    with _open(target) as stream:
        stream.write(ftyp)
        if not moov_at_end:
            stream.write(moov)
        stream.write(header)
        _write_filler(stream, payload, seed)
        if moov_at_end:
            stream.write(moov)
    return fixed + payload


# --- WebM (EBML) --------------------------------------------------------------------------------------------------


def _ebml_id(element_id: int) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")


def _ebml_size(n: int) -> bytes:
    """Always the 8-byte size form, so element lengths are easy to compute up front."""
    return (0x01 << 56 | n).to_bytes(8, "big")


def _el(element_id: int, payload: bytes) -> bytes:
    return _ebml_id(element_id) + _ebml_size(len(payload)) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _el(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _webm_file(
    target: Target,
    *,
    duration_s: float | None,
    size: int | None,
    timecode_scale: int,
    doctype: str,
    width: int,
    height: int,
    seed: int,
    fps: float | Fraction,
    codec: str,
) -> int:
    header = _el(
        0x1A45DFA3,
        _uint(0x4286, 1)
        + _uint(0x42F7, 1)
        + _uint(0x42F2, 4)
        + _uint(0x42F3, 8)
        + _el(0x4282, doctype.encode())
        + _uint(0x4287, 4)
        + _uint(0x4285, 2),
    )
    info_children = _uint(0x2AD7B1, timecode_scale)
    if duration_s is not None:
        info_children += _el(0x4489, struct.pack(">d", duration_s * 1e9 / timecode_scale))
    info_children += _el(0x4D80, b"airflow-provider-tiktok") + _el(0x5741, b"airflow-provider-tiktok")
    info = _el(0x1549A966, info_children)
    video = _el(0xE0, _uint(0xB0, width) + _uint(0xBA, height))
    tracks = _el(
        0x1654AE6B,
        _el(
            0xAE,
            _uint(0xD7, 1)
            + _uint(0x73C5, 1)
            + _uint(0x83, 1)
            + _el(0x86, codec.encode())
            + _uint(0x23E383, round(1e9 / Fraction(fps)))
            + video,
        ),
    )
    block_head = b"\x81" + struct.pack(">hB", 0, 0x80)  # track 1, relative timecode 0, keyframe
    cluster_fixed = len(_uint(0xE7, 0)) + 1 + 8 + len(block_head)  # Timecode + SimpleBlock id/size + block header
    fixed = len(header) + 4 + 8 + len(info) + len(tracks) + 4 + 8 + cluster_fixed
    frame = 1024 if size is None else size - fixed
    if frame < 0:
        raise ValueError(f"size {size} is below this container's minimum of {fixed} bytes")
    cluster_len = cluster_fixed + frame
    segment_len = len(info) + len(tracks) + 4 + 8 + cluster_len
    with _open(target) as stream:
        stream.write(header)
        stream.write(_ebml_id(0x18538067) + _ebml_size(segment_len))
        stream.write(info)
        stream.write(tracks)
        stream.write(_ebml_id(0x1F43B675) + _ebml_size(cluster_len))
        stream.write(_uint(0xE7, 0))
        stream.write(b"\xa3" + _ebml_size(len(block_head) + frame) + block_head)
        _write_filler(stream, frame, seed)
    return fixed + frame


# --- photos -------------------------------------------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def make_jpeg(width: int, height: int) -> bytes:
    """A baseline greyscale JPEG of a uniform mid-grey image with the given dimensions.

    Each 8x8 block is coded as "DC difference 0, end of block" with one-symbol Huffman tables, i.e. two zero bits.
    """
    if not (1 <= width <= 0xFFFF and 1 <= height <= 0xFFFF):
        raise ValueError("JPEG dimensions must be 1..65535")
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits = 2 * blocks
    scan = bytearray(bits // 8)
    if bits % 8:  # pad the final byte with 1-bits, as the standard requires
        scan.append((1 << (8 - bits % 8)) - 1)
    one_symbol = bytes([1] + [0] * 15) + b"\x00"
    return b"".join(
        [
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, b"\x00" + b"\x01" * 64),
            _segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
            _segment(0xC4, b"\x00" + one_symbol + b"\x10" + one_symbol),
            _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bytes(scan),
            b"\xff\xd9",
        ]
    )


class _BitWriter:
    """LSB-first bit packing, as VP8L uses."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, nbits: int) -> None:
        self.value |= value << self.count
        self.count += nbits

    def to_bytes(self) -> bytes:
        return self.value.to_bytes((self.count + 7) // 8, "little")


def make_webp(width: int, height: int) -> bytes:
    """A lossless (VP8L) WebP of a solid grey image: single-symbol prefix codes, so pixels need no bits."""
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise ValueError("WebP dimensions must be 1..16384")
    bits = _BitWriter()
    bits.put(0x2F, 8)  # VP8L signature
    bits.put(width - 1, 14)
    bits.put(height - 1, 14)
    bits.put(0, 1)  # alpha hint
    bits.put(0, 3)  # version
    bits.put(0, 1)  # no transform
    bits.put(0, 1)  # no colour cache
    bits.put(0, 1)  # no meta prefix codes
    for symbol in (0x80, 0x80, 0x80, 0xFF):  # green, red, blue, alpha: one 8-bit symbol each
        bits.put(1, 1)  # simple code
        bits.put(0, 1)  # one symbol
        bits.put(1, 1)  # 8-bit symbol
        bits.put(symbol, 8)
    bits.put(1, 1)  # distance code: simple, one 1-bit symbol 0
    bits.put(0, 1)
    bits.put(0, 1)
    bits.put(0, 1)
    payload = bits.to_bytes()
    if len(payload) % 2:
        payload += b"\x00"
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(width: int, height: int) -> bytes:
    """A greyscale PNG (which TikTok rejects: useful for testing that rejection)."""
    row = b"\x00" + b"\x80" * width
    compressor = zlib.compressobj()
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _to_target_or_bytes(target: Target | None, write: Callable[[Target], int]) -> int | bytes:
    """Write to ``target`` and return the size written, or with no target return the bytes themselves."""
    if target is not None:
        return write(target)
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


class _IsoOptions(TypedDict, total=False):
    """The keyword options of :func:`make_mp4` / :func:`make_mov` (the defaults live on the functions)."""

    moov_at_end: bool
    large_boxes: bool
    timescale: int
    width: int
    height: int
    seed: int
    fps: float | Fraction
    codec: bytes


class _WebmOptions(TypedDict, total=False):
    """The keyword options of :func:`make_webm` (the defaults live on the function)."""

    timecode_scale: int
    doctype: str
    width: int
    height: int
    seed: int
    fps: float | Fraction
    codec: str


@overload
def make_mp4(
    target: None = None, duration_s: float = 5.0, size: int | None = None, **options: Unpack[_IsoOptions]
) -> bytes: ...
@overload
def make_mp4(
    target: Target, duration_s: float = 5.0, size: int | None = None, **options: Unpack[_IsoOptions]
) -> int: ...
def make_mp4(
    target: Target | None = None,
    duration_s: float = 5.0,
    size: int | None = None,
    *,
    moov_at_end: bool = False,
    large_boxes: bool = False,
    timescale: int = 1000,
    width: int = 1080,
    height: int = 1920,
    seed: int = 0,
    fps: float | Fraction = 30,
    codec: bytes = b"avc1",
) -> int | bytes:
    """An MP4 (brand ``isom``) of exactly ``size`` bytes (default ~1.5 KB) lasting ``duration_s`` seconds.

    Written to ``target`` (a path or a binary file; returns the size written), or returned as bytes when ``target``
    is None. ``moov_at_end`` puts the movie header after the media data (as cameras do); ``large_boxes`` uses a
    64-bit ``mdat`` size and a version-1 ``mvhd``.
    """
    return _to_target_or_bytes(
        target,
        partial(
            _iso_file,
            brand=b"isom",
            compatible=(b"isom", b"iso2", b"avc1", b"mp41"),
            duration_s=duration_s,
            size=size,
            moov_at_end=moov_at_end,
            large_boxes=large_boxes,
            timescale=timescale,
            width=width,
            height=height,
            seed=seed,
            fps=fps,
            codec=codec,
        ),
    )


@overload
def make_mov(
    target: None = None, duration_s: float = 5.0, size: int | None = None, **options: Unpack[_IsoOptions]
) -> bytes: ...
@overload
def make_mov(
    target: Target, duration_s: float = 5.0, size: int | None = None, **options: Unpack[_IsoOptions]
) -> int: ...
def make_mov(
    target: Target | None = None,
    duration_s: float = 5.0,
    size: int | None = None,
    *,
    moov_at_end: bool = False,
    large_boxes: bool = False,
    timescale: int = 600,
    width: int = 1080,
    height: int = 1920,
    seed: int = 0,
    fps: float | Fraction = 30,
    codec: bytes = b"avc1",
) -> int | bytes:
    """A QuickTime MOV (``ftyp`` brand ``qt  ``); same options and return value as :func:`make_mp4`."""
    return _to_target_or_bytes(
        target,
        partial(
            _iso_file,
            brand=b"qt  ",
            compatible=(b"qt  ",),
            duration_s=duration_s,
            size=size,
            moov_at_end=moov_at_end,
            large_boxes=large_boxes,
            timescale=timescale,
            width=width,
            height=height,
            seed=seed,
            fps=fps,
            codec=codec,
        ),
    )


@overload
def make_webm(
    target: None = None, duration_s: float | None = 5.0, size: int | None = None, **options: Unpack[_WebmOptions]
) -> bytes: ...
@overload
def make_webm(
    target: Target, duration_s: float | None = 5.0, size: int | None = None, **options: Unpack[_WebmOptions]
) -> int: ...
def make_webm(
    target: Target | None = None,
    duration_s: float | None = 5.0,
    size: int | None = None,
    *,
    timecode_scale: int = 1_000_000,
    doctype: str = "webm",
    width: int = 1080,
    height: int = 1920,
    seed: int = 0,
    fps: float | Fraction = 30,
    codec: str = "V_VP9",
) -> int | bytes:
    """A WebM of exactly ``size`` bytes; ``duration_s=None`` omits Duration (as live recorders do).

    Written to ``target`` (returns the size) or returned as bytes when ``target`` is None, like :func:`make_mp4`.
    """
    return _to_target_or_bytes(
        target,
        partial(
            _webm_file,
            duration_s=duration_s,
            size=size,
            timecode_scale=timecode_scale,
            doctype=doctype,
            width=width,
            height=height,
            seed=seed,
            fps=fps,
            codec=codec,
        ),
    )
