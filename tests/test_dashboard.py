"""The dashboard: the team's synced repositories with their counts and nobody else's, its links, and Sync now."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from integrations.models import Member, PullRequest, PullRequestReview, SyncRun, Team, TrackedRepository
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, export_members, export_repo, point_settings_at
from tests.onboarding_base import connect, fast_passwords, fresh_cache, make_team, make_user, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/onboarding/dashboard/"
SYNC_NOW_URL = "/onboarding/dashboard/sync/"


def cell(html, full_name, name):
    """The integer in a repository row's ``data-<name>`` attribute."""
    row = re.search(rf'<tr data-repository="{re.escape(full_name)}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {full_name}"
    return int(re.search(rf'data-{name}="(\d+)"', row.group(1)).group(1))


def other_team_with_data():
    """Globex: a team with its own user, repository, pull requests, reviews and members."""
    user = get_user_model().objects.create_user("globex-owner")
    team = Team.objects.create(name="Globex", slug="globex")
    team.members.add(user)
    repo = TrackedRepository.objects.create(
        team=team, github_id=999, full_name="globex/secret-plans", sync_status="complete"
    )
    for number in range(1, 4):
        pr = PullRequest.objects.create(
            repository=repo,
            github_id=10_000 + number,
            number=number,
            title=f"plan {number}",
            state="open",
            created_at=timezone.now(),
            updated_at=timezone.now(),
        )
        PullRequestReview.objects.create(pull_request=pr, github_id=20_000 + number, state="APPROVED")
    Member.objects.create(team=team, github_id=777, login="globex-spy")
    return team


@pytest.mark.django_db(transaction=True)
def test_lists_each_repository_with_the_counts_of_a_real_sync_and_no_other_team(client, make_emulator, settings):
    server = make_emulator(seed=61, repos=3, prs=(5, 25), members=4)
    point_settings_at(settings, server)
    team = connected_team(server)
    other_team_with_data()
    run = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    assert run_sync(run.pk, message_id="test").outcome == "succeeded"
    client.force_login(team.members.get())

    response = client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    total_prs = total_reviews = 0
    for repo in team.repositories.all():
        prs = export_repo(server, repo.full_name)
        reviews = sum(len(pr["reviews"]) for pr in prs)
        assert cell(html, repo.full_name, "prs") == len(prs)
        assert cell(html, repo.full_name, "reviews") == reviews
        total_prs += len(prs)
        total_reviews += reviews
    assert html.count("<tr data-repository=") == 3
    members = len(export_members(server, "acme"))
    totals = re.sub(r"\s+", " ", re.search(r'<p id="totals">(.*?)</p>', html, re.S).group(1))
    assert f"<strong>{total_prs}</strong> pull requests" in totals
    assert f"<strong>{total_reviews}</strong> reviews" in totals
    assert f"<strong>{members}</strong> members" in totals
    assert "globex" not in html.lower()
    assert 'id="active-sync"' not in html  # the sync is over: no link back to its progress


def test_links_to_the_progress_of_an_active_sync(client):
    user = get_user_model().objects.create_user("acme-owner")
    team = Team.objects.create(name="Acme", slug="acme")
    team.members.add(user)
    run = SyncRun.objects.create(team=team, reason="onboarding")
    client.force_login(user)

    html = client.get(URL).content.decode()

    assert 'id="active-sync"' in html
    assert f'href="/onboarding/sync/?run={run.pk}"' in html
    assert "No repositories are tracked yet." in html


def test_the_number_of_queries_does_not_grow_with_repositories(client, django_assert_max_num_queries):
    team = other_team_with_data()
    client.force_login(team.members.get())
    SyncRun.objects.create(team=team, reason="onboarding")  # queued: one query counts the syncs ahead of it
    with django_assert_max_num_queries(7):
        assert client.get(URL).status_code == 200

    for i in range(30):
        repo = TrackedRepository.objects.create(team=team, github_id=i, full_name=f"globex/repo-{i}")
        pr = PullRequest.objects.create(
            repository=repo,
            github_id=i,
            number=1,
            title="t",
            state="open",
            created_at=timezone.now(),
            updated_at=timezone.now(),
        )
        PullRequestReview.objects.create(pull_request=pr, github_id=i, state="COMMENTED")
    with django_assert_max_num_queries(7):
        html = client.get(URL).content.decode()
    assert html.count("<tr data-repository=") == 31
    assert cell(html, "globex/secret-plans", "prs") == 3
    assert cell(html, "globex/repo-7", "reviews") == 1


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- links ------------------------------------------------------------------------


def test_links_to_the_repository_picker_and_to_the_latest_runs_progress(client):
    user = make_user("ada")
    team = make_team("Acme", user)
    SyncRun.objects.create(team=team, reason="onboarding", outcome="succeeded")
    latest = SyncRun.objects.create(team=team, reason="retry", outcome="failed", error="x")
    sign_in(client, user, team)

    html = client.get(URL).content.decode()

    assert re.search(r'<a class="button" id="choose-repositories" href="/onboarding/repos/">', html)
    assert re.search(rf'<a class="button" id="latest-run" href="/onboarding/sync/\?run={latest.pk}">', html)
    assert 'id="active-sync"' not in html  # a failed run is over: no "See its progress" box


def test_the_header_title_leads_to_the_dashboard_once_signed_in(client):
    user = make_user("ada")
    sign_in(client, user, make_team("Acme", user))
    title = r'<a class="home" href="/onboarding/dashboard/"><strong>Onboarding sync</strong></a>'

    assert re.search(title, client.get("/onboarding/team/").content.decode())
    client.logout()
    assert not re.search(title, client.get("/accounts/login/").content.decode())


# --- Sync now ---------------------------------------------------------------------


@pytest.fixture
def acme(client):
    """(team, api, web): a signed-in owner's team, connected to GitHub, tracking two repositories."""
    user = make_user("ada")
    team = make_team("Acme", user)
    connect(team, "acme", user=user)
    api = TrackedRepository.objects.create(team=team, github_id=1, full_name="acme/api", sync_status="complete")
    web = TrackedRepository.objects.create(team=team, github_id=2, full_name="acme/web", sync_status="complete")
    sign_in(client, user, team)
    return team, api, web


def test_sync_now_starts_an_incremental_sync_of_every_repository_and_the_members(
    client, acme, empty_broker, django_capture_on_commit_callbacks
):
    team, api, web = acme
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(SYNC_NOW_URL)

    run = SyncRun.objects.get()
    assert response["Location"] == f"/onboarding/sync/?run={run.pk}"
    assert (run.team, run.full, run.include_members) == (team, False, True)
    assert set(run.repositories.all()) == {api, web}
    assert empty_broker.queues["sync"].qsize() == 1  # handed to a worker through start_sync


def test_sync_now_of_one_repository_syncs_it_alone(client, acme):
    _, api, web = acme

    response = client.post(SYNC_NOW_URL, {"repo": web.pk})

    run = SyncRun.objects.get()
    assert response["Location"] == f"/onboarding/sync/?run={run.pk}"
    assert list(run.repositories.all()) == [web]
    assert (run.full, run.include_members) == (False, False)


def test_sync_now_of_another_teams_repository_is_not_found(client, acme):
    theirs = other_team_with_data().repositories.get()

    assert client.post(SYNC_NOW_URL, {"repo": theirs.pk}).status_code == 404
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("value", ["999999", "abc", "", " 1", "1.5", "-1", "\u0661"])
def test_sync_now_of_an_unknown_or_malformed_repository_id_is_not_found(client, acme, value):
    assert client.post(SYNC_NOW_URL, {"repo": value}).status_code == 404
    assert not SyncRun.objects.exists()


def test_sync_now_that_cannot_start_says_why_on_the_dashboard(client, acme):
    team, _, _ = acme
    team.github.delete()

    response = client.post(SYNC_NOW_URL, follow=True)

    assert response.redirect_chain == [(URL, 302)]
    assert "The sync could not start: GitHub is not connected for this team." in response.content.decode()
    assert not SyncRun.objects.exists()


def test_sync_now_takes_only_a_post_with_the_csrf_token(acme):
    team, api, _ = acme
    browser = sign_in(Client(enforce_csrf_checks=True), team.members.get(), team)

    assert browser.get(SYNC_NOW_URL).status_code == 405
    assert browser.post(SYNC_NOW_URL).status_code == 403
    assert browser.post(SYNC_NOW_URL, {"repo": api.pk}).status_code == 403
    assert not SyncRun.objects.exists()


def test_the_dashboard_offers_sync_now_for_the_team_and_each_repository(client, acme):
    _, api, web = acme

    html = client.get(URL).content.decode()

    assert html.count(f'action="{SYNC_NOW_URL}"') == 3
    for repo in (api, web):
        row = re.search(rf'<tr data-repository="{repo.full_name}">(.*?)</tr>', html, re.S).group(1)
        assert f'name="repo" value="{repo.pk}"' in row
        assert f'action="{SYNC_NOW_URL}"' in row


@pytest.mark.django_db(transaction=True)
def test_a_sync_started_from_the_dashboard_completes_against_github(client, emulator, settings):
    point_settings_at(settings, emulator)
    team = connected_team(emulator)
    first = start_sync(team, list(team.repositories.all()), reason="onboarding", enqueue=False)
    assert run_sync(first.pk, message_id="test").outcome == "succeeded"
    sign_in(client, team.members.get(), team)

    response = client.post(SYNC_NOW_URL)

    run = SyncRun.objects.exclude(reason="onboarding").get()
    assert response["Location"] == f"/onboarding/sync/?run={run.pk}"
    summary = run_sync(run.pk, message_id="test")
    assert summary.outcome == "succeeded", summary.error
    # Incremental: nothing changed on GitHub since the first sync, so far fewer than all are fetched again.
    assert summary.prs_written < PullRequest.objects.count() / 4
    html = client.get(URL).content.decode()
    for repo in team.repositories.all():
        assert cell(html, repo.full_name, "prs") == len(export_repo(emulator, repo.full_name))
