"""Child process for the upload benchmark: one `TikTokClient.upload` of a file, timed from inside.

Run as its own process so its peak RSS (VmHWM, and wait4's ru_maxrss in the parent) is the uploader's alone.
Prints one JSON line: upload seconds, RSS after imports (before the upload) and peak RSS, both in KiB.
"""

from __future__ import annotations

import argparse
import json
import time

from airflow_provider_tiktok.api.chunks import plan_chunks
from airflow_provider_tiktok.api.client import StaticToken, TikTokClient
from bench.common import proc_status_kib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--chunk-size", type=int, required=True)
    args = parser.parse_args()
    with open(args.file, "rb") as stream:
        size = stream.seek(0, 2)
        stream.seek(0)
        plan = plan_chunks(size, args.chunk_size)
        client = TikTokClient("http://127.0.0.1", StaticToken("unused: upload URLs carry their own token"))
        rss_before = proc_status_kib("VmRSS")
        start, cpu = time.perf_counter(), time.process_time()
        client.upload(args.url, plan, stream, "video/mp4")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu, "rss_before_kib": rss_before, "hwm_kib": proc_status_kib("VmHWM")}
        )
    )


if __name__ == "__main__":
    main()
