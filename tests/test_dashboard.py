"""The dashboard: the team's synced repositories with their pull request and review counts, and nobody else's."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.models import Member, PullRequest, PullRequestReview, SyncRun, Team, TrackedRepository
from integrations.sync.runner import run_sync
from integrations.sync.start import start_sync
from tests.base import connected_team, export_members, export_repo, point_settings_at

pytestmark = pytest.mark.django_db

URL = "/onboarding/dashboard/"


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
    SyncRun.objects.create(team=team, reason="onboarding")
    with django_assert_max_num_queries(6):
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
    with django_assert_max_num_queries(6):
        html = client.get(URL).content.decode()
    assert html.count("<tr data-repository=") == 31
    assert cell(html, "globex/secret-plans", "prs") == 3
    assert cell(html, "globex/repo-7", "reviews") == 1


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
