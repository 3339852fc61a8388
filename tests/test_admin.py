"""Operators in the admin: resync actions through start_sync, derived states, and no token anywhere."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import GitHubCredential, GitHubIntegration, Member, PullRequest, SyncRun
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, point_settings_at
from tests.conftest import TEST_TOKEN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(make_emulator, settings):
    server = make_emulator(seed=61, repos=3, prs=(5, 15), members=3)
    point_settings_at(settings, server)
    return connected_team(server)


def act(client, model, action, ids):
    url = reverse(f"admin:integrations_{model}_changelist")
    return client.post(url, {"action": action, "_selected_action": ids}, follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_resync_selected_repositories_starts_an_admin_run_and_links_to_it(admin_client, team):
    repos = list(team.repositories.order_by("full_name")[:2])

    response = act(admin_client, "trackedrepository", "resync_selected", [r.pk for r in repos])

    run = SyncRun.objects.get()
    assert run.reason == "admin"
    assert not run.full
    assert set(run.repositories.all()) == set(repos)
    assert run.message_id  # enqueued
    [message] = messages_of(response)
    assert f"run {run.pk}</a> queued for {repos[0].full_name}, {repos[1].full_name}" in message
    assert reverse("admin:integrations_syncrun_change", args=[run.pk]) in message


def test_full_resync_fetches_everything_again(admin_client, team):
    first = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    run_sync(first.pk)
    repo = team.repositories.order_by("full_name").first()
    assert repo.checkpoint["watermark"]

    act(admin_client, "trackedrepository", "full_resync_selected", [repo.pk])

    run = SyncRun.objects.exclude(pk=first.pk).get()
    assert run.full and run.reason == "admin"
    assert run.repository_rows.get().checkpoint == {}  # no pass to resume: a full pass from the start
    summary = run_sync(run.pk)
    assert summary.outcome == "succeeded"
    assert summary.prs_written == PullRequest.objects.filter(repository=repo).count()


def test_resync_all_repositories_of_a_team(admin_client, team):
    act(admin_client, "team", "resync_all", [team.pk])

    run = SyncRun.objects.get()
    assert run.reason == "admin"
    assert run.include_members
    assert set(run.repositories.all()) == set(team.repositories.all())


def test_a_live_run_is_named_and_nothing_is_started(admin_client, team):
    repo = team.repositories.first()
    live = SyncRun.objects.create(
        team=team, reason="onboarding", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    live.repositories.add(repo)

    response = act(admin_client, "trackedrepository", "resync_selected", [repo.pk])

    assert SyncRun.objects.count() == 1
    [message] = messages_of(response)
    assert f"run {live.pk} (running) is still syncing" in message


def test_resync_all_starts_the_repositories_no_live_run_holds_and_names_the_others(admin_client, team):
    busy, *free = team.repositories.order_by("full_name")
    live = SyncRun.objects.create(
        team=team, reason="onboarding", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    live.repositories.add(busy)

    response = act(admin_client, "team", "resync_all", [team.pk])

    run = SyncRun.objects.exclude(pk=live.pk).get()
    assert set(run.repositories.all()) == set(free)
    assert not run.include_members  # the live run syncs them
    started, left_out = messages_of(response)
    assert f"run {run.pk}</a> queued for {free[0].full_name}, {free[1].full_name}" in started
    assert left_out == f"{team}: left out, still syncing in a live run: {busy.full_name} (run {live.pk} is running)."


def test_a_stalled_run_is_replaced(admin_client, team, settings):
    repo = team.repositories.first()
    long_ago = timezone.now() - timezone.timedelta(seconds=settings.SYNC_STALL_SECONDS + 30)
    stalled = SyncRun.objects.create(team=team, reason="onboarding", started_at=long_ago, heartbeat_at=long_ago)
    stalled.repositories.add(repo)

    act(admin_client, "trackedrepository", "resync_selected", [repo.pk])

    stalled.refresh_from_db()
    assert stalled.get_state().state == "superseded"
    assert SyncRun.objects.filter(reason="admin", outcome="").count() == 1


def test_a_disconnected_team_is_refused_politely(admin_client, team):
    GitHubIntegration.objects.filter(team=team).delete()
    team.refresh_from_db()

    response = act(admin_client, "team", "resync_all", [team.pk])

    assert not SyncRun.objects.exists()
    [message] = messages_of(response)
    assert "GitHub is not connected" in message


def test_the_run_list_shows_derived_states_and_filters_stalled(admin_client, team, settings):
    now = timezone.now()
    old = now - timezone.timedelta(seconds=settings.SYNC_STALL_SECONDS + 60)
    stalled = SyncRun.objects.create(
        team=team, reason="automatic", started_at=old, heartbeat_at=old, heartbeat_note="acme/api: page 3 of 12"
    )
    running = SyncRun.objects.create(team=team, reason="admin", started_at=now, heartbeat_at=now)
    url = reverse("admin:integrations_syncrun_changelist")

    page = admin_client.get(url).content.decode()
    assert "stalled: The worker stopped responding" in page
    assert "while acme/api: page 3 of 12" in page

    filtered = admin_client.get(url, {"state": "stalled"})
    assert [r.pk for r in filtered.context["cl"].result_list] == [stalled.pk]
    filtered = admin_client.get(url, {"state": "running"})
    assert [r.pk for r in filtered.context["cl"].result_list] == [running.pk]


def test_the_run_page_shows_each_repositorys_progress(admin_client, team):
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    run_sync(run.pk)

    page = admin_client.get(reverse("admin:integrations_syncrun_change", args=[run.pk])).content.decode()

    for repo in team.repositories.all():
        assert repo.full_name in page
        assert f"{repo.prs_synced} of {repo.prs_total}" in page


def test_no_admin_page_shows_the_token_or_its_ciphertext(admin_client, team):
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    run_sync(run.pk)
    credential = GitHubCredential.objects.get()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_githubcredential WHERE id = %s", [credential.pk])
        ciphertext = bytes(cursor.fetchone()[0]).decode()
    pr = PullRequest.objects.first()
    pages = [
        reverse("admin:index"),
        reverse("admin:integrations_team_changelist"),
        reverse("admin:integrations_team_change", args=[team.pk]),
        reverse("admin:integrations_trackedrepository_changelist"),
        reverse("admin:integrations_trackedrepository_change", args=[team.repositories.first().pk]),
        reverse("admin:integrations_syncrun_changelist"),
        reverse("admin:integrations_syncrun_change", args=[run.pk]),
        reverse("admin:integrations_pullrequest_changelist"),
        reverse("admin:integrations_pullrequest_change", args=[pr.pk]),
        reverse("admin:integrations_pullrequestreview_changelist"),
        reverse("admin:integrations_member_changelist"),
        reverse("admin:integrations_member_change", args=[Member.objects.first().pk]),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert TEST_TOKEN not in html, url
        assert ciphertext[:40] not in html, url
        assert not re.search(r"access.?token", html, re.IGNORECASE), url
    assert admin_client.get("/admin/integrations/githubcredential/").status_code == 404
