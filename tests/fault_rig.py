"""The fault suite's rig: the production processes on the test database, and the database against GitHub.

- ``Stack``: the Procfile's ``web`` (daphne), ``worker`` (``rundramatiq``) and
  ``watcher`` (``sync_watcher``) as subprocesses on the test database
  (``tests.live_server.LiveApp``), with Redis keys under a prefix of their
  own and test-sized timings.
- ``session_key``: a signed-in session for a ``harness.http_client.Browser``
  and a ``harness.progress_page.ProgressPage``.
- ``assert_*``: the database equals the emulator's organisation.
"""

import requests
from django.conf import settings

from tests.live_server import LiveApp
from tests.services import wait_for

# Test-sized timings (defaults: stall 45 s, watch 2 s, progress 1 s, GitHub timeouts 5 s and 30 s);
# the heartbeat and the backoff are every live test's (tests.live_server.TIMINGS).
FAST_TIMINGS = {
    "SYNC_STALL_SECONDS": "3",
    "SYNC_WATCH_SECONDS": "0.5",
    "SYNC_PROGRESS_INTERVAL_SECONDS": "0.25",
    "GITHUB_CONNECT_TIMEOUT": "2",
    "GITHUB_READ_TIMEOUT": "2",
}


class Stack(LiveApp):
    """The production processes (production mode: ``REDIS_URL`` set) against the test database."""

    def __init__(self, emulator_url, redis_url, log_dir, **environment):
        super().__init__(settings, emulator_url, log_dir, redis_url, prefix="faults", **{**FAST_TIMINGS, **environment})

    @property
    def stall_seconds(self):
        return float(self.env["SYNC_STALL_SECONDS"])

    def live_workers(self):
        """Dramatiq workers that fetched from the broker in the last 15 s (what /healthz and the page count)."""
        return self.keys.workers_beating(within=15)


def session_key(user):
    """A signed-in session for ``user`` in the test database; its ``sessionid`` cookie value."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


# -- the emulator ------------------------------------------------------------------


def emulator_control(server, path, payload=None, method="POST"):
    response = requests.request(method, f"{server.url}/_emulator/{path}", json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


def reset_emulator(server, latency_ms):
    """No faults, zeroed counters, a fresh rate-limit budget, the module's latency."""
    emulator_control(server, "faults", method="DELETE")
    emulator_control(server, "stats/reset")
    emulator_control(server, "rate_limit/reset")
    emulator_control(server, "config", {"latency_ms": latency_ms})


# -- the database against the emulator ----------------------------------------------


def expected_repo(server, full_name):
    """The emulator's PRs of ``full_name`` in ``stored_repo``'s shape."""
    from django.utils.dateparse import parse_datetime

    from tests.base import export_repo

    def moment(value):
        return parse_datetime(value) if value else None

    expected = {}
    for pr in export_repo(server, full_name):
        row = dict(pr)
        for key in ("created_at", "updated_at", "merged_at", "closed_at"):
            row[key] = moment(pr[key])
        row["reviews"] = sorted(
            (r["id"], r["reviewer_login"], r["state"], moment(r["submitted_at"])) for r in pr["reviews"]
        )
        expected[pr["id"]] = row
    return expected


def assert_repository_equal(server, repo):
    """Every PR and review of ``repo`` stored exactly once, field by field as the emulator has it."""
    from integrations.models import PullRequest, PullRequestReview
    from tests.base import stored_repo

    repo.refresh_from_db()
    expected = expected_repo(server, repo.full_name)
    stored = stored_repo(repo)
    assert PullRequest.objects.filter(repository=repo).count() == len(stored), f"{repo}: duplicate PR rows"
    reviews = sum(len(pr["reviews"]) for pr in expected.values())
    assert PullRequestReview.objects.filter(pull_request__repository=repo).count() == reviews, f"{repo}: reviews"
    missing, extra = expected.keys() - stored.keys(), stored.keys() - expected.keys()
    assert not missing and not extra, f"{repo}: {len(missing)} PRs missing, {len(extra)} not on GitHub"
    assert stored == expected, f"{repo}: stored PRs differ from GitHub's"
    assert repo.sync_status == "complete", f"{repo}: {repo.sync_status} {repo.last_error}"
    assert repo.prs_synced == repo.prs_total == len(expected), (repo, repo.prs_synced, repo.prs_total)


def assert_members_equal(server, team, org):
    from integrations.models import Member
    from tests.base import export_members

    members = {m["id"]: (m["login"], m["name"] or "", m["avatar_url"]) for m in export_members(server, org)}
    stored = {m.github_id: (m.login, m.name, m.avatar_url) for m in Member.objects.filter(team=team)}
    assert Member.objects.filter(team=team).count() == len(stored)
    assert stored == members, f"{team}: members differ from {org}'s"


def assert_team_equal(server, team, org="acme", *, except_repos=()):
    """The team's whole database equals the emulator's ``org``: repositories, PRs, reviews, members."""
    from tests.base import export_repo

    repos = team.repositories.exclude(full_name__in=except_repos).order_by("full_name")
    assert repos.exists()
    for repo in repos:
        assert repo.full_name.startswith(f"{org}/"), repo
        export_repo(server, repo.full_name)  # still on GitHub
        assert_repository_equal(server, repo)
    assert_members_equal(server, team, org)


def assert_subset_of_github(server, repo):
    """A repository whose sync failed holds nothing GitHub lacks, and no row twice (it may hold less)."""
    from integrations.models import PullRequest
    from tests.base import stored_repo

    expected = expected_repo(server, repo.full_name)
    stored = stored_repo(repo)
    assert PullRequest.objects.filter(repository=repo).count() == len(stored)
    assert stored.keys() <= expected.keys()
    for github_id, row in stored.items():
        assert row == expected[github_id]


def wait_mid_sync(team, run_id, timeout=30):
    """Wait until run ``run_id`` is running and has stored some of its pull requests; returns how many."""
    from integrations.models import PullRequest, SyncRun

    def mid_sync():
        run = SyncRun.objects.get(pk=run_id)
        assert run.outcome == "", f"run {run_id} ended ({run.outcome}: {run.error}) before the fault: slow GitHub down"
        return run.started_at is not None and PullRequest.objects.filter(repository__team=team).count()

    return wait_for(mid_sync, timeout=timeout, interval=0.05, message=f"run {run_id} to store a page")
