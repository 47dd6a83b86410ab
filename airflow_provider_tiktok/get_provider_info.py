"""Provider metadata for Airflow's ProvidersManager (entry point ``apache_airflow_provider``).

The connection form is declared here as ``conn-fields`` / ``ui-field-behaviour`` (the Airflow 3.2+ way), so the
hook needs no legacy ``get_connection_form_widgets``. ``asset-uris`` registers the ``tiktok://`` scheme's normaliser
(``airflow_provider_tiktok.assets``) and ``cli`` the ``airflow tiktok ...`` commands. The how-to paths are relative
to the repository root (there is no hosted documentation site yet).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_tiktok import __version__

DEFAULT_API_BASE_URL = "https://open.tiktokapis.com"
HOW_TO_GUIDES = [
    "docs/howto/publish_video.md",
    "docs/howto/photo_post.md",
    "docs/howto/creator_info.md",
    "docs/howto/init_video.md",
    "docs/howto/upload_video.md",
    "docs/howto/publish_status_sensor.md",
    "docs/howto/video_metrics.md",
    "docs/howto/resolve_post_id.md",
    "docs/howto/webhooks.md",  # the receiver is a plugin (entry point airflow.plugins), not in this dict
]


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-tiktok",
        "name": "TikTok",
        "description": "Publish videos and photo carousels to TikTok with the Content Posting API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "TikTok",
                "external-doc-url": "https://developers.tiktok.com/doc/content-posting-api-get-started",
                "how-to-guide": HOW_TO_GUIDES,
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "TikTok", "python-modules": ["airflow_provider_tiktok.hooks.tiktok"]}],
        "operators": [{"integration-name": "TikTok", "python-modules": ["airflow_provider_tiktok.operators.tiktok"]}],
        "sensors": [{"integration-name": "TikTok", "python-modules": ["airflow_provider_tiktok.sensors.tiktok"]}],
        "triggers": [{"integration-name": "TikTok", "python-modules": ["airflow_provider_tiktok.triggers.tiktok"]}],
        "extra-links": ["airflow_provider_tiktok.links.TikTokPostLink"],
        "asset-uris": [
            {
                "schemes": ["tiktok"],
                "handler": "airflow_provider_tiktok.assets.sanitize_uri",
                "factory": "airflow_provider_tiktok.assets.create_asset",
                "to_openlineage_converter": "airflow_provider_tiktok.openlineage.convert_asset_to_openlineage",
            }
        ],
        "cli": ["airflow_provider_tiktok.airflow_cli.get_cli_commands"],
        "config": {
            "tiktok": {
                "description": "Limits the TikTok provider keeps to on every account it posts for.",
                "options": {
                    # -- rate budgets and trigger queues (docs/deployment.md) --
                    "status_calls_per_minute": {
                        "description": (
                            "Status checks per TikTok account that the provider makes in any 62 s window (TikTok "
                            "allows 30 a minute per access token), counting every attempt, retries included. With "
                            "budget_backend = local it is split: the workers get worker_status_calls_per_minute of "
                            "it and the triggerer the rest, so one triggerer and the workers together stay within "
                            "it; with N triggerers see docs/deployment.md (or pin TikTok's triggers to one triggerer "
                            "with trigger_queue). With budget_backend = redis it holds across every triggerer and "
                            "worker, in one window."
                        ),
                        "version_added": "0.2.0",
                        "type": "integer",
                        "example": "14",
                        "default": "28",
                    },
                    "init_calls_per_minute": {
                        "description": (
                            "Post inits (video, inbox video, photo) per TikTok account in any 62 s window; TikTok "
                            "allows 6 a minute per access token. A task whose init would exceed it waits (deferring) "
                            "exactly until the window has room, instead of meeting a 429. With budget_backend = "
                            "local the count lives in a Variable per account and is exact when one pool slot "
                            "serialises the account's publishing tasks."
                        ),
                        "version_added": "0.2.0",
                        "type": "integer",
                        "example": "3",
                        "default": "6",
                    },
                    "worker_status_calls_per_minute": {
                        "description": (
                            "With budget_backend = local: the workers' share of status_calls_per_minute (their check "
                            "before deferring, the sensor's pokes, deferrable=False polling), counted in a Variable "
                            "per account, which is exact while one pool slot serialises the account's tasks; the "
                            "triggerer polls with the rest (28 - 6 = 22 by default). The two windows together never "
                            "exceed status_calls_per_minute, so one triggerer plus the workers stay under TikTok's "
                            "30. Must be at least 1 and below status_calls_per_minute. Ignored by redis."
                        ),
                        "version_added": "0.2.0",
                        "type": "integer",
                        "example": "4",
                        "default": "6",
                    },
                    "creator_info_calls_per_minute": {
                        "description": (
                            "creator_info queries per TikTok account in any 62 s window, counting every attempt; "
                            "TikTok allows 20 a minute per access token and every publish asks once, so the default "
                            "leaves 2 for other tools on the same token. A deferrable publish whose query would "
                            "exceed it defers until the window has room; others sleep. With budget_backend = local "
                            "the count lives in a Variable per account (exact with one pool slot per account)."
                        ),
                        "version_added": "0.2.0",
                        "type": "integer",
                        "example": "10",
                        "default": "18",
                    },
                    "budget_backend": {
                        "description": (
                            "Where the budgets are counted: local (no service: the triggerer's status calls in its "
                            "process, the workers' calls in a Variable per account and kind) or redis (one atomic "
                            "script per call on a Redis server: exact across any number of triggerers and workers; "
                            "needs budget_redis_url and the redis package, pip install "
                            "'airflow-provider-tiktok[redis]')."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "redis",
                        "default": "local",
                    },
                    "budget_redis_url": {
                        "description": (
                            "The Redis server of budget_backend = redis, e.g. the Celery broker's Redis with another "
                            "database number. May hold a password."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "sensitive": True,
                        "example": "redis://:password@redis.internal:6379/2",
                        "default": "",
                    },
                    "trigger_queue": {
                        "description": (
                            "The triggerer queue of TikTok's deferrals when [triggerer] queues_enabled is on: start "
                            "the triggerers meant for them with airflow triggerer --queues <this>. Empty: the task's "
                            "own queue (Airflow's default). The operators' and sensor's trigger_queue overrides it."
                        ),
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "tiktok",
                        "default": "",
                    },
                    # -- end of rate budgets and trigger queues --
                    "webhook_tolerance_seconds": {
                        "description": (
                            "How far a webhook's TikTok-Signature timestamp may be from the API server's clock before "
                            "the delivery is refused as stale (a replay guard)."
                        ),
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "600",
                        "default": "300",
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "tiktok",
                "hook-class-name": "airflow_provider_tiktok.hooks.tiktok.TikTokHook",
                "hook-name": "TikTok",
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema"],
                    "relabeling": {"login": "Client Key", "password": "Client Secret"},
                    "placeholders": {
                        "login": "aw7nk86b7czitwc9",
                        "refresh_token": "rft.…",
                        "api_base_url": DEFAULT_API_BASE_URL,
                    },
                },
                "conn-fields": {
                    "refresh_token": {
                        "label": "Refresh Token",
                        "description": "Seed refresh token; rotated tokens are kept in an Airflow Variable.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "access_token": {
                        "label": "Access Token",
                        "description": "Optional current access token (with its expiry below).",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "access_token_expires_at": {
                        "label": "Access Token Expires At",
                        "description": "ISO-8601 time or epoch seconds at which the access token expires.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "open_id": {
                        "label": "Open ID",
                        "description": "The linked account's open_id (filled in by `airflow-tiktok link`).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_base_url": {
                        "label": "API Base URL",
                        "description": f"Defaults to {DEFAULT_API_BASE_URL}; point it at the emulator for tests.",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                    "token_variable_key": {
                        "label": "Token Variable Key",
                        "description": "Variable that keeps rotated tokens (default tiktok_oauth__<conn_id>).",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
