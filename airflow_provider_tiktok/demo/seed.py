"""Seed the TikTok emulator with an app, creator accounts and granted tokens, and build matching Airflow connections.

Used by the demo command and by the example DAGs' tests, so both wire Airflow to the emulator the same way. It goes
through the emulator's control API (``EmulatorControl``) and never imports Airflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_tiktok.emulator.control import EmulatorControl

DEMO_CLIENT_KEY = "demo-client-key"
DEMO_CLIENT_SECRET = "demo-client-secret"  # emulator only; never a real secret
# Posting (video.publish, video.upload) and the Display API the metrics and post-id operators read (video.list:
# video list and query; user.info.stats: follower, like and video counts), as ``airflow-tiktok link --scopes``
# requests them for a real app.
SCOPES = ("user.info.basic", "user.info.stats", "video.list", "video.publish", "video.upload")


@dataclass(frozen=True)
class DemoAccount:
    """A creator on the emulator, reachable from Airflow through connection ``conn_id``."""

    conn_id: str
    open_id: str
    username: str
    nickname: str


DEFAULT_ACCOUNT = DemoAccount("tiktok_default", "demo-open-id", "demo_creator", "Demo Creator")


@dataclass(frozen=True)
class SeededConnection:
    """An Airflow connection (as the JSON form ``AIRFLOW_CONN_<ID>`` accepts) for one seeded account."""

    account: DemoAccount
    conn: dict[str, Any]

    @property
    def env_var(self) -> str:
        return f"AIRFLOW_CONN_{self.account.conn_id.upper()}"

    @property
    def env_value(self) -> str:
        return json.dumps(self.conn)


def seed_emulator(
    control: EmulatorControl,
    *,
    accounts: Sequence[DemoAccount] = (DEFAULT_ACCOUNT,),
    verified_url_prefixes: Iterable[str] = (),
    audited: bool = True,
) -> list[SeededConnection]:
    """Create one app and ``accounts`` on the emulator, grant each account, return their connections.

    The connection carries the granted access *and* refresh token, so the first task needs no refresh; the
    provider's token manager takes over from there (rotations are persisted to an Airflow Variable).
    """
    control.create_app(
        DEMO_CLIENT_KEY,
        DEMO_CLIENT_SECRET,
        audited=audited,
        verified_url_prefixes=list(verified_url_prefixes),
        scopes=list(SCOPES),
    )
    seeded = []
    for account in accounts:
        control.create_account(account.open_id, username=account.username, nickname=account.nickname)
        tokens = control.grant(DEMO_CLIENT_KEY, account.open_id, list(SCOPES))
        seeded.append(SeededConnection(account, _connection(control.base_url, tokens)))
    return seeded


def _connection(base_url: str, tokens: dict[str, Any]) -> dict[str, Any]:
    return {
        "conn_type": "tiktok",
        "login": DEMO_CLIENT_KEY,
        "password": DEMO_CLIENT_SECRET,
        "extra": {
            "api_base_url": base_url,
            "open_id": tokens["open_id"],
            "access_token": tokens["access_token"],
            "access_token_expires_at": int(time.time()) + int(tokens["expires_in"]),
            "refresh_token": tokens["refresh_token"],
        },
    }
