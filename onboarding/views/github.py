"""Step 2: connect GitHub through OAuth, then choose the organisation to sync."""

import logging

from django.conf import settings
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from integrations.github.errors import GitHubError, OAuthError
from onboarding import github_connection
from onboarding.forms import OrganizationForm
from onboarding.views._helpers import team_required

logger = logging.getLogger("onboarding")

# What went wrong, in words for the person who just came back from GitHub.
PROBLEMS = {
    "denied": (
        "GitHub access was not granted",
        "You (or GitHub) declined the request to connect, so nothing was connected.",
    ),
    "missing": (
        "This GitHub answer was already used or has expired",
        "The link GitHub sent you back with works only once, in the browser that started connecting.",
    ),
    "mismatch": (
        "This GitHub answer does not belong to this browser",
        "Its security code (the OAuth state) does not match the one we issued, so it was ignored.",
    ),
    "exchange": (
        "GitHub did not accept the sign-in code",
        "A sign-in code works once and for a few minutes; this one was refused, so nothing was connected.",
    ),
    "no_code": ("GitHub sent no sign-in code", "The answer from GitHub was incomplete."),
    "not_configured": (
        "GitHub sign-in is not configured",
        "Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET to the OAuth app's values and restart.",
    ),
}


def _callback_url(request):
    return request.build_absolute_uri(reverse("onboarding:github_callback"))


def _problem(request, kind, detail="", status=400):
    title, explanation = PROBLEMS.get(kind, ("Connecting GitHub failed", ""))
    context = {"title": title, "explanation": explanation, "detail": detail}
    return render(request, "onboarding/github_error.html", context, status=status)


@require_http_methods(["GET", "POST"])
@team_required
def connect(request):
    """GET explains what is asked of GitHub; POST sends the browser to GitHub's approval page."""
    if not (settings.GITHUB_CLIENT_ID and settings.GITHUB_CLIENT_SECRET):
        return _problem(request, "not_configured", status=503)
    if request.method == "POST":
        return redirect(github_connection.authorize_url(request.session, _callback_url(request)))
    integration = getattr(request.team, "github", None)
    context = {"integration": integration, "scope": github_connection.OAUTH_SCOPE}
    return render(request, "onboarding/github_connect.html", context)


@require_GET
@team_required
def callback(request):
    """Where GitHub sends the browser back: check ``state``, trade the code for a token, store it."""
    params = request.GET
    verdict = github_connection.pop_state(request.session, params.get("state"))
    if verdict != "ok":
        logger.warning("GitHub OAuth callback refused for team %s: state %s", request.team.pk, verdict)
        return _problem(request, verdict)
    if params.get("error"):
        if params["error"] == "access_denied":
            return _problem(request, "denied")
        return _problem(request, "other", detail=params.get("error_description") or params["error"])
    if not params.get("code"):
        return _problem(request, "no_code")
    try:
        token, scopes = github_connection.exchange_code(params["code"], _callback_url(request))
    except OAuthError as error:
        logger.warning("GitHub OAuth code exchange failed for team %s: %s", request.team.pk, error)
        return _problem(request, "exchange", detail=str(error))
    integration = github_connection.save_connection(request.team, request.user, token, scopes)
    try:
        logins = github_connection.visible_org_logins(integration)
    except GitHubError as error:
        return _problem(
            request, "other", detail=f"Connected, but listing your organisations failed: {error}", status=502
        )
    if len(logins) == 1:
        github_connection.choose_organization(integration, logins[0])
        return redirect("onboarding:select_repos")
    return redirect("onboarding:github_organization")


@require_http_methods(["GET", "POST"])
@team_required
def choose_organization(request):
    """The organisation to sync, among those the stored token sees; chosen for the user when there is one."""
    integration = getattr(request.team, "github", None)
    if integration is None:
        return redirect("onboarding:github_connect")
    try:
        logins = github_connection.visible_org_logins(integration)
    except GitHubError as error:
        return _problem(request, "other", detail=str(error), status=502)
    if not logins:
        detail = (
            "Your GitHub account belongs to no organisation this app may see. An organisation may have to "
            "approve the app first (GitHub: organisation settings → Third-party access)."
        )
        return _problem(request, "other", detail=detail, status=200)
    initial = {"organization": integration.organization_login or logins[0]}
    form = OrganizationForm(request.POST or None, logins=logins, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            github_connection.choose_organization(integration, form.cleaned_data["organization"])
            return redirect("onboarding:select_repos")
        return render(request, "onboarding/choose_organization.html", {"form": form}, status=400)
    if len(logins) == 1:
        github_connection.choose_organization(integration, logins[0])
        return redirect("onboarding:select_repos")
    return render(request, "onboarding/choose_organization.html", {"form": form})
