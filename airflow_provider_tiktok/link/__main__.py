"""``python -m airflow_provider_tiktok.link``."""

from airflow_provider_tiktok.link.cli import main

raise SystemExit(main())
