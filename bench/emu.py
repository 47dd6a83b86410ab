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
        """A fresh creator with its own access token: (open_id, access_token).

        One account per upload or per post keeps TikTok's per-user limits (init rate, pending-share caps) from
        shaping the figures, the same way a real fleet spreads posts over many creators.
        """
        open_id = f"bench-creator-{next(self._accounts)}"
        self.control("accounts", open_id=open_id, username=open_id, nickname=open_id)
        grant = self.control("grants", client_key=CLIENT_KEY, open_id=open_id, scopes=SCOPES)
        return open_id, grant["access_token"]

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

    def posts(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base_url}/_emulator/posts")
        response.raise_for_status()
        body = response.json()
        return body["posts"] if isinstance(body, dict) else body
