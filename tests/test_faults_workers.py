"""A worker dies or is stopped mid-sync: the page tells the truth in seconds, and the data ends up whole.

Real processes, started and killed by process id: daphne (the Procfile's
``web``), ``rundramatiq`` workers (the ``worker`` line with ``--processes 1
--threads 2``), ``sync_watcher`` where recovery is tested; Redis under a
prefix of this module's own; the test database (PostgreSQL). The emulator
answers after 400 ms, so a sync lasts several seconds. The page is read from
its websocket as a signed-in team member, the status endpoint polled beside it.
"""

import re
import time

import pytest

from harness.http_client import Browser
from harness.progress_page import ProgressPage, StatusPoller
from integrations.models import PullRequest, SyncRun
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.conftest import emulator_stats, start_emulator
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
    server = start_emulator(seed=91, repos=2, prs=(260, 300), members=8, latency_ms=LATENCY_MS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, redis_url, github, tmp_path_factory):
    require_postgres()
    # A stall window that a restarted worker (3 to 5 s to boot here) fits in: SIGTERM's case.
    stack = Stack(github.url, redis_url, tmp_path_factory.mktemp("faults-workers"), SYNC_STALL_SECONDS=8)
    try:
        stack.start_web()
        yield stack
    finally:
        with django_db_blocker.unblock():
            stack.stop()


@pytest.fixture
def acme(github, stack, settings):
    """(team, browser): a team connected to the emulator's acme, its owner signed in to daphne."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SYNC_STALL_SECONDS = stack.stall_seconds
    reset_emulator(github, LATENCY_MS)
    team = connected_team(github)
    yield team, Browser(stack.web.url, session_key(team.members.get()))
    stack.stop_workers()
    reset_emulator(github, LATENCY_MS)


def start(team, browser):
    return browser.start_sync(team.repositories.values_list("github_id", flat=True))


def test_a_killed_worker_shows_as_stalled_and_retry_completes_the_sync(github, stack, acme):
    team, browser = acme
    worker = stack.start_worker("a")
    stack.start_watcher("--no-recover")  # the one stall detector; the person recovers by hand here
    run = start(team, browser)
    polled = [run]  # the run whose page the user has open
    with (
        ProgressPage(stack.web.url, browser.session_key, run) as page,
        StatusPoller(browser, lambda: polled[-1]) as status,
    ):
        page.wait_for_state("running", run=run, timeout=20)
        wait_mid_sync(team, run)
        worker.kill()
        killed = time.monotonic()
        assert SyncRun.objects.get(pk=run).outcome == "", "the sync ended before the worker died"

        stalled = page.wait_for_state("stalled", run=run, timeout=stack.stall_seconds + 10)
        assert stalled.at - killed <= stack.stall_seconds + 5
        assert "The worker stopped responding" in stalled.text, stalled
        wait_for(lambda: status.first(lambda b: b["run_id"] == run and b["state"] == "stalled"), timeout=5)
        # No worker left: the page says so, and Retry is not offered until one runs.
        no_worker = page.wait_for(lambda s: s.run == run and "No worker is running" in s.text, timeout=15)
        assert "Retry" not in no_worker.text, no_worker

        stack.start_worker("b")
        alive = page.wait_for(lambda s: s.run == run and "Retry" in s.text, timeout=15)
        assert "1 worker is alive" in alive.text, alive
        retry = browser.retry(run)
        polled.append(retry)
        # Retry answers with a redirect to the new run's page: the browser opens it.
        with ProgressPage(stack.web.url, browser.session_key, retry) as retried:
            retried.wait_for_state("succeeded", run=retry, timeout=60)
            wait_for(lambda: status.first(lambda b: b["run_id"] == retry and b["state"] == "succeeded"), timeout=5)

    assert_team_equal(github, team)
    old, new = SyncRun.objects.get(pk=run), SyncRun.objects.get(pk=retry)
    assert (old.get_state().state, old.superseded_by_id) == ("superseded", retry)
    assert (new.reason, new.attempts) == ("retry", 1)
    shown = page.states()
    assert shown.index((run, "running")) < shown.index((run, "stalled")), shown
    assert retried.states()[-1] == (retry, "succeeded"), retried.states()
    assert "stalled" not in [state for _, state in retried.states()], retried.states()
    stalled_status = status.first(lambda b: b["run_id"] == run and b["state"] == "stalled")
    assert "The worker stopped responding" in stalled_status["reason"]
    assert status.states(retry)[-1] == (retry, "succeeded")
    # No worker ran between the kill and the restart: the page must not say one is alive.
    claims = [
        text for text in (stalled.text, stalled_status["reason"]) if re.search(r"\bworkers? (is|are) alive", text)
    ]
    assert not claims, f"no worker was running, yet the stall said: {claims}"


def test_a_killed_worker_is_replaced_automatically_when_another_worker_lives(github, stack, acme):
    team, browser = acme
    workers = [stack.start_worker("a"), stack.start_worker("b")]
    stack.start_watcher()
    run = start(team, browser)
    with (
        ProgressPage(stack.web.url, browser.session_key, run) as page,
        StatusPoller(browser, lambda: None) as status,  # the team's latest run
    ):
        wait_mid_sync(team, run)
        busy = wait_for(lambda: next((w for w in workers if w.runs(run)), None), message="the worker running it")
        busy.kill()
        killed = time.monotonic()

        stalled = page.wait_for_state("stalled", run=run, timeout=stack.stall_seconds + 10)
        assert stalled.at - killed <= stack.stall_seconds + 5
        assert "The worker stopped responding" in stalled.text, stalled
        automatic = wait_for(
            lambda: SyncRun.objects.filter(team=team, reason="automatic").first(),
            timeout=15,
            message="the watcher to start an automatic run",
        )
        wait_for(lambda: SyncRun.objects.get(pk=automatic.pk).outcome, timeout=60, message="the automatic run to end")
        wait_for(lambda: status.first(lambda b: b["run_id"] == automatic.pk and b["state"] == "succeeded"), timeout=5)
        followed = page.wait_for(lambda s: s.run == automatic.pk and s.state == "succeeded", timeout=5, fail=False)

    assert_team_equal(github, team)
    survivor = next(w for w in workers if w is not busy)
    assert survivor.runs(automatic.pk)
    old = SyncRun.objects.get(pk=run)
    assert (old.get_state().state, old.superseded_by_id) == ("superseded", automatic.pk)
    assert SyncRun.objects.filter(team=team).count() == 2  # one recovery, no more
    # (The status endpoint follows the team's latest run: the watcher replaces the
    # stalled run within one pass, faster than a poll can see it stalled. The page did.)
    assert status.first(lambda b: b["run_id"] == automatic.pk)["run_reason"] == "automatic"

    problems = []
    if followed is None:
        problems.append("the page did not follow the automatic run to its end")
    # The issue: 'the page says "resumed automatically"'.
    if not any(s.run == automatic.pk and "resumed automatically" in s.page_text.lower() for s in page.shown):
        problems.append("the page never said the sync was resumed automatically")
    assert not problems, "; ".join(problems) + f"; it showed:\n{page.history()}"


def test_a_sigterm_interrupts_the_run_and_the_next_worker_resumes_it_from_its_checkpoint(github, stack, acme, settings):
    team, browser = acme
    full = full_sync_requests(github, settings)
    # The Procfile's threads per process (4): idle threads are what a shutting-down worker has.
    worker = stack.start_worker("a", threads=4)
    run = start(team, browser)
    problems = []
    with (
        ProgressPage(stack.web.url, browser.session_key, run) as page,
        StatusPoller(browser, lambda: run) as status,
    ):
        wait_mid_sync(team, run)
        worker.terminate(wait=False)
        following = stack.start_worker("b", wait=False)  # restarted at once; the old one is shutting down
        try:
            wait_for(
                lambda: (
                    SyncRun.objects.filter(pk=run, outcome="interrupted").exists()
                    or SyncRun.objects.get(pk=run).attempts > 1
                ),
                timeout=5,
                message="the worker to record the interruption",
            )
        except AssertionError:
            problems.append(f"the stopping worker did not record the run interrupted (see {worker.log_path})")
        stored = PullRequest.objects.filter(repository__team=team).count()
        reset_emulator(github, LATENCY_MS)  # from here on, the second part's requests
        following.wait_ready()
        wait_for(
            lambda: SyncRun.objects.get(pk=run).outcome in ("succeeded", "failed"),
            timeout=60,
            message="the resumed run to end",
        )
        page.wait_for_state("succeeded", run=run, timeout=10)
        wait_for(lambda: status.first(lambda b: b["state"] == "succeeded"), timeout=5)
        worker.popen.wait(30)

    assert_team_equal(github, team)
    resumed = SyncRun.objects.get(pk=run)
    assert resumed.attempts == 2  # the same run, resumed
    second_part = emulator_stats(github)["total_requests"]
    assert 0 < second_part < full, (second_part, full, stored)

    shown = page.states()
    interrupted = next((s for s in page.shown if s.state == "interrupted"), None)
    if interrupted is None:
        problems.append("the page never showed the run interrupted")
    else:
        assert "shut down" in interrupted.text, interrupted
        assert shown.index((run, "interrupted")) < shown.index((run, "succeeded")), shown
        # The interruption is news like any state change: a newer seq (the page drops older ones).
        before = max(s.seq for s in page.shown if s.at < interrupted.at)
        if interrupted.seq <= before:
            problems.append(f"the interrupted update carries seq {interrupted.seq}, already shown ({before})")
    if not status.first(lambda b: b["state"] == "interrupted"):
        problems.append("the status endpoint never answered interrupted")
    if (run, "stalled") in shown or (run, "stalled") in status.states():
        problems.append(f"the run showed as stalled: page {shown}, status {status.states()}")
    # "The next worker resumes it": not the worker that was told to stop (it may be killed any moment).
    if worker.log().count(f"[SYNC_TASK] entry run={run} ") != 1 or not following.runs(run):
        problems.append("the stopping worker took the requeued run back and ran it during its shutdown")
    assert not problems, "; ".join(problems)


def full_sync_requests(github, settings):
    """GitHub requests of a whole first sync of acme (another team, run here, without latency)."""
    point_settings_at(settings, github)
    reference = connected_team(github, slug="reference")
    reset_emulator(github, 0)
    run = start_sync(reference, list(reference.repositories.all()), reason="cli", enqueue=False)
    assert run_sync(run.pk, message_id="reference").outcome == "succeeded"
    requests = emulator_stats(github)["total_requests"]
    reset_emulator(github, LATENCY_MS)
    return requests
