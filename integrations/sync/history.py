"""``sync_repository_history``: every pull request of one repository, with stats and reviews.

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
from contextlib import nullcontext
from dataclasses import dataclass

from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.models import PullRequest, PullRequestReview, TrackedRepository
from integrations.sync.prefetch import Prefetched

logger = logging.getLogger("integrations.sync")

PR_FIELDS = [
    "number",
    "title",
    "author_login",
    "state",
    "draft",
    "created_at",
    "updated_at",
    "merged_at",
    "closed_at",
    "additions",
    "deletions",
    "changed_files",
    "commits_count",
]
REVIEW_FIELDS = ["reviewer_login", "state", "submitted_at"]
# An incremental pass usually finds a handful of changes: ask for a small
# first page rather than 100 PRs that are mostly unchanged.
INCREMENTAL_FIRST_PAGE = 25


class IncompleteSync(Exception):
    """GitHub reports more pull requests than the pass stored."""


@dataclass
class RepositoryResult:
    prs_written: int = 0
    reviews_written: int = 0
    pages: int = 0
    mode: str = "full"


def sync_repository_history(repository, run, *, client, lease):
    """Sync one repository's pull requests and reviews, checkpointing after every page.

    Resumes the pass recorded in the repository's checkpoint, if any. Returns a
    RepositoryResult; raises the client's typed errors, ``IncompleteSync``, or
    ``RunFenced`` when this worker no longer owns ``run``.
    """
    checkpoint = _pass_checkpoint(repository, run)
    mode = checkpoint["pass"]
    with lease.fenced(note=f"{repository.full_name}: starting"):
        TrackedRepository.objects.filter(pk=repository.pk).update(
            sync_status=TrackedRepository.Status.SYNCING, checkpoint=checkpoint, last_error=""
        )
    logger.info(
        "[SYNC_TASK] run=%s repo=%s start (%s pass, resuming at page %s)",
        run.pk,
        repository.full_name,
        mode,
        checkpoint["page"],
    )
    result = RepositoryResult(mode=mode)
    total = _walk_pages(repository, checkpoint, result, client=client, lease=lease)
    synced = _finish_pass(repository, run, checkpoint, total or 0, lease=lease)
    logger.info(
        "[SYNC_TASK] run=%s repo=%s complete: %s pass, %s pages, %s PRs and %s reviews written, %s of %s stored",
        run.pk,
        repository.full_name,
        mode,
        result.pages,
        result.prs_written,
        result.reviews_written,
        synced,
        total,
    )
    return result


def _pass_checkpoint(repository, run):
    """The pass in progress (to resume), or a new one: incremental after a completed pass, else full."""
    checkpoint = dict(repository.checkpoint or {})
    if checkpoint.get("pass"):
        return checkpoint
    watermark = None if run.full else checkpoint.get("watermark")
    return {
        "pass": "incremental" if watermark else "full",
        "cursor": None,
        "page": 0,
        "pass_max_updated": None,
        "watermark": watermark,
    }


def _walk_pages(repository, checkpoint, result, *, client, lease):
    """Store every page of the pass, checkpointing each; returns GitHub's last reported total."""
    owner, name = repository.owner_and_name
    mode = checkpoint["pass"]
    floor = parse_datetime(checkpoint["watermark"]) if mode == "incremental" else None
    page_size_before = client.page_size
    pages = client.iter_pull_request_pages(
        owner, name, after=checkpoint["cursor"], direction="ASC" if mode == "full" else "DESC"
    )
    if mode == "full":
        # A full pass reads every page: fetch the next while this one is stored.
        pages = Prefetched(pages, name=f"prefetch-{repository.full_name}")
    else:
        # An incremental pass usually stops after its first page: no lookahead, a small first page.
        client.page_size = min(client.page_size, INCREMENTAL_FIRST_PAGE)
        pages = nullcontext(pages)
    total = repository.prs_total
    try:
        with pages as iterator:
            for page in iterator:
                total = page.total_count
                prs = list(page.pull_requests)
                if floor is not None:
                    prs = [pr for pr in prs if pr.updated_at >= floor]
                _store_and_checkpoint(repository, checkpoint, page, prs, result, client=client, lease=lease)
                if len(prs) < len(page.pull_requests) or not page.has_next_page:
                    break  # below the watermark: the rest was stored by an earlier pass
    finally:
        if mode == "incremental":
            client.page_size = max(client.page_size, page_size_before)
    return total


def _store_and_checkpoint(repository, checkpoint, page, prs, result, *, client, lease):
    checkpoint["page"] += 1
    checkpoint["cursor"] = page.end_cursor
    newest = max((pr.updated_at for pr in prs), default=None)
    if newest and (not checkpoint["pass_max_updated"] or newest > parse_datetime(checkpoint["pass_max_updated"])):
        checkpoint["pass_max_updated"] = newest.isoformat()
    note = _page_note(repository.full_name, checkpoint["page"], page.total_count, client.page_size, checkpoint["pass"])
    with lease.fenced(note=note):
        written, reviews = _store_page(repository, prs)
        synced = PullRequest.objects.filter(repository=repository).count()
        TrackedRepository.objects.filter(pk=repository.pk).update(
            checkpoint=checkpoint, prs_synced=synced, prs_total=page.total_count
        )
    result.pages += 1
    result.prs_written += written
    result.reviews_written += reviews
    if lease.publisher:
        lease.publisher.publish()


def _finish_pass(repository, run, checkpoint, total, *, lease):
    """Complete the repository if nothing is missing, with its new watermark; returns how many PRs are stored."""
    synced = PullRequest.objects.filter(repository=repository).count()
    if synced < total:
        # Start over with a full pass next time: something was skipped.
        with lease.fenced():
            TrackedRepository.objects.filter(pk=repository.pk).update(checkpoint={}, prs_synced=synced, prs_total=total)
        raise IncompleteSync(
            f"GitHub reports {total} pull requests in {repository.full_name} but only {synced} were stored. "
            "Retry to fetch them all again."
        )
    watermark = max(filter(None, [checkpoint.get("watermark"), checkpoint["pass_max_updated"]]), default=None)
    if watermark is None and synced:
        newest = PullRequest.objects.filter(repository=repository).aggregate(m=Max("updated_at"))["m"]
        watermark = newest.isoformat() if newest else None
    with lease.fenced(note=f"{repository.full_name}: complete"):
        TrackedRepository.objects.filter(pk=repository.pk).update(
            checkpoint={"watermark": watermark},
            sync_status=TrackedRepository.Status.COMPLETE,
            prs_synced=synced,
            prs_total=total,
            last_error="",
            last_synced_at=timezone.now(),
        )
    return synced


def _page_note(full_name, page, total, page_size, mode):
    if mode == "full" and total:
        return f"{full_name}: page {page} of {max(page, math.ceil(total / max(page_size, 1)))}"
    return f"{full_name}: page {page} (changes since the last sync)"


def _store_page(repository, prs):
    """Upsert a page of pull requests and their reviews on GitHub ids. Returns (prs, reviews) written."""
    if not prs:
        return 0, 0
    # With update_conflicts, Django sets each object's primary key (RETURNING,
    # on PostgreSQL and SQLite), so reviews need no second query for them.
    stored = PullRequest.objects.bulk_create(
        [
            PullRequest(
                repository=repository,
                github_id=pr.github_id,
                number=pr.number,
                title=pr.title,
                author_login=pr.author_login,
                state=pr.state,
                draft=pr.draft,
                created_at=pr.created_at,
                updated_at=pr.updated_at,
                merged_at=pr.merged_at,
                closed_at=pr.closed_at,
                additions=pr.additions,
                deletions=pr.deletions,
                changed_files=pr.changed_files,
                commits_count=pr.commits_count,
            )
            for pr in prs
        ],
        update_conflicts=True,
        unique_fields=["repository", "github_id"],
        update_fields=PR_FIELDS,
    )
    reviews = [
        PullRequestReview(
            pull_request_id=row.pk,
            github_id=review.github_id,
            reviewer_login=review.reviewer_login,
            state=review.state,
            submitted_at=review.submitted_at,
        )
        for pr, row in zip(prs, stored, strict=True)
        for review in pr.reviews
    ]
    if reviews:
        PullRequestReview.objects.bulk_create(
            reviews,
            update_conflicts=True,
            unique_fields=["pull_request", "github_id"],
            update_fields=REVIEW_FIELDS,
            batch_size=1000,
        )
    return len(prs), len(reviews)
