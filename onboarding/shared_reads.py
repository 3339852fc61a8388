"""One database read per key for every socket of a process that asks within ``max_age`` seconds.

Two hundred pages open on one run each re-derive its state every few
seconds; without sharing, that is two hundred identical reads (and database
connections) per interval in one web process. With it, the first socket to
ask reads, the others asking meanwhile await that same read, and anyone
asking within ``max_age`` after it gets its result.
"""

import asyncio
from dataclasses import dataclass


@dataclass
class _Entry:
    loop: asyncio.AbstractEventLoop
    started: float
    task: asyncio.Task


class SharedReads:
    def __init__(self, read, max_age):
        """``read(key)`` is a coroutine function; ``max_age()`` gives the seconds a result may be reused."""
        self._read = read
        self._max_age = max_age
        self._entries: dict = {}

    async def get(self, key):
        loop = asyncio.get_running_loop()
        now = loop.time()
        entry = self._entries.get(key)
        fresh = (
            entry is not None
            and entry.loop is loop
            and (not entry.task.done() or now - entry.started < self._max_age())
        )
        if not fresh:
            self._prune(loop, now)
            entry = self._entries[key] = _Entry(loop, now, loop.create_task(self._read(key)))
        try:
            # Shielded: a socket closing while it waits must not cancel the others' read.
            return await asyncio.shield(entry.task)
        except Exception:
            if self._entries.get(key) is entry:
                del self._entries[key]  # a failed read is not shared with the next asker
            raise

    def _prune(self, loop, now):
        limit = 10 * self._max_age()
        for key, entry in list(self._entries.items()):
            if entry.loop is not loop or (entry.task.done() and now - entry.started > limit):
                del self._entries[key]
