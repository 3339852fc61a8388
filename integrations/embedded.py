"""Embedded mode: a Dramatiq worker thread inside the web process, and the event-loop hand-off.

Only for the demo and a laptop (no REDIS_URL): the worker dies with the web
process. Production runs ``manage.py rundramatiq`` processes instead.
"""

import asyncio
import logging
import threading

import dramatiq
from dramatiq import Worker

from integrations.sync import progress

logger = logging.getLogger("integrations.sync")
_worker = None
_watcher_stop = None


def start_worker(threads=2):
    """Start (once) a worker consuming the in-process broker; returns it."""
    global _worker
    if _worker is None:
        _worker = Worker(dramatiq.get_broker(), worker_threads=threads, worker_timeout=100)
        _worker.start()
        logger.info("[SYNC_TASK] embedded worker started with %s threads", threads)
    return _worker


def stop_worker():
    global _worker
    if _worker is not None:
        _worker.stop()
        _worker = None


def start_watcher():
    """Start (once) the watcher thread: state pushes, automatic recovery, and runs whose message this
    process's broker does not hold (queued before it restarted, or by another process) queued again."""
    global _watcher_stop
    if _watcher_stop is None:
        from integrations.sync.watcher import Watcher

        _watcher_stop = threading.Event()
        thread = threading.Thread(
            target=Watcher().run_forever, kwargs={"stop": _watcher_stop}, name="sync-watcher", daemon=True
        )
        thread.start()


def stop_watcher():
    global _watcher_stop
    if _watcher_stop is not None:
        _watcher_stop.set()
        _watcher_stop = None


def start_on_first_call(app, *, worker=True):
    """Wrap an ASGI app: its first call hands the server's loop to the progress publisher
    and (with ``worker``) starts the worker and watcher threads."""

    async def wrapped(scope, receive, send):
        if progress._server_loop is None:
            progress.bind_event_loop(asyncio.get_running_loop())
            if worker:
                start_worker()
                start_watcher()
        return await app(scope, receive, send)

    return wrapped
