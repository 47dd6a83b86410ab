"""The README's demo (``python -m airflow_provider_tiktok.demo``): a real Airflow publishing to the TikTok emulator.

Nothing here is imported by the provider itself; the modules are support for the demo command and the example DAGs
(emulator seeding, and a YouTube feed check the triggerer must be able to import).
"""
