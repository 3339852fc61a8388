"""SyncRun.get_state: status derived from stored facts when read, right even when every worker is dead."""

import itertools
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from integrations.models import SyncRun, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(settings):
    settings.SYNC_STALL_SECONDS = 45
    team = Team.objects.create(name="Acme", slug="acme")
    return SyncRun.objects.create(team=team, reason="onboarding")


def test_a_new_run_is_queued_then_stalled_when_no_worker_picks_it_up(run):
    assert run.get_state(run.created_at + timedelta(seconds=44)).state == "queued"
    state = run.get_state(run.created_at + timedelta(seconds=46))
    assert state.state == "stalled"
    assert "No worker has picked up this sync" in state.reason


def test_a_running_run_stalls_when_its_heartbeat_stops(run):
    start = timezone.now()
    run.started_at = run.heartbeat_at = start
    run.heartbeat_note = "acme/api: page 3 of 12"
    assert run.get_state(start + timedelta(seconds=40)).state == "running"
    state = run.get_state(start + timedelta(seconds=60))
    assert state.state == "stalled"
    assert (
        state.reason
        == f"The worker stopped responding at {timezone.localtime(start):%H:%M:%S} while acme/api: page 3 of 12."
    )


def test_waiting_on_a_rate_limit_is_not_a_stall_while_heartbeats_go_on(run):
    start = timezone.now()
    run.started_at = start
    run.heartbeat_at = start + timedelta(seconds=100)
    run.waiting_until = start + timedelta(minutes=10)
    state = run.get_state(start + timedelta(seconds=110))
    assert state.state == "waiting"
    assert "GitHub rate limit, resumes at" in state.reason
    # A worker that died while waiting is stalled, not waiting for ten more minutes.
    assert run.get_state(start + timedelta(seconds=200)).state == "stalled"


def test_outcomes_win_over_timestamps(run):
    run.started_at = run.heartbeat_at = timezone.now() - timedelta(hours=1)
    run.outcome, run.error = "failed", "acme/api no longer exists"
    state = run.get_state()
    assert (state.state, state.reason) == ("failed", "acme/api no longer exists")
    run.outcome = "superseded"
    assert run.get_state().state == "superseded"
    run.outcome = "succeeded"
    assert not run.get_state().is_active


def test_state_is_derived_at_read_time(run):
    with time_machine.travel(run.created_at + timedelta(minutes=5), tick=False):
        assert run.get_state().state == "stalled"


def test_the_state_filter_agrees_with_get_state(settings):
    """The admin's filter by derived state is one query; it must say what get_state says, case by case."""
    settings.SYNC_STALL_SECONDS = 45
    team = Team.objects.create(name="Grid", slug="grid")
    now = timezone.now()
    ago = lambda seconds: now - timedelta(seconds=seconds)  # noqa: E731
    cases = [
        {"created_at": ago(10)},
        {"created_at": ago(100)},
        {"created_at": ago(100), "started_at": ago(90), "heartbeat_at": ago(5)},
        {"created_at": ago(100), "started_at": ago(90), "heartbeat_at": ago(60)},
        {"created_at": ago(100), "started_at": ago(90), "heartbeat_at": None},
        {"created_at": ago(100), "started_at": ago(20), "heartbeat_at": None},
        {
            "created_at": ago(100),
            "started_at": ago(90),
            "heartbeat_at": ago(3),
            "waiting_until": now + timedelta(minutes=5),
        },
        {
            "created_at": ago(100),
            "started_at": ago(90),
            "heartbeat_at": ago(50),
            "waiting_until": now + timedelta(minutes=5),
        },
        {"created_at": ago(100), "started_at": ago(90), "heartbeat_at": ago(3), "waiting_until": ago(1)},
        {"created_at": ago(100), "outcome": "succeeded"},
        {"created_at": ago(100), "outcome": "failed", "error": "x"},
        {"created_at": ago(100), "outcome": "interrupted", "finished_at": ago(5)},
        {"created_at": ago(100), "outcome": "interrupted", "finished_at": ago(50)},
        {"created_at": ago(100), "outcome": "superseded"},
        {"created_at": ago(100), "outcome": "partly_failed", "error": "1 of 2 repositories failed."},
        {"created_at": ago(100), "outcome": "skipped"},
    ]
    runs = [SyncRun.objects.create(team=team, reason="admin", **case) for case in cases]

    for state in SyncRun.STATES:
        by_filter = set(SyncRun.objects.filter(team=team).in_state(state, now).values_list("pk", flat=True))
        by_method = {run.pk for run in runs if run.get_state(now).state == state}
        assert by_filter == by_method, state
    assert {run.get_state(now).state for run in runs} == set(SyncRun.STATES)


def test_an_interrupted_run_nobody_resumes_becomes_a_stall(run):
    run.outcome = "interrupted"
    run.finished_at = timezone.now()
    assert run.get_state(run.finished_at + timedelta(seconds=10)).state == "interrupted"
    state = run.get_state(run.finished_at + timedelta(seconds=50))
    assert state.state == "stalled"
    assert "no worker has resumed the sync" in state.reason


def test_the_state_filter_agrees_with_get_state_on_every_combination_of_facts(settings):
    """Each fact a state depends on, absent, fresh or stale, in every combination."""
    settings.SYNC_STALL_SECONDS = 45
    team = Team.objects.create(name="Product", slug="product")
    now = timezone.now()
    times = [None, now - timedelta(seconds=10), now - timedelta(seconds=100)]
    combinations = itertools.product(
        times[1:],  # created_at
        times,  # started_at
        times,  # heartbeat_at
        times,  # finished_at
        times,  # requeued_at
        times,  # queue_seen_at
        [None, now + timedelta(minutes=5), now - timedelta(seconds=1)],  # waiting_until
        ["", "interrupted", "failed", "superseded"],  # outcome
    )
    fields = [
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "requeued_at",
        "queue_seen_at",
        "waiting_until",
        "outcome",
    ]
    runs = SyncRun.objects.bulk_create(
        SyncRun(team=team, reason="admin", **dict(zip(fields, values, strict=True))) for values in combinations
    )
    assert len(runs) == 2 * 3**6 * 4

    for state in SyncRun.STATES:
        by_filter = set(SyncRun.objects.filter(team=team).in_state(state, now).values_list("pk", flat=True))
        by_method = {run.pk for run in runs if run.get_state(now).state == state}
        assert by_filter == by_method, state
