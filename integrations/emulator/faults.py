"""Injected failures: the ways api.github.com misbehaves in production.

A fault is a JSON object with a ``kind`` and optional matching rules:
``path`` (fnmatch glob on the URL path; default: every API path), ``method``,
``after`` (let the first N matching requests through) and ``times`` (fire
N times, then expire; null = until cleared). The server asks
``FaultBook.match`` for each API request and acts on what fires.
"""

from __future__ import annotations

import fnmatch
import math
import threading
import time
from dataclasses import asdict, dataclass, field

KINDS = {
    "status",
    "rate_limit",
    "secondary_rate_limit",
    "bare_403",
    "delay",
    "hang",
    "revoke_token",
    "graphql_errors",
}


@dataclass(eq=False)  # identity matters: two identical faults are two faults
class Fault:
    id: int
    kind: str
    path: str | None = None
    method: str | None = None
    after: int = 0
    times: int | None = None
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: object = None
    message: str | None = None
    reset_in: float = 60
    retry_after: int = 60
    delay_ms: int = 0
    token: str | None = None
    errors: list | None = None
    # Runtime state.
    seen: int = 0
    fired: int = 0
    reset_at: int | None = None

    def as_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def _api_path(path: str) -> bool:
    return not path.startswith(("/_emulator/", "/login/"))


class FaultBook:
    def __init__(self, clock=time.time):
        self._clock = clock
        self._faults: list[Fault] = []
        self._revoked: set[str] = set()
        self._next_id = 1
        self._generation = 0  # bumped by clear(): releases hanging requests
        self._cond = threading.Condition()
        self.fired_total = 0

    def add(self, spec: dict) -> Fault:
        """Register a fault from its JSON description; ValueError if invalid."""
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise ValueError(f"fault needs a kind among {sorted(KINDS)}")
        known = {f for f in Fault.__dataclass_fields__ if f not in ("id", "seen", "fired", "reset_at")}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if spec["kind"] == "status" and not isinstance(spec.get("status"), int):
            raise ValueError("a status fault needs an integer status")
        for name in ("after", "times", "status", "retry_after", "delay_ms"):
            if spec.get(name) is not None and (not isinstance(spec[name], int) or spec[name] < 0):
                raise ValueError(f"{name} must be a non-negative integer")
        if spec.get("reset_in") is not None and not isinstance(spec["reset_in"], int | float):
            raise ValueError("reset_in must be a number of seconds")
        if spec.get("headers") is not None and not isinstance(spec["headers"], dict):
            raise ValueError("headers must be an object")
        values = {k: v for k, v in spec.items() if v is not None}
        with self._cond:
            fault = Fault(id=self._next_id, **values)
            if fault.method:
                fault.method = fault.method.upper()
            if fault.kind == "graphql_errors" and fault.path is None:
                fault.path = "/graphql"
            self._next_id += 1
            self._faults.append(fault)
            return fault

    def clear(self) -> None:
        """Remove every fault, un-revoke tokens and release hanging requests."""
        with self._cond:
            self._faults.clear()
            self._revoked.clear()
            self._generation += 1
            self._cond.notify_all()

    def list(self) -> list[dict]:
        now = self._clock()
        with self._cond:
            self._expire(now)
            return [f.as_json() for f in self._faults]

    def is_revoked(self, token: str) -> bool:
        return token in self._revoked

    def _expire(self, now: float) -> None:
        before = len(self._faults)
        self._faults = [
            f
            for f in self._faults
            if not (f.times is not None and f.fired >= f.times and f.kind != "revoke_token")
            and not (f.reset_at is not None and now >= f.reset_at)
        ]
        if len(self._faults) != before:
            self._cond.notify_all()

    def match(self, method: str, path: str, token: str | None) -> tuple[float, Fault | None]:
        """Faults firing for this request: (total delay in s, terminal fault)."""
        now = self._clock()
        delay = 0.0
        with self._cond:
            self._expire(now)
            for fault in self._faults:
                if fault.method and fault.method != method:
                    continue
                if fault.path is None:
                    if not _api_path(path):
                        continue
                elif not fnmatch.fnmatchcase(path, fault.path):
                    continue
                if fault.kind == "revoke_token":
                    if token is None or (fault.token is not None and fault.token != token):
                        continue
                    if token in self._revoked:
                        continue  # already revoked; auth answers 401
                # A primary rate limit, once hit, lasts until its reset time.
                if fault.kind == "rate_limit" and fault.reset_at is not None:
                    fault.fired += 1
                    self.fired_total += 1
                    return delay, fault
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.fired += 1
                self.fired_total += 1
                if fault.kind == "delay":
                    delay += fault.delay_ms / 1000
                    continue
                if fault.kind == "rate_limit":
                    fault.reset_at = math.ceil(now + fault.reset_in)
                    fault.times = None  # expiry is by time, not count
                if fault.kind == "revoke_token":
                    self._revoked.add(token)
                return delay, fault
        return delay, None

    def wait_released(self, stopping: threading.Event) -> None:
        """Block a hanging request until faults are cleared or the server stops.

        A hang that has fired keeps its request hanging even if the fault
        expires (``times``) meanwhile: the client must hit its own timeout.
        """
        with self._cond:
            generation = self._generation
            while self._generation == generation and not stopping.is_set():
                self._cond.wait(0.5)

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()
