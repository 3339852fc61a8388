"""Stopping tracking a repository: its synced data goes with it, never from under a live sync."""

from dataclasses import dataclass

from django.db import transaction

from integrations.models import PullRequest, PullRequestReview, SyncRun, Team
from integrations.sync.start import RESUMABLE


class UntrackRefused(Exception):
    """The repository cannot be untracked now; the message says why, in words for the user."""


@dataclass(frozen=True)
class Untracked:
    full_name: str
    pull_requests: int
    reviews: int


def untrack_repository(team, repository):
    """Delete ``repository`` (a TrackedRepository of ``team``) with its pull requests and reviews.

    Refused (UntrackRefused) while a run that includes it is not over: its
    worker would go on writing pull requests of a repository that no longer
    exists. An interrupted run counts too, as a worker resumes it. Returns
    what was deleted.
    """
    if repository.team_id != team.pk:
        raise UntrackRefused(f"{repository.full_name} is not tracked by the team {team.name}.")
    with transaction.atomic():
        # The lock start_sync takes: no run can start on this repository between the check and the delete.
        Team.objects.select_for_update().get(pk=team.pk)
        live = SyncRun.objects.filter(team=team, repositories=repository, outcome__in=RESUMABLE).order_by("pk")
        run = live.first()
        if run is not None:
            state = run.get_state().state
            raise UntrackRefused(
                f"{repository.full_name} is part of sync run {run.pk}, which is {state}. "
                "Stop tracking it once that sync is over."
            )
        _, deleted = repository.delete()
    return Untracked(
        full_name=repository.full_name,
        pull_requests=deleted.get(PullRequest._meta.label, 0),
        reviews=deleted.get(PullRequestReview._meta.label, 0),
    )
