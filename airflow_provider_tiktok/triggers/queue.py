"""Pinning TikTok's deferrals to a triggerer queue (Airflow 3.2+ ``[triggerer] queues_enabled``).

With queues enabled, Airflow gives the trigger row of a deferral the *task's* ``queue`` (read from the task at the
moment it defers), and a triggerer started with ``--queues q1,q2`` runs only triggers of those queues (one without
``--queues`` runs only triggers with no queue). The task's ``queue`` is also its executor queue (Celery), so
``trigger_queue`` sets it just for the deferral: the task instance's own queue, stored in the metadata DB, is not
changed, so it resumes on the workers of its own queue. Without queues enabled Airflow ignores it.
"""

from __future__ import annotations

from typing import Any, NoReturn


def configured_trigger_queue(explicit: str | None) -> str | None:
    """The operator's ``trigger_queue``, else ``[tiktok] trigger_queue``, else None (Airflow's default)."""
    if explicit:
        return explicit
    from airflow.sdk import conf

    return (conf.get("tiktok", "trigger_queue", fallback="") or "").strip() or None


class TriggerQueueMixin:
    """``defer`` that first points the task's ``queue`` at the trigger queue (see the module docstring)."""

    trigger_queue: str | None
    queue: str

    def defer(self, **kwargs: Any) -> NoReturn:
        queue = configured_trigger_queue(self.trigger_queue)
        if queue:
            self.queue = queue
        super().defer(**kwargs)  # type: ignore[misc]
        raise AssertionError("defer() returned")  # pragma: no cover - BaseOperator.defer always raises
