"""The GitHub client against recorded GitHub answers and the emulator, over real HTTP."""

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from integrations.github.client import (
    GitHubClient,
    MemberData,
    PullRequestData,
    RateLimitInfo,
    RepositoryData,
    ReviewData,
    exchange_oauth_code,
)
from integrations.github.errors import BadCredentials, GitHubError, GraphQLError, NoAccess, NotFound, OAuthError
from integrations.github.transport import parse_rate_limit
from tests.conftest import add_fault, emulator_stats
from tests.github_helpers import FIXTURES, SCRIPTED_TOKEN, ScriptedServer, client_for

RECORDED_RESET = datetime(2017, 10, 10, 16, 0, tzinfo=UTC)


# --- every request ---------------------------------------------------------------


def test_every_request_carries_auth_version_and_user_agent():
    with ScriptedServer() as server:
        server.reply(200, {"login": "octocat"})
        server.reply(200, {"data": {"viewer": {"login": "octocat"}}})
        with client_for(server, SCRIPTED_TOKEN) as client:
            client.get_viewer()
            client.graphql("query { viewer { login } }")
    for seen in server.seen:
        assert seen.headers["Authorization"] == f"Bearer {SCRIPTED_TOKEN}"
        assert seen.headers["Accept"] == "application/vnd.github+json"
        assert seen.headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert seen.headers["User-Agent"]
    assert [(s.method, s.path) for s in server.seen] == [("GET", "/user"), ("POST", "/graphql")]
    assert json.loads(server.seen[1].body) == {"query": "query { viewer { login } }", "variables": {}}


def test_base_urls_come_from_settings_so_github_enterprise_server_works(settings):
    """GitHub Enterprise Server: REST under /api/v3, GraphQL at /api/graphql, OAuth on the web host."""
    with ScriptedServer() as server:
        settings.GITHUB_API_URL = f"{server.url}/api/v3"
        settings.GITHUB_GRAPHQL_URL = f"{server.url}/api/graphql"
        settings.GITHUB_WEB_URL = server.url
        next_page = f"{server.url}/api/v3/user/orgs?per_page=100&page=2"
        server.reply(200, [{"login": "one"}], Link=f'<{next_page}>; rel="next", <{next_page}>; rel="last"')
        server.reply(200, [{"login": "two"}])
        server.reply(200, {"data": {"viewer": {"login": "octocat"}}})
        with GitHubClient(SCRIPTED_TOKEN, max_retries=0) as client:
            assert [o["login"] for o in client.list_orgs()] == ["one", "two"]
            assert client.graphql("query { viewer { login } }") == {"viewer": {"login": "octocat"}}
            url = client.oauth_authorize_url("cid", "https://app.example.com/cb", "xyz", ["read:org", "repo"])
    assert [s.path for s in server.seen] == [
        "/api/v3/user/orgs?per_page=100",
        "/api/v3/user/orgs?per_page=100&page=2",
        "/api/graphql",
    ]
    assert url.startswith(f"{server.url}/login/oauth/authorize?")
    assert parse_qs(urlsplit(url).query) == {
        "client_id": ["cid"],
        "redirect_uri": ["https://app.example.com/cb"],
        "state": ["xyz"],
        "scope": ["read:org repo"],
    }


# --- recorded GitHub answers (octokit fixtures) -----------------------------------


def test_link_header_pagination_follows_every_next_page_of_a_recording():
    with ScriptedServer() as server:
        server.replay("paginate-issues")
        with client_for(server, SCRIPTED_TOKEN) as client:
            issues = list(
                client.paginate(
                    "/repos/octokit-fixture-org/paginate-issues/issues", subject="issues", params={"per_page": 3}
                )
            )
    recorded = json.loads((FIXTURES / "paginate-issues.json").read_text())
    assert [s.path for s in server.seen] == [entry["path"] for entry in recorded]
    assert [i["number"] for i in issues] == [i["number"] for entry in recorded for i in entry["response"]]


def test_recorded_rate_headers_are_parsed():
    recorded = json.loads((FIXTURES / "search-issues.json").read_text())[0]["headers"]
    info = parse_rate_limit(CaseInsensitiveDict({k: str(v) for k, v in recorded.items()}))
    # octokit's recordings hold the reset in milliseconds; GitHub sends seconds. Both parse.
    assert info == RateLimitInfo(limit=30, remaining=29, reset_at=RECORDED_RESET, resource="search")
    assert parse_rate_limit({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1507651200"}).reset_at == (
        RECORDED_RESET
    )
    assert parse_rate_limit({}) is None


def test_recorded_repository_and_organisation_are_parsed():
    with ScriptedServer() as server:
        server.replay("get-repository")
        server.replay("get-organization")
        with client_for(server, SCRIPTED_TOKEN) as client:
            repo = client.get_repo("octokit-fixture-org/hello-world")
            org = client.get_org("octokit-fixture-org")
    assert repo == RepositoryData(
        github_id=1000,
        full_name="octokit-fixture-org/hello-world",
        private=False,
        default_branch="master",
        pushed_at=RECORDED_RESET,
        archived=False,
    )
    assert org["login"] == "octokit-fixture-org"
    assert client.rate_limit == RateLimitInfo(limit=5000, remaining=4999, reset_at=RECORDED_RESET, resource="core")


def test_a_recorded_validation_error_names_githubs_message():
    with ScriptedServer() as server:
        server.replay("errors")
        with client_for(server, SCRIPTED_TOKEN) as client, pytest.raises(GitHubError) as raised:
            client._http.send("POST", f"{server.url}/repos/octokit-fixture-org/errors/labels", subject="the label")
    assert str(raised.value) == "GitHub answered 422 for the label: Validation Failed"


# --- REST against the emulator ----------------------------------------------------


def as_datetime(epoch):
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def test_viewer_organisations_and_organisation(emulator):
    with client_for(emulator) as client:
        viewer = client.get_viewer()
        orgs = client.list_orgs()
        org = client.get_org("acme")
    assert viewer["login"] == emulator.world.viewer.login
    assert [o["login"] for o in orgs] == emulator.world.orgs
    assert org["id"] == emulator.world.org("acme").id
    assert client.rate_limit.resource == "core" and client.rate_limit.remaining > 0
    assert client.last_scopes == "read:org, repo, user"


def test_organisation_repositories_match_the_emulator(emulator):
    with client_for(emulator) as client:
        repos = list(client.iter_org_repos("acme"))
        one = client.get_repo(repos[0].full_name)
    expected = [
        RepositoryData(r.id, r.full_name, r.private, r.default_branch, as_datetime(r.pushed_at), False)
        for r in emulator.world.repos("acme")
    ]
    assert sorted(repos, key=lambda r: r.github_id) == sorted(expected, key=lambda r: r.github_id)
    assert one == repos[0]
    assert emulator_stats(emulator)["rest"]["/orgs/{org}/repos"] == 1


def test_rest_lists_follow_link_headers_across_pages(emulator):
    with client_for(emulator) as client:
        members = list(client.paginate("/orgs/acme/members", subject="members", params={"per_page": 5}))
    assert [m["login"] for m in members] == [u.login for u in emulator.world.members("acme")]
    assert emulator_stats(emulator)["rest"]["/orgs/{org}/members"] == -(-len(members) // 5)


def test_members_get_their_names_from_one_graphql_query_per_page(make_emulator):
    server = make_emulator(repos=1, prs=(0, 0), members=130)
    with client_for(server) as client:
        members = list(client.iter_org_members("acme"))
    assert members == [MemberData(u.id, u.login, u.name or "", u.avatar_url) for u in server.world.members("acme")]
    assert any(m.name == "" for m in members) and any(m.name for m in members)
    stats = emulator_stats(server)
    assert stats["rest"]["/orgs/{org}/members"] == 2
    assert stats["graphql"]["requests"] == 2


def test_a_deleted_repository_is_not_found(make_emulator):
    server = make_emulator(repos=1)
    full_name = server.world.repos("acme")[0].full_name
    requests.post(f"{server.url}/_emulator/repos/delete", json={"full_name": full_name}, timeout=5).raise_for_status()
    with client_for(server) as client:
        with pytest.raises(NotFound, match=f"Repository {full_name} was not found"):
            client.get_repo(full_name)
        with pytest.raises(NotFound, match=f"Repository {full_name} was not found"):
            next(client.iter_pull_request_pages(*full_name.split("/")))


def test_a_revoked_token_is_bad_credentials(emulator):
    add_fault(emulator, kind="revoke_token")
    with client_for(emulator) as client:
        with pytest.raises(BadCredentials):
            client.get_viewer()
        with pytest.raises(BadCredentials):
            client.graphql("query { viewer { login } }")
    assert client.request_count == 2  # never retried


# --- GraphQL against the emulator ---------------------------------------------------


def expected_pull_request(pr):
    return PullRequestData(
        github_id=pr.id,
        number=pr.number,
        title=pr.title,
        author_login=pr.author.login if pr.author else None,
        state=pr.state.lower(),
        draft=pr.draft,
        created_at=as_datetime(pr.created_at),
        updated_at=as_datetime(pr.updated_at),
        merged_at=as_datetime(pr.merged_at),
        closed_at=as_datetime(pr.closed_at),
        additions=pr.additions,
        deletions=pr.deletions,
        changed_files=pr.changed_files,
        commits_count=pr.commits,
        reviews=tuple(
            ReviewData(r.id, r.author.login if r.author else None, r.state, as_datetime(r.submitted_at))
            for r in pr.reviews
        ),
    )


def all_pages(client, full_name, **options):
    return list(client.iter_pull_request_pages(*full_name.split("/"), **options))


def biggest_repo(server):
    return max(server.world.repos("acme"), key=lambda repo: len(repo.prs)).full_name


def test_pull_request_pages_equal_the_emulators_pull_requests_field_by_field(emulator):
    full_name = biggest_repo(emulator)
    with client_for(emulator) as client:
        pages = all_pages(client, full_name)
    got = [pr for page in pages for pr in page.pull_requests]
    world = emulator.world.pull_requests(full_name)
    assert pages[0].total_count == len(world) == len(got)
    assert {pr.github_id: pr for pr in got} == {pr.id: expected_pull_request(pr) for pr in world}
    assert [pr.updated_at for pr in got] == sorted(pr.updated_at for pr in got)
    assert any(pr.author_login is None for pr in got)  # deleted accounts come through as None
    assert {pr.state for pr in got} == {"open", "closed", "merged"}
    assert pages[-1].has_next_page is False and all(p.has_next_page for p in pages[:-1])


def test_a_pull_request_with_150_reviews_arrives_complete(emulator):
    full_name = biggest_repo(emulator)
    [heavy] = [pr for pr in emulator.world.pull_requests(full_name) if len(pr.reviews) == 150]
    with client_for(emulator) as client:
        pages = all_pages(client, full_name)
    [got] = [pr for page in pages for pr in page.pull_requests if pr.number == heavy.number]
    assert [r.github_id for r in got.reviews] == [r.id for r in heavy.reviews]
    assert got == expected_pull_request(heavy)
    # 50 reviews come with the page, the other 100 in one follow-up query.
    assert emulator_stats(emulator)["graphql"]["requests"] == len(pages) + 1


def test_pages_go_newest_first_and_resume_after_a_cursor(emulator):
    full_name = biggest_repo(emulator)
    with client_for(emulator) as client:
        client.page_size = 25
        first = next(client.iter_pull_request_pages(*full_name.split("/"), direction="DESC"))
        rest = all_pages(client, full_name, direction="DESC", after=first.end_cursor)
    got = [pr for page in [first, *rest] for pr in page.pull_requests]
    assert [pr.updated_at for pr in got] == sorted((pr.updated_at for pr in got), reverse=True)
    assert len({pr.github_id for pr in got}) == len(got) == first.total_count


def test_an_unknown_repository_is_not_found_even_with_partial_data(emulator):
    with client_for(emulator) as client, pytest.raises(NotFound, match="Repository acme/no-such-repo was not found"):
        next(client.iter_pull_request_pages("acme", "no-such-repo"))


def test_graphql_errors_are_graphql_errors(emulator):
    add_fault(emulator, kind="graphql_errors", errors=[{"message": "Field 'nope' doesn't exist on type 'Query'"}])
    with client_for(emulator) as client, pytest.raises(GraphQLError, match="Field 'nope' doesn't exist") as raised:
        client.graphql("query { viewer { login } }")
    assert raised.value.errors == [{"message": "Field 'nope' doesn't exist on type 'Query'"}]
    assert client.request_count == 1


def test_a_forbidden_graphql_error_is_no_access(emulator):
    message = "Resource protected by organization SAML enforcement."
    add_fault(emulator, kind="graphql_errors", errors=[{"type": "FORBIDDEN", "message": message}])
    with client_for(emulator) as client, pytest.raises(NoAccess, match="SAML enforcement"):
        client.graphql("query { viewer { login } }")


def test_githubs_something_went_wrong_error_is_retried_smaller_then_a_graphql_error(emulator):
    add_fault(emulator, kind="graphql_errors")  # GitHub's "Something went wrong ... may be the result of a timeout"
    with client_for(emulator, max_retries=2) as client, pytest.raises(GraphQLError, match="Something went wrong"):
        next(client.iter_pull_request_pages(*biggest_repo(emulator).split("/")))
    assert client.request_count == 3
    assert client.page_size == 12


def test_requests_per_thousand_pull_requests(make_emulator):
    server = make_emulator(repos=3, prs=(400, 700))
    total = 0
    with client_for(server) as client:
        for repo in server.world.repos("acme"):
            total += sum(len(page.pull_requests) for page in all_pages(client, repo.full_name))
    stats = emulator_stats(server)
    per_thousand = stats["total_requests"] * 1000 / total
    print(
        f"{total} PRs: {stats['total_requests']} requests ({per_thousand:.1f} per 1,000 PRs), "
        f"{stats['graphql']['points']} points"
    )
    assert total == sum(len(r.prs) for r in server.world.repos("acme"))
    assert per_thousand <= 25


# --- OAuth ------------------------------------------------------------------------


def test_an_oauth_code_is_exchanged_for_a_token_and_its_scopes(emulator):
    redirect_uri = "http://app.example.com/callback"
    with client_for(emulator, web_url=emulator.url) as client:
        url = client.oauth_authorize_url("client-1", redirect_uri, "state-1", "read:org repo")
    assert url.startswith(f"{emulator.url}/login/oauth/authorize?")
    form = {"client_id": "client-1", "redirect_uri": redirect_uri, "state": "state-1", "scope": "read:org repo"}
    answer = requests.post(f"{emulator.url}/login/oauth/authorize", data=form, allow_redirects=False, timeout=5)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]

    token, scopes = exchange_oauth_code("client-1", "secret", code, redirect_uri, web_url=emulator.url)
    assert scopes == "read:org,repo"
    with client_for(emulator, token=token) as client:
        assert client.get_viewer()["login"] == emulator.world.viewer.login

    with pytest.raises(OAuthError, match="incorrect or expired"):
        exchange_oauth_code("client-1", "secret", code, redirect_uri, web_url=emulator.url)  # codes work once
