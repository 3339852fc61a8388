"""Where the database and the worker's task record disagree about a sync, in words a person can act on.

The run row (``SyncRun``) is written by our code; the task record
(django-dramatiq's ``Task``, keyed by the Dramatiq message id) is written by
the broker's AdminMiddleware around each delivery. When one process dies
between the two, they disagree, and that is the most useful clue to why a
sync stopped: the status endpoint, the progress page and the admin show it.
"""

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django_dramatiq.models import DATABASE_LABEL, Task

ENDED = {Task.STATUS_FAILED: "failed", Task.STATUS_SKIPPED: "skipped", Task.STATUS_DONE: "done"}


def task_for_run(run):
    """The django-dramatiq Task recorded for the run's message, or None.

    A run started inline (``sync_team --inline``) carries a message id that
    is not a UUID, and has no task record by design.
    """
    try:
        message_id = uuid.UUID(run.message_id)
    except ValueError:
        return None
    return Task.tasks.using(DATABASE_LABEL).filter(pk=message_id).first()


def find_discrepancies(run, task, now=None):
    """A list of ``{"code", "message"}`` dicts, one per disagreement between ``run`` and ``task``.

    Empty when they agree, and always empty for a finished run: once the
    outcome is stored, the task record can no longer mislead anyone.
    """
    now = now or timezone.now()
    state = run.get_state(now)
    if not state.is_active:
        return []
    stall = timedelta(seconds=settings.SYNC_STALL_SECONDS)
    if not run.message_id:
        return [
            _found(
                "not_enqueued",
                f"This sync is {state.state} in the database but was never handed to a worker: it has no task "
                "message. Retry to start it again; if that happens again, check that the web server can reach "
                "the broker (Redis).",
            )
        ]
    if task is None:
        if _is_uuid(run.message_id):
            return [
                _found(
                    "task_record_missing",
                    f"This sync was queued as message {run.message_id}, but the worker keeps no record of that "
                    "message, so nothing confirms it will run. If the sync does not move, Retry; an operator "
                    "should check that the worker runs with django_dramatiq's AdminMiddleware.",
                )
            ]
        return []  # an inline run: no broker, no record to compare with
    last_sign_of_life = max(t for t in (run.heartbeat_at, run.started_at, task.updated_at) if t is not None)
    silent = int((now - last_sign_of_life).total_seconds())

    if task.status in ENDED:
        # A second delivery of the same message (Redis requeues a message whose
        # worker looked dead) may still be working after the first one ended:
        # its heartbeat is then newer than the task record.
        if run.heartbeat_at and run.heartbeat_at > task.updated_at:
            return []
        return [_ended(task, state.state)]
    if task.status == Task.STATUS_RUNNING:
        if now - last_sign_of_life > stall:
            return [
                _found(
                    "worker_died",
                    f"The worker's record says this sync is running, but it has reported nothing for {silent} s: "
                    "the worker probably died mid-task (killed, out of memory, or its machine restarted). Retry "
                    "to resume from the last checkpoint, and check the worker's log for why it stopped.",
                )
            ]
        return []
    # Enqueued, or delayed for a retry: nothing should be working on it yet,
    # so it is overdue once it has waited past the stall window.
    if run.heartbeat_at and now - run.heartbeat_at <= stall:
        return []
    due = _due_at(task)
    waited = now - due
    if waited > stall:
        what = "has waited in the queue" if task.status == Task.STATUS_ENQUEUED else "has been due for a retry"
        return [
            _found(
                "task_not_picked_up",
                f"This sync's task {what} for {int(waited.total_seconds())} s and no worker has taken it: the "
                "worker is probably not running (start it with manage.py rundramatiq) or is busy with other "
                "syncs. It will start by itself once a worker is free.",
            )
        ]
    return []


def _ended(task, state):
    if task.status == Task.STATUS_FAILED:
        return _found(
            "task_failed",
            f"The worker's task for this sync failed, yet the sync is still {state} in the database, so it will "
            "not move. Retry to resume from where it stopped; the worker's log ([SYNC_TASK] lines) says why.",
        )
    if task.status == Task.STATUS_SKIPPED:
        return _found(
            "task_skipped",
            f"The worker skipped this sync's task without running it, yet the sync is still {state} in the "
            "database, so it will not move. Retry to start it again.",
        )
    return _found(
        "task_done",
        f"The worker finished this sync's task, yet the sync is still {state} in the database: the worker "
        "stopped without recording how the sync ended. Retry to resume from where it stopped.",
    )


def _due_at(task):
    """When the task was due to run: its retry time if it was delayed, else when it was queued."""
    if task.status == Task.STATUS_DELAYED:
        try:
            eta = task.message.options.get("eta")
        except Exception:  # an undecodable record: fall back to when it was written
            eta = None
        if isinstance(eta, int | float):
            return datetime.fromtimestamp(eta / 1000, tz=UTC)
    return task.updated_at


def _is_uuid(value):
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _found(code, message):
    return {"code": code, "message": message}
