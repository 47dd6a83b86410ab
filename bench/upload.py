"""Upload benchmark: our chunked streaming upload against the practical limit of a chunked PUT from a file.

Ours: `TikTokClient.upload` in a child process (`bench.upload_worker`), timed around the call. The baseline
(`bench.sendfile_upload`, its own process, timed the same way): every chunk over one kept-alive connection, the
body handed to the kernel with `socket.sendfile`, no copy through user space. Both read the same real file (random
bytes written to disk before timing, not a sparse file whose reads cost nothing).

Informational baselines, one bash loop timed as a whole: one `curl -T - < <chunk file>` process per chunk (what a
BashOperator script would do; it pays a process start and a connection per chunk), and one curl process sending
every chunk over one kept-alive connection (`--next`). The chunk files are split off before timing.

Both servers answer per Content-Range (206, then 201): the byte-counting sink (`bench.sink`, its own process) and
the project's emulator (its own process; its upload endpoint also hashes what it receives). Peak RSS is read with
wait4 for the child and VmHWM inside the Python workers.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import uuid
from pathlib import Path

from bench.common import Row, Section, ServerProcess, median, python, run_child
from bench.emu import Emulator

MIB = 1024**2
CONTENT_TYPE = "video/mp4"
TARGET = 0.9


def _plan(size: int, chunk_size: int) -> dict[str, int]:
    from airflow_provider_tiktok.api.chunks import plan_chunks

    return plan_chunks(size, chunk_size).to_dict()


def _ranges(plan: dict[str, int]) -> list[tuple[int, int]]:
    from airflow_provider_tiktok.api.chunks import ChunkPlan

    return list(ChunkPlan(**plan).ranges())


def _curl_args(url: str, first: int, last: int, total: int, source: str = "-") -> list[str]:
    # `Transfer-Encoding:` (empty) stops curl from switching to chunked encoding for stdin (TikTok wants a length);
    # `Expect:` (empty) skips curl's 100-continue round trip, the most generous setting for the baseline.
    headers = [
        "Transfer-Encoding:",
        "Expect:",
        f"Content-Length: {last - first + 1}",
        f"Content-Type: {CONTENT_TYPE}",
        f"Content-Range: bytes {first}-{last}/{total}",
    ]
    args = ["-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "-T", source]
    for header in headers:
        args += ["-H", header]
    return [*args, url]


def _curl_cmd(url: str, first: int, last: int, total: int) -> str:
    return shlex.join(["curl", *_curl_args(url, first, last, total)])


def curl_split_script(url: str, plan: dict[str, int], chunk_files: list[Path]) -> str:
    lines = ["set -euo pipefail"]
    for (first, last), path in zip(_ranges(plan), chunk_files, strict=True):
        # stdin redirected from the chunk file: curl reads the file directly (no pipe, no extra process). `-T path`
        # would be the same read, but curl appends the file name to a URL whose path ends in "/" (TikTok's does).
        lines.append(f"{_curl_cmd(url, first, last, plan['video_size'])} < {shlex.quote(str(path))}")
    return "\n".join(lines) + "\n"


def curl_keepalive_script(url: str, plan: dict[str, int], chunk_files: list[Path]) -> str:
    """One curl process, every chunk over its one kept-alive connection (`--next` between transfers). `-T <file>`
    is fine here: the sink's upload URLs do not end in "/", so curl appends no file name."""
    parts: list[str] = []
    for (first, last), path in zip(_ranges(plan), chunk_files, strict=True):
        parts += ["--next"] if parts else []
        parts += _curl_args(url, first, last, plan["video_size"], str(path))
    return "set -euo pipefail\n" + shlex.join(["curl", *parts]) + "\n"


def _expect_codes(stdout: str, chunks: int) -> None:
    codes = stdout.split()
    if codes != ["206"] * (chunks - 1) + ["201"]:
        raise RuntimeError(f"curl upload answered {codes}, expected {chunks - 1} x 206 then 201")


class Measurement:
    """Throughput (MB/s, 10^6 bytes) and peak RSS (MB) of one upload."""

    def __init__(self, size: int, seconds: float, peak_kib: int, cpu_seconds: float | None = None) -> None:
        self.mbps = size / seconds / 1e6
        self.peak_mb = peak_kib * 1024 / 1e6
        # The uploading process's own CPU per GB sent (Python workers only): how far it is from being the limit.
        self.cpu_s_per_gb = cpu_seconds / (size / 1e9) if cpu_seconds is not None else None


def run_curl(script_text: str, workdir: Path, size: int, chunks: int) -> Measurement:
    script = workdir / f"curl-{uuid.uuid4().hex}.sh"
    script.write_text(script_text)
    result = run_child(["bash", str(script)])
    _expect_codes(result.stdout, chunks)
    return Measurement(size, result.wall, result.maxrss_kib)


def run_python(module: str, url: str, source: Path, size: int, chunk_size: int) -> tuple[Measurement, dict[str, int]]:
    """`bench.upload_worker` (ours) or `bench.sendfile_upload` (the baseline): both time the upload from inside."""
    argv = [python(), "-m", module, "--url", url, "--file", str(source), "--chunk-size", str(chunk_size)]
    result = run_child(argv)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    peak = max(report["hwm_kib"], result.maxrss_kib)
    return Measurement(size, report["seconds"], peak, report["cpu_seconds"]), report


def _write_real_file(path: Path, size: int) -> None:
    """Random bytes on disk (one random MiB repeated: real blocks, not holes), synced before any timing."""
    block = os.urandom(MIB)
    with path.open("wb") as out:
        left = size
        while left:
            left -= out.write(block[: min(left, MIB)])
        out.flush()
        os.fsync(out.fileno())


def _split(source: Path, plan: dict[str, int], workdir: Path) -> list[Path]:
    """One file per chunk, copied from the source, written before any timing starts (curl reads whole files)."""
    files = []
    with source.open("rb") as src:
        for index, (first, last) in enumerate(_ranges(plan)):
            path = workdir / f"{source.name}.chunk{index:04d}"
            src.seek(first)
            with path.open("wb") as out:
                left = last - first + 1
                while left:
                    left -= out.write(src.read(min(left, MIB)))
            files.append(path)
    return files


def run(smoke: bool = False, workdir: Path | None = None) -> Section:
    sizes = [16 * MIB] if smoke else [100 * MIB, 1024 * MIB]
    chunk_size = 5_242_880 if smoke else 10_000_000
    reps = 1 if smoke else 3
    have_curl = shutil.which("curl") is not None
    section = Section(
        "Upload: chunked PUT throughput and peak RSS",
        "every chunk over one kept-alive connection with `sendfile` (`bench.sendfile_upload`)",
        "`TikTokClient.upload` (streams each chunk from the file, keep-alive)",
    )
    rss_limit_mb = (2 * chunk_size + 100e6) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="tiktok-bench-upload-", dir=workdir))
    try:
        with ServerProcess([python(), "-m", "bench.sink"]) as sink, Emulator() as emu:
            for size in sizes:
                _bench_size(section, sink, emu, tmp, size, chunk_size, reps, have_curl and not smoke, rss_limit_mb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section.notes += [
        f"chunk size {chunk_size:,} bytes; median of {reps} run(s) each, runs interleaved; MB = 10^6 bytes",
        "ours and the sendfile baseline are timed inside their (already started) interpreters, around the upload; "
        "each curl run includes its process start(s), inherent to running curl",
        "the file is real (random bytes on disk, fsynced), so every read is a real page-cache read",
        f"RSS target: peak < 2 x chunk size + 100 MB = {rss_limit_mb:.0f} MB, for every file size",
    ]
    if not have_curl:
        section.notes.append("curl is not installed (`which curl` found nothing): curl rows skipped")
    return section


def _bench_size(
    section: Section,
    sink: ServerProcess,
    emu: Emulator,
    tmp: Path,
    size: int,
    chunk_size: int,
    reps: int,
    with_curl: bool,
    rss_limit_mb: float,
) -> None:
    label = f"{size // MIB} MiB"
    source = tmp / f"video-{size // MIB}mib.mp4"
    _write_real_file(source, size)
    plan = _plan(size, chunk_size)
    chunk_files = _split(source, plan, tmp) if with_curl else []
    samples: dict[str, list[Measurement]] = {}
    workers: list[dict[str, int]] = []

    def add(key: str, measurement: Measurement) -> None:
        samples.setdefault(key, []).append(measurement)

    def sink_url() -> str:
        return f"{sink.base_url}/upload/{uuid.uuid4().hex}"

    def emulator_url() -> str:
        _, token = emu.new_account_token()
        return emu.init_file_upload(token, plan)[1]

    chunks = plan["total_chunk_count"]
    for _ in range(reps):
        add("sendfile_sink", run_python("bench.sendfile_upload", sink_url(), source, size, chunk_size)[0])
        ours_sink, report = run_python("bench.upload_worker", sink_url(), source, size, chunk_size)
        add("ours_sink", ours_sink)
        workers.append(report)
        add("sendfile_emu", run_python("bench.sendfile_upload", emulator_url(), source, size, chunk_size)[0])
        add("ours_emu", run_python("bench.upload_worker", emulator_url(), source, size, chunk_size)[0])
        if with_curl:
            add("curl_sink", run_curl(curl_split_script(sink_url(), plan, chunk_files), tmp, size, chunks))
            add(
                "curl_keepalive_sink", run_curl(curl_keepalive_script(sink_url(), plan, chunk_files), tmp, size, chunks)
            )
    for path in chunk_files:
        path.unlink()
    source.unlink()

    def med(key: str, attr: str = "mbps") -> float | None:
        return median([getattr(m, attr) for m in samples[key]]) if key in samples else None

    ours_sink_mbps, ours_emu_mbps = med("ours_sink"), med("ours_emu")
    section.rows += [
        Row(
            f"{label} -> sink",
            med("sendfile_sink"),
            ours_sink_mbps,
            "MB/s",
            f">= {TARGET}x",
            _at_least(TARGET, ours_sink_mbps, med("sendfile_sink")),
        ),
        Row(
            f"{label} -> emulator",
            med("sendfile_emu"),
            ours_emu_mbps,
            "MB/s",
            f">= {TARGET}x",
            _at_least(TARGET, ours_emu_mbps, med("sendfile_emu")),
        ),
    ]
    if with_curl:
        section.rows += [
            Row(f"{label} -> sink, vs one curl per chunk", med("curl_sink"), ours_sink_mbps, "MB/s"),
            Row(f"{label} -> sink, vs one kept-alive curl", med("curl_keepalive_sink"), ours_sink_mbps, "MB/s"),
        ]
    section.rows.append(
        Row(
            f"{label} -> sink: client CPU per GB",
            med("sendfile_sink", "cpu_s_per_gb"),
            med("ours_sink", "cpu_s_per_gb"),
            "s",
        )
    )
    peak = max(m.peak_mb for key in ("ours_sink", "ours_emu") for m in samples[key])
    section.rows.append(
        Row(
            f"{label} peak RSS",
            max(m.peak_mb for m in samples["sendfile_sink"]),
            peak,
            "MB",
            f"< {rss_limit_mb:.0f} MB",
            peak < rss_limit_mb,
        )
    )
    section.raw[label] = {
        "plan": plan,
        "samples": {k: [{"mbps": m.mbps, "peak_mb": m.peak_mb} for m in v] for k, v in samples.items()},
        "worker_reports": workers,
    }


def _at_least(factor: float, ours: float | None, base: float | None) -> bool | None:
    return None if base is None or ours is None else ours >= factor * base
