"""Which Dramatiq workers are alive: each worker process announces itself in Redis.

Dramatiq's own ``__heartbeats__`` set cannot answer this: every process that
talks to the broker (the web process enqueueing, the watcher) writes its id
there too, and a killed worker stays in it for a minute.
"""

import logging
import os
import socket
import threading
import time

import redis
from django.conf import settings
from dramatiq import Middleware

logger = logging.getLogger("integrations.sync")

PRESENCE_SECONDS = 2.0
# A worker silent for this long is gone (three missed announcements).
WORKER_ALIVE_SECONDS = 3 * PRESENCE_SECONDS


def _key():
    namespace = settings.DRAMATIQ_BROKER["OPTIONS"].get("namespace", "dramatiq")
    return f"{namespace}:onboarding:workers"


def _client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def live_worker_count():
    """Workers alive now: announced worker processes in production, the worker thread in embedded mode."""
    if settings.EMBEDDED:
        from integrations import embedded

        worker = embedded._worker
        return 1 if worker is not None and any(thread.is_alive() for thread in worker.workers) else 0
    client = _client()
    try:
        return client.zcount(_key(), time.time() - WORKER_ALIVE_SECONDS, "+inf")
    finally:
        client.close()


class WorkerPresence(Middleware):
    """In a worker process (``rundramatiq``): announce it every PRESENCE_SECONDS until it shuts down."""

    def __init__(self):
        self._stop = threading.Event()
        self._member = f"{socket.gethostname()}:{os.getpid()}"

    def after_worker_boot(self, broker, worker):
        self._member = f"{socket.gethostname()}:{os.getpid()}"  # after the fork
        threading.Thread(target=self._announce, name="worker-presence", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()
        try:
            client = _client()
            client.zrem(_key(), self._member)
            client.close()
        except redis.RedisError:
            logger.warning("[SYNC_TASK] could not withdraw worker %s", self._member, exc_info=True)

    def _announce(self):
        client = _client()
        while not self._stop.is_set():
            try:
                client.zadd(_key(), {self._member: time.time()})
                client.zremrangebyscore(_key(), "-inf", time.time() - 10 * WORKER_ALIVE_SECONDS)
            except redis.RedisError:
                logger.warning("[SYNC_TASK] worker %s could not announce itself", self._member, exc_info=True)
            self._stop.wait(PRESENCE_SECONDS)
        client.close()
