"""Shared builders: a team connected to an emulator, and the emulator's truth to compare with."""

import requests
from django.contrib.auth import get_user_model

from integrations.models import GitHubCredential, GitHubIntegration, PullRequest, Team
from integrations.sync.repositories import track_repositories
from tests.conftest import TEST_TOKEN


def point_settings_at(settings, server, *, read_timeout=3.0, retries=3):
    """Make the app talk to ``server`` with test-sized timeouts and backoffs."""
    settings.GITHUB_API_URL = server.url
    settings.GITHUB_GRAPHQL_URL = f"{server.url}/graphql"
    settings.GITHUB_WEB_URL = server.url
    settings.GITHUB_READ_TIMEOUT = read_timeout
    settings.GITHUB_CONNECT_TIMEOUT = 2.0
    settings.GITHUB_MAX_RETRIES = retries
    settings.GITHUB_BACKOFF_SECONDS = 0.01
    settings.GITHUB_BACKOFF_MAX_SECONDS = 0.05


def connected_team(server, *, slug="acme-team", org="acme", token=TEST_TOKEN, user=None):
    """A team connected to ``org`` on ``server``, tracking every repository of it."""
    team = Team.objects.create(name=slug.title(), slug=slug)
    if user is None:
        user = get_user_model().objects.create_user(f"owner-{slug}", password="pw")
    team.members.add(user)
    integration = GitHubIntegration.objects.create(
        team=team, organization_login=org, connected_by=user, scopes="read:org,repo"
    )
    GitHubCredential.objects.create(integration=integration, access_token=token)
    from integrations.github.client import GitHubClient

    with GitHubClient(token, api_url=server.url, graphql_url=f"{server.url}/graphql") as client:
        track_repositories(team, client.iter_org_repos(org))
    return team


def export_repo(server, full_name):
    """The emulator's every PR (with reviews) of a repository, as JSON."""
    response = requests.get(f"{server.url}/_emulator/export/{full_name}", timeout=10)
    response.raise_for_status()
    return response.json()["prs"]


def export_members(server, org):
    response = requests.get(f"{server.url}/_emulator/export/orgs/{org}/members", timeout=10)
    response.raise_for_status()
    data = response.json()
    return data["members"] if isinstance(data, dict) else data


def stored_repo(repository):
    """The database's PRs and reviews of a repository, in the export's shape, keyed by GitHub id."""
    stored = {}
    for pr in PullRequest.objects.filter(repository=repository).prefetch_related("reviews"):
        stored[pr.github_id] = {
            "id": pr.github_id,
            "number": pr.number,
            "title": pr.title,
            "author_login": pr.author_login,
            "state": pr.state,
            "draft": pr.draft,
            "created_at": pr.created_at,
            "updated_at": pr.updated_at,
            "merged_at": pr.merged_at,
            "closed_at": pr.closed_at,
            "additions": pr.additions,
            "deletions": pr.deletions,
            "changed_files": pr.changed_files,
            "commits": pr.commits_count,
            "reviews": sorted((r.github_id, r.reviewer_login, r.state, r.submitted_at) for r in pr.reviews.all()),
        }
    return stored
