"""A run whose worker died is resumed once without a click; a shut-down worker's run resumes where it stopped."""

import threading

import dramatiq
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone
from dramatiq.middleware import ShutdownNotifications

from integrations import embedded
from integrations.github.client import GitHubClient
from integrations.models import PullRequest, SyncRun
from integrations.shutdown import CooperativeShutdown
from integrations.sync.progress import team_group
from integrations.sync.runner import INTERRUPTED_MESSAGE, run_sync
from integrations.sync.start import start_sync
from integrations.sync.watcher import Watcher
from integrations.tasks import sync_historical_data_task
from tests.base import connected_team, point_settings_at
from tests.services import require_postgres, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(make_emulator, settings):
    server = make_emulator(seed=81, repos=2, prs=(150, 250), members=3)
    point_settings_at(settings, server)
    settings.SYNC_STALL_SECONDS = 45
    return connected_team(server)


@pytest.fixture
def live_worker():
    """A worker thread is alive in this process (embedded mode counts it)."""
    dramatiq.get_broker().flush_all()
    embedded.start_worker(threads=1)
    yield
    embedded.stop_worker()


def died_mid_sync(team):
    """A run whose worker stored a page, then went silent a minute ago."""
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    long_ago = timezone.now() - timezone.timedelta(seconds=60)
    SyncRun.objects.filter(pk=run.pk).update(
        started_at=long_ago, heartbeat_at=long_ago, claim_token="dead-worker", heartbeat_note="acme/api: page 1 of 3"
    )
    return SyncRun.objects.get(pk=run.pk)


def test_a_run_whose_worker_died_is_resumed_automatically_once(team, live_worker):
    dead = died_mid_sync(team)

    [recovered] = Watcher(auto_recover=True).check()

    dead.refresh_from_db()
    assert dead.get_state().state == "superseded"
    assert dead.superseded_by_id == recovered.pk
    assert recovered.reason == "automatic"
    assert set(recovered.repositories.all()) == set(team.repositories.all())
    # The live worker (this process's worker thread) picks it up and finishes it.
    wait_for(lambda: SyncRun.objects.get(pk=recovered.pk).outcome, timeout=30, message="the recovered run to finish")
    assert SyncRun.objects.get(pk=recovered.pk).get_state().state == "succeeded"

    # If the recovery stalls too, the user decides: no second automatic run.
    again = died_mid_sync(team)
    SyncRun.objects.filter(pk=again.pk).update(reason="automatic")
    assert Watcher(auto_recover=True).check() == []


def test_no_recovery_without_a_live_worker_or_when_switched_off(team, settings):
    dead = died_mid_sync(team)
    assert Watcher(auto_recover=True).check() == []  # nobody would run it

    embedded.start_worker(threads=1)
    try:
        assert Watcher(auto_recover=False).check() == []
    finally:
        embedded.stop_worker()
    dead.refresh_from_db()
    assert dead.get_state().state == "stalled"


def test_the_watcher_pushes_a_stall_to_the_teams_group(team):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    async_to_sync(layer.group_add)(team_group(team.pk), channel)
    watcher = Watcher(auto_recover=False)
    watcher.check()  # running: remembered, nothing to push
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=60))

    watcher.check()

    message = async_to_sync(layer.receive)(channel)
    event = message["event"]
    assert event["state"] == "stalled"
    assert "No worker has picked up this sync" in event["reason"]
    assert "No worker is running: start one (manage.py rundramatiq)" in event["reason"]
    assert event["cause"] == "no_worker"
    assert event["seq"] > 0


def test_two_recoveries_racing_start_exactly_one_run(team, live_worker):
    require_postgres()
    dead = died_mid_sync(team)
    results = []

    def recover():
        try:
            results.extend(Watcher(auto_recover=True).check())
        finally:
            connection.close()

    threads = [threading.Thread(target=recover) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(results) == 1
    assert SyncRun.objects.filter(outcome="").count() == 1
    dead.refresh_from_db()
    assert dead.superseded_by_id == results[0].pk


def test_two_retry_clicks_leave_exactly_one_active_run(team):
    require_postgres()
    repos = list(team.repositories.all())
    started = []

    def click():
        try:
            started.append(start_sync(team, repos, reason="retry", enqueue=False))
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(started) == 4
    assert SyncRun.objects.filter(outcome="").count() == 1


class WorkerStopsAfterPages(GitHubClient):
    """The real client; after two pages the worker starts shutting down (SIGTERM), and the pages go on coming."""

    pages = 2

    def iter_pull_request_pages(self, *args, **kwargs):
        for n, page in enumerate(super().iter_pull_request_pages(*args, **kwargs)):
            if n == self.pages:
                # Fetching runs ahead of storing: stop once a page is stored.
                wait_for(lambda: PullRequest.objects.exists(), timeout=10)
                CooperativeShutdown().before_worker_shutdown(None, None)
            yield page


def test_a_shut_down_worker_releases_its_run_and_the_next_delivery_resumes_it(team):
    run = start_sync(team, list(team.repositories.order_by("full_name")[:1]), reason="onboarding", enqueue=False)
    requeued = []

    try:
        summary = run_sync(run.pk, client_class=WorkerStopsAfterPages, requeue=requeued.append)
    finally:
        CooperativeShutdown().after_worker_shutdown(None, None)

    run.refresh_from_db()
    state = run.get_state()
    assert summary.outcome == "interrupted"
    assert (state.state, state.reason) == ("interrupted", INTERRUPTED_MESSAGE)
    assert run.claim_token == ""
    assert requeued == [run.pk]
    repo = run.repositories.get()
    row = run.repository_rows.get()
    stored = PullRequest.objects.filter(repository=repo).count()
    assert stored == repo.prs_synced == row.prs_synced > 0
    assert row.checkpoint["cursor"]

    resumed = run_sync(run.pk, message_id="redelivered")

    run.refresh_from_db()
    repo.refresh_from_db()
    assert resumed.outcome == "succeeded"
    assert run.attempts == 2
    assert resumed.prs_written == repo.prs_total - stored  # continued from the checkpoint
    assert repo.prs_synced == repo.prs_total


def test_stopping_the_embedded_worker_mid_sync_interrupts_the_run_and_queues_it_again(make_emulator, settings):
    """The worker's own shutdown: the sync stops between steps, with no exception thrown into its thread."""
    server = make_emulator(seed=82, repos=1, prs=(600, 600), members=3, latency_ms=150)
    point_settings_at(settings, server)
    team = connected_team(server)
    broker = dramatiq.get_broker()
    # Nothing throws Shutdown into a running sync: Dramatiq's notify_shutdown could land inside a held lock.
    assert not sync_historical_data_task.options.get("notify_shutdown")
    assert not any(isinstance(m, ShutdownNotifications) for m in broker.middleware)
    broker.flush_all()
    embedded.start_worker(threads=1)
    try:
        run = start_sync(team, list(team.repositories.all()), reason="onboarding")
        wait_for(lambda: PullRequest.objects.filter(repository__team=team).exists(), timeout=30)
        first_message = SyncRun.objects.get(pk=run.pk).message_id
    finally:
        embedded.stop_worker()

    run.refresh_from_db()
    repo = run.repositories.get()
    assert run.get_state().state == "interrupted"
    assert run.claim_token == ""
    assert 0 < repo.prs_synced == PullRequest.objects.filter(repository=repo).count() < 600
    # Queued again (with a short delay) for the next worker, which resumes at the checkpoint:
    # the run names the new message (the in-process broker's queue ends with its process).
    assert run.message_id and run.message_id != first_message
    resumed = run_sync(run.pk, message_id="next-worker")
    assert resumed.outcome == "succeeded", resumed.error
    assert resumed.prs_written == 600 - repo.prs_synced


class RecordsRepositories(GitHubClient):
    """The real client, noting the repository of every page of pull requests it fetches."""

    fetched = []

    def iter_pull_request_pages(self, owner, name, **kwargs):
        for page in super().iter_pull_request_pages(owner, name, **kwargs):
            type(self).fetched.append(f"{owner}/{name}")
            yield page


class ShutsDownOnceTheFirstRepositoryIsComplete(RecordsRepositories):
    def iter_pull_request_pages(self, owner, name, **kwargs):
        for n, page in enumerate(super().iter_pull_request_pages(owner, name, **kwargs)):
            if n == 1 and len(set(self.fetched)) == 2:
                # Fetching runs a page ahead of storing: the first repository completes meanwhile.
                wait_for(lambda: SyncRun.objects.get().repository_rows.filter(status="complete").exists(), timeout=10)
                CooperativeShutdown().before_worker_shutdown(None, None)
            yield page


def test_a_resumed_full_run_fetches_no_repository_it_already_completed(team):
    first, second = team.repositories.order_by("full_name")
    run = start_sync(team, [first, second], reason="cli", full=True, enqueue=False)
    RecordsRepositories.fetched = []
    try:
        summary = run_sync(run.pk, client_class=ShutsDownOnceTheFirstRepositoryIsComplete, requeue=lambda _: None)
    finally:
        CooperativeShutdown().after_worker_shutdown(None, None)
    assert summary.outcome == "interrupted"
    statuses = dict(run.repository_rows.values_list("repository__full_name", "status"))
    assert statuses[first.full_name] == "complete"
    assert statuses[second.full_name] in ("pending", "syncing")  # stopped before or after its first page
    RecordsRepositories.fetched = []

    resumed = run_sync(run.pk, message_id="redelivered", client_class=RecordsRepositories)

    assert resumed.outcome == "succeeded", resumed.error
    assert set(RecordsRepositories.fetched) == {second.full_name}
    assert list(resumed.repositories) == [second.full_name]
    for repo in (first, second):
        repo.refresh_from_db()
        assert repo.prs_synced == repo.prs_total == PullRequest.objects.filter(repository=repo).count()
