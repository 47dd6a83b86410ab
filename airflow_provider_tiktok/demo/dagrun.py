"""Child process of the demo: migrate a fresh metadata DB, run one example DAG with ``dag.test()``, write a summary.

Kept in its own process so Airflow's configuration (read from the environment the demo prepared) and its verbose
logging stay away from the demo's own output, which only shows the summary written here as JSON.

    python -m airflow_provider_tiktok.demo.dagrun <dag_id> <result.json> [<run conf as JSON>]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def run_example(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    started = time.monotonic()
    db.resetdb()  # the home is throwaway: always start from an empty, fully migrated DB
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors or dag_id not in bag.dags:
        return {"state": "import_error", "import_errors": {str(k): v for k, v in bag.import_errors.items()}}
    dag_run = bag.dags[dag_id].test(run_conf=conf)
    summary = _read_back(dag_id, dag_run.run_id)
    summary["seconds"] = round(time.monotonic() - started, 1)
    return summary


def _read_back(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        xcoms = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
        return {
            "state": str(dag_run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in tis},
            "xcoms": {row.task_id: XComModel.deserialize_value(row) for row in xcoms},
        }


def main(argv: list[str]) -> int:
    dag_id, result_path = argv[0], Path(argv[1])
    conf = json.loads(argv[2]) if len(argv) > 2 else {}
    try:
        summary = run_example(dag_id, conf)
    except Exception as exc:  # the parent reports it; the traceback is in the log
        summary = {"state": "error", "error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        result_path.write_text(json.dumps(summary, default=str, indent=2))
    return 0 if summary["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
