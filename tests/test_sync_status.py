"""`/onboarding/sync/status/`: derived state, repositories, the worker's task record, and where they disagree."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest
import time_machine
from django.contrib.auth import get_user_model
from django_dramatiq.models import Task
from dramatiq import Worker

from integrations.models import (
    GitHubCredential,
    GitHubIntegration,
    SyncRun,
    SyncRunRepository,
    Team,
    TrackedRepository,
)
from integrations.sync.discrepancies import find_discrepancies, task_for_run
from integrations.sync.start import start_sync
from integrations.tasks import sync_historical_data_task
from tests.base import connected_team, point_settings_at
from tests.conftest import TEST_TOKEN
from tests.services import wait_for

pytestmark = pytest.mark.django_db

URL = "/onboarding/sync/status/"
NOW = datetime(2025, 3, 4, 14, 0, 0, tzinfo=UTC)
SECRET = "gho_KnownSecretToken0123456789"


def ago(seconds):
    return NOW - timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def stall_window(settings):
    settings.SYNC_STALL_SECONDS = 45


@pytest.fixture
def owner():
    return get_user_model().objects.create_user("owner")


@pytest.fixture
def team(owner):
    team = Team.objects.create(name="Acme", slug="acme")
    team.members.add(owner)
    integration = GitHubIntegration.objects.create(team=team, organization_login="acme", connected_by=owner)
    GitHubCredential.objects.create(integration=integration, access_token=SECRET)
    return team


@pytest.fixture
def signed_in(client, owner, team):
    client.force_login(owner)
    return client


def make_run(team, **fields):
    fields.setdefault("created_at", ago(120))
    return SyncRun.objects.create(team=team, reason="onboarding", **fields)


def record_task(run, status, *, at, eta=None):
    """A Task row written the way django-dramatiq's AdminMiddleware writes it, at time ``at``."""
    message = sync_historical_data_task.message(run.pk)
    if eta is not None:  # what a broker enqueues for a delayed retry
        message = message.copy(queue_name="sync.DQ", options={"eta": int(eta.timestamp() * 1000)})
    with time_machine.travel(at, tick=False):
        task = Task.tasks.create_or_update_from_message(
            message, status=status, actor_name=message.actor_name, queue_name=message.queue_name
        )
    run.message_id = message.message_id
    run.save(update_fields=["message_id"])
    return task


def status(client, **params):
    with time_machine.travel(NOW, tick=False):
        response = client.get(URL, params)
    assert response["Content-Type"] == "application/json"
    return response


def codes(body):
    return [d["code"] for d in body["discrepancies"]]


def test_every_field_of_a_running_sync(signed_in, team):
    # The repositories' latest summaries say otherwise: the endpoint shows the run's own figures.
    api = TrackedRepository.objects.create(
        team=team, github_id=1, full_name="acme/api", sync_status="complete", prs_synced=120, prs_total=120
    )
    web = TrackedRepository.objects.create(
        team=team,
        github_id=2,
        full_name="acme/web",
        sync_status="failed",
        prs_synced=3,
        prs_total=9,
        last_error="The GitHub token has no access to acme/web.",
        last_synced_at=ago(3600),
    )
    run = make_run(
        team,
        started_at=ago(100),
        heartbeat_at=ago(7),
        heartbeat_note="acme/api: page 3 of 12",
        members_synced=12,
    )
    SyncRunRepository.objects.create(
        run=run, repository=api, status="syncing", prs_synced=40, prs_total=120, prs_written=40, started_at=ago(90)
    )
    SyncRunRepository.objects.create(
        run=run,
        repository=web,
        status="failed",
        prs_synced=3,
        prs_total=9,
        error="The GitHub token has no access to acme/web.",
        error_code="no_access",
        started_at=ago(95),
        finished_at=ago(92),
    )
    task = record_task(run, Task.STATUS_RUNNING, at=ago(100))

    body = status(signed_in).json()

    assert body == {
        "run_id": run.pk,
        "team_id": team.pk,
        "seq": 0,
        "state": "running",
        "reason": "acme/api: page 3 of 12",
        "cause": "",
        "run_reason": "onboarding",
        "superseded_by": None,
        "reviews": None,
        "note": "acme/api: page 3 of 12",
        "created_at": ago(120).isoformat(),
        "started_at": ago(100).isoformat(),
        "finished_at": None,
        "heartbeat_at": ago(7).isoformat(),
        "heartbeat_age_seconds": 7,
        "waiting_until": None,
        "members_synced": 12,
        "include_members": True,
        "message_id": str(task.pk),
        "repositories": [
            {
                "id": api.pk,
                "full_name": "acme/api",
                "status": "syncing",
                "prs_synced": 40,
                "prs_total": 120,
                "prs_written": 40,
                "error": "",
                "error_code": "",
                "started_at": ago(90).isoformat(),
                "finished_at": None,
                "last_synced_at": None,
            },
            {
                "id": web.pk,
                "full_name": "acme/web",
                "status": "failed",
                "prs_synced": 3,
                "prs_total": 9,
                "prs_written": 0,
                "error": "The GitHub token has no access to acme/web.",
                "error_code": "no_access",
                "started_at": ago(95).isoformat(),
                "finished_at": ago(92).isoformat(),
                "last_synced_at": None,
            },
        ],
        "task": {"status": "running", "updated_at": ago(100).isoformat()},
        "discrepancies": [],
    }


def test_a_run_waiting_on_a_rate_limit_says_until_when(signed_in, team):
    make_run(team, started_at=ago(100), heartbeat_at=ago(2), waiting_until=NOW + timedelta(minutes=5))

    body = status(signed_in).json()

    assert body["state"] == "waiting"
    assert body["reason"] == "Paused: GitHub rate limit, resumes at 14:05:00."
    assert body["waiting_until"] == (NOW + timedelta(minutes=5)).isoformat()
    assert body["heartbeat_age_seconds"] == 2


def test_the_latest_run_is_shown_unless_one_is_asked_for(signed_in, team):
    first = make_run(team, created_at=ago(600), outcome="failed", error="acme/api no longer exists")
    latest = make_run(team, created_at=ago(10))

    assert status(signed_in).json()["run_id"] == latest.pk
    body = status(signed_in, run=first.pk).json()
    assert (body["run_id"], body["state"], body["reason"]) == (first.pk, "failed", "acme/api no longer exists")
    assert body["heartbeat_age_seconds"] is None


def test_a_run_without_a_task_record_has_task_null(signed_in, team):
    make_run(team, started_at=ago(5), heartbeat_at=ago(1), message_id="inline")  # sync_team --inline

    body = status(signed_in).json()

    assert body["task"] is None
    assert body["discrepancies"] == []


# -- discrepancies -----------------------------------------------------------


def test_database_queued_but_task_failed(signed_in, team):
    run = make_run(team, created_at=ago(20))
    record_task(run, Task.STATUS_FAILED, at=ago(10))

    body = status(signed_in).json()

    assert body["state"] == "queued"
    assert body["task"]["status"] == "failed"
    assert codes(body) == ["task_failed"]
    assert "still queued in the database" in body["discrepancies"][0]["message"]
    assert "Retry" in body["discrepancies"][0]["message"]


def test_database_running_but_task_failed(signed_in, team):
    run = make_run(team, started_at=ago(30), heartbeat_at=ago(10))
    record_task(run, Task.STATUS_FAILED, at=ago(5))

    body = status(signed_in).json()

    assert body["state"] == "running"
    assert codes(body) == ["task_failed"]


def test_database_waiting_but_task_done(signed_in, team):
    run = make_run(team, started_at=ago(30), heartbeat_at=ago(10), waiting_until=NOW + timedelta(minutes=3))
    record_task(run, Task.STATUS_DONE, at=ago(5))

    body = status(signed_in).json()

    assert body["state"] == "waiting"
    assert codes(body) == ["task_done"]
    assert "without recording how the sync ended" in body["discrepancies"][0]["message"]


def test_database_queued_but_task_skipped(signed_in, team):
    run = make_run(team, created_at=ago(20))
    record_task(run, Task.STATUS_SKIPPED, at=ago(10))

    assert codes(status(signed_in).json()) == ["task_skipped"]


def test_a_second_delivery_still_heartbeating_after_the_first_ended_is_no_discrepancy(signed_in, team):
    run = make_run(team, started_at=ago(30), heartbeat_at=ago(2))
    record_task(run, Task.STATUS_DONE, at=ago(20))

    assert status(signed_in).json()["discrepancies"] == []


def test_task_enqueued_past_the_stall_window_with_nothing_running(signed_in, team):
    run = make_run(team, created_at=ago(60))
    record_task(run, Task.STATUS_ENQUEUED, at=ago(60))

    body = status(signed_in).json()

    assert body["state"] == "stalled"
    assert body["task"] == {"status": "enqueued", "updated_at": ago(60).isoformat()}
    assert codes(body) == ["task_not_picked_up"]
    message = body["discrepancies"][0]["message"]
    assert "waited in the queue for 60 s" in message
    assert "manage.py rundramatiq" in message


def test_task_enqueued_within_the_stall_window_is_no_discrepancy(signed_in, team):
    run = make_run(team, created_at=ago(30))
    record_task(run, Task.STATUS_ENQUEUED, at=ago(30))

    body = status(signed_in).json()

    assert body["state"] == "queued"
    assert body["discrepancies"] == []


def test_a_delayed_retry_counts_from_when_it_was_due(signed_in, team):
    run = make_run(team, started_at=ago(300), heartbeat_at=ago(200))
    task = record_task(run, Task.STATUS_DELAYED, at=ago(200), eta=ago(60))

    body = status(signed_in).json()
    assert codes(body) == ["task_not_picked_up"]
    assert "due for a retry for 60 s" in body["discrepancies"][0]["message"]

    # Not yet due: the retry's backoff is expected, whatever the run's stale heartbeat says.
    Task.tasks.filter(pk=task.pk).delete()
    record_task(run, Task.STATUS_DELAYED, at=ago(200), eta=NOW + timedelta(seconds=100))
    assert status(signed_in).json()["discrepancies"] == []


def test_task_running_but_no_heartbeat_means_the_worker_died(signed_in, team):
    run = make_run(team, started_at=ago(300), heartbeat_at=ago(90), heartbeat_note="acme/api: page 2 of 5")
    record_task(run, Task.STATUS_RUNNING, at=ago(300))

    body = status(signed_in).json()

    assert body["state"] == "stalled"
    assert codes(body) == ["worker_died"]
    assert "reported nothing for 90 s" in body["discrepancies"][0]["message"]


def test_a_run_without_a_message_id_was_never_enqueued(signed_in, team):
    make_run(team, created_at=ago(5))

    body = status(signed_in).json()

    assert body["message_id"] is None
    assert body["task"] is None
    assert codes(body) == ["not_enqueued"]


def test_a_message_id_without_a_task_record(signed_in, team):
    make_run(team, created_at=ago(5), message_id=str(uuid.uuid4()))

    body = status(signed_in).json()

    assert body["task"] is None
    assert codes(body) == ["task_record_missing"]


def test_a_finished_run_has_no_discrepancies_whatever_the_task_says(team):
    run = make_run(team, started_at=ago(100), heartbeat_at=ago(90), finished_at=ago(90), outcome="succeeded")
    task = record_task(run, Task.STATUS_RUNNING, at=ago(100))

    assert str(task_for_run(run).pk) == str(task.pk)
    assert find_discrepancies(run, task, NOW) == []


# -- access --------------------------------------------------------------------


def test_anonymous_gets_401_json_not_a_login_redirect(client, team):
    make_run(team)

    response = status(client)

    assert response.status_code == 401
    assert "error" in response.json()


def test_a_user_outside_the_team_gets_403(client, team):
    make_run(team)
    client.force_login(get_user_model().objects.create_user("stranger"))

    response = status(client)

    assert response.status_code == 403
    assert "error" in response.json()


def test_another_teams_run_is_not_found(client, team):
    other_user = get_user_model().objects.create_user("globex-owner")
    other_team = Team.objects.create(name="Globex", slug="globex")
    other_team.members.add(other_user)
    mine = make_run(team)
    theirs = make_run(other_team)
    client.force_login(other_user)

    assert status(client, run=mine.pk).status_code == 404
    assert status(client, run="not-a-number").status_code == 404
    assert status(client, run=theirs.pk).json()["run_id"] == theirs.pk
    assert status(client).json()["run_id"] == theirs.pk


def test_a_team_without_a_sync_gets_404(signed_in):
    response = status(signed_in)

    assert response.status_code == 404
    assert response.json() == {"error": "This team has no sync yet."}


def test_the_token_never_appears_in_the_json(signed_in, team):
    run = make_run(team, started_at=ago(300), heartbeat_at=ago(90), error="")
    SyncRunRepository.objects.create(
        run=run, repository=TrackedRepository.objects.create(team=team, github_id=1, full_name="acme/api")
    )
    record_task(run, Task.STATUS_FAILED, at=ago(60))

    response = status(signed_in)

    assert response.status_code == 200
    assert team.github.get_access_token() == SECRET
    assert SECRET not in response.content.decode()
    assert SECRET[4:12] not in response.content.decode()


# -- end to end ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_sync_through_the_broker_shows_enqueued_then_done_and_succeeded(client, make_emulator, settings):
    server = make_emulator(seed=43, repos=2, prs=(5, 15), members=3)
    point_settings_at(settings, server)
    team = connected_team(server)
    client.force_login(team.members.get())
    broker = dramatiq.get_broker()
    broker.flush_all()

    run = start_sync(team, list(team.repositories.all()), reason="onboarding")

    queued = client.get(URL).json()
    assert queued["run_id"] == run.pk
    assert queued["state"] == "queued"
    assert queued["task"]["status"] == "enqueued"
    assert queued["discrepancies"] == []

    def finished():
        body = client.get(URL).json()
        return body if body["task"]["status"] == "done" else None

    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        # The task record says done once the worker has acknowledged the message.
        body = wait_for(finished, timeout=30, message="the task record to say done")
    finally:
        worker.stop()
    assert body["state"] == "succeeded", body["reason"]
    assert body["discrepancies"] == []
    assert {r["status"] for r in body["repositories"]} == {"complete"}
    assert all(r["prs_synced"] == r["prs_total"] for r in body["repositories"])
    assert body["members_synced"] == 3
    assert TEST_TOKEN not in json.dumps(body)
