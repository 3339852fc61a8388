"""A hostile GitHub, met by the production processes: each sync completes whole, or fails naming the cause.

One daphne and one ``rundramatiq`` worker (``--processes 1 --threads 2``)
serve every test of this module; each test connects a new team to the
emulator (answering after 200 ms), switches a fault on through the
emulator's control endpoint, starts the sync as the team's owner and reads
the page from its websocket and the status endpoint. The worker's
``GITHUB_READ_TIMEOUT`` is 1.5 s, so a hung connection costs little.
"""

import re
import time
from contextlib import contextmanager

import pytest

from harness.http_client import Browser
from harness.progress_page import ProgressPage, StatusPoller
from integrations.models import PullRequest, SyncRun, TrackedRepository
from tests.base import connected_team
from tests.conftest import add_fault, emulator_stats, start_emulator
from tests.fault_rig import (
    Stack,
    assert_members_equal,
    assert_repository_equal,
    assert_subset_of_github,
    assert_team_equal,
    emulator_control,
    reset_emulator,
    session_key,
    wait_mid_sync,
)
from tests.services import require_postgres, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

LATENCY_MS = 200
ENDED = ("succeeded", "partly_failed", "failed")


@pytest.fixture(scope="module")
def github():
    # "initech" is the organisation whose repository a test deletes.
    server = start_emulator(
        seed=95, orgs=("acme", "initech"), repos=2, prs=(200, 280), members=6, latency_ms=LATENCY_MS
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, redis_url, github, tmp_path_factory):
    require_postgres()
    stack = Stack(github.url, redis_url, tmp_path_factory.mktemp("faults-github"), GITHUB_READ_TIMEOUT="1.5")
    try:
        stack.start_web()
        stack.start_worker()
        yield stack
    finally:
        with django_db_blocker.unblock():
            stack.stop()


@pytest.fixture
def owner(github, stack, settings):
    """Connects a team to an organisation of the emulator; returns (team, signed-in browser)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SYNC_STALL_SECONDS = stack.stall_seconds
    reset_emulator(github, LATENCY_MS)

    def connect(org="acme"):
        team = connected_team(github, slug=f"{org}-team", org=org)
        return team, Browser(stack.web.url, session_key(team.members.get()))

    yield connect
    reset_emulator(github, LATENCY_MS)  # also releases a hung request


@contextmanager
def sync_watched(stack, team, browser):
    """Start the team's sync from the onboarding page; yields (run id, page, status poller)."""
    run = browser.start_sync(team.repositories.values_list("github_id", flat=True))
    with (
        ProgressPage(stack.web.url, browser.session_key, run) as page,
        StatusPoller(browser, lambda: page.run_id) as status,
    ):
        yield run, page, status


def ended(page, status, run, timeout=60):
    """The page's final update of ``run`` once it ended, after the status endpoint said so too."""
    final = page.wait_for(lambda s: s.run == run and s.state in ENDED, timeout=timeout, message="the run's end")
    wait_for(lambda: status.first(lambda b: b["run_id"] == run and b["state"] in ENDED), timeout=5)
    return final


def never_stalled(page, status):
    assert "stalled" not in [state for _, state in page.states()], page.history()
    assert "stalled" not in [state for _, state in status.states()], status.states()


def test_bursts_of_502_are_retried_and_the_sync_completes(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="status", status=502, path="/orgs/acme/members", times=2)
    add_fault(github, kind="status", status=502, path="/graphql", after=2, times=3)
    add_fault(github, kind="status", status=502, path="/graphql", after=6, times=3)

    with sync_watched(stack, team, browser) as (run, page, status):
        final = ended(page, status, run)

    assert final.state == "succeeded", final
    assert_team_equal(github, team)
    assert emulator_stats(github)["statuses"].get("502") == 8  # every burst was served
    never_stalled(page, status)
    assert ("running" in [s for _, s in page.states()]) and status.states()[-1] == (run, "succeeded")


def test_a_secondary_rate_limit_waits_retry_after_and_the_sync_completes(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="secondary_rate_limit", retry_after=4, path="/graphql", after=2, times=1)

    with sync_watched(stack, team, browser) as (run, page, status):
        waiting = page.wait_for_state("waiting", run=run, timeout=20)
        final = ended(page, status, run)

    assert final.state == "succeeded", final
    assert_team_equal(github, team)
    assert "GitHub rate limit" in waiting.text, waiting
    assert emulator_stats(github)["statuses"].get("403") == 1
    assert status.first(lambda b: b["state"] == "waiting")["waiting_until"]
    never_stalled(page, status)


def test_a_primary_rate_limit_20_s_away_shows_waiting_never_stalled_and_completes(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="rate_limit", reset_in=20, path="/graphql", after=2)

    with sync_watched(stack, team, browser) as (run, page, status):
        waiting = page.wait_for_state("waiting", run=run, timeout=20)
        final = ended(page, status, run, timeout=60)

    assert final.state == "succeeded", final
    assert_team_equal(github, team)
    paused = final.at - waiting.at
    assert paused >= 15, f"the sync went on after {paused:.1f} s, before the reset"
    assert re.search(r"resumes at \d\d:\d\d", waiting.text), waiting  # "paused until HH:MM"
    # Heartbeats went on through the wait: the page stayed "waiting", refreshed, never "stalled".
    shown = [s.state for s in page.shown if waiting.at <= s.at < final.at]
    assert set(shown) <= {"waiting", "running"}, shown
    never_stalled(page, status)
    waits = [b for _, b in status.answers if b["state"] == "waiting"]
    assert waits and all(b["heartbeat_age_seconds"] <= stack.stall_seconds for b in waits)
    # A quiet page keeps its websocket: no "Connection lost; reconnecting…" while GitHub makes us wait.
    assert page.lost_connections() == [], f"the page lost its websocket during the wait: {page.closes}"


def test_a_hung_connection_times_out_and_the_sync_completes(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="hang", path="/graphql", after=2, times=2)

    with sync_watched(stack, team, browser) as (run, page, status):
        started = time.monotonic()
        final = ended(page, status, run)

    assert final.state == "succeeded", final
    assert final.at - started >= 2 * 1.5  # two read timeouts were waited out
    assert emulator_stats(github)["faults_fired"] == 2
    assert_team_equal(github, team)
    never_stalled(page, status)


def test_a_token_revoked_mid_sync_fails_the_run_saying_to_reconnect(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="revoke_token", path="/graphql", after=3)

    with sync_watched(stack, team, browser) as (run, page, status):
        final = ended(page, status, run)

    assert final.state == "failed", final
    assert "revoked" in final.text and "Connect GitHub again" in final.text, final
    body = status.first(lambda b: b["state"] == "failed")
    assert "Connect GitHub again" in body["reason"]
    # Retry would fail the same way: the page offers to connect GitHub again.
    assert "Reconnect GitHub" in final.text and "Retry" not in final.text
    # Nothing half-done is reported as done, and what was stored is GitHub's, once.
    assert not TrackedRepository.objects.filter(team=team, sync_status="syncing").exists()
    for repo in team.repositories.all():
        assert repo.sync_status != "complete" or repo.prs_synced == repo.prs_total
        assert_subset_of_github(github, repo)
    never_stalled(page, status)


def test_a_repository_deleted_mid_sync_fails_alone_and_the_others_complete(github, stack, owner):
    team, browser = owner("initech")
    doomed = team.repositories.order_by("full_name").first()  # synced first

    with sync_watched(stack, team, browser) as (run, page, status):
        wait_mid_sync(team, run)
        emulator_control(github, "repos/delete", {"full_name": doomed.full_name})
        final = ended(page, status, run)

    assert final.state == "partly_failed", final
    doomed.refresh_from_db()
    assert doomed.sync_status == "failed"
    assert doomed.full_name in doomed.last_error and "no longer exists on GitHub" in doomed.last_error
    assert 0 < PullRequest.objects.filter(repository=doomed).count() < doomed.prs_total
    assert final.repositories[doomed.full_name] == "failed"
    assert f"{doomed.full_name} no longer exists on GitHub" in final.page_text
    assert f"Stop tracking {doomed.full_name}" in final.page_text
    body = status.first(lambda b: b["state"] == "partly_failed")
    assert body["cause"] == "repository_gone"
    assert body["reason"].startswith(f"1 of 2 repositories failed. {doomed.full_name}: "), body["reason"]
    for repo in team.repositories.exclude(pk=doomed.pk):
        assert_repository_equal(github, repo)
        assert final.repositories[repo.full_name] == "complete"
    assert_members_equal(github, team, "initech")
    never_stalled(page, status)


def test_graphql_errors_fail_the_run_with_githubs_message_and_retry_completes_it(github, stack, owner):
    team, browser = owner()
    add_fault(github, kind="graphql_errors", path="/graphql", after=2)

    with sync_watched(stack, team, browser) as (run, page, status):
        final = ended(page, status, run)
        assert final.state == "failed", final
        assert "Something went wrong while executing your query" in final.text, final
        failed = status.first(lambda b: b["state"] == "failed")
        assert "GitHub could not run the query" in failed["reason"]
        for repo in team.repositories.all():
            assert repo.sync_status == "failed" and "Something went wrong" in repo.last_error
            assert_subset_of_github(github, repo)

        emulator_control(github, "faults", method="DELETE")
        retry = browser.retry(run)
        final = ended(page, status, retry)

    assert final.state == "succeeded", final
    assert_team_equal(github, team)
    assert SyncRun.objects.get(pk=retry).reason == "retry"
    never_stalled(page, status)
