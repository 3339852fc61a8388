"""Request counters, so tests and benchmarks can see what a sync cost."""

from __future__ import annotations

import threading
from collections import Counter


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.rest: Counter[str] = Counter()
            self.oauth: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.graphql_requests = 0
            self.graphql_points = 0
            self.faults_fired = 0

    def count_request(self, kind: str, template: str) -> None:
        """``kind`` is "rest", "graphql" or "oauth"; ``template`` the route."""
        with self._lock:
            self.total += 1
            if kind == "graphql":
                self.graphql_requests += 1
            elif kind == "oauth":
                self.oauth[template] += 1
            else:
                self.rest[template] += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def add_points(self, points: int) -> None:
        with self._lock:
            self.graphql_points += points

    def count_fault(self) -> None:
        with self._lock:
            self.faults_fired += 1

    def as_json(self) -> dict:
        with self._lock:
            return {
                "total_requests": self.total,
                "rest": dict(self.rest),
                "graphql": {"requests": self.graphql_requests, "points": self.graphql_points},
                "oauth": dict(self.oauth),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "faults_fired": self.faults_fired,
            }
