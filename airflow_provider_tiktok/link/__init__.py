"""Account linking: ``airflow-tiktok link|list|revoke`` (see docs/linking.md)."""
