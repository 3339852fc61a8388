"""Step 3 of onboarding: the repositories page shell, the htmx-loaded list, its errors, and starting the sync."""

import re
from datetime import UTC, datetime

import pytest
import requests
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from integrations.models import GitHubCredential, SyncRun, TrackedRepository
from tests.base import point_settings_at
from tests.conftest import TEST_TOKEN, add_fault, emulator_stats
from tests.onboarding_base import connect, fast_passwords, fresh_cache, make_team, make_user, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db

SHELL_URL = reverse("onboarding:select_repos")
FETCH_URL = reverse("onboarding:fetch_repos")
START_URL = reverse("onboarding:start_sync")
RETRY = f'hx-get="{FETCH_URL}?refresh=1" hx-target="#repo-list"'


@pytest.fixture
def github(emulator, settings):
    point_settings_at(settings, emulator, read_timeout=0.5, retries=1)
    return emulator


@pytest.fixture
def team(client, github):
    ada = make_user("ada")
    team = make_team("Acme team", ada)
    connect(team, "acme", user=ada)
    sign_in(client, ada, team)
    return team


def newest_push_first(server, org):
    repos = sorted(server.world.repos(org), key=lambda r: r.full_name.lower())
    return sorted(repos, key=lambda r: r.pushed_at, reverse=True)


def listed_names(html):
    return re.findall(r'<label for="repo-\d+">([^<]+)</label>', html)


def requests_to_github(server):
    return emulator_stats(server)["total_requests"]


# --- the page shell ------------------------------------------------------------


def test_the_shell_loads_the_list_with_htmx_and_calls_no_github(client, team, github):
    response = client.get(SHELL_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(rf'<div id="repo-list" hx-get="{FETCH_URL}" hx-trigger="load"', page)
    assert 'class="spinner"' in page
    assert "Fetching repositories from GitHub…" in page
    assert requests_to_github(github) == 0


def test_the_shell_sends_an_unconnected_team_to_connect_github(client, github):
    ada = make_user("ada")
    sign_in(client, ada, make_team("New", ada))

    assert client.get(SHELL_URL)["Location"] == reverse("onboarding:github_connect")
    assert "not connected" in client.get(FETCH_URL).content.decode()


# --- the list ------------------------------------------------------------------


def test_the_list_is_ordered_by_last_push_with_tracked_repositories_checked(client, team, github):
    newest, *others = newest_push_first(github, "acme")
    TrackedRepository.objects.create(team=team, github_id=newest.id, full_name=newest.full_name)

    response = client.get(FETCH_URL)

    page = response.content.decode()
    assert response.status_code == 200
    assert listed_names(page) == [newest.full_name] + [r.full_name for r in others]
    checked = re.findall(r'name="repository" value="(\d+)"[^>]*checked', page)
    assert checked == [str(newest.id)]
    assert "data-repo-search" in page and "data-select-all" in page
    assert "<span data-selected-count>1</span> selected" in page
    assert f'action="{START_URL}"' in page


def test_the_start_button_arrives_disabled_when_nothing_is_chosen(client, team, github):
    start = re.compile(r'<button class="primary" type="submit" data-start( disabled)?>Start sync</button>')

    assert start.search(client.get(FETCH_URL).content.decode()).group(1) == " disabled"
    newest = newest_push_first(github, "acme")[0]
    TrackedRepository.objects.create(team=team, github_id=newest.id, full_name=newest.full_name)
    assert start.search(client.get(FETCH_URL).content.decode()).group(1) is None


def test_refresh_marks_the_list_as_loading_while_it_lists_again(client, team, github):
    page = client.get(FETCH_URL).content.decode()

    refresh = re.search(r"<button [^>]*data-refresh[^>]*>", page, re.S).group(0)
    assert f'hx-get="{FETCH_URL}?refresh=1"' in refresh
    assert 'hx-indicator="#repo-list"' in refresh and 'hx-disabled-elt="this"' in refresh
    assert re.search(r'<span class="htmx-indicator" id="repos-refreshing"[^>]*><span class="spinner"', page)


def test_the_list_is_cached_briefly_and_retry_lists_again(client, team, github):
    client.get(FETCH_URL)
    listed = requests_to_github(github)
    assert listed >= 1

    client.get(FETCH_URL)
    assert requests_to_github(github) == listed

    client.get(FETCH_URL, {"refresh": "1"})
    assert requests_to_github(github) == 2 * listed


def test_an_organisation_of_hundreds_of_repositories_is_listed_page_by_page(client, make_emulator, settings):
    big = make_emulator(orgs=("bigco",), repos=260, prs=(0, 0), members=2)
    point_settings_at(settings, big)
    ada = make_user("ada")
    team = make_team("Big", ada)
    connect(team, "bigco")
    sign_in(client, ada, team)

    page = client.get(FETCH_URL).content.decode()

    assert listed_names(page) == [r.full_name for r in newest_push_first(big, "bigco")]
    assert emulator_stats(big)["rest"]["/orgs/{org}/repos"] == 3  # 100 + 100 + 60
    assert 'placeholder="Filter 260 repositories by name"' in page


# --- errors, each with a Retry that refetches in place ---------------------------


def error_of(client):
    response = client.get(FETCH_URL)
    assert response.status_code == 200  # htmx swaps only 2xx answers
    page = response.content.decode()
    assert 'id="repos-error"' in page
    assert RETRY in page
    return page


def test_a_rate_limit_says_until_when(client, team, github):
    add_fault(github, kind="rate_limit", reset_in=600)

    page = error_of(client)

    (fault,) = requests.get(f"{github.url}/_emulator/faults", timeout=5).json()["faults"]
    # The client waits one second past GitHub's reset time, as GitHub advises.
    until = timezone.localtime(datetime.fromtimestamp(fault["reset_at"] + 1, tz=UTC))
    assert f"rate limited until {until:%H:%M}" in page


def test_revoked_access_offers_to_reconnect(client, team, github):
    add_fault(github, kind="revoke_token")

    page = error_of(client)

    assert "revoked or has expired" in page
    assert f'href="{reverse("onboarding:github_connect")}"' in page


def test_a_missing_token_offers_to_reconnect(client, team, github):
    GitHubCredential.objects.all().delete()

    page = error_of(client)

    assert "No GitHub token is stored" in page
    assert f'href="{reverse("onboarding:github_connect")}"' in page
    assert requests_to_github(github) == 0


def test_an_organisation_the_token_cannot_see_is_named(client, team, github):
    team.github.organization_login = "initech"
    team.github.save()

    page = error_of(client)

    assert "cannot see the organisation initech" in page
    assert f'href="{reverse("onboarding:github_organization")}"' in page


def test_github_failing_with_502_ends_as_unavailable(client, team, github):
    add_fault(github, kind="status", status=502)

    page = error_of(client)

    assert "GitHub is unavailable right now" in page
    assert "answered 502 twice in a row" in page
    assert emulator_stats(github)["statuses"] == {"502": 2}  # one retry, then the page answers


def test_a_hung_github_ends_as_unavailable_within_the_timeout(client, team, github, settings):
    settings.GITHUB_MAX_RETRIES = 0
    add_fault(github, kind="hang")

    page = error_of(client)

    assert "GitHub is unavailable right now" in page
    assert "did not answer within 0.5 s" in page


def test_retry_after_an_error_lists_the_repositories(client, team, github):
    add_fault(github, kind="status", status=502, times=2)
    error_of(client)

    page = client.get(FETCH_URL, {"refresh": "1"}, headers={"HX-Request": "true"}).content.decode()

    assert listed_names(page) == [r.full_name for r in newest_push_first(github, "acme")]


# --- starting the sync ------------------------------------------------------------


def test_starting_tracks_the_chosen_repositories_and_starts_one_run(client, team, github):
    first, _, third, *_ = newest_push_first(github, "acme")
    client.get(FETCH_URL)
    listed = requests_to_github(github)

    response = client.post(START_URL, {"repository": [first.id, third.id]})

    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:sync_progress") == "/onboarding/sync/"
    run = SyncRun.objects.get()
    assert run.team == team and run.reason == SyncRun.Reason.ONBOARDING
    assert {r.github_id for r in run.repositories.all()} == {first.id, third.id}
    assert set(team.repositories.values_list("full_name", flat=True)) == {first.full_name, third.full_name}
    assert requests_to_github(github) == listed  # checked against the cached list


def test_starting_after_the_cache_expired_lists_again(client, team, github):
    first = newest_push_first(github, "acme")[0]
    client.get(FETCH_URL)
    cache.clear()

    response = client.post(START_URL, {"repository": [first.id]})

    assert response.status_code == 302
    assert SyncRun.objects.get().repositories.get().github_id == first.id


def test_an_id_outside_the_organisation_is_refused_and_nothing_starts(client, team, github):
    first = newest_push_first(github, "acme")[0]

    response = client.post(START_URL, {"repository": [first.id, 424242]})

    assert response.status_code == 400
    assert "not in the organisation acme" in response.content.decode()
    assert "424242" in response.content.decode()
    assert not SyncRun.objects.exists()
    assert not TrackedRepository.objects.exists()


def test_another_teams_repository_is_refused(client, make_emulator, settings):
    both = make_emulator(orgs=("acme", "globex"), repos=2, prs=(0, 0), members=2)
    point_settings_at(settings, both)
    ada, eve = make_user("ada"), make_user("eve")
    mine, theirs = make_team("Mine", ada), make_team("Theirs", eve)
    connect(mine, "acme")
    connect(theirs, "globex")
    foreign = both.world.repos("globex")[0]
    TrackedRepository.objects.create(team=theirs, github_id=foreign.id, full_name=foreign.full_name)
    sign_in(client, ada, mine)

    response = client.post(START_URL, {"repository": [foreign.id]})

    assert response.status_code == 400
    assert "not in the organisation acme" in response.content.decode()
    assert not SyncRun.objects.exists()
    assert not mine.repositories.exists()


def test_an_empty_selection_is_refused(client, team, github):
    response = client.post(START_URL, {})

    assert response.status_code == 400
    assert "Choose at least one repository" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_starting_without_the_csrf_token_is_forbidden(team, github):
    browser = sign_in(Client(enforce_csrf_checks=True), team.members.get(), team)

    response = browser.post(START_URL, {"repository": [newest_push_first(github, "acme")[0].id]})

    assert response.status_code == 403
    assert not SyncRun.objects.exists()


def test_the_token_never_reaches_the_pages(client, team, github):
    pages = [client.get(SHELL_URL), client.get(FETCH_URL)]
    add_fault(github, kind="revoke_token")
    pages.append(client.get(FETCH_URL, {"refresh": "1"}))

    assert not [p for p in pages if TEST_TOKEN.encode() in p.content]
