"""``EmulatorServer``: uvicorn in its own thread with its own event loop, so sync tests and DAGs can call it."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from airflow_provider_tiktok.emulator.app import build_app
from airflow_provider_tiktok.emulator.control import EmulatorControl
from airflow_provider_tiktok.emulator.state import EmulatorState


class EmulatorServer:
    """A real HTTP server speaking TikTok's API. Port 0 picks a free port; ``base_url`` is known once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> None:
        self.host = host
        self.port = port
        self.state = EmulatorState()
        self._log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._control: EmulatorControl | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def control(self) -> EmulatorControl:
        if self._control is None:
            self._control = EmulatorControl(self.base_url)
        return self._control

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            build_app(self.state),
            log_level=self._log_level,
            access_log=False,  # uvicorn's access log would print upload URLs, which carry upload tokens
            lifespan="on",  # runs the webhook dispatcher
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        errors: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])  # signal handlers are only installed on the main thread
            except BaseException as exc:  # surfaced by start()
                errors.append(exc)
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"tiktok-emulator-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)  # waiting for our own thread to bind, not for the emulator clock
        if not server.started:
            self.stop()
            cause = errors[0] if errors else None
            raise RuntimeError(f"TikTok emulator failed to start on {self.base_url}") from cause
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = None
        self._server = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EmulatorServer({self.base_url!r})"
