"""Child process: import the operators module (and parse DAG files) with connection lookups and sockets trapped.

DAG files are parsed constantly by the DAG processor; a provider that resolves a connection or opens a socket at
import or DAG-construction time turns every parse into a secrets-backend call or a network round trip. This runs
after `import airflow.sdk` (whose own start-up is not ours to judge), records every attempt and prints JSON.

    python -m bench.import_guard [dag_file ...]
"""

from __future__ import annotations

import functools
import importlib
import json
import runpy
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

import airflow.sdk  # noqa: F401  - the baseline every DAG file pays; imported before the traps on purpose

OPERATORS_MODULE = "airflow_provider_tiktok.operators.tiktok"
events: list[dict[str, str]] = []


def _caller() -> str:
    """The innermost frame outside this file and the stdlib socket module, to say who made the call."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.endswith(("import_guard.py", "socket.py")):
            return f"{frame.filename}:{frame.lineno}"
    return "?"


def _trap(kind: str, name: str, original: Callable[..., Any], *, block: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        events.append({"kind": kind, "call": name, "args": repr(args[-1:])[:80], "caller": _caller()})
        if block:
            raise OSError(f"{name} blocked by bench.import_guard")
        return original(*args, **kwargs)

    return wrapper


def _patch(module_name: str, attr_path: str, kind: str, *, block: bool = False) -> None:
    """Wrap `module.attr` (or `module.Class.attr`), keeping classmethods classmethods; skip what doesn't exist."""
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return
    *parents, attr = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent, None)
        if owner is None:
            return
    raw = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
    if raw is None:
        return
    name = f"{module_name}.{attr_path}"
    if isinstance(raw, classmethod):
        setattr(owner, attr, classmethod(_trap(kind, name, raw.__func__, block=block)))
    elif isinstance(raw, staticmethod):
        setattr(owner, attr, staticmethod(_trap(kind, name, raw.__func__, block=block)))
    else:
        setattr(owner, attr, _trap(kind, name, raw, block=block))


def install() -> None:
    for attr in ("connect", "connect_ex"):
        setattr(socket.socket, attr, _trap("network", f"socket.{attr}", getattr(socket.socket, attr), block=True))
    for attr in ("create_connection", "getaddrinfo"):
        _patch("socket", attr, "network", block=True)
    for module, attr in [
        ("airflow.sdk.bases.hook", "BaseHook.get_connection"),
        ("airflow.sdk.bases.hook", "BaseHook.aget_connection"),
        ("airflow.sdk.definitions.connection", "Connection.get"),
        ("airflow.sdk.definitions.connection", "Connection.async_get"),
        ("airflow.sdk.execution_time.context", "_get_connection"),
        ("airflow.sdk.execution_time.context", "_async_get_connection"),
        ("airflow.secrets.environment_variables", "EnvironmentVariablesBackend.get_conn_value"),
        ("airflow.secrets.environment_variables", "EnvironmentVariablesBackend.get_connection"),
        ("airflow.secrets.metastore", "MetastoreBackend.get_connection"),
    ]:
        _patch(module, attr, "connection")
    for module, attr in [
        ("airflow.sdk.definitions.variable", "Variable.get"),
        ("airflow.sdk.execution_time.context", "_get_variable"),
        ("airflow.secrets.environment_variables", "EnvironmentVariablesBackend.get_variable"),
    ]:
        _patch(module, attr, "variable")


def main(dag_files: list[str]) -> None:
    install()
    importlib.import_module(OPERATORS_MODULE)
    parsed = []
    for path in dag_files:
        runpy.run_path(path, run_name="__bench_dag__")
        parsed.append(path)
    print(json.dumps({"imported": OPERATORS_MODULE, "dag_files": parsed, "events": events}))


if __name__ == "__main__":
    main(sys.argv[1:])
