"""Log masking: each secret registered with Airflow's masker once per process.

Airflow's masker recompiles one regex over *every* secret it holds for each new one, and ``re`` caches each of those
ever-longer patterns (up to 512 of them): with hundreds of creators that cache alone is hundreds of MB. So we
register a secret once per process (a re-read sends nothing to the supervisor again), and drop ``re``'s cache after
registering new ones (the masker keeps its own compiled pattern; only the stale intermediate ones go).
Digests, not the secrets themselves, are remembered. A forked child starts afresh: Airflow resets its masker there
(``supervise``), so what the parent registered does not count.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading

__all__ = ["amask_secrets", "mask_secrets", "secret_digest"]

_REGISTERED: set[bytes] = set()
_REGISTERED_PID = os.getpid()
_REGISTERED_GUARD = threading.Lock()


def _unregistered(values: tuple[str | None, ...]) -> list[str]:
    """The non-empty values this process has not registered yet, each once, in order; claims them."""
    global _REGISTERED_PID
    fresh = []
    with _REGISTERED_GUARD:
        if os.getpid() != _REGISTERED_PID:
            _REGISTERED.clear()
            _REGISTERED_PID = os.getpid()
        for value in dict.fromkeys(values):
            if value and (digest := hashlib.sha256(value.encode()).digest()) not in _REGISTERED:
                _REGISTERED.add(digest)
                fresh.append(value)
    return fresh


def _forget(values: list[str]) -> None:
    """Un-claim values whose registration failed, so the next call tries again."""
    with _REGISTERED_GUARD:
        for value in values:
            _REGISTERED.discard(hashlib.sha256(value.encode()).digest())


def mask_secrets(*values: str | None) -> None:
    """Register secrets with Airflow's log masker (this process and, in a task or trigger, the supervisor), once
    per process each."""
    from airflow.sdk.log import mask_secret

    fresh = _unregistered(values)
    try:
        for value in fresh:
            mask_secret(value)
    except BaseException:
        _forget(fresh)
        raise
    if fresh:
        re.purge()


async def amask_secrets(*values: str | None) -> None:
    """:func:`mask_secrets` for the event loop (Airflow's ``amask_secret``: no blocking send to the supervisor)."""
    from airflow.sdk.log import amask_secret

    fresh = _unregistered(values)
    try:
        for value in fresh:
            await amask_secret(value)
    except BaseException:
        _forget(fresh)
        raise
    if fresh:
        re.purge()


def secret_digest(value: str) -> str:
    """A short, non-reversible name for a secret (to compare tokens or key budgets without keeping them)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]
