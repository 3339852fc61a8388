"""A worker's claim on a SyncRun: the fence around every write, and the heartbeat.

A delivery claims its run with a conditional UPDATE and keeps the random
``claim_token`` it wrote. Every later write repeats the condition (same token,
no outcome yet) inside the write's transaction, so a superseded run, a
duplicate delivery or a zombie worker can never overwrite a newer run: the
UPDATE matches no row and the worker stops (``RunFenced``).
"""

import logging
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.models import SyncRun
from integrations.shutdown import stop_here

logger = logging.getLogger("integrations.sync")


# How often a run waiting out a rate limit tells its pages it is alive.
WAITING_NEWS_SECONDS = 15


class RunFenced(Exception):
    """This delivery no longer owns its run (superseded, finished, or claimed by another worker)."""


class RunLease:
    def __init__(self, run, token):
        self.run = run
        self.run_id = run.pk
        self.token = token
        self.note = ""
        self.waiting_until = None
        self.lost = False
        self._last_touch = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.publisher = None

    # -- claiming --------------------------------------------------------
    @classmethod
    def claim(cls, run_id, message_id=""):
        """Claim the run for this delivery, or return None if someone else owns it or it is over.

        A run whose claimant stopped heartbeating for SYNC_STALL_SECONDS may be
        claimed again: that is a redelivery after a worker died. So may an
        interrupted run (its worker was shut down and released it).
        """
        token = uuid.uuid4().hex
        now = timezone.now()
        stale = now - timedelta(seconds=settings.SYNC_STALL_SECONDS)
        claimed = (
            SyncRun.objects.filter(pk=run_id, outcome__in=("", SyncRun.Outcome.INTERRUPTED))
            .filter(Q(claim_token="") | Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
            .update(
                outcome="",
                error="",
                error_code="",
                requeue_reason="",
                finished_at=None,
                claim_token=token,
                started_at=now,
                heartbeat_at=now,
                waiting_until=None,
                message_id=message_id or "",
                attempts=F("attempts") + 1,
            )
        )
        if not claimed:
            return None
        return cls(SyncRun.objects.select_related("team").get(pk=run_id), token)

    def _owned(self):
        return SyncRun.objects.filter(pk=self.run_id, claim_token=self.token, outcome="")

    # -- fenced writes ---------------------------------------------------
    @contextmanager
    def fenced(self, note=None):
        """A transaction that first proves this delivery still owns the run (and beats the heartbeat).

        The UPDATE takes the run row's lock until commit, so start_sync's
        supersede waits for this page to commit, or this page sees no row.
        """
        stop_here()  # a page is stored whole or not at all: a shutdown stops before it
        with transaction.atomic():
            if note is not None:
                self.note = note
            fields = {"heartbeat_at": timezone.now(), "waiting_until": None}
            if note is not None:
                fields["heartbeat_note"] = note[:300]
            if not self._owned().update(**fields):
                self.lost = True
                raise RunFenced(f"run {self.run_id} is no longer owned by this worker")
            self.touch()
            yield

    def update(self, **fields):
        """A single fenced update of the run row."""
        if not self._owned().update(**fields):
            self.lost = True
            raise RunFenced(f"run {self.run_id} is no longer owned by this worker")

    def finish(self, outcome, error="", error_code=""):
        """Record the run's outcome; raises RunFenced if it was superseded meanwhile."""
        now = timezone.now()
        self.update(
            outcome=outcome, error=error, error_code=error_code, finished_at=now, heartbeat_at=now, waiting_until=None
        )

    def interrupt(self, error):
        """Record a graceful shutdown and release the run, so the next delivery resumes it."""
        # Dramatiq's time limit is still an asynchronous exception: it may have
        # landed inside a query and left this thread's connection unusable. Start afresh.
        try:
            connection.close()
        except Exception:
            logger.warning("[SYNC_TASK] run %s: closing the interrupted connection failed", self.run_id, exc_info=True)
        now = timezone.now()
        self.update(
            outcome=SyncRun.Outcome.INTERRUPTED,
            error=error,
            finished_at=now,
            heartbeat_at=now,
            waiting_until=None,
            claim_token="",
        )
        self.lost = True  # nothing more may be written by this delivery

    # -- liveness ----------------------------------------------------------
    def touch(self, note=None):
        """The main thread is alive (called before each GitHub request and after each page).

        Raises ``Shutdown`` when the worker is shutting down, ``RunFenced`` when the run is lost.
        """
        stop_here()
        if self.lost:
            raise RunFenced(f"run {self.run_id} is no longer owned by this worker")
        with self._lock:
            self._last_touch = time.monotonic()
            if note is not None:
                self.note = note

    def wait_until(self, until, reason):
        """Wait (for a rate limit) until ``until``, heartbeating and announcing the pause."""
        self.waiting_until = until
        logger.info("[SYNC_TASK] run %s waiting until %s: %s", self.run_id, until.isoformat(), reason)
        self.update(waiting_until=until, heartbeat_at=timezone.now())
        if self.publisher:
            self.publisher.publish(force=True)
        try:
            last_news = time.monotonic()
            while True:
                remaining = (until - timezone.now()).total_seconds()
                if remaining <= 0:
                    break
                self.touch()
                time.sleep(min(remaining, 1.0))
                if self.publisher and time.monotonic() - last_news >= WAITING_NEWS_SECONDS:
                    # The heartbeat goes on while it waits: the page's "last activity" says so.
                    last_news = time.monotonic()
                    self.publisher.publish(force=True)
        finally:
            self.waiting_until = None
        self.update(waiting_until=None, heartbeat_at=timezone.now())
        if self.publisher:
            self.publisher.publish(force=True)

    def _liveness_window(self):
        # The main thread may legitimately be silent for one whole request
        # (connect + read timeout) plus one backoff; longer means it is stuck,
        # and then the heartbeat must stop so the run shows as stalled.
        return settings.GITHUB_CONNECT_TIMEOUT + settings.GITHUB_READ_TIMEOUT + settings.GITHUB_BACKOFF_MAX_SECONDS

    def _beat(self):
        with self._lock:
            alive = time.monotonic() - self._last_touch <= self._liveness_window()
            note = self.note
        if not alive:
            logger.warning("[SYNC_TASK] run %s: main thread silent, heartbeat withheld", self.run_id)
            return
        fields = {"heartbeat_at": timezone.now(), "heartbeat_note": note[:300]}
        if self.waiting_until:
            fields["waiting_until"] = self.waiting_until
        if not self._owned().update(**fields):
            self.lost = True
            return
        if self.publisher:
            self.publisher.flush()

    def _heartbeat_loop(self, interval):
        try:
            while not self._stop.wait(interval):
                try:
                    self._beat()
                except Exception:
                    logger.warning("[SYNC_TASK] run %s: heartbeat failed", self.run_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    @contextmanager
    def heartbeating(self, interval=None):
        """Run a heartbeat thread while the block runs."""
        interval = settings.SYNC_HEARTBEAT_SECONDS if interval is None else interval
        self._thread = threading.Thread(
            target=self._heartbeat_loop, args=(interval,), name=f"heartbeat-run-{self.run_id}", daemon=True
        )
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=interval + 5)
