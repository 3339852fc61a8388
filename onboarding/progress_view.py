"""What the sync progress page shows, built from a run snapshot: states in words, percentages, ETA, ages.

The page and the websocket consumer both call ``progress_context`` and render
the same partials with it, so a fragment pushed over the socket is exactly
what a reload would show. ``progress_context`` is pure (a snapshot and a
clock in, a dict out); ``load_progress_context`` adds what only the database
knows (a newer run of the team).
"""

import json
from datetime import datetime
from functools import lru_cache

from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from integrations.models import (
    ACTIVE_STATES,
    TROUBLE_STATES,
    ErrorCode,
    RunState,
    State,
    SyncRun,
    TrackedRepository,
)
from integrations.sync.progress import run_snapshot

# The page's headline for each state, and for some states, per cause (RunState.cause).
HEADLINES = {
    State.QUEUED: "Queued",
    State.RUNNING: "Syncing",
    State.WAITING: "Waiting for GitHub's rate limit",
    State.STALLED: "Stalled",
    State.INTERRUPTED: "Interrupted: it resumes on the next worker",
    State.SUCCEEDED: "Complete",
    State.PARTLY_FAILED: "Partly failed",
    State.FAILED: "Failed",
    State.SUPERSEDED: "Replaced by a newer sync",
    State.SKIPPED: "Skipped",
}
CAUSE_HEADLINES = {
    (State.STALLED, "no_worker"): "Stalled: no worker is running",
    (State.STALLED, "worker_died"): "Stalled: the worker stopped responding",
    (State.STALLED, "not_picked_up"): "Stalled: no worker picked it up",
    (State.STALLED, "not_resumed"): "Stalled: no worker resumed it",
    (State.FAILED, ErrorCode.TOKEN): "Failed: GitHub no longer accepts the team's token",
    (State.FAILED, ErrorCode.NOT_CONNECTED): "Failed: GitHub is not connected",
    (State.FAILED, ErrorCode.REPOSITORY_GONE): "Failed: a repository is gone from GitHub",
    (State.FAILED, ErrorCode.NO_ACCESS): "Failed: no access to a repository",
    (State.FAILED, ErrorCode.GITHUB_DOWN): "Failed: GitHub was unavailable",
    (State.FAILED, ErrorCode.RATE_LIMITED): "Failed: GitHub's rate limit",
    (State.SUPERSEDED, "resumed"): "Resumed by a newer sync",
}
# The one or two actions that help, by state (and cause): sync_state.html renders each.
ACTIONS = {
    State.QUEUED: ("continue",),
    State.RUNNING: ("continue",),
    State.WAITING: ("continue",),
    State.INTERRUPTED: ("continue",),
    State.STALLED: ("retry", "skip"),
    State.FAILED: ("retry", "skip"),
    State.PARTLY_FAILED: ("retry", "dashboard"),
    State.SUPERSEDED: ("show_newer",),
    State.SKIPPED: ("dashboard",),
    State.SUCCEEDED: ("dashboard",),
}
CAUSE_ACTIONS = {
    # No worker: Retry would only queue another run behind this one.
    (State.STALLED, "no_worker"): ("skip",),
    (State.FAILED, ErrorCode.TOKEN): ("reconnect", "skip"),
    (State.FAILED, ErrorCode.NOT_CONNECTED): ("reconnect", "skip"),
    # A repository that is gone fails again: its row offers Stop tracking instead.
    (State.FAILED, ErrorCode.REPOSITORY_GONE): ("skip",),
    (State.PARTLY_FAILED, ErrorCode.REPOSITORY_GONE): ("dashboard",),
}
REPOSITORY_LABELS = {
    TrackedRepository.Status.PENDING: "Waiting to start",
    TrackedRepository.Status.SYNCING: "Syncing",
    TrackedRepository.Status.COMPLETE: "Complete",
    TrackedRepository.Status.FAILED: "Failed",
    # The run ended before it reached the repository, or while syncing it.
    "not_started": "Not started",
    "stopped": "Stopped",
}
# A rate measured over less than this says nothing yet.
MIN_SECONDS_FOR_ETA = 2.0


def ws_url(run_id):
    return f"/ws/sync/{run_id}/"


def headline(state):
    """The page's headline for a ``RunState``."""
    return CAUSE_HEADLINES.get((state.state, state.cause), HEADLINES.get(state.state, state.state))


def progress_context(snapshot, *, now, newer_run_id=None):
    """The template context for ``snapshot`` (``run_snapshot``'s dict) at ``now``."""
    state, cause = snapshot["state"], snapshot.get("cause") or ""
    started = _parse(snapshot.get("started_at"))
    finished = _parse(snapshot.get("finished_at"))
    heartbeat = _parse(snapshot.get("heartbeat_at"))
    rate = _rate(snapshot["repositories"], started, finished or now)
    active = state in ACTIVE_STATES
    # Time left only while a worker is at it: a stalled run has none to give.
    estimating = state in (State.RUNNING, State.WAITING)
    repositories = _repository_rows(snapshot["repositories"], rate, heartbeat, now, active=estimating)
    heartbeat_age = _seconds(now - heartbeat) if heartbeat and active else None
    context = {
        "run_id": snapshot["run_id"],
        "seq": snapshot["seq"],
        "ws_url": ws_url(snapshot["run_id"]),
        "state": state,
        "cause": cause,
        "headline": headline(RunState(state, cause=cause)),
        "reason": snapshot.get("reason") or "",
        "actions": CAUSE_ACTIONS.get((state, cause), ACTIONS.get(state, ())),
        "note": snapshot.get("note") or "",
        "resumed_automatically": snapshot.get("run_reason") == SyncRun.Reason.AUTOMATIC and active,
        "is_active": active,
        "in_trouble": state in TROUBLE_STATES,
        "heartbeat_age": heartbeat_age,
        "heartbeat_age_text": age_text(heartbeat_age),
        "members": snapshot.get("members_synced"),
        "include_members": snapshot.get("include_members", True),
        "repositories": repositories,
        "prs_synced": sum(r["prs_synced"] for r in repositories),
        "overall": _overall(repositories, rate, active=estimating),
        "newer_run_id": snapshot.get("superseded_by") if state == State.SUPERSEDED else newer_run_id,
        "summary": None,
    }
    if state == State.SUCCEEDED:
        context["summary"] = {
            "repositories": len(repositories),
            "prs": context["prs_synced"],
            "reviews": snapshot.get("reviews"),
            "members": snapshot.get("members_synced"),
            "duration": duration_text(_seconds(finished - started)) if started and finished else "",
        }
    return context


def load_progress_context(run, now):
    """``progress_context`` for ``run`` read from the database, with a newer run of the team if any."""
    return progress_context(run_snapshot(run, now), now=now, newer_run_id=newer_run_id(run))


def newer_run_id(run):
    """The id of the team's latest run if it was created after ``run``, else None."""
    return (
        SyncRun.objects.filter(team_id=run.team_id)
        .filter(Q(created_at__gt=run.created_at) | Q(created_at=run.created_at, pk__gt=run.pk))
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )


def render_update(context):
    """The websocket message for a snapshot: each fragment the page includes, swapped by id (htmx OOB)."""
    # Every page open on a run gets the same event at the same moment, so
    # their contexts are equal: one render per process serves them all.
    return _render_update(json.dumps(context, sort_keys=True, default=str))


@lru_cache(maxsize=256)
def _render_update(key):
    context = json.loads(key)
    return render_to_string("onboarding/partials/sync_state.html", context) + render_to_string(
        "onboarding/partials/sync_repos.html", context
    )


def render_event(event, *, now, newer_run_id=None):
    """The websocket message for a worker's event (a snapshot with its seq): rendered once per process.

    Every page open on the run gets the event at the same moment; the first
    to ask renders it (its ``now`` stands for all), the others reuse the text.
    """
    key = (event["run_id"], event["seq"], event["state"], newer_run_id)
    text = _EVENT_TEXTS.get(key)
    if text is None:
        text = render_update(progress_context(event, now=now, newer_run_id=newer_run_id))
        _EVENT_TEXTS[key] = text
        if len(_EVENT_TEXTS) > EVENT_TEXTS_KEPT:
            del _EVENT_TEXTS[next(iter(_EVENT_TEXTS))]  # the oldest
    return text


EVENT_TEXTS_KEPT = 64
_EVENT_TEXTS = {}


def render_switch(context):
    """The websocket message that swaps the whole live area for another run (and so its websocket)."""
    return render_to_string("onboarding/partials/sync_live.html", context)


def age_text(seconds):
    """ "3 s ago", "5 min ago", "2 h ago"; empty for None. sync_progress.js counts on in the same words."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def duration_text(seconds):
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def eta_text(seconds):
    if seconds < 60:
        return "less than a minute left"
    return f"about {duration_text(round(seconds / 60) * 60)} left"


def _repository_rows(repositories, rate, heartbeat, now, *, active):
    rows = []
    # Repositories are synced one after another in this order, so a pending
    # one finishes after everything before it.
    queue_ahead = 0.0
    for repo in repositories:
        status, synced, total = repo["status"], repo["prs_synced"], repo["prs_total"]
        eta = ""
        if active and status in ("syncing", "pending") and queue_ahead is not None:
            if rate and total is not None:
                queue_ahead += max(total - synced, 0) / rate
                eta = eta_text(queue_ahead)
            else:
                queue_ahead = None  # an unknown size ahead: no honest estimate for what follows
        if status == "syncing" and heartbeat:
            activity = _seconds(now - heartbeat)
        else:
            last = _parse(repo.get("finished_at"))
            activity = _seconds(now - last) if last and status in ("complete", "failed") else None
        rows.append(
            {
                "id": repo["id"],
                "full_name": repo["full_name"],
                "status": status,
                "status_label": REPOSITORY_LABELS.get(status, status),
                "prs_synced": synced,
                "prs_total": total,
                "percent": _percent(status, synced, total),
                "eta": eta,
                "activity_age": activity,
                "activity_text": age_text(activity),
                "error": (repo.get("error") or "") if status == "failed" else "",
                "gone": status == "failed" and repo.get("error_code") == ErrorCode.REPOSITORY_GONE,
            }
        )
    return rows


def _overall(rows, rate, *, active):
    """The run as a whole: repositories complete, pull requests synced of the known total, percent, time left."""
    if not rows:
        return None
    done = sum(1 for r in rows if r["status"] == "complete")
    totals = [r["prs_total"] for r in rows if r["status"] != "complete"]
    known = all(t is not None for t in totals)
    prs_total = sum(r["prs_total"] or 0 for r in rows) if known else None
    synced = sum(r["prs_synced"] for r in rows)
    # Of the pull requests while every total is known; otherwise no honest percentage, unless all are done.
    if prs_total:
        percent = min(100, synced * 100 // prs_total)
    elif known or done == len(rows):
        percent = 100 if done == len(rows) else 0
    else:
        percent = None
    eta = ""
    remaining = [r for r in rows if r["status"] in ("syncing", "pending")]
    if active and rate and known and remaining:
        eta = eta_text(sum(max((r["prs_total"] or 0) - r["prs_synced"], 0) for r in remaining) / rate)
    return {
        "repositories": len(rows),
        "complete": done,
        "prs_synced": synced,
        "prs_total": prs_total,
        "percent": percent,
        "eta": eta,
    }


def _rate(repositories, started, until):
    """Pull requests this run wrote per second since it started, or None before there is enough to tell."""
    if started is None:
        return None
    elapsed = (until - started).total_seconds()
    written = sum(r.get("prs_written") or 0 for r in repositories)
    if elapsed < MIN_SECONDS_FOR_ETA or written <= 0:
        return None
    return written / elapsed


def _percent(status, synced, total):
    if status == "complete":
        return 100
    if not total:
        return None if total is None else 0
    return min(100, synced * 100 // total)


def _parse(value):
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(value)


def _seconds(delta):
    return max(0, int(delta.total_seconds()))
