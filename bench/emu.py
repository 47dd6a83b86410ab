"""The project's TikTok emulator in its own process, set up through its control API with plain httpx.

A separate process keeps the emulator's CPU and memory out of the figures of the client being measured. Setup
talks HTTP directly (not through our client) so the benchmarks exercise the client only where they measure it.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from bench.common import ServerProcess, python

CLIENT_KEY = "bench-client-key"
CLIENT_SECRET = "bench-client-secret"
SCOPES = ["user.info.basic", "video.upload", "video.publish"]


class Emulator(ServerProcess):
    """`python -m airflow_provider_tiktok.emulator` on a free loopback port, plus the setup calls we need."""

    def __init__(self) -> None:
        super().__init__([python(), "-m", "airflow_provider_tiktok.emulator", "--port", "0", "--no-seed", "--quiet"])
        self.http = httpx.Client(timeout=60)
        self._accounts = itertools.count()

    def __enter__(self) -> Emulator:
        super().__enter__()
        self.control("reset")
        self.control("apps", client_key=CLIENT_KEY, client_secret=CLIENT_SECRET, audited=True, scopes=SCOPES)
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        super().__exit__(*exc)

    def control(self, path: str, **body: Any) -> Any:
        response = self.http.post(f"{self.base_url}/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def new_account_token(self) -> tuple[str, str]:
        """A fresh creator with its own access token: (open_id, access_token)."""
        grant = self.new_account_grant()
        return grant["open_id"], grant["access_token"]

    def new_account_grant(self) -> dict[str, Any]:
        """A fresh creator and the token response granted for it (access and refresh token, expiries, open_id).

        One account per upload or per post keeps TikTok's per-user limits (init rate, pending-share caps, status
        polls) from shaping the figures, the way a real fleet spreads its posts over many creators.
        """
        open_id = f"bench-creator-{next(self._accounts)}"
        self.control("accounts", open_id=open_id, username=open_id, nickname=open_id)
        grant = self.control("grants", client_key=CLIENT_KEY, open_id=open_id, scopes=SCOPES)
        return {"open_id": open_id, **grant}

    def init_file_upload(self, token: str, plan: dict[str, int]) -> tuple[str, str]:
        """Start an inbox (draft) FILE_UPLOAD: (publish_id, upload_url). The URL carries a token: never log it."""
        response = self.http.post(
            f"{self.base_url}/v2/post/publish/inbox/video/init/",
            headers={"Authorization": f"Bearer {token}"},
            json={"source_info": {"source": "FILE_UPLOAD", **plan}},
        )
        response.raise_for_status()
        data = response.json()["data"]
        return data["publish_id"], data["upload_url"]

    def put_whole(self, upload_url: str, data: bytes, content_type: str = "video/mp4") -> int:
        """Upload a small file in its single chunk; returns the HTTP status (201 when complete)."""
        headers = {"Content-Type": content_type, "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        return self.http.put(upload_url, content=data, headers=headers).status_code

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base_url}/_emulator/requests", params={"path": path} if path else None)
        response.raise_for_status()
        return list(response.json())

    def request_count(self, path: str) -> int:
        response = self.http.get(f"{self.base_url}/_emulator/requests/count", params={"path": path})
        response.raise_for_status()
        return int(response.json()["count"])
