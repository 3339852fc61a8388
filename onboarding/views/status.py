"""``/onboarding/sync/status/``: a sync's state as JSON, for people and tools (the progress page does not poll it).

It reads the database and django-dramatiq's task record only; it never calls GitHub.
"""

from functools import wraps

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integrations.models import SyncRun
from integrations.sync.discrepancies import find_discrepancies, task_for_run
from integrations.sync.progress import run_snapshot
from onboarding.views._helpers import current_team


def _team_member_json(view):
    """Like ``team_required``, but answers in JSON (401, 403) instead of redirecting: callers are tools."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error(401, "Sign in first.")
        team = current_team(request)
        if team is None:
            return _error(403, "You are not a member of a team, or have not chosen which of your teams to use.")
        request.team = team
        return view(request, *args, **kwargs)

    return wrapped


@require_GET
@never_cache
@_team_member_json
def sync_status(request):
    """The team's latest run, or ``?run=<id>`` of the team's runs."""
    runs = SyncRun.objects.filter(team=request.team)
    run_id = request.GET.get("run")
    if run_id is None:
        run = runs.order_by("-created_at", "-pk").first()
        if run is None:
            return _error(404, "This team has no sync yet.")
    else:
        run = runs.filter(pk=run_id).first() if run_id.isascii() and run_id.isdigit() else None
        if run is None:
            return _error(404, "No such sync for this team.")
    now = timezone.now()
    task = task_for_run(run)
    body = run_snapshot(run, now)
    body.update(
        created_at=_iso(run.created_at),
        heartbeat_age_seconds=int((now - run.heartbeat_at).total_seconds()) if run.heartbeat_at else None,
        message_id=run.message_id or None,
        task=None if task is None else {"status": task.status, "updated_at": _iso(task.updated_at)},
        discrepancies=find_discrepancies(run, task, now),
    )
    return JsonResponse(body)


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _iso(value):
    return value.isoformat() if value else None
