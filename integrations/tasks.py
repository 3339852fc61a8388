"""Dramatiq actors. They receive ids, never objects."""

import dramatiq
from django.conf import settings
from dramatiq.middleware import CurrentMessage

from integrations.models import SyncRun
from integrations.sync.runner import run_sync
from integrations.sync.start import message_fields


@dramatiq.actor(
    queue_name="sync",
    # A sync is hours at worst for a very large organisation; past this the
    # message is killed and the run is resumed from its checkpoints.
    time_limit=settings.SYNC_TIME_LIMIT_SECONDS * 1000,
    # GitHub failures are retried inside the client and reported per
    # repository; only a lost database connection escapes to be retried here,
    # and a retry reclaims the run once its heartbeat is stale.
    max_retries=3,
    min_backoff=int(settings.SYNC_STALL_SECONDS * 1000),
    max_backoff=int(settings.SYNC_STALL_SECONDS * 4000),
    # No notify_shutdown: on SIGTERM the sync stops itself at a safe point
    # (integrations/shutdown.py) and records the run as interrupted, resumable.
)
def sync_historical_data_task(run_id):
    message = CurrentMessage.get_current_message()
    summary = run_sync(run_id, message_id=message.message_id if message else "", requeue=_requeue)
    return None if summary is None else summary.outcome


# A worker shutting down still hands messages to its idle threads: a delay
# lets it finish stopping before the requeued run becomes visible.
REQUEUE_DELAY_MS = int(min(10.0, settings.SYNC_STALL_SECONDS / 2) * 1000)


def _requeue(run_id):
    """Queue an interrupted run again, recording the new message so the status compares the right task."""
    message = sync_historical_data_task.send_with_options(args=(run_id,), delay=REQUEUE_DELAY_MS)
    SyncRun.objects.filter(pk=run_id).update(**message_fields(message))
