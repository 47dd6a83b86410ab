"""Run a DAG object built inside a test through a real ``dag.test()`` on the metadata DB.

``dag.test()`` in Airflow 3.3 only knows DAGs that are serialized in the DB ("Cannot create DagRun ... because the dag
is not serialized"), so :func:`run_dag` registers the DAG first (DagBag + ``sync_bag_to_db``), then runs it with the
triggers executed inline, and returns a :class:`DagRunResult` holding plain values (states, try numbers, XComs and
task-state-store rows) read back from the DB, so tests never touch detached ORM objects.

Usage (needs the ``airflow_db`` fixture)::

    result = run_dag(dag)
    assert result.state == "success"
    assert result.xcom("publish")["status"] == "PUBLISH_COMPLETE"

Retries configured on a task happen inside the same ``dag.test()`` call. To run a finished task again *in the same
DAG run* (what a user's "Clear" does, or a restart after a crash), use :func:`clear_and_rerun`. Calling ``run_dag``
twice does NOT do that: ``dag.test()`` deletes the existing run of that logical date and creates a new one, and the
task state store rows go with it (they cascade on the dag run).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pendulum

__all__ = ["DagRunResult", "TaskResult", "clear_and_rerun", "register_dag", "run_dag"]


@dataclass(frozen=True)
class TaskResult:
    """One task instance after the run (map_index -1 for unmapped tasks)."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    xcoms: dict[str, Any] = field(default_factory=dict)
    task_state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    run_id: str
    state: str
    logical_date: datetime | None
    tasks: dict[str, TaskResult]

    def ti(self, task_id: str) -> TaskResult:
        return self.tasks[task_id]

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """The XCom ``key`` pushed by ``task_id`` (``KeyError`` if it pushed none)."""
        return self.tasks[task_id].xcoms[key]

    @property
    def states(self) -> dict[str, str | None]:
        return {task_id: ti.state for task_id, ti in self.tasks.items()}


def register_dag(dag: Any) -> None:
    """Serialize ``dag`` into the metadata DB under the ``dags-folder`` bundle, as the DAG processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def run_dag(
    dag: Any,
    *,
    logical_date: datetime | None = None,
    run_conf: dict[str, Any] | None = None,
) -> DagRunResult:
    """Register ``dag``, run it once through ``dag.test()`` and read back the outcome.

    ``logical_date`` defaults to a fixed date, so calling this twice re-runs the same DAG run (see module doc).
    """
    register_dag(dag)
    when = pendulum.instance(logical_date) if logical_date else pendulum.datetime(2026, 11, 1, tz="UTC")
    dag_run = dag.test(logical_date=when, run_after=when, run_conf=run_conf)
    return _read_back(dag.dag_id, dag_run.run_id)


def clear_and_rerun(dag: Any, previous: DagRunResult, task_ids: list[str]) -> DagRunResult:
    """Clear ``task_ids`` in ``previous``'s run with Airflow's own ``clear_task_instances`` and run the DAG again.

    Unlike a second ``dag.test()``, the DAG run (and so each task's ``task_state_store``) is kept, exactly as when a
    user clears a task in the UI. The scheduling loop mirrors the one in ``DAG.test()``; triggers run inline.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(
                TaskInstance.dag_id == previous.dag_id,
                TaskInstance.run_id == previous.run_id,
                TaskInstance.task_id.in_(task_ids),
            )
        ).all()
        clear_task_instances(list(tis), session, dag_run_state=DagRunState.RUNNING)
        session.commit()
        dag_run = session.scalars(
            select(DagRun).where(DagRun.dag_id == previous.dag_id, DagRun.run_id == previous.run_id)
        ).one()
        dag_run.dag = scheduler_dag
        while dag_run.state == DagRunState.RUNNING:
            session.expire_all()
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                    ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            scheduled = [
                ti for ti in dag_run.get_task_instances(session=session) if ti.state == TaskInstanceState.SCHEDULED
            ]
            if not scheduled:
                break
            for ti in scheduled:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id], run_triggerer=True)
    return _read_back(previous.dag_id, previous.run_id)


def _read_back(dag_id: str, run_id: str) -> DagRunResult:
    from airflow.models.dagrun import DagRun
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).one()
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        xcom_rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        ).all()
        state_rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == dag_id, TaskStateStoreModel.run_id == run_id
            )
        ).all()

        xcoms: dict[tuple[str, int], dict[str, Any]] = {}
        for row in xcom_rows:
            xcoms.setdefault((row.task_id, row.map_index), {})[row.key] = XComModel.deserialize_value(row)
        task_state: dict[tuple[str, int], dict[str, Any]] = {}
        for row in state_rows:
            task_state.setdefault((row.task_id, row.map_index), {})[row.key] = json.loads(row.value)

        tasks: dict[str, TaskResult] = {}
        for ti in tis:
            key = (ti.task_id, ti.map_index)
            name = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            tasks[name] = TaskResult(
                task_id=ti.task_id,
                map_index=ti.map_index,
                state=str(ti.state) if ti.state is not None else None,
                try_number=ti.try_number,
                xcoms=xcoms.get(key, {}),
                task_state=task_state.get(key, {}),
            )
        return DagRunResult(
            dag_id=dag_id,
            run_id=run_id,
            state=str(dag_run.state),
            logical_date=dag_run.logical_date,
            tasks=tasks,
        )
