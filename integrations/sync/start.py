"""``start_sync``: the only way a sync starts (onboarding, Retry, admin, CLI, automatic recovery)."""

import logging

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from integrations.models import State, SyncRun, SyncRunRepository, Team, TrackedRepository
from integrations.sync.progress import publish

logger = logging.getLogger("integrations.sync")

# Runs a newer start replaces: active ones, and interrupted ones waiting to resume.
RESUMABLE = ("", SyncRun.Outcome.INTERRUPTED)


class SyncNotStarted(Exception):
    """The sync cannot start; the message says why, in words for the user."""


def start_sync(team, repositories, *, reason, full=False, include_members=True, enqueue=True, replaces=None):
    """Create a SyncRun for ``repositories`` of ``team``, supersede older active runs of them, enqueue it.

    Each repository gets a row of its own in the run (pending, zero counts).
    It resumes the pass an earlier run of it left unfinished, unless ``full``,
    which fetches every pull request again. ``enqueue=False`` is for the CLI's
    ``--inline``, which runs the actor's work in its own process. ``replaces``
    (a run the caller saw stalled) makes the start conditional: if another
    start replaced that run meanwhile, this one raises SyncNotStarted instead
    of starting a second recovery. Returns the new run.
    """
    from integrations.tasks import sync_historical_data_task

    if reason not in SyncRun.Reason.values:
        raise ValueError(f"unknown sync reason {reason!r}")
    repo_ids = sorted({r.pk if isinstance(r, TrackedRepository) else int(r) for r in repositories})
    with transaction.atomic():
        # One start at a time per team: two Retry clicks, or a Retry racing
        # an admin resync, must leave exactly one active run per repository.
        team = Team.objects.select_for_update().get(pk=team.pk)
        if not hasattr(team, "github"):
            raise SyncNotStarted("GitHub is not connected for this team.")
        if not team.github.organization_login:
            raise SyncNotStarted("Choose the team's GitHub organisation first.")
        repos = list(TrackedRepository.objects.filter(team=team, pk__in=repo_ids))
        if len(repos) != len(repo_ids):
            raise SyncNotStarted("Some repositories are not tracked by this team.")
        if not repos and not include_members:
            raise SyncNotStarted("Nothing to sync: choose at least one repository.")
        if replaces is not None and not SyncRun.objects.filter(pk=replaces.pk, outcome__in=RESUMABLE).exists():
            raise SyncNotStarted(f"Run {replaces.pk} was already replaced or finished.")
        run = SyncRun.objects.create(team=team, reason=reason, full=full, include_members=include_members)
        older = SyncRun.objects.filter(team=team, outcome__in=RESUMABLE).exclude(pk=run.pk)
        if repos:
            older = older.filter(repositories__in=repos)
        else:
            older = older.filter(repositories__isnull=True)
        superseded = list(older.values_list("pk", flat=True).distinct())
        if superseded:
            # Waits for a page the older run's worker is storing (its fenced write
            # holds the run row), so the checkpoints read below are its last ones.
            SyncRun.objects.filter(pk__in=superseded, outcome__in=RESUMABLE).update(
                outcome=SyncRun.Outcome.SUPERSEDED, superseded_by=run, finished_at=timezone.now()
            )
        resume = {} if full else passes_in_progress(repos)
        SyncRunRepository.objects.bulk_create(
            [SyncRunRepository(run=run, repository=r, checkpoint=resume.get(r.pk, {})) for r in repos]
        )
        TrackedRepository.objects.filter(pk__in=[r.pk for r in repos]).update(
            sync_status=TrackedRepository.Status.PENDING
        )
        # Enqueue only once the run is committed, or a fast worker finds no row.
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run, sync_historical_data_task))
        # Pages open on the team's earlier runs move to this one.
        transaction.on_commit(lambda: publish(run.pk))
    logger.info(
        "[SYNC_TASK] start_sync team=%s run=%s reason=%s repos=%s full=%s superseded=%s",
        team.pk,
        run.pk,
        reason,
        [r.full_name for r in repos],
        full,
        superseded,
    )
    return run


def skip_run(run, now=None):
    """End a stalled run as skipped (a person chose to go on without it); False if it is not stalled.

    The outcome is written only if nothing changed meanwhile, and a worker
    that comes back to it later is fenced out by it.
    """
    now = now or timezone.now()
    state = run.get_state(now)
    if state.state != State.STALLED:
        return False
    skipped = SyncRun.objects.filter(pk=run.pk, outcome=run.outcome, heartbeat_at=run.heartbeat_at).update(
        outcome=SyncRun.Outcome.SKIPPED,
        error=f"Skipped while stalled: {state.reason}",
        finished_at=now,
        claim_token="",
    )
    if skipped:
        logger.info("[SYNC_TASK] run=%s skipped while stalled", run.pk)
        publish(run.pk)
    return bool(skipped)


def incomplete_repositories(run):
    """The repositories ``run`` did not complete (what a Retry or a recovery of it syncs)."""
    rows = run.repository_rows.exclude(status=SyncRunRepository.Status.COMPLETE)
    return list(TrackedRepository.objects.filter(pk__in=rows.values("repository_id")))


def passes_in_progress(repositories):
    """{repository id: checkpoint} of each repository whose latest run left a pass unfinished."""
    latest = SyncRunRepository.objects.filter(repository=OuterRef("pk")).order_by("-run_id")
    latest_ids = (
        TrackedRepository.objects.filter(pk__in=[r.pk for r in repositories])
        .annotate(row=Subquery(latest.values("pk")[:1]))
        .values_list("row", flat=True)
    )
    rows = SyncRunRepository.objects.filter(pk__in=[pk for pk in latest_ids if pk is not None])
    return {
        row.repository_id: row.checkpoint
        for row in rows.exclude(status=SyncRunRepository.Status.COMPLETE)
        if row.checkpoint.get("pass")
    }


def _enqueue(run, actor):
    message = actor.send(run.pk)
    SyncRun.objects.filter(pk=run.pk, message_id="").update(**message_fields(message))


def message_fields(message):
    """What a run records of the message that will run it (the watcher looks the broker key up)."""
    return {"message_id": message.message_id, "broker_key": message.options.get("redis_message_id", "")}
