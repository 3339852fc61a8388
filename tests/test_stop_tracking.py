"""Stop tracking a repository, from the dashboard or the shell: its data goes, never from under a live sync."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from integrations.models import PullRequest, PullRequestReview, SyncRun, TrackedRepository
from tests.onboarding_base import fast_passwords, fresh_cache, make_team, make_user, sign_in  # noqa: F401

pytestmark = pytest.mark.django_db

DASHBOARD_URL = "/onboarding/dashboard/"
UNTRACK_URL = "/onboarding/dashboard/untrack/"


def tracked(team, github_id, full_name, prs=0, reviews_each=0):
    """A tracked repository of ``team`` holding ``prs`` pull requests of ``reviews_each`` reviews."""
    repo = TrackedRepository.objects.create(team=team, github_id=github_id, full_name=full_name)
    for number in range(1, prs + 1):
        pr = PullRequest.objects.create(
            repository=repo,
            github_id=github_id * 1000 + number,
            number=number,
            title=f"PR {number}",
            state="open",
            created_at=timezone.now(),
            updated_at=timezone.now(),
        )
        for review in range(reviews_each):
            PullRequestReview.objects.create(pull_request=pr, github_id=pr.github_id * 10 + review, state="APPROVED")
    return repo


def run_of(team, repos, **fields):
    run = SyncRun.objects.create(team=team, reason="onboarding", **fields)
    run.repositories.set(repos)
    return run


@pytest.fixture
def acme(client):
    """(team, api, web): a signed-in owner's team; api holds 3 pull requests of 2 reviews each."""
    user = make_user("ada")
    team = make_team("Acme", user)
    api = tracked(team, 1, "acme/api", prs=3, reviews_each=2)
    web = tracked(team, 2, "acme/web", prs=1, reviews_each=1)
    sign_in(client, user, team)
    return team, api, web


def words(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- from the dashboard -------------------------------------------------------------


def test_stop_tracking_deletes_the_repository_with_its_pull_requests_and_reviews(client, acme):
    team, api, web = acme
    run_of(team, [api, web], outcome="succeeded")  # a finished run does not hold it

    response = client.post(UNTRACK_URL, {"repo": api.pk}, follow=True)

    assert response.redirect_chain == [(DASHBOARD_URL, 302)]
    assert "acme/api is no longer tracked: its 3 pull requests and 6 reviews were deleted." in words(
        response.content.decode()
    )
    assert list(team.repositories.all()) == [web]
    assert PullRequest.objects.filter(repository=web).count() == PullRequest.objects.count() == 1
    assert PullRequestReview.objects.count() == 1
    assert 'data-repository="acme/api"' not in response.content.decode()


@pytest.mark.parametrize(
    "outcome, seconds_ago, state",
    [
        ("", {}, "queued"),
        ("", {"started_at": 10, "heartbeat_at": 1}, "running"),
        ("", {"started_at": 3600}, "stalled"),
        # Released by a worker that was shut down: the next worker resumes it.
        ("interrupted", {"finished_at": 1}, "interrupted"),
    ],
)
def test_stop_tracking_is_refused_while_a_sync_that_includes_it_is_not_over(client, acme, outcome, seconds_ago, state):
    team, api, web = acme
    times = {name: timezone.now() - timedelta(seconds=value) for name, value in seconds_ago.items()}
    run = run_of(team, [api], outcome=outcome, **times)

    response = client.post(UNTRACK_URL, {"repo": api.pk}, follow=True)

    assert response.redirect_chain == [(DASHBOARD_URL, 302)]
    assert f"acme/api is part of sync run {run.pk}, which is {state}." in words(response.content.decode())
    assert set(team.repositories.all()) == {api, web}
    assert PullRequest.objects.filter(repository=api).count() == 3
    # The live run holds only what it syncs: the other repository can go.
    client.post(UNTRACK_URL, {"repo": web.pk})
    assert list(team.repositories.all()) == [api]


def test_another_teams_repository_is_not_found_and_stays(client, acme):
    theirs = tracked(make_team("Globex", make_user("eve")), 9, "globex/secret", prs=2)

    assert client.post(UNTRACK_URL, {"repo": theirs.pk}).status_code == 404
    assert TrackedRepository.objects.filter(pk=theirs.pk).exists()
    assert PullRequest.objects.filter(repository=theirs).count() == 2


@pytest.mark.parametrize("value", ["999999", "abc", "", "1.5", "-1"])
def test_a_malformed_or_unknown_repository_id_is_not_found(client, acme, value):
    assert client.post(UNTRACK_URL, {"repo": value}).status_code == 404
    assert client.post(UNTRACK_URL).status_code == 404
    assert TrackedRepository.objects.count() == 2


def test_stop_tracking_takes_only_a_post_with_the_csrf_token(acme):
    team, api, _ = acme
    browser = sign_in(Client(enforce_csrf_checks=True), team.members.get(), team)

    assert browser.get(UNTRACK_URL, {"repo": api.pk}).status_code == 405
    assert browser.post(UNTRACK_URL, {"repo": api.pk}).status_code == 403
    assert TrackedRepository.objects.count() == 2


def test_the_dashboard_offers_stop_tracking_for_each_repository_with_a_confirmation(client, acme):
    _, api, web = acme

    html = client.get(DASHBOARD_URL).content.decode()

    for repo, prs in ((api, 3), (web, 1)):
        row = re.search(rf'<tr data-repository="{repo.full_name}">(.*?)</tr>', html, re.S).group(1)
        form = re.search(rf'<form method="post" action="{UNTRACK_URL}"(.*?)</form>', row, re.S).group(1)
        assert f"return confirm('Stop tracking {repo.full_name}? Its {prs} synced pull requests" in form
        assert f'name="repo" value="{repo.pk}"' in form


# --- from the shell -------------------------------------------------------------------


def untrack(*args):
    out = io.StringIO()
    call_command("untrack_repo", *args, stdout=out)
    return out.getvalue()


def test_the_command_untracks_a_repository_of_the_named_team_only(acme):
    team, api, _ = acme
    globex = make_team("Globex", make_user("eve"))
    theirs = tracked(globex, 1, "acme/api", prs=2)  # the same repository, tracked by another team too

    out = untrack("acme/api", "--team", "acme")

    assert out.strip() == "acme/api is no longer tracked by acme: 3 pull requests and 6 reviews deleted."
    assert not team.repositories.filter(full_name="acme/api").exists()
    assert list(globex.repositories.all()) == [theirs]
    assert PullRequest.objects.filter(repository=theirs).count() == 2


def test_the_command_refuses_a_repository_that_is_not_tracked(acme):
    with pytest.raises(CommandError, match="acme/nothing is not tracked by the team acme"):
        untrack("acme/nothing", "--team", "acme")
    with pytest.raises(CommandError, match="No team 'nobody'"):
        untrack("acme/api", "--team", "nobody")
    assert TrackedRepository.objects.count() == 2


def test_the_command_refuses_a_repository_in_a_live_sync(acme):
    team, api, _ = acme
    run = run_of(team, [api])

    with pytest.raises(CommandError, match=rf"acme/api is part of sync run {run.pk}, which is queued"):
        untrack("acme/api", "--team", "acme")
    assert team.repositories.filter(pk=api.pk).exists()
