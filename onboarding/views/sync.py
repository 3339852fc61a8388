"""The sync progress page, and its ways out: Retry, and Skip (or Continue) to the dashboard.

The page renders once; every later update arrives over its websocket
(``onboarding.consumers.SyncProgressConsumer``), rendered by the same partials.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from integrations.models import State, SyncRun
from integrations.sync.start import SyncNotStarted, incomplete_repositories, skip_run, start_sync
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
    """On to the dashboard, saying truly what becomes of the run.

    A stalled run is ended as skipped (a late worker is fenced out); a live
    one goes on in the background; an ended one stays as it ended.
    """
    run = _team_run(request, request.POST.get("run") or None)
    if run is None:
        return redirect("onboarding:dashboard")
    skipped = skip_run(run)
    state = run.get_state(timezone.now())
    if skipped:
        missing = len(incomplete_repositories(run))
        messages.info(
            request,
            f"You skipped sync run {run.pk}: {missing} of {run.repositories.count()} repositories were not synced. "
            "Sync them from here with Sync now whenever you like.",
        )
    elif state.is_active or state.state == State.INTERRUPTED:
        messages.info(request, "The sync goes on in the background; this dashboard fills in as it progresses.")
    elif state.state in (State.FAILED, State.PARTLY_FAILED):
        messages.warning(
            request,
            f"Sync run {run.pk} ended with failures: {state.reason} Retry it from its page, or Sync now from here.",
        )
    return redirect("onboarding:dashboard")
