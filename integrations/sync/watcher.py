"""The watcher: pushes state changes to open pages, recovers a run whose worker died, and queues
again a waiting run whose message was lost.

It must not run inside a Dramatiq worker, because it would die with the very
worker whose death it has to notice. Production runs it as its own process
(``manage.py sync_watcher``, the Procfile's ``watcher`` line; several may run,
their recoveries are serialised by ``start_sync``); embedded mode runs it as a
thread of the web process, next to the worker thread it watches.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from integrations.models import State, SyncRun
from integrations.sync.lost import check_waiting_runs, waiting_runs
from integrations.sync.progress import describe_state, publish
from integrations.sync.start import SyncNotStarted, incomplete_repositories, start_sync
from integrations.workers import live_worker_count

logger = logging.getLogger("integrations.sync")


class Watcher:
    def __init__(self, *, auto_recover=None):
        self.auto_recover = settings.SYNC_AUTO_RECOVER if auto_recover is None else auto_recover
        self._seen = {}  # run id -> last derived state pushed

    def check(self, now=None):
        """One pass over active runs. Returns the runs started to recover stalled ones."""
        now = now or timezone.now()
        recent = now - timedelta(days=1)
        runs = SyncRun.objects.filter(outcome__in=("", SyncRun.Outcome.INTERRUPTED), created_at__gte=recent)
        recovered = []
        workers = _live_workers()
        if workers:
            # Workers are alive to run what waits: the waiting runs whose message was lost are queued again.
            for run in check_waiting_runs(waiting_runs().filter(created_at__gte=recent), now):
                self._push(run)
        for run in runs.select_related("team"):
            state = describe_state(run, now, workers=workers)
            # What the page shows in words. A running run's note changes with every page: its worker
            # reports those itself. Other reasons name moments, not ages, so they change only with a fact.
            shown = (state.state, state.cause, "" if state.state == State.RUNNING else state.reason)
            if self._seen.get(run.pk) != shown:
                # Pushed when it changed, and when no news of it ever went out (a run
                # another process created, whose pages are served by this one's layer).
                if run.pk in self._seen or state.state == State.STALLED or run.event_seq == 0:
                    self._push(run)
                self._seen[run.pk] = shown
            if state.state != State.STALLED or not self.auto_recover or run.started_at is None:
                continue
            if run.reason == SyncRun.Reason.AUTOMATIC:
                continue  # a second stall is left to the user
            if workers:
                new = self._recover(run)
                if new is not None:
                    recovered.append(new)
        # Forget runs that are no longer active.
        active = set(runs.values_list("pk", flat=True))
        self._seen = {pk: s for pk, s in self._seen.items() if pk in active}
        return recovered

    def _push(self, run):
        publish(run.pk)

    def _recover(self, run):
        repos = incomplete_repositories(run)
        if not repos and not run.include_members:
            repos = list(run.repositories.all())
        try:
            new = start_sync(
                run.team, repos, reason=SyncRun.Reason.AUTOMATIC, include_members=run.include_members, replaces=run
            )
        except SyncNotStarted as exc:
            logger.info("[SYNC_TASK] run=%s not recovered: %s", run.pk, exc)
            return None
        logger.warning(
            "[SYNC_TASK] run=%s stalled (%s); resumed automatically as run %s",
            run.pk,
            run.get_state().reason,
            new.pk,
        )
        self._push(SyncRun.objects.get(pk=run.pk))
        return new

    def run_forever(self, interval=None, stop=None):
        interval = settings.SYNC_WATCH_SECONDS if interval is None else interval
        stop = stop or threading.Event()
        logger.info("[SYNC_TASK] watcher started (every %s s, automatic recovery %s)", interval, self.auto_recover)
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.check()
            except Exception:
                logger.exception("[SYNC_TASK] watcher pass failed; trying again")
            finally:
                close_old_connections()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))


def _live_workers():
    try:
        return live_worker_count()
    except Exception:
        logger.warning("[SYNC_TASK] cannot count live workers", exc_info=True)
        return 0
