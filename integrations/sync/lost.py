"""Runs waiting for a worker whose message no longer exists anywhere, queued again.

A Redis restarted without persistence forgets every queued message; the
embedded broker lives in the web process and dies with it (and a command run
beside it enqueues into its own, gone when it exits); an enqueue that failed
leaves a run with no message at all. Such a run would wait for ever while
idle workers wait for work. The watcher looks for the message of every run
waiting for a worker: where it is gone, the run is queued again, saying why;
where it is there while workers are alive, the run is merely queued behind
others (``queue_seen_at``), not stalled.

A late duplicate (the old message turning up after all) is harmless: the
first delivery claims the run, the other exits quietly (``RunLease.claim``).
"""

import logging
import uuid
from datetime import timedelta

import dramatiq
from django.db.models import Q
from django.utils import timezone

from integrations.enqueued_here import PROCESS_STARTED, enqueued_here
from integrations.models import SyncRun

logger = logging.getLogger("integrations.sync")

# Between saving a run and recording its message id, the message exists and
# the run does not name it yet: only a run waiting longer than this is looked up.
GRACE_SECONDS = 5.0
PLACEHOLDER = "requeueing-"


def waiting_runs():
    """Runs waiting for a worker to pick up (or resume) them."""
    never_started = Q(outcome="", started_at__isnull=True)
    released = Q(outcome=SyncRun.Outcome.INTERRUPTED, claim_token="")
    return SyncRun.objects.filter(never_started | released)


def holds(run, exists):
    """Whether the broker holds the run's message, given ``messages_exist``'s answer."""
    if exists is EMBEDDED:
        return enqueued_here(run.message_id)
    return exists[run.broker_key]


EMBEDDED = object()


def messages_exist(keys):
    """{broker key: True if the Redis broker holds that message (queued, delayed, or fetched, not acknowledged)}.

    ``EMBEDDED`` for the in-process broker: ``holds`` asks this process's memory instead.
    """
    broker = dramatiq.get_broker()
    client = getattr(broker, "client", None)
    if client is None:
        return EMBEDDED
    from integrations.tasks import sync_historical_data_task

    # Dramatiq's Redis broker keeps each message under its own key (options["redis_message_id"],
    # new at every enqueue, retries included) in "<namespace>:<queue>.msgs" (".DQ.msgs" while
    # delayed) from enqueue until the worker acknowledges it.
    queue = f"{broker.namespace}:{sync_historical_data_task.queue_name}"
    real = [key for key in keys if key]
    pipe = client.pipeline(transaction=False)
    for key in real:
        pipe.hexists(f"{queue}.msgs", key)
        pipe.hexists(f"{queue}.DQ.msgs", key)
    found = pipe.execute() if real else []
    exists = dict.fromkeys(keys, False)
    for n, key in enumerate(real):
        exists[key] = bool(found[2 * n] or found[2 * n + 1])
    return exists


def last_enqueued(run):
    """When the run's current message was (or should have been) sent."""
    times = [run.created_at, run.requeued_at]
    if run.outcome == SyncRun.Outcome.INTERRUPTED:
        times.append(run.finished_at)
    return max(t for t in times if t is not None)


def check_waiting_runs(runs, now=None):
    """With live workers: note the runs whose message waits in the broker, queue again those whose is gone.

    Returns the runs queued again.
    """
    now = now or timezone.now()
    runs = list(runs)
    exists = messages_exist([run.broker_key for run in runs])
    seen, requeued = [], []
    for run in runs:
        if holds(run, exists):
            seen.append(run.pk)
        elif (now - last_enqueued(run)).total_seconds() >= GRACE_SECONDS:
            if requeue(run, _why_lost(run, now, embedded=exists is EMBEDDED), now):
                requeued.append(run)
    if seen:
        SyncRun.objects.filter(pk__in=seen).update(queue_seen_at=now)
    return requeued


def requeue(run, reason, now):
    """Send the run's message again, once however many watchers try; False if the run changed meanwhile."""
    from integrations.sync.start import message_fields
    from integrations.tasks import sync_historical_data_task

    placeholder = f"{PLACEHOLDER}{uuid.uuid4().hex}"
    # Conditional on the message the caller found missing: of two watchers, one wins.
    claimed = (
        waiting_runs()
        .filter(pk=run.pk, message_id=run.message_id)
        .update(
            message_id=placeholder,
            broker_key="",
            requeued_at=now,
            requeue_reason=reason,
        )
    )
    if not claimed:
        return False
    try:
        message = sync_historical_data_task.send(run.pk)
    except Exception:
        # The placeholder names no message: the next pass finds it missing and tries again.
        logger.exception("[SYNC_TASK] run=%s could not be queued again", run.pk)
        return False
    SyncRun.objects.filter(pk=run.pk, message_id=placeholder).update(**message_fields(message))
    logger.warning("[SYNC_TASK] run=%s message=%s lost; %s", run.pk, run.message_id or "none", reason)
    return True


def _why_lost(run, now, *, embedded=False):
    if not run.message_id or run.message_id.startswith(PLACEHOLDER):
        return _at("Its task never reached the broker", now)
    if embedded:
        if last_enqueued(run) < PROCESS_STARTED:
            return _at("Its task was lost when the app restarted", now)
        return _at("Its task was queued in another process, outside this app's queue", now)
    restarted = _redis_started_at()
    if restarted is not None and restarted > last_enqueued(run):
        return _at("Its task was lost when Redis restarted", now)
    return _at("Its task was no longer in the broker", now)


def _at(what, now):
    return f"{what}; queued again at {timezone.localtime(now):%H:%M:%S}."


def _redis_started_at():
    """The latest moment Redis can have started: its uptime counts whole seconds up to the moment it is read.

    (Measured from the pass's start instead, a slow pass put the start before a message queued just
    ahead of the restart, and the loss was blamed on the broker.)
    """
    try:
        uptime = dramatiq.get_broker().client.info("server")["uptime_in_seconds"]
    except Exception:
        logger.warning("[SYNC_TASK] cannot read Redis's uptime", exc_info=True)
        return None
    # Redis counts its uptime on a cached clock, which may run up to a second ahead: one second of slack.
    return timezone.now() - timedelta(seconds=int(uptime) - 1)
