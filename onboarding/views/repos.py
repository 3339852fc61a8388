"""Step 3: choose the repositories to sync, and start the sync.

The page shell never waits on GitHub: it renders at once and htmx loads the list from
``fetch_repos``, which turns every GitHub failure into a fragment saying what happened.
"""

import logging

from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations.github.errors import (
    BadCredentials,
    GitHubError,
    GitHubUnavailable,
    NoAccess,
    NotFound,
    RateLimited,
    TokenUnavailable,
)
from integrations.models import SyncRun
from integrations.sync.repositories import track_repositories
from integrations.sync.start import SyncNotStarted, start_sync
from onboarding import github_connection
from onboarding.views._helpers import team_required

logger = logging.getLogger("onboarding")

# Error class -> the name repos_error.html explains it by (first match wins: subclasses first).
PROBLEM_KINDS = (
    (RateLimited, "rate_limited"),
    (BadCredentials, "bad_credentials"),
    (TokenUnavailable, "token_unavailable"),
    (NoAccess, "no_access"),
    (NotFound, "no_access"),
    (GitHubUnavailable, "unavailable"),
    (GitHubError, "other"),
)


def _organization_step(team):
    """The step to go back to when ``team`` has no organisation chosen yet, else None."""
    integration = getattr(team, "github", None)
    if integration is None:
        return "onboarding:github_connect"
    if not integration.organization_login:
        return "onboarding:github_organization"
    return None


@require_GET
@team_required
def select_repos(request):
    """The page shell, at once and without calling GitHub; htmx then loads ``fetch_repos`` into it."""
    step = _organization_step(request.team)
    if step:
        return redirect(step)
    return _shell(request)


def _shell(request, error="", status=200):
    context = {"organization": request.team.github.organization_login, "error": error}
    return render(request, "onboarding/select_repos.html", context, status=status)


@require_GET
@team_required
def fetch_repos(request):
    """The repository list fragment, or ``partials/repos_error.html`` naming the problem.

    Errors answer 200: htmx swaps only 2xx answers into the page, and the fragment is the answer.
    ``?refresh=1`` (the Retry button) lists the repositories again instead of using the cache.
    """
    step = _organization_step(request.team)
    if step:
        return render(request, "onboarding/partials/repos_error.html", {"problem": step.split(":")[1]})
    integration = request.team.github
    try:
        repositories = github_connection.org_repositories(integration, refresh=request.GET.get("refresh") == "1")
    except GitHubError as error:
        kind = next(kind for cls, kind in PROBLEM_KINDS if isinstance(error, cls))
        logger.warning("listing the repositories of %s for team %s failed: %s", integration, request.team.pk, error)
        context = {"problem": kind, "error": error, "organization": integration.organization_login}
        return render(request, "onboarding/partials/repos_error.html", context)
    tracked = set(request.team.repositories.values_list("github_id", flat=True))
    context = {
        "organization": integration.organization_login,
        "repositories": repositories,
        "tracked": tracked,
        "selected_count": sum(1 for r in repositories if r.github_id in tracked),
    }
    return render(request, "onboarding/partials/repos_list.html", context)


@require_POST
@team_required
def start_repo_sync(request):
    """Track the chosen repositories (GitHub ids in ``repository``) and start their first sync.

    Every id must be a repository of the team's organisation as the stored token lists it;
    otherwise nothing is tracked or enqueued and the answer is 400.
    """
    step = _organization_step(request.team)
    if step:
        return redirect(step)
    try:
        chosen = {int(value) for value in request.POST.getlist("repository")}
    except ValueError:
        return _shell(request, "The selection was not understood. Choose the repositories again.", status=400)
    if not chosen:
        return _shell(request, "Choose at least one repository to sync.", status=400)
    integration = request.team.github
    try:
        listed = github_connection.org_repositories(integration)
    except GitHubError as error:
        return _shell(request, f"The selection could not be checked against GitHub: {error}", status=503)
    by_id = {r.github_id: r for r in listed}
    unknown = sorted(chosen - by_id.keys())
    if unknown:
        logger.warning("team %s asked to sync repositories outside %s: %s", request.team.pk, integration, unknown)
        message = (
            f"{len(unknown)} of the chosen repositories {'is' if len(unknown) == 1 else 'are'} not in the "
            f"organisation {integration.organization_login} as your GitHub connection sees it "
            f"(GitHub ids {', '.join(map(str, unknown))}). Nothing was started; choose again from the list."
        )
        return _shell(request, message, status=400)
    try:
        with transaction.atomic():
            tracked = track_repositories(request.team, [r for r in listed if r.github_id in chosen])
            start_sync(request.team, tracked, reason=SyncRun.Reason.ONBOARDING)
    except SyncNotStarted as error:
        return _shell(request, str(error), status=400)
    return redirect("onboarding:sync_progress")
