"""``python -m airflow_provider_tiktok.emulator``: run the emulator and print how to point Airflow at it."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from airflow_provider_tiktok.emulator.models import ALL_SCOPES
from airflow_provider_tiktok.emulator.server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_tiktok.emulator",
        description="Run the offline TikTok emulator and print how to point Airflow at it.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL Airflow should use (e.g. http://tiktok-emulator:8765 in docker compose); default: bound address",
    )
    parser.add_argument("--no-seed", action="store_true", help="start empty (seed through the control API)")
    parser.add_argument("--conn-id", default="tiktok_default", help="Airflow connection id to print")
    parser.add_argument("--client-key", default="emulator-client-key")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--unaudited", action="store_true", help="seed an unaudited app (private, SELF_ONLY only)")
    parser.add_argument("--verified-url-prefix", action="append", default=[], help="repeatable")
    parser.add_argument("--redirect-uri", action="append", default=[], help="repeatable")
    parser.add_argument("--open-id", default="emulator-open-id")
    parser.add_argument("--username", default="emulator_creator")
    parser.add_argument("--nickname", default="Emulator Creator")
    parser.add_argument("--private", action="store_true", help="seed a private account")
    parser.add_argument("--processing-seconds", type=float, default=None)
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser.parse_args(argv)


def public_url(server: EmulatorServer, args: argparse.Namespace) -> str:
    """Where clients should connect: a wildcard bind address is not something to put in a connection."""
    if args.public_url:
        return str(args.public_url).rstrip("/")
    if args.host in ("0.0.0.0", "::", ""):
        return f"http://127.0.0.1:{server.port}"
    return server.base_url


def seed(server: EmulatorServer, args: argparse.Namespace) -> dict[str, Any]:
    """Create the demo app, account and grant; returns the Airflow connection as JSON-able dict."""
    control = server.control
    control.create_app(
        args.client_key,
        args.client_secret,
        audited=not args.unaudited,
        verified_url_prefixes=args.verified_url_prefix or None,
        redirect_uris=args.redirect_uri or ["http://127.0.0.1:*/callback/"],
        scopes=[*ALL_SCOPES, "video.list"],  # the demo reads post metrics through the Display API too
    )
    control.create_account(args.open_id, username=args.username, nickname=args.nickname, is_private=args.private)
    if args.processing_seconds is not None:
        control.settings(processing_seconds=args.processing_seconds)
    tokens = control.grant(args.client_key, args.open_id)
    return {
        "conn_type": "tiktok",
        "login": args.client_key,
        "password": args.client_secret,
        "extra": {
            "refresh_token": tokens["refresh_token"],
            "open_id": args.open_id,
            "api_base_url": public_url(server, args),
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    if not args.quiet:
        logging.getLogger("airflow_provider_tiktok.emulator").setLevel(logging.INFO)
    server = EmulatorServer(args.host, args.port).start()
    base = public_url(server, args)
    print(f"TikTok emulator listening on {base} (control API: {base}/_emulator)", flush=True)
    if not args.no_seed:
        conn = seed(server, args)
        env = "AIRFLOW_CONN_" + args.conn_id.upper()
        # These are the emulator's own throwaway credentials, printed so Airflow can be pointed at it.
        print(f"Point Airflow at it:\nexport {env}='{json.dumps(conn)}'", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
