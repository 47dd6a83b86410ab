"""Injected faults: what a test asks to go wrong, which requests it matches, and how often.

A fault matches by method and path (an ``fnmatch`` glob, no query string). Every fault counts the matching requests
it has seen since it was injected, including those another fault answered; it skips the first ``after`` of them,
then fires on the next ``times`` matches (``None``: on every one) that no earlier fault claims. The older ``nth=n``
spelling means ``after=n-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

# respond: answer instead of TikTok; reset: drop the connection unanswered; delay: answer late (still processed
# when the client has gone); lost: process for real, then lose the answer; fail_publish / stuck: mark the post.
FAULT_ACTIONS = ("respond", "reset", "delay", "lost", "fail_publish", "stuck")
# How a lost answer is lost: an error in its place, a connection reset, or a stall before the real answer.
LOST_ANSWERS = ("error", "reset", "stall")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


@dataclass
class Fault:
    fault_id: int
    path: str
    method: str | None = None  # None: any method
    after: int = 0
    times: int | None = 1  # None: unlimited
    action: str = "respond"
    status: int | None = None
    error_code: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    answer: str = "error"  # only for action="lost"
    delay_seconds: float = 0.0
    fail_reason: str | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and fnmatchcase(path, self.path)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


_FIELDS = {
    "path",
    "method",
    "nth",
    "after",
    "times",
    "action",
    "status",
    "error_code",
    "message",
    "headers",
    "answer",
    "delay_seconds",
    "fail_reason",
}


def _count(body: dict[str, Any], name: str, minimum: int) -> int:
    value = body[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}")
    return value


def parse_fault(fault_id: int, body: dict[str, Any]) -> Fault:
    """A validated fault from the control API's JSON; ValueError names the bad field."""
    unknown = set(body) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) for a fault: {', '.join(sorted(unknown))}")
    path = body.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "?" in path:
        raise ValueError("path must be an absolute path (fnmatch patterns allowed), without query string")
    method = body.get("method")
    if method is not None and (not isinstance(method, str) or method.upper() not in METHODS):
        raise ValueError(f"method must be one of {', '.join(METHODS)} (or absent for any)")
    after = 0
    if body.get("nth") is not None:
        if body.get("after") is not None:
            raise ValueError("give either nth or after, not both (nth=n is after=n-1)")
        after = _count(body, "nth", 1) - 1
    elif body.get("after") is not None:
        after = _count(body, "after", 0)
    times = body.get("times", 1)
    if times == "unlimited":
        times = None
    if times is not None:
        times = _count({"times": times}, "times", 1)
    action = body.get("action") or "respond"
    if action not in FAULT_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(FAULT_ACTIONS)}")
    answer = body.get("answer") or "error"
    if answer not in LOST_ANSWERS:
        raise ValueError(f"answer must be one of {', '.join(LOST_ANSWERS)}")
    if body.get("answer") is not None and action != "lost":
        raise ValueError('answer only applies to action="lost"')
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599):
        raise ValueError("status must be an HTTP status code (100-599)")
    headers = body.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError("headers must be an object of strings")
    delay = body.get("delay_seconds") or 0.0
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ValueError("delay_seconds must be a non-negative number")
    if delay <= 0 and (action == "delay" or (action == "lost" and answer == "stall")):
        raise ValueError("delay_seconds (> 0) is required for a delay or a stall")
    for name in ("error_code", "message", "fail_reason"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ValueError(f"{name} must be a string")
    return Fault(
        fault_id=fault_id,
        path=path,
        method=method.upper() if method else None,
        after=after,
        times=times,
        action=action,
        status=status,
        error_code=body.get("error_code"),
        message=body.get("message"),
        headers=dict(headers),
        answer=answer,
        delay_seconds=float(delay),
        fail_reason=body.get("fail_reason"),
    )


def take(faults: list[Fault], method: str, path: str) -> Fault | None:
    """Count this request against every matching fault; return the first one due (removed once used up)."""
    due = None
    for fault in list(faults):
        if not fault.matches(method, path):
            continue
        fault.seen += 1
        if due is None and fault.seen > fault.after:
            due = fault
            fault.fired += 1
            if fault.exhausted:
                faults.remove(fault)
    return due
