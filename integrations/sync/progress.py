"""The one way a sync reports progress: throttled, seq-numbered, never failing the sync.

The database is the truth; events are only news. Each event carries a full
snapshot of the run (``run_snapshot``), so a page can render it without a
query, and a growing ``seq`` (``SyncRun.event_seq``), so a page that already
holds a newer snapshot ignores an older event.
"""

import asyncio
import logging
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from integrations.models import PullRequestReview, RunState, State, SyncRun, SyncRunRepository

logger = logging.getLogger("integrations.sync")

_server_loop = None


def bind_event_loop(loop):
    """Embedded mode: events are handed to the web server's loop (the in-memory layer lives there)."""
    global _server_loop
    _server_loop = loop


def team_group(team_id):
    """Every event of the team's runs: a page follows its run, and switches to a newer one when it starts."""
    return f"sync.team.{team_id}"


def describe_state(run, now=None, *, workers=None):
    """``run.get_state(now)`` with what the run's row alone cannot say: syncs ahead of it, workers alive.

    The page, the status endpoint, ``sync_status`` and the admin all show this.
    ``workers``: live workers, when the caller counted them already.
    """
    state = run.get_state(now)
    if state.state == State.QUEUED:
        ahead = queued_ahead(run)
        plural = "s are" if ahead > 1 else " is"
        waiting = f"Waiting for a worker: {ahead} sync{plural} ahead of this one." if ahead else "Waiting for a worker."
        return RunState(state.state, " ".join(filter(None, [waiting, run.requeue_reason])), state.cause)
    if state.state == State.SUPERSEDED and run.superseded_by_id:
        newer = SyncRun.objects.filter(pk=run.superseded_by_id).values_list("reason", flat=True).first()
        if newer == SyncRun.Reason.AUTOMATIC:
            return RunState(
                state.state,
                f"Its worker stopped responding, so run {run.superseded_by_id} resumed it from its checkpoints.",
                "resumed",
            )
        return state
    if state.state != State.STALLED:
        return state
    if workers is None:
        from integrations.workers import live_worker_count

        try:
            workers = live_worker_count()
        except Exception:
            logger.warning("[SYNC_TASK] cannot count live workers", exc_info=True)
            return state
    if workers == 0:
        return RunState(
            state.state,
            f"{state.reason} No worker is running: start one (manage.py rundramatiq) and the sync goes on by itself.",
            "no_worker",
        )
    alive = f"{workers} worker{'s are' if workers > 1 else ' is'} alive"
    if state.cause == "worker_died":
        # No promise of an automatic recovery: if the watcher starts one, the page follows it.
        return RunState(state.state, f"{state.reason} {alive}: Retry resumes it from its last checkpoint.", state.cause)
    # Waiting with live workers and its task not seen in the queue: only the watcher looks there.
    return RunState(
        state.state,
        f"{state.reason} {alive}, but nothing has checked its task since: is the watcher running "
        "(manage.py sync_watcher)? Retry starts it again.",
        state.cause,
    )


def queued_ahead(run):
    """Runs waiting for a worker whose message went into the queue before this run's did."""
    from integrations.sync.lost import last_enqueued, waiting_runs

    enqueued = Greatest("created_at", Coalesce("requeued_at", "created_at"), Coalesce("finished_at", "created_at"))
    mine = last_enqueued(run)
    return (
        waiting_runs()
        .exclude(pk=run.pk)
        .alias(enqueued=enqueued)
        .filter(Q(enqueued__lt=mine) | Q(enqueued=mine, pk__lt=run.pk))
        .count()
    )


def repository_status(run, row):
    """The row's status as the run's page says it: a run that ended without reaching a repository never started it."""
    ended = run.outcome and run.outcome != SyncRun.Outcome.INTERRUPTED
    if ended and row.status == SyncRunRepository.Status.PENDING:
        return "not_started"
    if ended and row.status == SyncRunRepository.Status.SYNCING:
        return "stopped"
    return row.status


def run_snapshot(run, now=None):
    """A JSON-able picture of the run and its repositories, read from the database."""
    now = now or timezone.now()
    state = describe_state(run, now)
    repos = [
        {
            "id": r.repository_id,
            "full_name": r.repository.full_name,
            "status": repository_status(run, r),
            "prs_synced": r.prs_synced,
            "prs_total": r.prs_total,
            "prs_written": r.prs_written,
            "error": r.error,
            "error_code": r.error_code,
            "started_at": r.started_at.isoformat() if r.started_at else None,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            # When this run completed the repository.
            "last_synced_at": r.finished_at.isoformat() if r.finished_at and r.status == "complete" else None,
        }
        for r in run.repository_rows.select_related("repository").order_by("repository__full_name")
    ]
    return {
        "run_id": run.pk,
        "team_id": run.team_id,
        "seq": run.event_seq,
        "state": state.state,
        "reason": state.reason,
        "cause": state.cause,
        "run_reason": run.reason,
        "superseded_by": run.superseded_by_id,
        "note": run.heartbeat_note,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "waiting_until": run.waiting_until.isoformat() if run.waiting_until else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "members_synced": run.members_synced,
        "include_members": run.include_members,
        # Counted once here, not by every page the event reaches.
        "reviews": count_reviews(run.pk) if state.state == State.SUCCEEDED else None,
        "repositories": repos,
    }


def count_reviews(run_id):
    """Reviews stored for the run's repositories."""
    return PullRequestReview.objects.filter(pull_request__repository__sync_runs=run_id).count()


def publish(run_id, *, claim_token=None):
    """The one way a run's news goes out: the next ``seq``, a snapshot from the database, sent to its pages.

    Used by the worker (``claim_token``: only while it owns the run), the
    shutdown path, the watcher and ``start_sync``. Returns False when nothing
    was sent (the run changed hands, or the layer failed); never raises.
    """
    try:
        with transaction.atomic():
            runs = SyncRun.objects.filter(pk=run_id)
            if claim_token is not None:
                runs = runs.filter(claim_token=claim_token)
            if not runs.update(event_seq=F("event_seq") + 1):
                return False
            run = SyncRun.objects.get(pk=run_id)
        event = run_snapshot(run)
    except Exception:
        logger.warning("[SYNC_TASK] could not build progress for run %s", run_id, exc_info=True)
        return False
    return send_event(run.pk, run.team_id, event)


def send_event(run_id, team_id, event):
    """Send one event to the team's group (once to each open page). Logs and returns False on failure."""
    message = {"type": "sync.progress", "event": event}
    try:
        layer = get_channel_layer()
        if layer is None:
            return False
        loop = _server_loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(team_group(team_id), message), loop)
        else:
            async_to_sync(layer.group_send)(team_group(team_id), message)
        return True
    except Exception:
        # Progress is news, not the truth: a dead Redis must not fail the sync.
        logger.warning("[SYNC_TASK] could not publish progress for run %s", run_id, exc_info=True)
        return False


class ProgressPublisher:
    """Publishes a run's snapshot at most once per interval, plus every state change.

    ``publish()`` may be called as often as convenient (after every page);
    calls inside the interval are coalesced into the next one. ``flush()``
    sends what is pending (the heartbeat thread calls it).
    """

    def __init__(self, lease, interval=None, clock=time.monotonic):
        self.lease = lease
        self.interval = settings.SYNC_PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self.clock = clock
        self._last_sent = None
        self._pending = False
        self._lock = threading.Lock()
        self.sent = 0

    def publish(self, *, force=False):
        with self._lock:
            now = self.clock()
            due = self._last_sent is None or now - self._last_sent >= self.interval
            if not (force or due):
                self._pending = True
                return False
            self._last_sent = now
            self._pending = False
        return self._send()

    def flush(self):
        with self._lock:
            if not self._pending:
                return False
        return self.publish(force=True)

    def _send(self):
        self.sent += 1
        return publish(self.lease.run_id, claim_token=self.lease.token)
