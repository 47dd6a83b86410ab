"""The processes a scale run starts: each in a process group of its own, killed by pid, all stopped at the end.

A component is killed the way a lost machine loses it: SIGKILL to its whole tree (a Celery worker's pool and the
task processes it supervises, a triggerer's trigger runner), found through /proc before the kill. This process is
made a child subreaper (Linux), so task processes that put themselves in other process groups, and whatever a
killed component left behind, are re-parented here and stopped at the end too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from airflow_provider_tiktok.demo.standalone import become_subreaper

STOP_GRACE_S = 15.0


@dataclass
class Component:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    cpu_seen: dict[int, float] = field(default_factory=dict)  # pid -> user + system CPU seconds, last sample

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample_cpu(self) -> float:
        """CPU seconds of the component's processes so far (processes that exited keep their last sample)."""
        for proc in self.tree():
            with suppress(psutil.Error):
                times = proc.cpu_times()
                self.cpu_seen[proc.pid] = times.user + times.system
        return sum(self.cpu_seen.values())


class Processes:
    """Start, kill and stop the run's processes; ``stop_all`` is safe to call more than once."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.components: dict[str, Component] = {}
        become_subreaper()

    def start(self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None) -> Component:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                env=dict(env if env is not None else self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                umask=0o077,
                process_group=0,  # away from the terminal's: Ctrl-C reaches only us, and we stop things in order
            )
        component = self.components[name] = Component(name, proc, log)
        return component

    def exited(self) -> list[str]:
        return [name for name, c in self.components.items() if c.proc.poll() is not None]

    def kill_tree(self, name: str) -> int:
        """SIGKILL ``name`` and every process under it at once, as a crashed machine; returns how many."""
        component = self.components[name]
        component.sample_cpu()
        procs = component.tree()
        for proc in procs:
            with suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=10)
        component.proc.wait()
        return len(procs)

    def started(self) -> list[dict[str, object]]:
        """Every process started (name, pid, start time): to check afterwards that none is left."""
        result: list[dict[str, object]] = []
        for component in self.components.values():
            for proc in component.tree():
                with suppress(psutil.Error):
                    result.append({"name": component.name, "pid": proc.pid, "create_time": proc.create_time()})
        return result

    def stop_all(self, last: tuple[str, ...] = ("emulator", "redis")) -> None:
        """SIGTERM every group but ``last``, wait, then ``last``; then SIGKILL every group left (the killed
        components' orphans and task processes in other groups are for ``kill_descendants``)."""
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            first = [c for c in self.components.values() if c.name not in last]
            self._terminate(first)
            self._terminate([c for c in self.components.values() if c.name in last])
            for component in self.components.values():
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(component.pid, signal.SIGKILL)
                component.proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @staticmethod
    def _terminate(components: list[Component]) -> None:
        live = [c for c in components if c.proc.poll() is None]
        for component in live:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(component.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for component in live:
            with suppress(subprocess.TimeoutExpired):
                component.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
