"""Every example DAG imports cleanly, without network or connection lookups, and says what it shows."""

from __future__ import annotations

import socket

import pytest

from tests.examples.conftest import DAGS_FOLDER, parse_env

EXPECTED = {
    "tiktok_publish_video",
    "tiktok_step_by_step",
    "tiktok_photo_carousel",
    "tiktok_draft_review",
    "tiktok_content_calendar",
    "youtube_to_tiktok",
    "shopify_to_tiktok",
    "tiktok_post_performance",
}


def test_examples_parse_without_network_or_connections(airflow_db, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while parsing DAGs: {args!r}")

    def no_connections(*args, **kwargs):
        raise AssertionError(f"connection lookup while parsing DAGs: {args!r}")

    for key, value in parse_env("http://127.0.0.1:9", tmp_path, tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from airflow.sdk import BaseHook, Connection

    monkeypatch.setattr(Connection, "get", classmethod(no_connections))
    monkeypatch.setattr(BaseHook, "get_connection", classmethod(no_connections))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER))

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_each_example_documents_itself(examples, dag_id):
    dag = examples.dags[dag_id]
    assert "What it shows" in (dag.doc_md or "")
    assert "example" in dag.tags
