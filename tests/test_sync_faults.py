"""A sync against a hostile GitHub: it waits and resumes, or fails with a reason that names the cause."""

import threading
import time

import pytest
import requests

from integrations.models import SyncRun, TrackedRepository
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, export_repo, point_settings_at, stored_repo
from tests.conftest import add_fault
from tests.services import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def github(make_emulator, settings):
    server = make_emulator(seed=21, repos=2, prs=(120, 160), members=4)
    point_settings_at(settings, server, read_timeout=0.5, retries=3)
    settings.SYNC_HEARTBEAT_SECONDS = 0.2
    settings.SYNC_STALL_SECONDS = 1.5
    settings.SYNC_PROGRESS_INTERVAL_SECONDS = 0.1
    return server


class Observed:
    """Runs a sync in a worker thread and records every state the run shows meanwhile."""

    def __init__(self, team):
        self.run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
        self.states = []
        self.summary = None
        self.thread = threading.Thread(target=self._work)

    def _work(self):
        from django.db import connection

        try:
            self.summary = run_sync(self.run.pk, message_id="test")
        finally:
            connection.close()

    def __enter__(self):
        self.started = time.monotonic()
        self.thread.start()
        return self

    def watch(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.run.refresh_from_db()
            state = self.run.get_state().state
            if not self.states or self.states[-1] != state:
                self.states.append(state)
            self.thread.join(0.05)
        assert not self.thread.is_alive(), f"the sync did not end within {timeout} s (states: {self.states})"
        self.seconds = time.monotonic() - self.started
        self.run.refresh_from_db()
        self.states.append(self.run.get_state().state)
        return self

    def __exit__(self, *exc):
        self.thread.join(30)


def assert_complete_and_equal(server, team):
    for repo in TrackedRepository.objects.filter(team=team):
        assert repo.sync_status == "complete", repo.last_error
        exported = {pr["id"] for pr in export_repo(server, repo.full_name)}
        assert set(stored_repo(repo)) == exported


def test_primary_rate_limit_waits_for_the_reset_and_never_looks_stalled(github):
    team = connected_team(github)
    add_fault(github, kind="rate_limit", reset_in=3, path="/graphql", after=2)

    with Observed(team) as sync:
        sync.watch()

    assert sync.summary.outcome == "succeeded", sync.summary.error
    assert "waiting" in sync.states
    assert "stalled" not in sync.states  # the wait outlasted SYNC_STALL_SECONDS, heartbeats went on
    assert sync.seconds >= 2
    assert_complete_and_equal(github, team)


def test_secondary_rate_limit_waits_retry_after(github):
    team = connected_team(github)
    add_fault(github, kind="secondary_rate_limit", retry_after=2, path="/graphql", after=1, times=1)

    with Observed(team) as sync:
        sync.watch()

    assert sync.summary.outcome == "succeeded", sync.summary.error
    assert "waiting" in sync.states
    assert sync.seconds >= 1.5
    assert_complete_and_equal(github, team)


def test_a_burst_of_502_is_retried(github):
    team = connected_team(github)
    add_fault(github, kind="status", status=502, path="/graphql", after=1, times=2)

    with Observed(team) as sync:
        sync.watch()

    assert sync.summary.outcome == "succeeded", sync.summary.error
    assert_complete_and_equal(github, team)


def test_a_hung_response_times_out_and_the_sync_goes_on(github):
    team = connected_team(github)
    add_fault(github, kind="hang", path="/graphql", after=1, times=1)

    with Observed(team) as sync:
        sync.watch(timeout=20)

    assert sync.summary.outcome == "succeeded", sync.summary.error
    assert sync.seconds < 15
    assert_complete_and_equal(github, team)


def test_a_token_revoked_mid_sync_fails_the_run_and_says_to_reconnect(github):
    team = connected_team(github)
    add_fault(github, kind="revoke_token", path="/graphql", after=2)

    with Observed(team) as sync:
        sync.watch()

    state = sync.run.get_state()
    assert state.state == "failed"
    assert "revoked" in state.reason
    assert "Connect GitHub again" in state.reason
    assert not TrackedRepository.objects.filter(team=team, sync_status="syncing").exists()


def test_graphql_errors_fail_the_repository_with_githubs_message(github):
    team = connected_team(github)
    add_fault(github, kind="graphql_errors", path="/graphql", after=1)

    with Observed(team) as sync:
        sync.watch()

    state = sync.run.get_state()
    assert state.state == "failed"
    assert "Something went wrong while executing your query" in state.reason
    failed = TrackedRepository.objects.filter(team=team, sync_status="failed")
    assert failed.exists()
    assert all("Something went wrong" in r.last_error for r in failed)


def test_a_superseded_worker_stops_at_its_next_write_and_leaves_the_new_run_alone(github):
    team = connected_team(github)
    requests.post(f"{github.url}/_emulator/config", json={"latency_ms": 40}, timeout=5)

    with Observed(team) as old:
        wait_for(
            lambda: TrackedRepository.objects.filter(team=team, prs_synced__gt=0).exists(),
            timeout=20,
            message="the first run to store a page",
        )
        new = start_sync(team, list(team.repositories.all()), reason="retry", enqueue=False)
        old.watch()

    assert old.summary is None  # it noticed it was superseded and stopped
    assert old.states[-1] == "superseded"
    requests.post(f"{github.url}/_emulator/config", json={"latency_ms": 0}, timeout=5)
    summary = run_sync(new.pk, message_id="test")
    assert summary.outcome == "succeeded", summary.error
    new.refresh_from_db()
    assert new.get_state().state == "succeeded"
    assert SyncRun.objects.get(pk=old.run.pk).outcome == "superseded"
    assert_complete_and_equal(github, team)
