"""How many Dramatiq workers are alive, from the broker's own heartbeats."""

import time

import redis
from django.conf import settings

# Dramatiq's Redis workers beat on every fetch (about once a second while
# idle); a worker silent for this long is gone, even if Dramatiq itself waits
# longer (its heartbeat_timeout) before handing its messages to another one.
WORKER_ALIVE_SECONDS = 15


def live_worker_count():
    """Workers alive now: Redis broker heartbeats in production, the worker thread in embedded mode."""
    if settings.EMBEDDED:
        from integrations import embedded

        worker = embedded._worker
        return 1 if worker is not None and any(thread.is_alive() for thread in worker.workers) else 0
    namespace = settings.DRAMATIQ_BROKER["OPTIONS"].get("namespace", "dramatiq")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        # Each worker process's broker writes its id with the time of its last fetch (ms).
        return client.zcount(f"{namespace}:__heartbeats__", (time.time() - WORKER_ALIVE_SECONDS) * 1000, "+inf")
    finally:
        client.close()
