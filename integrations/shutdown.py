"""A worker shutting down (SIGTERM, a deploy, the demo's Ctrl-C) stops its syncs at a safe point.

Dramatiq's own notification (``notify_shutdown``) raises ``Shutdown`` in the
actor's thread as an asynchronous exception. It can land anywhere, also just
after a lock was taken (a logging handler's, a connection pool's), and that
lock then stays taken for good: the next thread to log waits forever. Here
the worker's shutdown only raises a flag; the sync looks at it between steps
(before each GitHub request, before each page is stored, every second of a
rate-limit wait and while it waits for the next page) and raises
``Shutdown`` there itself, so the run is released and queued again.
"""

import threading

from dramatiq import Middleware
from dramatiq.middleware import Shutdown

_stopping = threading.Event()


def stop_here():
    """Raise ``Shutdown`` if this process's worker is shutting down."""
    if _stopping.is_set():
        raise Shutdown("the worker is shutting down")


class CooperativeShutdown(Middleware):
    """Raises the flag while the worker stops its threads; lowers it once they stopped."""

    def before_worker_shutdown(self, broker, worker):
        _stopping.set()

    def after_worker_shutdown(self, broker, worker):
        # Syncs run without a worker too (sync_team --inline, tests): they must not inherit it.
        _stopping.clear()
