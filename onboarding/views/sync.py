"""The sync progress page, and its two ways out of trouble: Retry and Skip.

The page renders once; every later update arrives over its websocket
(``onboarding.consumers.SyncProgressConsumer``), rendered by the same partials.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.models import SyncRun
from integrations.sync.start import SyncNotStarted, incomplete_repositories, start_sync
from onboarding.progress_view import load_progress_context
from onboarding.views._helpers import team_required


def _team_run(request, run_id):
    """The team's run ``run_id`` (404 for another team's or a malformed id), or its latest run for None."""
    runs = SyncRun.objects.filter(team=request.team)
    if run_id is None:
        return runs.order_by("-created_at", "-pk").first()
    if not (run_id.isascii() and run_id.isdigit()):
        raise Http404("No such sync.")
    run = runs.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such sync for this team.")
    return run


def _page_url(run):
    return f"{reverse('onboarding:sync_progress')}?run={run.pk}"


@team_required
def sync_progress(request):
    """The team's latest run, or ``?run=<id>`` of the team's runs."""
    run = _team_run(request, request.GET.get("run"))
    context = {"team": request.team, "run_id": None}
    if run is not None:
        context.update(load_progress_context(run, timezone.now()))
    return render(request, "onboarding/sync_progress.html", context)


@require_POST
@team_required
def retry_sync(request):
    """Start a new run of what the given run left incomplete, then show it."""
    run = _team_run(request, request.POST.get("run", ""))
    incomplete = incomplete_repositories(run)
    members_missing = run.include_members and run.members_synced is None
    if not incomplete and not members_missing:
        messages.info(request, "Everything this sync covers is already complete: there is nothing to retry.")
        return redirect(_page_url(run))
    try:
        new_run = start_sync(request.team, incomplete, reason=SyncRun.Reason.RETRY, include_members=members_missing)
    except SyncNotStarted as exc:
        messages.error(request, f"The sync could not start again: {exc}")
        return redirect(_page_url(run))
    return redirect(_page_url(new_run))


@require_POST
@team_required
def skip_sync(request):
    """On to the dashboard; the sync goes on in the background."""
    messages.info(request, "The sync goes on in the background; this dashboard fills in as it progresses.")
    return redirect("onboarding:dashboard")
