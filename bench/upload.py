"""Upload benchmark: our chunked streaming upload against curl PUTting the same chunk plan.

Ours: `TikTokClient.upload` in a child process (`bench.upload_worker`), timed around the call, reading a sparse
file. Baselines: one curl process per chunk (what a BashOperator script would do), in one bash loop timed as a
whole, to the same server:

* `curl -T - < <chunk file>`: the file is pre-split into one file per chunk before timing, so curl reads a plain
  file with nothing in between. This is the most generous curl can get (it has no "upload this byte range" option),
  hence the baseline the target is judged against.
* `dd | curl -T -`: the same ranges cut from the one source file on the fly (informational; the pipe costs a copy).

Both servers answer per Content-Range (206, then 201): the byte-counting sink (`bench.sink`, its own process) and
the project's emulator (its own process; its upload endpoint also hashes what it receives). Peak RSS is read with
wait4 for the child (for curl: the maximum over bash, dd and every curl) and VmHWM inside our worker.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
import uuid
from pathlib import Path

from bench.common import Row, Section, ServerProcess, median, python, run_child
from bench.emu import Emulator

MIB = 1024**2
CONTENT_TYPE = "video/mp4"


def _plan(size: int, chunk_size: int) -> dict[str, int]:
    from airflow_provider_tiktok.api.chunks import plan_chunks

    return plan_chunks(size, chunk_size).to_dict()


def _ranges(plan: dict[str, int]) -> list[tuple[int, int]]:
    from airflow_provider_tiktok.api.chunks import ChunkPlan

    return list(ChunkPlan(**plan).ranges())


def _curl_cmd(url: str, first: int, last: int, total: int) -> str:
    # `Transfer-Encoding:` (empty) stops curl from switching to chunked encoding for stdin (TikTok wants a length);
    # `Expect:` (empty) skips curl's 100-continue round trip, the most generous setting for the baseline.
    headers = [
        "Transfer-Encoding:",
        "Expect:",
        f"Content-Length: {last - first + 1}",
        f"Content-Type: {CONTENT_TYPE}",
        f"Content-Range: bytes {first}-{last}/{total}",
    ]
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "-T", "-"]
    for header in headers:
        args += ["-H", header]
    return shlex.join([*args, url])


def curl_split_script(url: str, plan: dict[str, int], chunk_files: list[Path]) -> str:
    lines = ["set -euo pipefail"]
    for (first, last), path in zip(_ranges(plan), chunk_files, strict=True):
        # stdin redirected from the chunk file: curl reads the file directly (no pipe, no extra process). `-T path`
        # would be the same read, but curl appends the file name to a URL whose path ends in "/" (TikTok's does).
        lines.append(f"{_curl_cmd(url, first, last, plan['video_size'])} < {shlex.quote(str(path))}")
    return "\n".join(lines) + "\n"


def curl_pipe_script(url: str, plan: dict[str, int], source: Path) -> str:
    lines = ["set -euo pipefail"]
    for first, last in _ranges(plan):
        dd = f"dd if={shlex.quote(str(source))} bs=1M iflag=skip_bytes,count_bytes skip={first} "
        dd += f"count={last - first + 1} status=none"
        lines.append(f"{dd} | {_curl_cmd(url, first, last, plan['video_size'])}")
    return "\n".join(lines) + "\n"


def _expect_codes(stdout: str, chunks: int) -> None:
    codes = stdout.split()
    if codes != ["206"] * (chunks - 1) + ["201"]:
        raise RuntimeError(f"curl upload answered {codes}, expected {chunks - 1} x 206 then 201")


class Measurement:
    """Throughput (MB/s, 10^6 bytes) and peak RSS (MB) of one upload."""

    def __init__(self, size: int, seconds: float, peak_kib: int, process_seconds: float | None = None) -> None:
        self.mbps = size / seconds / 1e6
        self.peak_mb = peak_kib * 1024 / 1e6
        # Ours only: the whole worker process (interpreter start and imports included), to compare like for like
        # with curl's per-chunk process starts.
        self.process_mbps = size / process_seconds / 1e6 if process_seconds else None


def run_curl(script_text: str, workdir: Path, size: int, chunks: int) -> Measurement:
    script = workdir / f"curl-{uuid.uuid4().hex}.sh"
    script.write_text(script_text)
    result = run_child(["bash", str(script)])
    _expect_codes(result.stdout, chunks)
    return Measurement(size, result.wall, result.maxrss_kib)


def run_ours(url: str, source: Path, size: int, chunk_size: int) -> tuple[Measurement, dict[str, int]]:
    result = run_child(
        [python(), "-m", "bench.upload_worker", "--url", url, "--file", str(source), "--chunk-size", str(chunk_size)]
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    peak = max(report["hwm_kib"], result.maxrss_kib)
    return Measurement(size, report["seconds"], peak, result.wall), report


def _split(source: Path, plan: dict[str, int], workdir: Path) -> list[Path]:
    """One real file per chunk (zeros, like the sparse source), written before any timing starts."""
    files = []
    block = bytes(MIB)
    for index, (first, last) in enumerate(_ranges(plan)):
        path = workdir / f"{source.name}.chunk{index:04d}"
        with path.open("wb") as out:
            left = last - first + 1
            while left:
                left -= out.write(block[: min(left, MIB)])
        files.append(path)
    return files


def run(smoke: bool = False, workdir: Path | None = None) -> Section:
    sizes = [16 * MIB] if smoke else [100 * MIB, 1024 * MIB]
    chunk_size = 5_242_880 if smoke else 10_000_000
    reps = 1 if smoke else 3
    have_curl = shutil.which("curl") is not None
    section = Section(
        "Upload: chunked PUT throughput and peak RSS",
        "one `curl -T - < chunk-file` per chunk (pre-split files)" if have_curl else "curl (not installed: skipped)",
        "`TikTokClient.upload` (streams 1 MiB blocks per chunk, keep-alive)",
    )
    rss_limit_mb = (2 * chunk_size + 100e6) / 1e6
    tmp = Path(tempfile.mkdtemp(prefix="tiktok-bench-upload-", dir=workdir))
    try:
        with ServerProcess([python(), "-m", "bench.sink"]) as sink, Emulator() as emu:
            for size in sizes:
                _bench_size(section, sink, emu, tmp, size, chunk_size, reps, have_curl, rss_limit_mb)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    section.notes += [
        f"chunk size {chunk_size:,} bytes; median of {reps} run(s) each, runs interleaved; MB = 10^6 bytes",
        "ours is timed around `upload()` in an already-started interpreter (as in a worker); each curl run "
        "includes its process start per chunk, which is inherent to running curl per chunk",
        f"RSS target: peak < 2 x chunk size + 100 MB = {rss_limit_mb:.0f} MB, for every file size",
    ]
    if not have_curl:
        section.notes.append("curl is not installed (`which curl` found nothing): curl baselines skipped")
    return section


def _bench_size(
    section: Section,
    sink: ServerProcess,
    emu: Emulator,
    tmp: Path,
    size: int,
    chunk_size: int,
    reps: int,
    have_curl: bool,
    rss_limit_mb: float,
) -> None:
    label = f"{size // MIB} MiB"
    source = tmp / f"video-{size // MIB}mib.mp4"
    with source.open("wb") as handle:
        handle.truncate(size)  # sparse: the bytes do not matter to the transfer, only their count
    plan = _plan(size, chunk_size)
    chunk_files = _split(source, plan, tmp) if have_curl else []
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
        if have_curl:
            add("curl_sink", run_curl(curl_split_script(sink_url(), plan, chunk_files), tmp, size, chunks))
            add("pipe_sink", run_curl(curl_pipe_script(sink_url(), plan, source), tmp, size, chunks))
            add("curl_emu", run_curl(curl_split_script(emulator_url(), plan, chunk_files), tmp, size, chunks))
        ours_sink, report = run_ours(sink_url(), source, size, chunk_size)
        add("ours_sink", ours_sink)
        workers.append(report)
        add("ours_emu", run_ours(emulator_url(), source, size, chunk_size)[0])
    for path in chunk_files:
        path.unlink()
    source.unlink()

    def med(key: str, attr: str) -> float | None:
        return median([getattr(m, attr) for m in samples[key]]) if key in samples else None

    section.rows += [
        Row(
            f"{label} -> sink",
            med("curl_sink", "mbps"),
            med("ours_sink", "mbps"),
            "MB/s",
            ">= 0.9x curl",
            _at_least(0.9, med("ours_sink", "mbps"), med("curl_sink", "mbps")),
        ),
        Row(f"{label} -> sink (curl via dd pipe)", med("pipe_sink", "mbps"), med("ours_sink", "mbps"), "MB/s"),
        Row(
            f"{label} -> sink (ours incl. interpreter start)",
            med("curl_sink", "mbps"),
            med("ours_sink", "process_mbps"),
            "MB/s",
        ),
        Row(
            f"{label} -> emulator",
            med("curl_emu", "mbps"),
            med("ours_emu", "mbps"),
            "MB/s",
            ">= 0.9x curl",
            _at_least(0.9, med("ours_emu", "mbps"), med("curl_emu", "mbps")),
        ),
    ]
    peak = max(m.peak_mb for key in ("ours_sink", "ours_emu") for m in samples[key])
    section.rows.append(
        Row(
            f"{label} peak RSS",
            max((m.peak_mb for m in samples.get("curl_sink", [])), default=None),
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
