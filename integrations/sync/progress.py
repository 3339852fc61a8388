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
from django.utils import timezone

from integrations.models import RunState, SyncRun, SyncRunRepository

logger = logging.getLogger("integrations.sync")

_server_loop = None


def bind_event_loop(loop):
    """Embedded mode: events are handed to the web server's loop (the in-memory layer lives there)."""
    global _server_loop
    _server_loop = loop


def team_group(team_id):
    """Every event of the team's runs: a page follows its run, and switches to a newer one when it starts."""
    return f"sync.team.{team_id}"


def describe_state(run, now=None):
    """``run.get_state(now)``, and for a stall, the fact of how many workers are alive."""
    state = run.get_state(now)
    if state.state != "stalled":
        return state
    from integrations.workers import live_worker_count

    try:
        workers = live_worker_count()
    except Exception:
        logger.warning("[SYNC_TASK] cannot count live workers", exc_info=True)
        return state
    if workers == 0:
        fact = "No worker is running."
    elif run.started_at is None:
        fact = f"{workers} worker{'s are' if workers > 1 else ' is'} alive but busy with other syncs."
    else:
        fact = f"{workers} worker{'s are' if workers > 1 else ' is'} alive."
    return RunState(state.state, f"{state.reason} {fact}")


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
        "run_reason": run.reason,
        "note": run.heartbeat_note,
        "heartbeat_at": run.heartbeat_at.isoformat() if run.heartbeat_at else None,
        "waiting_until": run.waiting_until.isoformat() if run.waiting_until else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "members_synced": run.members_synced,
        "repositories": repos,
    }


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
        try:
            seq = self.lease.next_seq()
            if seq is None:
                return False
            run = SyncRun.objects.get(pk=self.lease.run_id)
            event = run_snapshot(run)
        except Exception:
            logger.warning("[SYNC_TASK] could not build progress for run %s", self.lease.run_id, exc_info=True)
            return False
        self.sent += 1
        return send_event(run.pk, run.team_id, event)
