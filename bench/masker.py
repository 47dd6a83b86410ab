"""Bench-only instruments on Airflow's secrets masker: time what it costs, and load a large fleet's secrets fast.

Neither is used by the provider. ``MaskerTime`` wraps ``SecretsMasker.add_mask`` to time it; ``fleet_loaded``
lets a worker register the secrets of a fleet of N creators (through the real start-up path, so exactly the
secrets a triggerer would hold) while skipping the masker's recompile after each one, then compiles once. What a
*new* creator then costs is measured against the same masker state a triggerer that started the N creators one by
one would have, without spending O(N^2) compile time (about 40 minutes of CPU at 1,000 creators) to get there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _masker_module() -> Any:
    import airflow.sdk._shared.secrets_masker.secrets_masker as module

    return module


class MaskerTime:
    """CPU seconds spent registering secrets with Airflow's masker (``SecretsMasker.add_mask``), the new secrets it
    took and their length in characters (what each recompile walks)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.new_secrets = 0
        self.new_chars = 0
        self._depth = 0
        self._original: Any = None

    def __enter__(self) -> MaskerTime:
        import time

        masker_class = _masker_module().SecretsMasker
        self._original = original = masker_class.add_mask

        def timed(masker: Any, secret: Any, name: str | None = None) -> None:
            self._depth += 1  # add_mask recurses into dicts and lists: time the outermost call only
            before = set(masker.patterns) if self._depth == 1 else None
            started = time.process_time()
            try:
                original(masker, secret, name)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.cpu += time.process_time() - started
                    added = masker.patterns - (before or set())
                    self.new_secrets += len(added)
                    self.new_chars += sum(len(p) for p in added)

        masker_class.add_mask = timed
        return self

    def __exit__(self, *exc: object) -> None:
        _masker_module().SecretsMasker.add_mask = self._original


class _NoCompile:
    """Stands in for ``re`` inside the masker's module while a fleet is loaded: ``compile`` is skipped."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    def compile(pattern: str, flags: int = 0) -> None:
        return None


@contextmanager
def fleet_loaded() -> Iterator[None]:
    """Register secrets inside the block without the per-secret recompile, then compile the union once."""
    module = _masker_module()
    module.re = _NoCompile()
    try:
        yield
    finally:
        module.re = re
        masker = module._secrets_masker()
        masker.replacer = re.compile("|".join(masker.patterns)) if masker.patterns else None
        re.purge()


def masker_size() -> tuple[int, int]:
    """(secrets, characters) the masker holds now."""
    patterns = _masker_module()._secrets_masker().patterns
    return len(patterns), sum(len(p) for p in patterns)
