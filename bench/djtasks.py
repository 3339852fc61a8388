"""Steps the harness runs inside Django, with the app's own models and functions.

``python -m bench.djtasks COMMAND [options]`` in the environment of
``bench.servers.server_env`` (``DJANGO_SETTINGS_MODULE=project.settings``,
the bench database, the emulator): each command prints one JSON object on
its last line of stdout. Nothing here changes product code; the functions
are the app's (``track_repositories``, ``start_sync``, ``RunLease``,
``ProgressPublisher``, ``send_event``), called as the app calls them.

Commands:

- ``member``: track the organisation's repositories for team ``bench`` (the
  emulator's listing, as onboarding does) and make a user of that team.
- ``fake-run``: a run of the team that looks alive (claimed, heartbeat now),
  for ``publish`` to report progress on.
- ``publish``: what a worker does while it syncs, at its throttled rate: per
  tick a fenced write (heartbeat, a repository's ``prs_synced``), then
  ``ProgressPublisher.publish`` (``progress.publish``: the next seq, ``run_snapshot``,
  ``send_event``). Records the wall-clock time of each ``send_event`` call
  by seq.
- ``start-runs``: ``start_sync`` once per tracked repository (one run each,
  queued for the workers), for the threads scenario.
- ``runs``: the state of the given runs (started, finished, outcome, counts).
- ``shell-timings``: ``GET /onboarding/repos/`` through Django's test
  ``Client`` in this process (no network), timed per request.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

BENCH_TEAM = "bench"
USERNAME, PASSWORD = "bench-user", "bench-password"


def setup() -> None:
    import django

    django.setup()


def emit(value) -> None:
    print(json.dumps(value, default=str), flush=True)


# --- data ------------------------------------------------------------------


def _track() -> list:
    """Track every repository of team ``bench``'s organisation, as GitHub (the emulator) lists them."""
    from integrations.github.client import GitHubClient
    from integrations.models import Team
    from integrations.sync.repositories import track_repositories

    team = Team.objects.get(slug=BENCH_TEAM)
    integration = team.github
    with GitHubClient(integration.get_access_token()) as client:
        return track_repositories(team, client.iter_org_repos(integration.organization_login))


def member(username: str = USERNAME, password: str = PASSWORD, track: bool = True) -> dict:
    """Track the team's repositories (the organisation's listing) and add a signed-in-able user to the team."""
    from django.contrib.auth import get_user_model

    from integrations.models import Team

    team = Team.objects.get(slug=BENCH_TEAM)
    tracked = _track() if track else []
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        user = get_user_model().objects.create_user(username, password=password)
    team.members.add(user)
    return {
        "team_id": team.pk,
        "user_id": user.pk,
        "username": username,
        "password": password,
        "repositories": [r.full_name for r in tracked],
    }


def fake_run(repositories: int) -> dict:
    """A run of ``repositories`` tracked repositories that a worker holds right now (claimed, beating)."""
    from django.utils import timezone

    from integrations.models import SyncRun, Team, TrackedRepository

    team = Team.objects.get(slug=BENCH_TEAM)
    repos = list(team.repositories.order_by("full_name")[:repositories])
    now = timezone.now()
    token = uuid.uuid4().hex
    # An earlier harness run is over: it must not go stalled and be pushed to the team's pages meanwhile.
    SyncRun.objects.filter(team=team, message_id="bench-inline", outcome="").update(
        outcome=SyncRun.Outcome.SUPERSEDED, finished_at=now
    )
    run = SyncRun.objects.create(
        team=team,
        reason=SyncRun.Reason.CLI,
        include_members=False,
        started_at=now,
        heartbeat_at=now,
        heartbeat_note="bench: publishing progress",
        # Not a UUID: an inline run, which by design has no task record to compare with.
        message_id="bench-inline",
        claim_token=token,
        attempts=1,
    )
    run.repositories.set(repos, through_defaults={"status": "syncing", "prs_total": 100_000})
    TrackedRepository.objects.filter(pk__in=[r.pk for r in repos]).update(
        sync_status=TrackedRepository.Status.SYNCING, prs_synced=0, prs_total=100_000
    )
    return {"run_id": run.pk, "team_id": team.pk, "token": token, "repositories": [r.full_name for r in repos]}


def publish(run_id: int, token: str, count: int, interval: float, start_at: float = 0.0) -> dict:
    """``count`` progress events of run ``run_id``, one per ``interval`` s, as the worker publishes them.

    Returns ``{"published": {seq: wall-clock seconds of the send_event call}, "sent": [...]}``.
    ``start_at`` (wall clock) delays the first event, so a caller can line up its clients first.
    """
    from django.db import close_old_connections
    from django.db.models import F

    from integrations.models import SyncRun, SyncRunRepository
    from integrations.sync import progress
    from integrations.sync.lease import RunLease
    from integrations.sync.progress import ProgressPublisher

    published: dict[int, float] = {}
    results: list[bool] = []
    original = progress.send_event

    def timed_send_event(run_pk, team_id, event):
        published[event["seq"]] = time.time()
        ok = original(run_pk, team_id, event)
        results.append(bool(ok))
        return ok

    progress.send_event = timed_send_event
    try:
        lease = RunLease(SyncRun.objects.select_related("team").get(pk=run_id), token)
        publisher = ProgressPublisher(lease, interval=interval)
        rows = list(lease.run.repository_rows.order_by("repository__full_name").values_list("pk", flat=True))
        if start_at:
            time.sleep(max(0.0, start_at - time.time()))
        started = time.monotonic()
        for n in range(count):
            time.sleep(max(0.0, started + n * interval - time.monotonic()))
            # A page stored: the fenced write (heartbeat), a repository's progress.
            with lease.fenced(note=f"bench page {n + 1}"):
                SyncRunRepository.objects.filter(pk=rows[n % len(rows)]).update(
                    prs_synced=F("prs_synced") + 100, prs_written=F("prs_written") + 100
                )
            publisher.publish(force=True)
    finally:
        progress.send_event = original
        close_old_connections()
    return {"published": published, "sent": results, "count": count, "interval": interval}


def start_runs(include_members: bool = False, track: bool = False) -> dict:
    """``start_sync`` per tracked repository of team ``bench`` (each queued for the workers).

    ``track`` first tracks the organisation's repositories (``member``'s listing, no user made).
    """
    from integrations.models import SyncRun, Team
    from integrations.sync.start import start_sync

    if track:
        _track()
    team = Team.objects.get(slug=BENCH_TEAM)
    runs = []
    started = time.time()
    for repo in team.repositories.order_by("full_name"):
        run = start_sync(team, [repo], reason=SyncRun.Reason.CLI, include_members=include_members)
        runs.append(run.pk)
    return {"runs": runs, "enqueue_s": time.time() - started, "enqueued_at": started}


def start_one_run(include_members: bool = True) -> dict:
    """``start_sync`` of every tracked repository of team ``bench`` in one run (queued), as onboarding does."""
    from integrations.models import SyncRun, Team
    from integrations.sync.start import start_sync

    team = Team.objects.get(slug=BENCH_TEAM)
    run = start_sync(
        team, list(team.repositories.all()), reason=SyncRun.Reason.ONBOARDING, include_members=include_members
    )
    return {"run_id": run.pk, "team_id": team.pk}


def runs(run_ids: list[int]) -> dict:
    from django.db.models import Count

    from integrations.models import PullRequest, PullRequestReview, SyncRun

    out = []
    for run in SyncRun.objects.filter(pk__in=run_ids).annotate(repos=Count("repositories")):
        out.append(
            {
                "run_id": run.pk,
                "created_at": run.created_at.timestamp(),
                "started_at": run.started_at.timestamp() if run.started_at else None,
                "finished_at": run.finished_at.timestamp() if run.finished_at else None,
                "outcome": run.outcome,
                "error": run.error,
                "event_seq": run.event_seq,
                "repos": run.repos,
            }
        )
    return {
        "runs": out,
        "prs": PullRequest.objects.count(),
        "reviews": PullRequestReview.objects.count(),
    }


def shell_timings(count: int, warmup: int, username: str, fresh_connection: bool = False) -> dict:
    """``count`` GETs of the repos page shell through the test Client, in this process (no network).

    The test Client keeps the database connection between requests; ``fresh_connection`` closes it
    after each one (outside the timing), so each request opens its own, as under daphne with the
    default ``CONN_MAX_AGE=0``.
    """
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=username))
    times, statuses = [], set()
    body = b""
    for n in range(warmup + count):
        if fresh_connection:
            connection.close()
        started = time.perf_counter()
        response = client.get("/onboarding/repos/")
        elapsed = time.perf_counter() - started
        statuses.add(response.status_code)
        body = response.content
        if n >= warmup:
            times.append(elapsed * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get("/onboarding/repos/")
    return {
        "ms": times,
        "statuses": sorted(statuses),
        "has_trigger": b'hx-get="/onboarding/repos/fetch/"' in body,
        "has_indicator": b"Fetching repositories from GitHub" in body,
        "bytes": len(body),
        "queries": len(queries.captured_queries),
    }


# --- command line ----------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.djtasks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("member")
    p.add_argument("--username", default=USERNAME)
    p.add_argument("--password", default=PASSWORD)
    p.add_argument("--no-track", action="store_true")
    p = sub.add_parser("fake-run")
    p.add_argument("--repositories", type=int, default=4)
    p.add_argument("--member", action="store_true", help="first make the member (``member``), in the same process")
    p = sub.add_parser("publish")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--interval", type=float, required=True)
    p.add_argument("--start-at", type=float, default=0.0)
    p = sub.add_parser("start-runs")
    p.add_argument("--include-members", action="store_true")
    p.add_argument("--track", action="store_true")
    p = sub.add_parser("start-one-run")
    p = sub.add_parser("runs")
    p.add_argument("run_ids", type=int, nargs="+")
    p = sub.add_parser("shell-timings")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--username", default=USERNAME)
    p.add_argument("--fresh-connection", action="store_true")
    args = parser.parse_args(argv)
    setup()
    if args.command == "member":
        emit(member(args.username, args.password, track=not args.no_track))
    elif args.command == "fake-run":
        made = member() if args.member else {}
        emit({"member": made, **fake_run(args.repositories)})
    elif args.command == "publish":
        emit(publish(args.run, args.token, args.count, args.interval, args.start_at))
    elif args.command == "start-runs":
        emit(start_runs(args.include_members, args.track))
    elif args.command == "start-one-run":
        emit(start_one_run())
    elif args.command == "runs":
        emit(runs(args.run_ids))
    elif args.command == "shell-timings":
        emit(shell_timings(args.count, args.warmup, args.username, args.fresh_connection))
    return 0


if __name__ == "__main__":
    sys.exit(main())
