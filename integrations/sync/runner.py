"""One delivery of a sync run: claim it, sync members and each repository, record the outcome."""

import logging
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone
from dramatiq.middleware import Shutdown

from integrations.github import errors
from integrations.models import ErrorCode, GitHubIntegration, SyncRun, SyncRunRepository, TrackedRepository
from integrations.sync.history import RUN_ERRORS, IncompleteSync, sync_repositories
from integrations.sync.lease import RunFenced, RunLease
from integrations.sync.members import sync_github_members
from integrations.sync.progress import ProgressPublisher, publish

logger = logging.getLogger("integrations.sync")

INTERRUPTED_MESSAGE = "The worker was shut down mid-sync; the sync resumes from its checkpoint on the next worker."

# Failures that concern one repository: the others go on.
REPOSITORY_ERRORS = (errors.NotFound, errors.NoAccess, errors.GraphQLError, errors.GitHubUnavailable, IncompleteSync)


@dataclass
class RunSummary:
    run_id: int
    outcome: str = ""
    error: str = ""
    members: int | None = None
    repositories: dict = field(default_factory=dict)  # full_name -> "complete" | error text
    prs_written: int = 0
    reviews_written: int = 0
    requests: int = 0
    seconds: float = 0.0


def run_sync(run_id, *, message_id="", client_class=None, requeue=None):
    """Run one delivery of ``run_id``. Returns a RunSummary, or None if this delivery does not own the run.

    ``requeue(run_id)`` is called when a worker shutdown interrupts the run (the actor passes its own ``send``).
    """
    lease = RunLease.claim(run_id, message_id)
    if lease is None:
        run = SyncRun.objects.filter(pk=run_id).first()
        why = "does not exist" if run is None else f"is {run.get_state().state} and owned elsewhere"
        logger.info("[SYNC_TASK] run=%s message=%s: run %s; this delivery exits", run_id, message_id, why)
        return None
    run = lease.run
    # A resumed delivery goes on where the last one stopped: repositories it completed are not fetched again.
    rows = list(
        run.repository_rows.select_related("repository")
        .exclude(status=SyncRunRepository.Status.COMPLETE)
        .order_by("repository__full_name")
    )
    logger.info(
        "[SYNC_TASK] entry run=%s team=%s reason=%s repos=%s message=%s attempt=%s",
        run.pk,
        run.team_id,
        run.reason,
        [r.repository.full_name for r in rows],
        message_id,
        run.attempts,
    )
    summary = RunSummary(run_id=run.pk)
    started = time.monotonic()
    lease.publisher = ProgressPublisher(lease)
    lease.publisher.publish(force=True)
    try:
        with lease.heartbeating():
            _run(lease, run, rows, summary, client_class)
    except RunFenced:
        logger.info("[SYNC_TASK] run=%s was superseded or taken over; this worker stops", run.pk)
        return None
    except Shutdown:
        # SIGTERM (deploy, scale-in): the checkpoint of the last page is saved;
        # release the run and queue it again, so the next worker resumes it there.
        logger.info("[SYNC_TASK] run=%s interrupted by a worker shutdown; queued to resume", run.pk)
        lease.interrupt(INTERRUPTED_MESSAGE)
        summary.outcome = SyncRun.Outcome.INTERRUPTED
        if requeue is not None:
            requeue(run.pk)
        publish(run.pk)
        return summary
    except (OperationalError, InterfaceError):
        # The database went away: let Dramatiq retry the message; the run
        # will be claimable again once its heartbeat is stale.
        logger.exception("[SYNC_TASK] run=%s lost its database connection", run.pk)
        raise
    except Exception as exc:
        logger.exception("[SYNC_TASK] run=%s failed unexpectedly", run.pk)
        _finish(
            lease,
            summary,
            SyncRun.Outcome.FAILED,
            f"Unexpected error: {type(exc).__name__}: {exc}",
            ErrorCode.UNEXPECTED,
        )
        return summary
    finally:
        summary.seconds = round(time.monotonic() - started, 3)
    logger.info(
        "[SYNC_TASK] summary run=%s outcome=%s members=%s prs=%s reviews=%s requests=%s seconds=%s repos=%s",
        run.pk,
        summary.outcome,
        summary.members,
        summary.prs_written,
        summary.reviews_written,
        summary.requests,
        summary.seconds,
        summary.repositories,
    )
    return summary


def _run(lease, run, rows, summary, client_class):
    try:
        integration = GitHubIntegration.objects.select_related("team").get(team_id=run.team_id)
        token = integration.get_access_token()
    except GitHubIntegration.DoesNotExist:
        return _finish(
            lease,
            summary,
            SyncRun.Outcome.FAILED,
            "GitHub is not connected for this team. Connect it.",
            ErrorCode.NOT_CONNECTED,
        )
    except errors.TokenUnavailable as exc:
        logger.error("[SYNC_TASK] run=%s token unavailable: %s", run.pk, exc)
        return _finish(lease, summary, SyncRun.Outcome.FAILED, str(exc), ErrorCode.TOKEN)
    logger.info("[SYNC_TASK] run=%s token prefix=%s length=%s", run.pk, token[:4], len(token))

    if client_class is None:
        from integrations.github.client import GitHubClient as client_class
    client = client_class(token, waiter=lease.wait_until, on_attempt=lease.touch)
    codes = {}  # what failed -> its ErrorCode
    try:
        if run.include_members:
            try:
                summary.members = sync_github_members(
                    run.team, client=client, org=integration.organization_login, lease=lease
                )
                lease.update(members_synced=summary.members)
            except RUN_ERRORS as exc:
                return _finish(lease, summary, SyncRun.Outcome.FAILED, str(exc), error_code(exc))
            except REPOSITORY_ERRORS as exc:
                summary.repositories["members"] = str(exc)
                codes["members"] = error_code(exc)
            lease.publisher.publish(force=True)
        for row, outcome in sync_repositories(rows, run, client=client, lease=lease):
            repo = row.repository
            if isinstance(outcome, RUN_ERRORS):
                _fail_repository(lease, row, str(outcome), error_code(outcome))
                return _finish(lease, summary, SyncRun.Outcome.FAILED, str(outcome), error_code(outcome))
            if isinstance(outcome, REPOSITORY_ERRORS):
                logger.warning("[SYNC_TASK] run=%s repo=%s failed: %s", run.pk, repo.full_name, outcome)
                _fail_repository(lease, row, _repository_error(repo, outcome), error_code(outcome))
                summary.repositories[repo.full_name] = _repository_error(repo, outcome)
                codes[repo.full_name] = error_code(outcome)
            else:
                summary.repositories[repo.full_name] = "complete"
                summary.prs_written += outcome.prs_written
                summary.reviews_written += outcome.reviews_written
            lease.publisher.publish(force=True)
    finally:
        summary.requests = client.request_count
        client.close()
    failed = {name: why for name, why in summary.repositories.items() if why != "complete"}
    if failed:
        # Counted over the whole run: a resumed delivery completed some of its repositories before.
        statuses = list(run.repository_rows.values_list("status", flat=True))
        repositories = len(failed) - ("members" in failed)
        what = ["The members"] if "members" in failed else []
        if repositories:
            what.append(f"{repositories} of {len(statuses)} repositor{'y' if len(statuses) == 1 else 'ies'}")
        detail = "; ".join(f"{name}: {why}" for name, why in failed.items())
        # Partly: some repository's data is all there, and stays so.
        complete = SyncRunRepository.Status.COMPLETE in statuses
        outcome = SyncRun.Outcome.PARTLY_FAILED if complete else SyncRun.Outcome.FAILED
        message = f"{' and '.join(what)} failed. {detail}"
        return _finish(lease, summary, outcome, message, next(iter(codes.values())))
    return _finish(lease, summary, SyncRun.Outcome.SUCCEEDED, "")


def _repository_error(repo, exc):
    if isinstance(exc, errors.NotFound):
        return f"{repo.full_name} no longer exists on GitHub, or the token cannot see it. Remove it or check access."
    if isinstance(exc, errors.NoAccess):
        return f"The GitHub token has no access to {repo.full_name}. Ask an organisation owner to grant it."
    return str(exc)


def error_code(exc):
    """The ErrorCode of a failure: what a person can do about it."""
    if isinstance(exc, errors.BadCredentials | errors.TokenUnavailable):
        return ErrorCode.TOKEN
    if isinstance(exc, errors.NotFound):
        return ErrorCode.REPOSITORY_GONE
    if isinstance(exc, errors.NoAccess):
        return ErrorCode.NO_ACCESS
    if isinstance(exc, errors.RateLimited):
        return ErrorCode.RATE_LIMITED
    if isinstance(exc, errors.GitHubUnavailable | errors.GraphQLError):
        return ErrorCode.GITHUB_DOWN
    if isinstance(exc, IncompleteSync):
        return ErrorCode.INCOMPLETE
    return ErrorCode.UNEXPECTED


def _fail_repository(lease, row, message, code):
    with lease.fenced():
        SyncRunRepository.objects.filter(pk=row.pk).update(
            status=SyncRunRepository.Status.FAILED, error=message[:2000], error_code=code, finished_at=timezone.now()
        )
        TrackedRepository.objects.filter(pk=row.repository_id).update(
            sync_status=TrackedRepository.Status.FAILED, last_error=message[:2000]
        )


def _finish(lease, summary, outcome, error, code=""):
    try:
        lease.finish(outcome, error[:5000], code)
    except RunFenced:
        logger.info("[SYNC_TASK] run=%s superseded before it could record %s", lease.run_id, outcome)
        raise
    except DatabaseError:
        logger.exception("[SYNC_TASK] run=%s could not record its outcome %s", lease.run_id, outcome)
        raise
    summary.outcome = outcome
    summary.error = error
    if lease.publisher:
        lease.publisher.publish(force=True)
    return summary
