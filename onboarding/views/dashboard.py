"""The dashboard: the team's synced repositories with their pull request and review counts."""

from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone

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
    latest_state = latest_run.get_state(timezone.now()) if latest_run else None
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
        },
    )
