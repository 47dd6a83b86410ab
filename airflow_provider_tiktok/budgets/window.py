"""The sliding-window arithmetic every budget backend shares (pure: no clock, no I/O).

A call is counted at the moment it is reserved and stays in the window while ``now - stamp < window``. A
reservation succeeds when fewer than ``limit`` stamps are in the window; otherwise the wait is the time until the
oldest of them leaves it. The Redis backend's Lua script is the same arithmetic, in milliseconds, on the server.
"""

from __future__ import annotations

from collections.abc import Sequence


def trim(stamps: Sequence[float], now: float, window: float) -> list[float]:
    """The stamps still in the window at ``now``, oldest first (stamps from the future are kept: clocks jump)."""
    return sorted(s for s in stamps if now - s < window)


def wait_for_slot(stamps: Sequence[float], now: float, limit: int, window: float) -> float:
    """Seconds until a call may be made (0 when one may be made now); ``stamps`` already trimmed, oldest first."""
    if len(stamps) < limit:
        return 0.0
    # The (len - limit + 1)-th oldest must leave before the count drops below the limit.
    return max(stamps[len(stamps) - limit] + window - now, 0.0) or 1e-3


def reserve(stamps: Sequence[float], now: float, limit: int, window: float) -> tuple[float, list[float]]:
    """``(0, stamps + [now])`` when a call fits, else ``(wait, trimmed stamps)``: the call is counted only if 0."""
    kept = trim(stamps, now, window)
    wait = wait_for_slot(kept, now, limit, window)
    if wait > 0:
        return wait, kept
    return 0.0, [*kept, now]


def retry_in(stamps: Sequence[float], now: float, window: float) -> float:
    """After TikTok refused a call we thought fitted: wait until our oldest call in the window leaves it (TikTok
    counts the same calls, plus any we do not know of); with none of ours in the window, a whole window."""
    kept = trim(stamps, now, window)
    if not kept:
        return window
    return max(kept[0] + window - now, 1e-3)
