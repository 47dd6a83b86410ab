"""The Airflow plugin that puts the webhook receiver in the API server, registered by the ``airflow.plugins``
entry point in ``pyproject.toml``.

Why the entry point, not the provider info's ``plugins``: Airflow 3.3 loads provider-info plugins only when
``[core] lazy_discover_providers`` is off (it is on by default), while ``airflow.plugins`` entry points are always
loaded; declaring both would load the plugin twice and log "already registered".
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_tiktok.webhooks.app import URL_PREFIX, create_app


class TikTokWebhooksPlugin(AirflowPlugin):
    name = "tiktok_webhooks"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "TikTok webhooks"}]
