"""Fetch the next page from GitHub while the current one is being stored.

A sync's time should be GitHub's latency and nothing more: without overlap,
every page costs one request *plus* one database write. With one page of
lookahead the write hides behind the next request.
"""

import queue
import threading

from django.db import connection

_DONE = object()


class Prefetched:
    """Iterate ``pages`` (an iterator) in a background thread, one item ahead; a context manager.

    Exceptions raised while fetching are raised in the consuming thread, at the
    item where they happened. Leaving the block early stops the fetching thread
    after the request it is in (it never starts another).
    """

    def __init__(self, pages, *, name="prefetch", check=None):
        """``check()`` is called while the consumer waits for the next item (it may raise to stop)."""
        self._pages = pages
        self._check = check
        self._queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name=name, daemon=True)

    def _fetch(self):
        try:
            for page in self._pages:
                if not self._put(("page", page)):
                    return
            self._put(("done", _DONE))
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(("error", exc))
        finally:
            # Waiting on a rate limit writes to the database from this thread.
            connection.close()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self):
        self._thread.start()
        return self

    def __iter__(self):
        while True:
            try:
                # In short waits: a worker shutting down stops the consumer here
                # (check), and Dramatiq's time limit arrives as an asynchronous
                # exception, which a blocked get() would hold back.
                kind, value = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._check is not None:
                    self._check()
                continue
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value

    def __exit__(self, *exc):
        self._stop.set()
        # Unblock a fetcher waiting to hand over a page, then let it finish.
        try:
            self._queue.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=60)
        return False
