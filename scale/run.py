"""One scale run from start to stop: servers, Airflow, the calendar, the kills, the report; everything stopped."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_tiktok.demo.seed import seed_emulator
from airflow_provider_tiktok.demo.standalone import kill_descendants
from airflow_provider_tiktok.emulator.control import EmulatorControl
from scale import deployment, plan, report, timeline
from scale.processes import Processes
from scale.services import Postgres, free_port, start_emulator, start_redis

TRIGGERERS = ("triggerer-1", "triggerer-2")
KILLED = ("worker-1", "triggerer-1")
SAMPLE_EVERY_S = 2.0


@dataclass(frozen=True)
class Options:
    size: plan.Size
    json_path: Path
    kill_at: float = 0.35  # SIGKILL a worker and a triggerer once this share of the posts is done
    restart_worker_after_s: float | None = 10.0  # then a replacement worker joins, as an orchestrator restarts a pod
    timeout_s: float = 3600.0
    keep: bool = False
    failed_dir: Path | None = None  # where a failed run's logs are kept (the last failed run only)


def shared_budgets_declared() -> bool:
    """Whether this provider has the ``[tiktok] budget_backend`` option the run sets to ``redis``; without it
    each triggerer keeps its own status budget, and two triggerers together may exceed TikTok's 30 a minute."""
    from airflow_provider_tiktok.get_provider_info import get_provider_info

    options = get_provider_info().get("config", {}).get("tiktok", {}).get("options", {})
    return "budget_backend" in options


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run(options: Options) -> int:
    """Returns 0 when every invariant held, 1 when one broke, 2 when the run could not be done, 130 on Ctrl-C."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    scale_run = ScaleRun(options, Path(tempfile.mkdtemp(prefix="tiktok-scale-")))
    ok = False
    try:
        result = scale_run.execute()
        print(report.render(result), flush=True)
        report.write(result, options.json_path)
        print(f"\nreport: {options.json_path}", flush=True)
        ok = not result["problems"]
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything this run started", flush=True)
        return 130
    except (RuntimeError, httpx.HTTPError) as exc:  # a server that would not start or answer: no verdict
        print(f"scale run failed: {exc}", flush=True)
        return 2
    finally:
        scale_run.stop()
        if not ok and options.failed_dir is not None:
            keep_logs(scale_run.home, options.failed_dir)
            print(f"logs of this failed run (replacing the last one's): {options.failed_dir}", flush=True)
        if options.keep:
            print(f"run directory kept (component logs, calendar, databases): {scale_run.home}", flush=True)
        else:
            shutil.rmtree(scale_run.home, ignore_errors=True)


def keep_logs(home: Path, dest: Path) -> None:
    """Copy a run's logs (components' and tasks') and its calendar to ``dest``, replacing what was there."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if (home / "logs").is_dir():
        shutil.copytree(home / "logs", dest / "logs")
    if (home / "calendar.json").exists():
        shutil.copy(home / "calendar.json", dest / "calendar.json")


@dataclass
class ScaleRun:
    options: Options
    home: Path
    procs: Processes = field(init=False)
    postgres: Postgres | None = None
    kills: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.home / "logs").mkdir(parents=True)
        (self.home / "dags").mkdir()
        self.procs = Processes(os.environ, self.home / "logs")

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def execute(self) -> dict[str, Any]:
        size, started = self.options.size, time.monotonic()
        self.log(f"run directory {self.home}; starting PostgreSQL, Redis and the TikTok emulator")
        self.postgres = Postgres(self.home / "pg")
        redis_port = start_redis(self.procs, self.home / "redis")
        control = EmulatorControl(start_emulator(self.procs))
        control.settings(processing_seconds=size.processing_seconds, rate_limits_enabled=True)
        seeded = seed_emulator(control, accounts=plan.accounts(size))
        calendar = plan.write_calendar(size, self.home)
        shutil.copy(Path(__file__).with_name("scale_dag.py"), self.home / "dags" / "tiktok_scale_calendar.py")
        shutil.copy(Path(__file__).with_name("warmup_dag.py"), self.home / "dags" / "tiktok_scale_warmup.py")
        api_port = free_port()
        env = deployment.airflow_env(
            os.environ,
            home=self.home,
            db_url=self.postgres.sqlalchemy_url(),
            redis_port=redis_port,
            api_port=api_port,
            size=size,
            calendar=calendar,
            connections={conn.env_var: conn.env_value for conn in seeded},
        )
        self.procs.env = env
        api = deployment.AirflowApi(f"http://127.0.0.1:{api_port}", self.home / "passwords.json")
        self.log("migrating the metadata DB (PostgreSQL)")
        deployment.migrate(env, self.home / "logs" / "migrate.log")
        self.log("starting scheduler, dag-processor, api-server, 2 Celery workers, 2 triggerers")
        for name, argv in deployment.components(size).items():
            self.procs.start(name, argv)
        api.wait_until("Airflow to report healthy", api.healthy, self.procs.exited)
        api.login()
        for account in plan.accounts(size):
            api.create_pool(plan.pool_name(account), size.pool_slots, size.pool_counts_deferred)
        api.wait_until("the DAG to be parsed", api.dag_parsed, self.procs.exited)
        self.warm_up(api)
        startup = time.monotonic() - started
        keys = plan.all_keys(size)
        self.log(f"Airflow up after {startup:.0f} s; publishing {len(keys)} posts for {size.creators} creators")
        cpu_before = {name: c.sample_cpu() for name, c in self.procs.components.items()}
        triggered_at = time.time()  # epoch, like the task logs and Airflow's dates (one machine, one clock)
        run_id = api.trigger()
        t0 = time.monotonic()
        state = self.watch(api, control, run_id, keys, t0)
        ended_at = timeline.parse_time(api.dag_run(run_id).get("end_date"))
        wall = (ended_at - triggered_at) if ended_at is not None else time.monotonic() - t0
        self.log(f"DAG run {state} after {wall:.0f} s; collecting the report")
        cpu = {name: c.sample_cpu() for name, c in self.procs.components.items()}
        rates = report.rate_summary(control.rates("token"), control.rates("account"))
        status_calls = rates["status"]["requests"]
        triggerer_cpu = sum(cpu[name] - cpu_before[name] for name in TRIGGERERS)  # during the DAG run only
        bound = plan.rate_lower_bound(size)
        tis = api.task_instances(run_id)
        times = timeline.collect(
            self.home,
            deployment.DAG_ID,
            run_id,
            tis,
            triggered_at=triggered_at,
            run_ended_at=ended_at,
            processing_s=size.processing_seconds,
            bound_s=bound,
        )
        result: dict[str, Any] = {
            "size": asdict(size),
            "dag_run_state": state,
            "posts": report.publish_counts(control.posts(), keys),
            "tasks": report.task_counts(tis),
            "rates": rates,
            "timing": {
                "wall_s": wall,
                "lower_bound_s": bound,
                "ratio": wall / bound,
                "startup_s": startup,
                "posts_per_minute": 60 * len(keys) / wall,
                "load_average": os.getloadavg(),
            },
            "timeline": times,
            "cpu": {
                "by_component_s": cpu,
                "triggerer_s": triggerer_cpu,
                "status_calls": status_calls,
                "triggerer_ms_per_status_call": 1000 * triggerer_cpu / max(1, status_calls),
            },
            "kills": self.kills,
            "ports": {"redis": redis_port, "api": api_port, "emulator": int(control.base_url.rsplit(":", 1)[1])},
            "processes": self.procs.started() + self.postgres.started(),
            "shared_budgets": shared_budgets_declared(),
        }
        result["problems"] = report.verdict(result)
        api.close()
        control.close()
        return result

    def warm_up(self, api: deployment.AirflowApi) -> None:
        """Run the warm-up DAG to the end (see warmup_dag.py): Airflow's cold start goes into the start-up time."""
        dag_id = deployment.WARMUP_DAG_ID
        api.wait_until("the warm-up DAG to be parsed", lambda: api.dag_parsed(dag_id), self.procs.exited)
        run_id = api.trigger(dag_id)
        api.wait_until(
            "the warm-up DAG run", lambda: api.run_state(run_id, dag_id) in ("success", "failed"), self.procs.exited
        )
        if (state := api.run_state(run_id, dag_id)) != "success":
            raise RuntimeError(f"the warm-up DAG run ended {state}; see {self.home / 'logs'}")

    def watch(
        self, api: deployment.AirflowApi, control: EmulatorControl, run_id: str, keys: list[str], t0: float
    ) -> str:
        """Until the DAG run ends: sample CPU, kill a worker and a triggerer at ``kill_at``, restart the worker."""
        deadline = t0 + self.options.timeout_s
        restart_at: float | None = None
        last_done = -1
        while True:
            for component in self.procs.components.values():
                component.sample_cpu()
            state = api.run_state(run_id)
            if state in ("success", "failed"):
                return state
            done = report.publish_counts(control.posts(), keys)["completed"]
            if done != last_done:
                self.log(f"{done}/{len(keys)} posts published")
                last_done = done
            if not self.kills and done >= self.options.kill_at * len(keys):
                for name in KILLED:
                    killed = self.procs.kill_tree(name)
                    self.kills.append(
                        {
                            "name": name,
                            "at_s": time.monotonic() - t0,
                            "processes": killed,
                            "posts_completed": done,
                            "restarted_as": None,
                        }
                    )
                    self.log(f"SIGKILLed {name} and its {killed - 1} child processes")
                if self.options.restart_worker_after_s is not None:
                    restart_at = time.monotonic() + self.options.restart_worker_after_s
            if restart_at is not None and time.monotonic() >= restart_at:
                self.procs.start("worker-3", deployment.worker_argv(3, self.options.size))
                self.kills[0]["restarted_as"] = "worker-3"
                self.log("started worker-3 in place of worker-1")
                restart_at = None
            if dead := [n for n in self.procs.exited() if n not in KILLED]:
                raise RuntimeError(f"{', '.join(dead)} exited during the run; see {self.home / 'logs'}")
            if time.monotonic() > deadline:
                return "timed out"
            time.sleep(SAMPLE_EVERY_S)  # a real deployment's progress: there is no clock to advance

    def stop(self) -> None:
        """Airflow and the servers by pid (process groups), PostgreSQL through pg_ctl, then any orphan left."""
        self.procs.stop_all()
        if self.postgres is not None:
            self.postgres.stop()
        left = kill_descendants()
        if left:
            print(f"warning: could not stop pids {left}", flush=True)
