"""Child process of the Redis budget test: threads reserving one account's calls until a deadline.

``python -m tests.budgets.reserver URL ACCOUNT LIMIT WINDOW_S THREADS DURATION_S`` prints the Redis server times of
the calls it was granted, as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from airflow_provider_tiktok.budgets.redis_backend import RedisBudget


def main(url: str, account: str, limit: int, window_s: float, threads: int, duration: float) -> None:
    budget = RedisBudget.from_url(url, {"status": limit, "init": limit}, window_s)
    granted: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def reserver() -> None:
        while time.monotonic() < deadline:
            wait, now = budget.reserve_at(account, "init")
            if wait == 0:
                with lock:
                    granted.append(now)
            else:  # as a caller would, but waking early and at random, so the reservers collide at the edge
                time.sleep(random.uniform(0, min(wait, 0.02)))

    workers = [threading.Thread(target=reserver) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(granted))


if __name__ == "__main__":
    url, account, limit, window_s, threads, duration = sys.argv[1:7]
    main(url, account, int(limit), float(window_s), int(threads), float(duration))
