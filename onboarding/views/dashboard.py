"""The dashboard: the team's synced repositories with their counts, and what a team does with them.

Sync now (the whole team, or one repository) and Stop tracking act on the
team's own repositories only; the work is in ``integrations``.
"""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.models import SyncRun
from integrations.sync.progress import describe_state
from integrations.sync.start import SyncNotStarted, start_sync
from integrations.tracking import UntrackRefused, untrack_repository
from onboarding.progress_view import headline
from onboarding.views._helpers import team_required


@team_required
def dashboard(request):
    team = request.team
    # Counted in the one query that lists the repositories, whatever their number.
    repositories = list(
        team.repositories.annotate(
            prs_stored=Count("pull_requests", distinct=True),
            reviews_stored=Count("pull_requests__reviews"),
        ).order_by("full_name")
    )
    latest_run = team.sync_runs.order_by("-created_at", "-pk").first()
    latest_state = describe_state(latest_run, timezone.now()) if latest_run else None
    return render(
        request,
        "onboarding/dashboard.html",
        {
            "team": team,
            "repositories": repositories,
            "prs_stored": sum(r.prs_stored for r in repositories),
            "reviews_stored": sum(r.reviews_stored for r in repositories),
            "members_count": team.github_members.count(),
            "latest_run": latest_run,
            "latest_state": latest_state,
            "latest_headline": headline(latest_state) if latest_state else "",
        },
    )


def _team_repository(request, value):
    """The team's tracked repository with the id ``value``; 404 for a malformed id or another team's."""
    if not (value.isascii() and value.isdigit()):
        raise Http404("No such repository.")
    repository = request.team.repositories.filter(pk=value).first()
    if repository is None:
        raise Http404("No such repository for this team.")
    return repository


@require_POST
@team_required
def sync_now(request):
    """An incremental sync of one repository (``repo``), or of every tracked one and the members; then its page."""
    if "repo" in request.POST:
        repositories, include_members = [_team_repository(request, request.POST["repo"])], False
    else:
        repositories, include_members = list(request.team.repositories.all()), True
    try:
        # RETRY: a person asked for this sync and watches it, as after a Retry.
        run = start_sync(request.team, repositories, reason=SyncRun.Reason.RETRY, include_members=include_members)
    except SyncNotStarted as exc:
        messages.error(request, f"The sync could not start: {exc}")
        return redirect("onboarding:dashboard")
    return redirect(f"{reverse('onboarding:sync_progress')}?run={run.pk}")


@require_POST
@team_required
def untrack_repo(request):
    """Stop tracking the repository ``repo``, with its pull requests and reviews, unless a sync includes it."""
    repository = _team_repository(request, request.POST.get("repo", ""))
    try:
        untracked = untrack_repository(request.team, repository)
    except UntrackRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"{untracked.full_name} is no longer tracked: its {untracked.pull_requests} pull requests "
            f"and {untracked.reviews} reviews were deleted.",
        )
    return redirect("onboarding:dashboard")
