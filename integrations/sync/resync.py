"""Operator-requested resyncs (admin actions): start_sync per team, or a polite refusal saying why."""

from dataclasses import dataclass
from itertools import groupby

from integrations.models import SyncRun
from integrations.sync.start import SyncNotStarted, start_sync

# A stalled run may be replaced by a resync (that is how an operator fixes it);
# a live one may not: two workers would sync the same repositories.
LIVE_STATES = ("queued", "running", "waiting")


@dataclass
class ResyncResult:
    team: object
    repositories: list
    run: SyncRun | None = None
    refusal: str = ""
    left_out: str = ""  # repositories not started because a live run is syncing them, and why


def resync(repositories, *, full=False, include_members=False, reason=SyncRun.Reason.ADMIN, skip_live=False):
    """Start one run per team for ``repositories``; returns a ResyncResult per team.

    A team with a live run on some of the repositories is refused, or with
    ``skip_live``, resynced without those (the result says which it left out).
    """
    repositories = sorted(repositories, key=lambda r: (r.team_id, r.full_name))
    results = []
    for _, group in groupby(repositories, key=lambda r: r.team_id):
        repos = list(group)
        team = repos[0].team
        results.append(
            _resync_team(team, repos, full=full, include_members=include_members, reason=reason, skip_live=skip_live)
        )
    return results


def _resync_team(team, repos, *, full, include_members, reason, skip_live):
    result = ResyncResult(team=team, repositories=repos)
    if not hasattr(team, "github"):
        result.refusal = f"{team}: GitHub is not connected; a team member must connect it first."
        return result
    live = [
        run
        for run in SyncRun.objects.filter(team=team, outcome="", repositories__in=repos).distinct()
        if run.get_state().state in LIVE_STATES
    ]
    if live and skip_live:
        busy = {r.pk: run for run in live for r in run.repositories.all()}
        left = [r for r in repos if r.pk in busy]
        repos = [r for r in repos if r.pk not in busy]
        include_members = include_members and not any(run.include_members for run in live)
        result.left_out = "; ".join(
            f"{r.full_name} (run {busy[r.pk].pk} is {busy[r.pk].get_state().state})" for r in left
        )
        result.repositories = repos
    if live and not (skip_live and repos):
        described = ", ".join(f"run {run.pk} ({run.get_state().state})" for run in live)
        result.refusal = f"{team}: {described} is still syncing these repositories; wait for it or let it stall."
        return result
    try:
        result.run = start_sync(team, repos, reason=reason, full=full, include_members=include_members)
    except SyncNotStarted as exc:
        result.refusal = f"{team}: {exc}"
    return result
