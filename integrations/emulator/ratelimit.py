"""Primary rate-limit budgets, per token and resource, as GitHub reports them.

Each token gets 5,000 ``core`` requests and 5,000 ``graphql`` points per
hour. The window starts with the first request and resets an hour later
(``X-RateLimit-Reset`` is that moment in epoch seconds). Unauthenticated
callers share a 60-request ``core`` budget per client address.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

WINDOW = 3600
LIMITS = {"core": 5000, "graphql": 5000, "search": 30, "unauthenticated": 60}


@dataclass(frozen=True)
class Snapshot:
    resource: str
    limit: int
    remaining: int
    used: int
    reset: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": self.resource,
        }

    def as_json(self) -> dict:
        return {"limit": self.limit, "used": self.used, "remaining": self.remaining, "reset": self.reset}


class RateLimiter:
    def __init__(self, clock=time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], list[int]] = {}  # -> [reset_at, used]

    def _bucket(self, owner: str, resource: str, now: int) -> list[int]:
        bucket = self._buckets.get((owner, resource))
        if bucket is None or now >= bucket[0]:
            bucket = self._buckets[(owner, resource)] = [now + WINDOW, 0]
        return bucket

    def _snapshot(self, resource: str, limit: int, bucket: list[int]) -> Snapshot:
        return Snapshot(resource, limit, max(0, limit - bucket[1]), bucket[1], bucket[0])

    def peek(self, owner: str, resource: str, limit: int | None = None) -> Snapshot:
        limit = limit if limit is not None else LIMITS[resource]
        with self._lock:
            bucket = self._bucket(owner, resource, int(self._clock()))
            return self._snapshot(resource, limit, bucket)

    def charge(self, owner: str, resource: str, amount: int = 1, limit: int | None = None) -> tuple[bool, Snapshot]:
        """Spend ``amount`` if the budget allows; return (allowed, snapshot after)."""
        limit = limit if limit is not None else LIMITS[resource]
        with self._lock:
            bucket = self._bucket(owner, resource, int(self._clock()))
            if bucket[1] + amount > limit:
                return False, self._snapshot(resource, limit, bucket)
            bucket[1] += amount
            return True, self._snapshot(resource, limit, bucket)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
