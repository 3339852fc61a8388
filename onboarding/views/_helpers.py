"""Access checks shared by the onboarding views: who is signed in, and which team they act for."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect

SESSION_TEAM = "onboarding_team_id"


def current_team(request):
    """The team the signed-in user acts for: the one chosen in this session, or their only team."""
    teams = request.user.teams.all()
    chosen = request.session.get(SESSION_TEAM)
    if chosen is not None:
        team = teams.filter(pk=chosen).first()
        if team is not None:
            return team
    candidates = list(teams[:2])
    return candidates[0] if len(candidates) == 1 else None


def team_required(view):
    """Sign-in required, and a team: without one, the user is sent to create or choose it."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        team = current_team(request)
        if team is None:
            return redirect("onboarding:team")
        request.team = team
        return view(request, *args, **kwargs)

    return wrapped
