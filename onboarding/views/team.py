"""Step 1: the team a signed-in user acts for, created or chosen among theirs."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from onboarding.forms import TeamForm
from onboarding.views._helpers import SESSION_TEAM, current_team


@login_required
def choose_team(request):
    """GET lists the user's teams and a form for a new one; POST picks one (``team``) or creates one (``name``)."""
    teams = request.user.teams.order_by("name", "pk")
    form = TeamForm(user=request.user)
    status = 200
    if request.method == "POST":
        if "team" in request.POST:
            # Only among the user's own teams: an id of someone else's team is refused, not trusted.
            team = teams.filter(pk=_int_or_none(request.POST["team"])).first()
            if team is not None:
                request.session[SESSION_TEAM] = team.pk
                return redirect("onboarding:start")
            status = 400
        else:
            form = TeamForm(request.POST, user=request.user)
            if form.is_valid():
                try:
                    team = form.save()
                except ValidationError as error:
                    form.add_error("name", error)
                else:
                    request.session[SESSION_TEAM] = team.pk
                    return redirect("onboarding:start")
            status = 400
    context = {
        "teams": teams,
        "current": current_team(request),
        "form": form,
        "unknown_team": request.method == "POST" and "team" in request.POST,
    }
    return render(request, "onboarding/team.html", context, status=status)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
