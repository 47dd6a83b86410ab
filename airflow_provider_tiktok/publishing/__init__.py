"""Exactly-once publishing, without Airflow: the publish record, the decision function and the durable ledger.

``record`` and ``decide`` are pure (no I/O, no Airflow imports) so every branch is a row of a table test; ``ledger``
adapts them to Airflow Variables. The operators only carry out what :func:`decide.decide` returns.
"""
