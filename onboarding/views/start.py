"""Where a signed-in user goes next: the first onboarding step not yet done."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

from integrations.models import SyncRun
from onboarding.views._helpers import current_team


@login_required
def next_step(request):
    team = current_team(request)
    if team is None:
        return redirect("onboarding:team")
    if not hasattr(team, "github"):
        return redirect("onboarding:github_connect")
    if not team.repositories.exists():
        return redirect("onboarding:select_repos")
    if SyncRun.objects.filter(team=team).exists():
        return redirect("onboarding:sync_progress")
    return redirect("onboarding:select_repos")
