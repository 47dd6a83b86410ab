"""Child of `bench.paced_inits`: publish N posts for one creator through a real Airflow (`dag.test()`), timed.

`python -m bench.paced_worker --conn-id ID --posts N --workdir DIR` (AIRFLOW_HOME and the connection come from the
environment) prints `{"wall_s": ..., "states": {...}}`. `dag.test()` runs one task at a time with triggers inline:
the way one pool slot per account runs an account's publishing tasks (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pendulum


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conn-id", required=True)
    parser.add_argument("--posts", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()

    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.sdk import DAG
    from airflow.utils import db

    from airflow_provider_tiktok.operators.tiktok import TikTokPublishVideoOperator
    from airflow_provider_tiktok.testing.media import make_mp4

    db.resetdb()
    start = pendulum.datetime(2026, 1, 1, tz="UTC")
    with DAG(f"paced_{args.conn_id}", schedule=None, start_date=start) as dag:
        for i in range(args.posts):
            video = args.workdir / f"{args.conn_id}-{i}.mp4"
            make_mp4(video, duration_s=3.0, size=120_000, seed=i)
            TikTokPublishVideoOperator(
                task_id=f"post_{i:02d}",
                tiktok_conn_id=args.conn_id,
                video=str(video),
                title=f"Post {i}",
                privacy_level="SELF_ONLY",
                poll_interval=1.0,
                retries=2,
            )
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    began = time.perf_counter()
    run = dag.test(logical_date=start, run_after=start)
    wall = time.perf_counter() - began
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.run_id == run.run_id)
        ).all()
    print(json.dumps({"wall_s": wall, "states": {task: str(state) for task, state in rows}}))


if __name__ == "__main__":
    main()
