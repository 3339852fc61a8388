"""Redis restarts mid-sync: the worker reconnects, the sync completes whole, the open page recovers.

The Redis is a private ``redis-server`` on a free port (no persistence, so a
restart forgets queues, heartbeats and channel groups alike), started and
restarted by this test: the shared Redis other tests use is never disturbed.
"""

import re

import pytest

from harness.http_client import Browser
from harness.progress_page import ProgressPage, StatusPoller
from integrations.models import PullRequest, SyncRun
from tests.base import connected_team
from tests.conftest import start_emulator
from tests.fault_rig import (
    Stack,
    assert_team_equal,
    reset_emulator,
    session_key,
    wait_mid_sync,
)
from tests.services import require_postgres, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]

LATENCY_MS = 400


@pytest.fixture(scope="module")
def github():
    server = start_emulator(seed=93, repos=2, prs=(260, 300), members=8, latency_ms=LATENCY_MS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, private_redis, github, tmp_path_factory):
    require_postgres()
    stack = Stack(github.url, private_redis.url, tmp_path_factory.mktemp("faults-redis"))
    try:
        stack.start_web()
        yield stack
    finally:
        with django_db_blocker.unblock():
            stack.stop()


def test_a_redis_restart_mid_sync_loses_nothing_and_the_page_recovers(github, stack, private_redis, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_emulator(github, LATENCY_MS)
    team = connected_team(github)
    browser = Browser(stack.web.url, session_key(team.members.get()))
    worker = stack.start_worker()
    repositories = list(team.repositories.values_list("github_id", flat=True))
    run = browser.start_sync(repositories)
    with ProgressPage(stack.web.url, browser.session_key, run) as page:
        page.wait_for_state("running", run=run, timeout=20)
        before = wait_mid_sync(team, run)
        private_redis.stop()
        # The sync goes on without Redis: GitHub and the database are all it needs.
        wait_for(
            lambda: PullRequest.objects.filter(repository__team=team).count() > before,
            timeout=20,
            message="another page stored while Redis is down",
        )
        assert SyncRun.objects.get(pk=run).outcome == ""
        private_redis.start()

        finished = wait_for(lambda: SyncRun.objects.get(pk=run).outcome, timeout=60, message="the run to end")
        assert finished == "succeeded", SyncRun.objects.get(pk=run).error
        page.wait_for_state("succeeded", run=run, timeout=20)

    assert_team_equal(github, team)
    assert worker.alive()

    # A page opened after the restart gets the truth from its snapshot, whatever events were lost.
    with ProgressPage(stack.web.url, browser.session_key, run, reconnect=False) as fresh:
        snapshot = fresh.wait_for_state("succeeded", run=run, timeout=10)
    assert snapshot is fresh.shown[0]
    assert set(snapshot.repositories.values()) == {"complete"}
    assert browser.status(run)["state"] == "succeeded"

    # The same worker process consumes from the restarted Redis: a new sync is picked up and completes.
    wait_for(stack.live_workers, timeout=15, message="the worker's heartbeat in the restarted Redis")
    again = browser.start_sync(repositories)
    with StatusPoller(browser, lambda: again) as status:
        wait_for(lambda: SyncRun.objects.get(pk=again).outcome, timeout=30, message="the next sync to end")
        wait_for(lambda: status.first(lambda b: b["state"] == "succeeded"), timeout=5)
    assert SyncRun.objects.get(pk=again).outcome == "succeeded"
    assert worker.runs(again)
    assert_team_equal(github, team)


def test_a_run_queued_when_redis_restarts_is_queued_again_and_completes(github, stack, private_redis, settings):
    """Redis without persistence forgets the queued message: the watcher queues the run again, nobody clicks."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    stack.stop_workers()
    reset_emulator(github, LATENCY_MS)
    team = connected_team(github)
    browser = Browser(stack.web.url, session_key(team.members.get()))
    run = browser.start_sync(list(team.repositories.values_list("github_id", flat=True)))
    key = wait_for(lambda: SyncRun.objects.get(pk=run).broker_key, timeout=10, message="the run's message")
    assert stack.keys.holds_message(key)

    private_redis.stop()
    private_redis.start()
    assert not stack.keys.holds_message(key)
    stack.start_worker()
    watcher = stack.start_watcher()

    finished = wait_for(lambda: SyncRun.objects.get(pk=run).outcome, timeout=60, message="the run to end")
    record = SyncRun.objects.get(pk=run)
    assert finished == "succeeded", record.error
    assert record.broker_key != key and record.requeued_at is not None
    # The reason its page showed while it waited (a worker's claim clears it), as the watcher logged it.
    said = rf"run={run} message=\S+ lost; Its task was lost when Redis restarted; queued again at \d\d:\d\d:\d\d\."
    assert re.search(said, watcher.log(0)), watcher.log()
    assert record.attempts == 1  # one delivery ran it: no duplicate work
    assert_team_equal(github, team)


def test_a_run_waiting_behind_a_busy_worker_is_queued_never_stalled(github, stack, settings):
    """Its message waits in Redis while the only worker thread is busy: queued, for as long as it takes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    stack.stop_workers()
    reset_emulator(github, 1500)  # the first run takes several stall windows
    team = connected_team(github)
    browser = Browser(stack.web.url, session_key(team.members.get()))
    first, second = team.repositories.order_by("full_name").values_list("github_id", flat=True)
    stack.start_worker(threads=1)
    stack.start_watcher("--no-recover")
    busy = browser.start_sync([first])
    wait_for(lambda: SyncRun.objects.get(pk=busy).started_at, timeout=20, message="the first run to start")
    behind = browser.start_sync([second])

    with StatusPoller(browser, lambda: behind) as status:
        wait_for(lambda: SyncRun.objects.get(pk=behind).outcome, timeout=90, message="the run behind to end")
        waited = (SyncRun.objects.get(pk=behind).started_at - SyncRun.objects.get(pk=behind).created_at).total_seconds()

    assert waited > 2 * stack.stall_seconds, f"it waited only {waited:.1f} s: nothing was tested"
    assert SyncRun.objects.get(pk=behind).outcome == "succeeded"
    assert SyncRun.objects.get(pk=behind).attempts == 1
    states = [state for _, state in status.states()]
    assert "queued" in states and "stalled" not in states, states
