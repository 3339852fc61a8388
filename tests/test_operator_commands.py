"""The operators' commands: connect a team with a token from stdin, and sync from the shell."""

import io

import pytest
import requests
from django.core.management import CommandError, call_command

from integrations.models import GitHubCredential, Member, PullRequest, SyncRun, Team, TrackedRepository
from tests.base import point_settings_at
from tests.conftest import TEST_TOKEN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def github(make_emulator, settings):
    server = make_emulator(seed=51, repos=2, prs=(15, 25), members=5)
    point_settings_at(settings, server)
    return server


def run(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def connect(token=TEST_TOKEN):
    return run("connect_github", team="Globex", org="acme", token_stdin=True, stdin=io.StringIO(token + "\n"))


def test_connect_github_stores_the_token_from_stdin_encrypted_and_never_prints_it(github):
    out = connect()

    team = Team.objects.get(slug="globex")
    assert team.github.organization_login == "acme"
    assert team.github.get_access_token() == TEST_TOKEN
    assert "connected to acme as octocat" in out
    assert TEST_TOKEN not in out
    assert GitHubCredential.objects.count() == 1
    connect()  # connecting again replaces, never duplicates
    assert GitHubCredential.objects.count() == 1


def test_connect_github_refuses_a_token_github_rejects(github):
    with pytest.raises(CommandError, match="GitHub refused"):
        connect("not-a-valid-token")
    assert not GitHubCredential.objects.exists()


def test_sync_team_inline_tracks_the_organisation_and_prints_the_summary(github):
    connect()

    out = run("sync_team", "globex", inline=True)

    run_row = SyncRun.objects.get()
    assert run_row.reason == "cli"
    assert run_row.get_state().state == "succeeded"
    assert f"run {run_row.pk}: succeeded" in out
    repos = {
        r["full_name"]
        for r in requests.get(
            f"{github.url}/orgs/acme/repos", headers={"Authorization": f"Bearer {TEST_TOKEN}"}, timeout=5
        ).json()
    }
    assert set(TrackedRepository.objects.values_list("full_name", flat=True)) == repos
    assert PullRequest.objects.count() == sum(len(github.world.pull_requests(name)) for name in repos)
    assert Member.objects.count() == len(github.world.members("acme"))


def test_sync_team_without_inline_only_enqueues(github):
    connect()

    out = run("sync_team", "globex", repos=["acme/" + github.world.repos("acme")[0].name])

    run_row = SyncRun.objects.get()
    assert f"run {run_row.pk} queued" in out
    assert run_row.message_id
    assert run_row.get_state().state == "queued"
    assert not PullRequest.objects.exists()


def test_sync_repo_and_sync_members_run_in_the_foreground(github):
    connect()
    name = "acme/" + github.world.repos("acme")[1].name
    run("sync_team", "globex", repos=[name], no_members=True, inline=True)
    PullRequest.objects.all().delete()

    out = run("sync_repo", name, full=True)

    assert "succeeded" in out
    assert PullRequest.objects.count() == len(github.world.pull_requests(name))
    out = run("sync_members", team="globex")
    assert f"members: {len(github.world.members('acme'))}" in out
    assert Member.objects.count() == len(github.world.members("acme"))


def test_unknown_team_and_repository_say_what_to_do(github):
    with pytest.raises(CommandError, match="connect_github"):
        run("sync_team", "nobody")
    with pytest.raises(CommandError, match="not tracked"):
        run("sync_repo", "acme/nothing")
