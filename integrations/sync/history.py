"""``sync_repositories``: every pull request of each repository, with stats and reviews.

Passes, and why:

- a **full** pass walks pull requests ordered by ``updatedAt`` ascending. A PR
  updated while the pass runs moves to the end of that order, so the pass
  sees it again instead of missing it; the cursor after each stored page is
  the checkpoint a retry resumes from.
- an **incremental** pass (the repository has a watermark: the newest
  ``updatedAt`` of a completed pass) walks descending and stops at the first
  page reaching below the watermark, storing only what changed since.

A pass ends with a completeness check: a repository is complete only when
the database holds at least as many pull requests as GitHub reports.
"""

import logging
import math
from dataclasses import dataclass

from django.db.models import F, Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.github.errors import BadCredentials, GitHubError, RateLimited, TokenUnavailable
from integrations.models import PullRequest, SyncRunRepository, TrackedRepository
from integrations.shutdown import stop_here
from integrations.sync.prefetch import Prefetched
from integrations.sync.store import store_page

logger = logging.getLogger("integrations.sync")

INCREMENTAL_FIRST_PAGE = 25
# Failures that make every further request pointless: the run stops.
RUN_ERRORS = (BadCredentials, TokenUnavailable, RateLimited)


class IncompleteSync(Exception):
    """GitHub reports more pull requests than the pass stored."""


@dataclass
class RepositoryResult:
    prs_written: int = 0
    reviews_written: int = 0
    pages: int = 0
    mode: str = "full"


def sync_repository_history(row, run, *, client, lease):
    """Sync one repository of ``run`` (its ``SyncRunRepository`` row), checkpointing after every page.

    Returns a RepositoryResult; raises the client's typed errors,
    ``IncompleteSync``, or ``RunFenced`` when this worker no longer owns ``run``.
    """
    for _, outcome in sync_repositories([row], run, client=client, lease=lease):
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def sync_repositories(rows, run, *, client, lease):
    """Sync each repository of ``rows`` (the run's ``SyncRunRepository`` rows, repository selected) in turn.

    Yields ``(row, RepositoryResult or the error that failed it)``.

    GitHub is read in a background thread one page ahead of the database, across
    repositories too, so storing a page (and finishing a repository) overlaps the
    next request: the sync's time is GitHub's latency and little more. After an
    error that makes further requests pointless (``RUN_ERRORS``), it is yielded
    and the iteration ends. Raises ``RunFenced`` when this worker no longer owns ``run``.
    """
    current = None
    fetching = _fetch(rows, run, client)
    with Prefetched(fetching, name=f"prefetch-run-{run.pk}", check=stop_here) as items:
        for item in items:
            if current is None or item.row.pk != current.row.pk:
                if current is not None:
                    yield current.row, current.finish()
                current = _Pass(item.row, item.checkpoint, run, client=client, lease=lease)
            if isinstance(item.error, RUN_ERRORS):
                yield current.row, item.error
                return
            current.take(item)
    if current is not None:
        yield current.row, current.finish()


@dataclass
class _Item:
    row: SyncRunRepository
    checkpoint: dict
    page: object = None
    error: Exception | None = None


def _fetch(rows, run, client):
    """The fetching side (its own thread): every page of every repository's pass, in order."""
    for row in rows:
        checkpoint = _pass_checkpoint(row, run)
        owner, name = row.repository.owner_and_name
        incremental = checkpoint["pass"] == "incremental"
        floor = parse_datetime(checkpoint["watermark"]) if incremental else None
        size_before = client.page_size
        if incremental:
            # Usually a handful of changes: a small first page, not 100 mostly unchanged PRs.
            client.page_size = min(client.page_size, INCREMENTAL_FIRST_PAGE)
        try:
            pages = client.iter_pull_request_pages(
                owner, name, after=checkpoint["cursor"], direction="DESC" if incremental else "ASC"
            )
            for page in pages:
                yield _Item(row, checkpoint, page=page)
                if floor is not None and any(pr.updated_at < floor for pr in page.pull_requests):
                    break  # below the watermark: the rest was stored by an earlier pass
        except GitHubError as exc:
            yield _Item(row, checkpoint, error=exc)
            if isinstance(exc, RUN_ERRORS):
                return
        finally:
            if incremental:
                client.page_size = max(client.page_size, size_before)


def _pass_checkpoint(row, run):
    """The run's pass in progress (to resume), or a new one: incremental after a completed pass, else full."""
    checkpoint = dict(row.checkpoint or {})
    if checkpoint.get("pass"):
        return checkpoint
    watermark = None if run.full else (row.repository.checkpoint or {}).get("watermark")
    return {
        "pass": "incremental" if watermark else "full",
        "cursor": None,
        "page": 0,
        "pass_max_updated": None,
        "watermark": watermark,
    }


class _Pass:
    """The storing side of one repository's pass (the sync's own thread)."""

    def __init__(self, row, checkpoint, run, *, client, lease):
        self.row, self.repository, self.checkpoint, self.run = row, row.repository, checkpoint, run
        repository = self.repository
        self.client, self.lease = client, lease
        self.result = RepositoryResult(mode=checkpoint["pass"])
        self.total = row.prs_total if row.prs_total is not None else repository.prs_total
        self.error = None
        self.floor = parse_datetime(checkpoint["watermark"]) if checkpoint["pass"] == "incremental" else None
        with lease.fenced(note=f"{repository.full_name}: starting"):
            SyncRunRepository.objects.filter(pk=row.pk).update(
                status=SyncRunRepository.Status.SYNCING,
                checkpoint=checkpoint,
                error="",
                started_at=row.started_at or timezone.now(),
            )
            TrackedRepository.objects.filter(pk=repository.pk).update(
                sync_status=TrackedRepository.Status.SYNCING, last_error=""
            )
        logger.info(
            "[SYNC_TASK] run=%s repo=%s start (%s pass, resuming at page %s)",
            run.pk,
            repository.full_name,
            checkpoint["pass"],
            checkpoint["page"],
        )

    def take(self, item):
        if item.error is not None:
            self.error = item.error
            return
        page = item.page
        self.total = page.total_count
        prs = list(page.pull_requests)
        if self.floor is not None:
            prs = [pr for pr in prs if pr.updated_at >= self.floor]
        _store_and_checkpoint(self.row, self.checkpoint, page, prs, self.result, client=self.client, lease=self.lease)

    def finish(self):
        """The RepositoryResult, or the error that failed the repository."""
        if self.error is not None:
            return self.error
        try:
            synced = _finish_pass(self.row, self.checkpoint, self.total or 0, lease=self.lease)
        except IncompleteSync as exc:
            return exc
        logger.info(
            "[SYNC_TASK] run=%s repo=%s complete: %s pass, %s pages, %s PRs and %s reviews written, %s of %s stored",
            self.run.pk,
            self.repository.full_name,
            self.result.mode,
            self.result.pages,
            self.result.prs_written,
            self.result.reviews_written,
            synced,
            self.total,
        )
        return self.result


def _store_and_checkpoint(row, checkpoint, page, prs, result, *, client, lease):
    repository = row.repository
    checkpoint["page"] += 1
    checkpoint["cursor"] = page.end_cursor
    newest = max((pr.updated_at for pr in prs), default=None)
    if newest and (not checkpoint["pass_max_updated"] or newest > parse_datetime(checkpoint["pass_max_updated"])):
        checkpoint["pass_max_updated"] = newest.isoformat()
    note = _page_note(repository.full_name, checkpoint["page"], page.total_count, client.page_size, checkpoint["pass"])
    with lease.fenced(note=note):
        written, reviews = store_page(repository, prs)
        synced = PullRequest.objects.filter(repository=repository).count()
        SyncRunRepository.objects.filter(pk=row.pk).update(
            checkpoint=checkpoint,
            prs_synced=synced,
            prs_total=page.total_count,
            prs_written=F("prs_written") + written,
            reviews_written=F("reviews_written") + reviews,
        )
        TrackedRepository.objects.filter(pk=repository.pk).update(prs_synced=synced, prs_total=page.total_count)
    result.pages += 1
    result.prs_written += written
    result.reviews_written += reviews
    if lease.publisher:
        lease.publisher.publish()


def _finish_pass(row, checkpoint, total, *, lease):
    """Complete the repository if nothing is missing, with its new watermark; returns how many PRs are stored."""
    repository = row.repository
    synced = PullRequest.objects.filter(repository=repository).count()
    if synced < total:
        # Start over with a full pass next time: something was skipped.
        with lease.fenced():
            SyncRunRepository.objects.filter(pk=row.pk).update(checkpoint={}, prs_synced=synced, prs_total=total)
            TrackedRepository.objects.filter(pk=repository.pk).update(checkpoint={}, prs_synced=synced, prs_total=total)
        raise IncompleteSync(
            f"GitHub reports {total} pull requests in {repository.full_name} but only {synced} were stored. "
            "Retry to fetch them all again."
        )
    watermark = max(filter(None, [checkpoint.get("watermark"), checkpoint["pass_max_updated"]]), default=None)
    if watermark is None and synced:
        newest = PullRequest.objects.filter(repository=repository).aggregate(m=Max("updated_at"))["m"]
        watermark = newest.isoformat() if newest else None
    now = timezone.now()
    with lease.fenced(note=f"{repository.full_name}: complete"):
        SyncRunRepository.objects.filter(pk=row.pk).update(
            status=SyncRunRepository.Status.COMPLETE,
            checkpoint={},
            prs_synced=synced,
            prs_total=total,
            error="",
            finished_at=now,
        )
        TrackedRepository.objects.filter(pk=repository.pk).update(
            checkpoint={"watermark": watermark},
            sync_status=TrackedRepository.Status.COMPLETE,
            prs_synced=synced,
            prs_total=total,
            last_error="",
            last_synced_at=now,
        )
    return synced


def _page_note(full_name, page, total, page_size, mode):
    if mode == "full" and total:
        return f"{full_name}: page {page} of {max(page, math.ceil(total / max(page_size, 1)))}"
    return f"{full_name}: page {page} (changes since the last sync)"
