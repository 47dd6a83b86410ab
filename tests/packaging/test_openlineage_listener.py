"""The OpenLineage provider's real listener emits our datasets for an operator that returns ``publish_lineage``.

Run in a child process with OpenLineage's file transport, so the listener's configuration is read fresh. The operator
here shows the shape the publishing operators need: ``get_openlineage_facets_on_complete`` builds the lineage from
what ``execute`` kept on ``self``. (It must not call ``xcom_pull`` there: OpenLineage runs it in a forked process
where the supervisor round-trip hangs until OpenLineage's execution timeout kills it, and no task event is sent.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

DAG = textwrap.dedent(
    """
    import pendulum
    from airflow.sdk import BaseOperator, dag

    from airflow_provider_tiktok.openlineage import publish_lineage


    class Publish(BaseOperator):
        def execute(self, context):
            self.result = {"publish_id": "v_pub_file~v2.1", "post_ids": ["7351234567890123456"]}
            return self.result

        def get_openlineage_facets_on_complete(self, task_instance):
            return publish_lineage(account="@Brand", sources=["s3://studio/clips/a.mp4"], result=self.result)


    @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
    def lineage_probe():
        Publish(task_id="publish")


    lineage_probe()
    """
)

RUN = textwrap.dedent(
    """
    from airflow.utils import db
    from airflow.dag_processing.dagbag import DagBag

    db.resetdb()
    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    print("STATE", bag.dags["lineage_probe"].test().state)
    """
)


def test_the_openlineage_listener_reports_source_and_post(tmp_path):
    dags, events = tmp_path / "dags", tmp_path / "events.jsonl"
    dags.mkdir()
    (dags / "lineage_probe.py").write_text(DAG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "60",
    }
    run = subprocess.run(
        [sys.executable, "-c", RUN], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert "STATE success" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]

    task_events = [e for e in map(json.loads, events.read_text().splitlines()) if e["job"]["name"].endswith(".publish")]
    [complete] = [e for e in task_events if e["eventType"] == "COMPLETE"]
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("s3://studio", "clips/a.mp4")]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [
        ("tiktok://brand", "video/7351234567890123456")
    ]
