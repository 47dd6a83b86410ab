"""TikTok's webhooks, received by the Airflow API server (``POST /tiktok/webhooks``): see docs/howto/webhooks.md."""
