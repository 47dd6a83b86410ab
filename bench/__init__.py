"""Benchmarks for airflow-provider-tiktok: upload throughput, trigger scale, DAG-parse cost.

`python -m bench` (or `python3 dev.py bench`) runs them all; see docs/benchmarks.md for what they measure.
"""
