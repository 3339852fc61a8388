"""The local GitHub emulator, over real HTTP (no database needed)."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.emulator.cost import analyze
from integrations.emulator.data import build_world
from integrations.emulator.graphql_api import Context, GraphQLService, RateInfo
from integrations.emulator.server import EmulatorServer
from integrations.github.schema import load_schema, validate_document

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "octokit"
TOKEN = "test-token"
OTHER_TOKEN = "other-token"

PR_FIELDS = """
  id fullDatabaseId number title state isDraft createdAt updatedAt mergedAt closedAt
  additions deletions changedFiles author { login } commits { totalCount }
"""
PAGE_QUERY = """
query($owner: String!, $name: String!, $after: String, $first: Int = 100,
      $field: IssueOrderField = CREATED_AT, $direction: OrderDirection = ASC) {
  rateLimit { cost limit remaining resetAt used nodeCount }
  repository(owner: $owner, name: $name) {
    id databaseId nameWithOwner isPrivate pushedAt defaultBranchRef { name }
    pullRequests(first: $first, after: $after, orderBy: {field: $field, direction: $direction}) {
      totalCount
      pageInfo { hasNextPage endCursor hasPreviousPage startCursor }
      nodes {
        PR_FIELDS
        reviews(first: 10) {
          totalCount pageInfo { hasNextPage endCursor }
          nodes { id fullDatabaseId state submittedAt author { login } }
        }
      }
    }
  }
}""".replace("PR_FIELDS", PR_FIELDS)


def fixture_response(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())[0]["response"]


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    """Poll ``predicate`` until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def small_world(seed: int = 7):
    return build_world(seed=seed, orgs=("acme", "globex"), repos=3, prs=(40, 120), members=25)


@pytest.fixture(scope="module")
def server():
    srv = EmulatorServer(small_world(), tokens=(TOKEN, OTHER_TOKEN)).start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh():
    """A private server for tests that mutate data or stop it."""
    srv = EmulatorServer(build_world(seed=11, repos=1, prs=(60, 60), members=10)).start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _reset_faults(server):
    yield
    requests.delete(f"{server.url}/_emulator/faults", timeout=5)
    requests.post(f"{server.url}/_emulator/config", json={"latency_ms": 0}, timeout=5)


@pytest.fixture
def gh(server):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    yield session
    session.close()


def graphql(session, url, query, **variables):
    response = session.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def add_fault(url, **spec):
    response = requests.post(f"{url}/_emulator/faults", json=spec, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["faults"][0]


# -- seeded data ---------------------------------------------------------------


def test_world_is_deterministic_per_seed():
    first, again, other = small_world(5), small_world(5), small_world(6)
    assert first.export_repo("acme/api") == again.export_repo("acme/api")
    assert first.export_members("acme") == again.export_members("acme")
    assert first.export_repo("acme/api") != other.export_repo("acme/api")


def test_world_guarantees_tests_rely_on():
    world = build_world(seed=3, orgs=("acme", "globex"), repos=4, prs=(0, 200), members=30)
    for org in world.orgs:
        assert world.viewer in world.members(org)
        assert len(world.members(org)) == 30
        repos = world.repos(org)
        first = next(r for r in repos if r.prs)
        counts = [len(pr.reviews) for pr in first.prs]
        assert 0 in counts and 150 in counts
        for repo in repos:
            if len(repo.prs) >= 40:
                assert any(len(pr.reviews) == 150 for pr in repo.prs)
    prs = [pr for org in world.orgs for repo in world.repos(org) for pr in repo.prs]
    assert all(pr.id > 2**31 for pr in prs)
    assert {pr.state for pr in prs} == {"OPEN", "CLOSED", "MERGED"}
    assert any(pr.draft for pr in prs)
    assert 0 < sum(pr.author is None for pr in prs) < len(prs) * 0.08
    assert any(not pr.title.isascii() for pr in prs)
    for pr in prs:
        assert pr.updated_at >= pr.created_at
        assert (pr.merged_at is not None) == (pr.state == "MERGED")
        assert (pr.closed_at is None) == (pr.state == "OPEN")
        assert all(r.submitted_at >= pr.created_at for r in pr.reviews)


def test_world_scales():
    started = time.monotonic()
    big = build_world(seed=1, repos=1, prs=(50_000, 50_000))
    wide = build_world(seed=1, repos=20, prs=(1000, 1000))
    assert time.monotonic() - started < 8
    assert len(big.pull_requests("acme/api")) == 50_000
    assert sum(len(r.prs) for r in wide.repos("acme")) == 20_000
    # Reviews are generated lazily, from the PR's own random stream: stable.
    pr = big.repo("acme/api").prs[49_000]
    first_read = [(r.id, r.state, r.submitted_at) for r in pr.reviews]
    pr._reviews = None
    assert [(r.id, r.state, r.submitted_at) for r in pr.reviews] == first_read


# -- REST ------------------------------------------------------------------------


def test_rest_shapes_match_recorded_github_responses(server, gh):
    org = gh.get(f"{server.url}/orgs/acme").json()
    assert set(fixture_response("get-organization.json")) <= set(org)
    recorded_repo = fixture_response("get-repository.json")
    repo = gh.get(f"{server.url}/repos/acme/api").json()
    assert set(recorded_repo) <= set(repo)
    assert set(recorded_repo["owner"]) <= set(repo["owner"])
    assert repo["url"] == f"{server.url}/repos/acme/api"
    assert repo["full_name"] == "acme/api" and repo["owner"]["type"] == "Organization"
    recorded_issue = json.loads((FIXTURES / "paginate-issues.json").read_text())[0]["response"][0]
    issue = gh.get(f"{server.url}/repos/acme/api/issues").json()[0]
    assert set(recorded_issue) <= set(issue)
    assert set(recorded_issue["user"]) <= set(issue["user"])
    members = gh.get(f"{server.url}/orgs/acme/members", params={"per_page": 100}).json()
    assert {m["login"] for m in members} == {u.login for u in server.world.members("acme")}


def test_link_pagination_walks_every_pr_exactly_once(server, gh):
    expected = {pr.number for pr in server.world.pull_requests("acme/web")}
    url, params, seen, pages = f"{server.url}/repos/acme/web/pulls", {"state": "all", "per_page": 7}, [], 0
    while url:
        response = gh.get(url, params=params)
        assert response.status_code == 200
        seen += [pr["number"] for pr in response.json()]
        links = response.links
        if pages == 1:
            assert set(links) == {"prev", "next", "last", "first"}
            assert re.fullmatch(r'<http://[^>]+page=1>; rel="prev", .*rel="first"', response.headers["Link"])
        url, params, pages = links.get("next", {}).get("url"), None, pages + 1
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    assert seen == sorted(seen, reverse=True)  # default: created, newest first
    assert pages == -(-len(expected) // 7)


def test_pull_sorting_and_state_filters(server, gh):
    prs = server.world.pull_requests("acme/api")
    updated = gh.get(
        f"{server.url}/repos/acme/api/pulls", params={"state": "all", "sort": "updated", "direction": "asc"}
    ).json()
    stamps = [p["updated_at"] for p in updated]
    assert stamps == sorted(stamps)
    open_count = sum(pr.state == "OPEN" for pr in prs)
    listed = gh.get(f"{server.url}/repos/acme/api/pulls", params={"per_page": 100}).json()
    assert len(listed) == open_count and all(p["state"] == "open" for p in listed)


def test_prs_appear_in_issues_with_pull_request_key(server, gh):
    issues = gh.get(f"{server.url}/repos/acme/api/issues", params={"state": "all", "per_page": 100}).json()
    prs = {pr.number: pr for pr in server.world.pull_requests("acme/api")}
    assert issues and all("pull_request" in i for i in issues)
    for issue in issues:
        pr = prs[issue["number"]]
        assert issue["id"] != pr.id  # issue ids are a different id space
        assert issue["title"] == pr.title and issue["state"] == pr.rest_state
        assert (issue["pull_request"]["merged_at"] is not None) == (pr.state == "MERGED")


def test_pull_detail_reviews_and_ghost_author(server, gh):
    world = server.world
    pr = next(p for org in world.orgs for r in world.repos(org) for p in r.prs if p.author is None and p.reviews)
    base = f"{server.url}/repos/{pr.repo.full_name}/pulls/{pr.number}"
    detail = gh.get(base).json()
    assert detail["user"]["login"] == "ghost" and detail["user"]["id"] == 10137
    assert detail["id"] == pr.id and detail["node_id"] == pr.node_id
    for key in ("additions", "deletions", "changed_files", "commits", "merged", "draft", "merged_at", "closed_at"):
        assert key in detail
    assert detail["additions"] == pr.additions and detail["commits"] == pr.commits
    reviews = gh.get(f"{base}/reviews", params={"per_page": 100}).json()
    assert [r["id"] for r in reviews] == [r.id for r in pr.reviews]
    assert len(gh.get(f"{base}/commits", params={"per_page": 100}).json()) == min(pr.commits, 100)
    assert set(gh.get(f"{base}/requested_reviewers").json()) == {"users", "teams"}
    assert isinstance(gh.get(f"{base}/comments").json(), list)


def test_user_and_org_endpoints(server, gh):
    viewer = gh.get(f"{server.url}/user")
    assert viewer.json()["login"] == "octocat"
    assert viewer.headers["X-OAuth-Scopes"]
    assert {o["login"] for o in gh.get(f"{server.url}/user/orgs").json()} == {"acme", "globex"}
    member = server.world.members("acme")[3]
    profile = gh.get(f"{server.url}/users/{member.login}").json()
    assert profile["name"] == member.name and profile["avatar_url"].startswith(
        "https://avatars.githubusercontent.com/u/"
    )
    assert "acme" in {o["login"] for o in gh.get(f"{server.url}/users/{member.login}/orgs").json()}
    repos = gh.get(f"{server.url}/orgs/acme/repos").json()
    assert {r["name"] for r in repos} == {"api", "web", "billing-service"}
    assert gh.get(f"{server.url}/rate_limit").json()["resources"]["core"]["limit"] == 5000


def test_authentication_required(server):
    assert requests.get(f"{server.url}/user").status_code == 401
    bad = requests.get(f"{server.url}/user", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert requests.get(f"{server.url}/user", headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    assert requests.post(f"{server.url}/graphql", json={"query": "{ viewer { login } }"}).status_code == 401


def test_not_found(server, gh):
    for path in ("/orgs/nope", "/repos/acme/nope", "/users/nobody-here", "/repos/acme/api/pulls/99999", "/nope/x"):
        response = gh.get(f"{server.url}{path}")
        assert response.status_code == 404, path
        assert response.json()["message"] == "Not Found"


def test_rate_limit_headers_present_and_decreasing(server, gh):
    first = gh.get(f"{server.url}/user").headers
    second = gh.get(f"{server.url}/repos/acme/api").headers
    for headers in (first, second):
        for name in ("Limit", "Remaining", "Reset", "Used", "Resource"):
            assert f"X-RateLimit-{name}" in headers
        assert headers["X-GitHub-Request-Id"] and headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(second["X-RateLimit-Remaining"]) == int(first["X-RateLimit-Remaining"]) - 1
    assert first["X-RateLimit-Resource"] == "core" and first["X-RateLimit-Limit"] == "5000"
    gql = gh.post(f"{server.url}/graphql", json={"query": "{ viewer { login } }"}).headers
    assert gql["X-RateLimit-Resource"] == "graphql"


def test_keep_alive_and_content_length(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/user", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        body = response.read()
        assert response.version == 11 and int(response.getheader("Content-Length")) == len(body)
    conn.close()


# -- GraphQL -----------------------------------------------------------------------


def test_graphql_page_of_prs_with_reviews(server, gh):
    data = graphql(gh, server.url, PAGE_QUERY, owner="acme", name="api")
    assert "errors" not in data
    repo = data["data"]["repository"]
    truth = server.world.pull_requests("acme/api")
    connection = repo["pullRequests"]
    assert repo["nameWithOwner"] == "acme/api" and connection["totalCount"] == len(truth)
    nodes = connection["nodes"]
    assert [n["number"] for n in nodes] == [pr.number for pr in truth[:100]]
    for node, pr in zip(nodes, truth, strict=False):
        assert node["fullDatabaseId"] == str(pr.id) and isinstance(node["fullDatabaseId"], str)
        assert node["author"] == ({"login": pr.author.login} if pr.author else None)
        assert node["reviews"]["totalCount"] == len(pr.reviews)
        assert [r["fullDatabaseId"] for r in node["reviews"]["nodes"]] == [str(r.id) for r in pr.reviews[:10]]
    # 1 request for the PR page + 100 for reviews + 100 for commits -> 201 / 100 -> 2 points.
    assert data["data"]["rateLimit"]["cost"] == 2


def test_graphql_paginates_a_150_review_pr(server, gh):
    pr = next(p for p in server.world.pull_requests("acme/api") if len(p.reviews) == 150)
    query = """query($n: Int!, $after: String) { repository(owner: "acme", name: "api") { pullRequest(number: $n) {
      reviews(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        nodes { fullDatabaseId state author { login } } } } } }"""
    ids, after, pages = [], None, 0
    while True:
        reviews = graphql(gh, server.url, query, n=pr.number, after=after)["data"]["repository"]["pullRequest"][
            "reviews"
        ]
        assert reviews["totalCount"] == 150
        ids += [int(r["fullDatabaseId"]) for r in reviews["nodes"]]
        pages += 1
        if not reviews["pageInfo"]["hasNextPage"]:
            break
        after = reviews["pageInfo"]["endCursor"]
    assert pages == 2 and ids == [r.id for r in pr.reviews]


def test_keyset_cursor_survives_prs_touched_mid_walk(fresh):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    walk, after = [], None
    while True:
        conn = graphql(session, fresh.url, PAGE_QUERY, owner="acme", name="api", first=10, after=after,
                       field="UPDATED_AT", direction="ASC")["data"]["repository"]["pullRequests"]  # fmt: skip
        walk += [(n["number"], n["updatedAt"], n["title"]) for n in conn["nodes"]]
        if len(walk) == 20:
            touched = requests.post(
                f"{fresh.url}/_emulator/repos/touch", json={"full_name": "acme/api", "count": 3}, timeout=5
            ).json()["numbers"]
            assert set(touched) <= {n for n, _, _ in walk}  # already seen: they move to the end
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    numbers = [n for n, _, _ in walk]
    assert set(numbers) == set(range(1, 61))  # nothing skipped
    assert len(numbers) == 63 and sorted(numbers[-3:]) == sorted(touched)
    assert all("(edited)" in title for _, _, title in walk[-3:])
    stamps = [u for _, u, _ in walk]
    assert stamps == sorted(stamps)


def test_graphql_errors_never_500(server, gh):
    for query in ("{ viewer { login ", "{ viewer { notAField } }", "query { repository { id } }"):
        response = gh.post(f"{server.url}/graphql", json={"query": query})
        assert response.status_code == 200 and response.json()["errors"]
    bad_json = gh.post(f"{server.url}/graphql", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 200 and bad_json.json()["errors"]
    assert gh.post(f"{server.url}/graphql", json={"query": 1}).json()["errors"]
    assert validate_document("{ viewer { notAField } }") and validate_document("{ viewer { login } }") == []


def test_unimplemented_field_is_a_graphql_error(server, gh):
    body = graphql(
        gh, server.url, '{ viewer { login status { message } } repository(owner: "acme", name: "api") { id } }'
    )
    assert body["data"]["viewer"] == {"login": "octocat", "status": None}
    assert body["data"]["repository"]["id"]
    (error,) = body["errors"]
    assert error["path"] == ["viewer", "status"] and "not implemented" in error["message"]


def test_pagination_limits(server, gh):
    body = graphql(
        gh, server.url, '{ repository(owner: "acme", name: "api") { pullRequests(first: 101) { nodes { id } } } }'
    )
    assert "data" not in body
    assert body["errors"][0]["message"] == (
        "Requesting 101 records on the `pullRequests` connection exceeds the `first` limit of 100 records."
    )
    body = graphql(gh, server.url, '{ repository(owner: "acme", name: "api") { pullRequests { nodes { id } } } }')
    assert "must provide a `first` or `last`" in body["errors"][0]["message"]
    body = graphql(gh, server.url, '{ repository(owner: "acme", name: "api") { pullRequests { totalCount } } }')
    assert body["data"]["repository"]["pullRequests"]["totalCount"] == len(server.world.pull_requests("acme/api"))


def test_deleted_repository_is_not_found(fresh):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    assert requests.post(f"{fresh.url}/_emulator/repos/delete", json={"full_name": "acme/api"}).status_code == 200
    body = graphql(session, fresh.url, '{ viewer { login } repository(owner: "acme", name: "api") { id } }')
    assert body["data"] == {"viewer": {"login": "octocat"}, "repository": None}
    (error,) = body["errors"]
    assert error["type"] == "NOT_FOUND" and error["path"] == ["repository"] and error["locations"]
    assert error["message"] == "Could not resolve to a Repository with the name 'acme/api'."
    assert session.get(f"{fresh.url}/repos/acme/api").status_code == 404


def test_graphql_budget_and_new_prs(fresh):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    numbers = requests.post(f"{fresh.url}/_emulator/repos/add_prs", json={"full_name": "acme/api", "count": 2}).json()
    assert numbers["numbers"] == [61, 62]
    body = graphql(session, fresh.url, PAGE_QUERY, owner="acme", name="api", first=1, direction="DESC")
    assert body["data"]["repository"]["pullRequests"]["totalCount"] == 62
    assert body["data"]["repository"]["pullRequests"]["nodes"][0]["state"] == "OPEN"
    left = fresh.app.limiter.peek(TOKEN, "graphql").remaining
    fresh.app.limiter.charge(TOKEN, "graphql", left - 1)  # leave 1 point; a full PAGE_QUERY costs 2
    response = session.post(
        f"{fresh.url}/graphql", json={"query": PAGE_QUERY, "variables": {"owner": "a", "name": "b"}}
    )
    assert response.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert response.headers["X-RateLimit-Remaining"] == "1"


def test_node_lookups(server, gh):
    pr = server.world.pull_requests("acme/api")[4]
    user = server.world.members("acme")[2]
    query = """query($ids: [ID!]!, $id: ID!) {
      node(id: $id) { __typename ... on PullRequest { number fullDatabaseId } }
      nodes(ids: $ids) { __typename ... on User { login name avatarUrl databaseId } ... on PullRequest { number } }
    }"""
    body = graphql(gh, server.url, query, id=pr.node_id, ids=[user.node_id, pr.node_id, "PR_bogus"])
    assert body["data"]["node"] == {"__typename": "PullRequest", "number": pr.number, "fullDatabaseId": str(pr.id)}
    first, second, missing = body["data"]["nodes"]
    assert first == {
        "__typename": "User",
        "login": user.login,
        "name": user.name,
        "avatarUrl": user.avatar_url,
        "databaseId": user.id,
    }
    assert second == {"__typename": "PullRequest", "number": pr.number} and missing is None
    assert body["errors"][0]["path"] == ["nodes", 2] and body["errors"][0]["type"] == "NOT_FOUND"


def test_org_members_connection(server, gh):
    query = """query($after: String) { organization(login: "acme") { login name
      membersWithRole(first: 10, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        nodes { login name databaseId } edges { role cursor } } } }"""
    logins, after = [], None
    while True:
        org = graphql(gh, server.url, query, after=after)["data"]["organization"]
        logins += [n["login"] for n in org["membersWithRole"]["nodes"]]
        if not org["membersWithRole"]["pageInfo"]["hasNextPage"]:
            break
        after = org["membersWithRole"]["pageInfo"]["endCursor"]
    assert logins == [u.login for u in server.world.members("acme")]


def test_cost_follows_githubs_documented_formula(server, gh):
    schema = load_schema()
    # The example from GitHub's docs: 1 + 100 + 100*50 requests = 5101 -> 51 points.
    from graphql import parse
    from graphql.execution.values import get_variable_values

    document = parse("""{ viewer { login repositories(first: 100) { edges { node { id
        issues(first: 50) { edges { node { id labels(first: 60) { edges { node { id name } } } } } } } } } } }""")
    operation = document.definitions[0]
    cost = analyze(schema, document, operation, get_variable_values(schema, [], {}))
    assert (cost.requests, cost.points, cost.node_count) == (5101, 51, 100 + 5000 + 300_000)

    requests.post(f"{server.url}/_emulator/stats/reset")
    first = graphql(gh, server.url, PAGE_QUERY, owner="acme", name="api")
    query = """{ rateLimit { cost remaining } repository(owner: "acme", name: "api") { pullRequests(first: 50) {
        nodes { reviews(first: 100) { nodes { id } } } } } }"""
    second = graphql(gh, server.url, query)  # 1 + 50 requests -> 0.51 -> 1 point
    assert first["data"]["rateLimit"]["cost"] == 2 and second["data"]["rateLimit"]["cost"] == 1
    stats = requests.get(f"{server.url}/_emulator/stats").json()
    assert stats["graphql"] == {"requests": 2, "points": 3}
    assert second["data"]["rateLimit"]["remaining"] < first["data"]["rateLimit"]["remaining"]


def test_stats_count_rest_by_template_and_reset(server, gh):
    requests.post(f"{server.url}/_emulator/stats/reset")
    gh.get(f"{server.url}/repos/acme/api/pulls")
    gh.get(f"{server.url}/repos/acme/web/pulls")
    gh.get(f"{server.url}/repos/acme/web/pulls/1/reviews")
    stats = requests.get(f"{server.url}/_emulator/stats").json()
    assert stats["total_requests"] == 3
    assert stats["rest"] == {"/repos/{owner}/{repo}/pulls": 2, "/repos/{owner}/{repo}/pulls/{pull_number}/reviews": 1}
    reset = requests.post(f"{server.url}/_emulator/stats/reset").json()
    assert reset["total_requests"] == 0 and reset["rest"] == {} and reset["graphql"] == {"requests": 0, "points": 0}


def test_fast_executor_matches_graphql_core(server):
    service = GraphQLService(server.world)
    ctx = Context(server.world, server.url, server.world.viewer, RateInfo(1, 5000, 4999, 1, 0, 0))
    pr = server.world.pull_requests("acme/api")[7]
    queries = [
        (PAGE_QUERY, {"owner": "acme", "name": "api", "first": 30}),
        ('{ viewer { login databaseId name isViewer } nodes(ids: ["x"]) { id } }', {}),
        ('{ repository(owner: "acme", name: "api") { pullRequest(number: 5) { databaseId title } } }', {}),
        (
            "query($id: ID!) { node(id: $id) { ...F } } fragment F on PullRequest { title author { login } }",
            {"id": pr.node_id},
        ),
        ('{ organization(login: "acme") { membersWithRole(first: 5) { edges { role node { login } } } } }', {}),
        ('{ repository(owner: "acme", name: "zzz") { id } viewer { status { message } } }', {}),
        ('{ repository(owner: "acme", name: "api") { id pullRequests(first: 1, after: "bad") { totalCount } } }', {}),
    ]
    for query, variables in queries:
        prepared = service.prepare(json.dumps({"query": query, "variables": variables}).encode())
        assert service.execute(prepared, ctx) == service.execute(prepared, ctx, reference=True), query


def test_page_of_100_prs_executes_fast(server):
    service = GraphQLService(server.world)
    ctx = Context(server.world, server.url, server.world.viewer, RateInfo(1, 5000, 4999, 1, 0, 0))
    prepared = service.prepare(
        json.dumps({"query": PAGE_QUERY, "variables": {"owner": "acme", "name": "api"}}).encode()
    )
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        service.execute(prepared, ctx)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.05


# -- faults ------------------------------------------------------------------------


def test_status_fault_with_after_and_times(server, gh):
    add_fault(server.url, kind="status", status=502, path="/repos/acme/*", after=1, times=2)
    statuses = [gh.get(f"{server.url}/repos/acme/api").status_code for _ in range(4)]
    assert statuses == [200, 502, 502, 200]
    assert gh.get(f"{server.url}/user").status_code == 200
    assert requests.get(f"{server.url}/_emulator/faults").json()["faults"] == []


def test_primary_rate_limit_fault_expires_at_reset(server, gh):
    add_fault(server.url, kind="rate_limit", reset_in=1)
    limited = gh.get(f"{server.url}/user")
    assert limited.status_code == 403 and limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.json()["message"].startswith("API rate limit exceeded")
    reset = int(limited.headers["X-RateLimit-Reset"])
    body = gh.post(f"{server.url}/graphql", json={"query": "{ viewer { login } }"})
    assert body.status_code == 200 and body.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert body.headers["X-RateLimit-Remaining"] == "0"
    wait_for(lambda: gh.get(f"{server.url}/user").status_code == 200, timeout=5)
    assert time.time() >= reset


def test_secondary_rate_limit_and_bare_403(server, gh):
    add_fault(server.url, kind="secondary_rate_limit", retry_after=2, times=1)
    response = gh.get(f"{server.url}/user")
    assert response.status_code == 403 and response.headers["Retry-After"] == "2"
    assert "secondary rate limit" in response.json()["message"]
    assert int(response.headers["X-RateLimit-Remaining"]) > 0
    add_fault(server.url, kind="bare_403", times=1)
    response = gh.get(f"{server.url}/user")
    assert response.status_code == 403 and "Retry-After" not in response.headers
    assert response.json()["message"] == "Resource not accessible by integration"
    assert int(response.headers["X-RateLimit-Remaining"]) > 0
    assert gh.get(f"{server.url}/user").status_code == 200


def test_delay_and_latency(server, gh):
    add_fault(server.url, kind="delay", delay_ms=300, times=1)
    started = time.monotonic()
    assert gh.get(f"{server.url}/user").status_code == 200
    assert time.monotonic() - started >= 0.3
    requests.post(f"{server.url}/_emulator/config", json={"latency_ms": 150})
    started = time.monotonic()
    gh.get(f"{server.url}/user")
    assert time.monotonic() - started >= 0.15


def test_latency_is_the_time_to_answer_with_the_work_inside_it(server, gh, monkeypatch):
    """GitHub's own computing is part of its latency: a slow answer is not delayed by the latency on top."""
    app = server.app
    api = app._api

    def slow_api(*args, **kwargs):
        time.sleep(0.4)
        return api(*args, **kwargs)

    monkeypatch.setattr(app, "_api", slow_api)
    requests.post(f"{server.url}/_emulator/config", json={"latency_ms": 600})
    started = time.monotonic()
    assert gh.get(f"{server.url}/user").status_code == 200
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 0.9, elapsed  # latency added after the work would be 1.0 s
    requests.post(f"{server.url}/_emulator/config", json={"latency_ms": 200})
    started = time.monotonic()
    assert gh.get(f"{server.url}/user").status_code == 200
    assert time.monotonic() - started >= 0.4  # work longer than the latency: answered when ready


def test_hang_gets_no_answer_and_stop_still_returns(fresh):
    add_fault(fresh.url, kind="hang", path="/user")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{fresh.url}/user", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=0.5)
    started = time.monotonic()
    fresh.stop()
    assert time.monotonic() - started < 2


def test_revoke_token_until_cleared(server, gh):
    add_fault(server.url, kind="revoke_token", token=TOKEN)
    assert gh.get(f"{server.url}/user").status_code == 401
    assert gh.get(f"{server.url}/user").json()["message"] == "Bad credentials"
    other = requests.get(f"{server.url}/user", headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
    assert other.status_code == 200
    requests.post(f"{server.url}/_emulator/faults/clear")
    assert gh.get(f"{server.url}/user").status_code == 200


def test_graphql_errors_fault(server, gh):
    add_fault(server.url, kind="graphql_errors", times=1)
    body = gh.post(f"{server.url}/graphql", json={"query": "{ viewer { login } }"})
    assert body.status_code == 200
    assert body.json()["data"] is None and body.json()["errors"][0]["type"] == "INTERNAL"
    assert gh.get(f"{server.url}/user").status_code == 200  # REST unaffected
    assert "errors" not in gh.post(f"{server.url}/graphql", json={"query": "{ viewer { login } }"}).json()


# -- OAuth and control --------------------------------------------------------------


def test_oauth_flow(server):
    redirect = "http://localhost:9999/callback"
    params = {"client_id": "abc", "redirect_uri": redirect, "state": "s1", "scope": "read:org repo"}
    page = requests.get(f"{server.url}/login/oauth/authorize", params=params)
    assert page.status_code == 200 and "Authorize" in page.text and "Cancel" in page.text
    approved = requests.post(
        f"{server.url}/login/oauth/authorize", data={**params, "authorize": "1"}, allow_redirects=False
    )
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect and query["state"] == ["s1"]
    exchange = {"client_id": "abc", "client_secret": "secret", "code": query["code"][0], "redirect_uri": redirect}
    token = requests.post(
        f"{server.url}/login/oauth/access_token", data=exchange, headers={"Accept": "application/json"}
    ).json()
    assert token["token_type"] == "bearer" and token["scope"] == "read:org,repo"
    assert token["access_token"].startswith("gho_")
    me = requests.get(f"{server.url}/user", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200 and me.json()["login"] == "octocat"
    assert me.headers["X-OAuth-Scopes"] == "read:org, repo"
    reused = requests.post(
        f"{server.url}/login/oauth/access_token", data=exchange, headers={"Accept": "application/json"}
    )
    assert reused.status_code == 200 and reused.json()["error"] == "bad_verification_code"
    cancel_href = re.search(r'href="([^"]+)" id="js-oauth-cancel"', page.text).group(1).replace("&amp;", "&")
    cancelled = requests.get(f"{server.url}{cancel_href}", allow_redirects=False)
    assert cancelled.status_code == 302
    denied = parse_qs(urlsplit(cancelled.headers["Location"]).query)
    assert denied["error"] == ["access_denied"] and denied["state"] == ["s1"]


def test_export_endpoints_match_world(server):
    exported = requests.get(f"{server.url}/_emulator/export/acme/api").json()
    assert exported["prs"] == server.world.export_repo("acme/api")["prs"]
    sample = exported["prs"][0]
    assert {"id", "number", "title", "author_login", "state", "draft", "reviews"} <= set(sample)
    members = requests.get(f"{server.url}/_emulator/export/orgs/acme/members").json()["members"]
    assert {m["login"] for m in members} == {u.login for u in server.world.members("acme")}
    assert {"id", "login", "name", "avatar_url"} <= set(members[0])
    assert requests.get(f"{server.url}/_emulator/export/acme/nope").status_code == 404


def test_management_command_serves(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "manage.py", "github_emulator", "--port", "0", "--repos", "1", "--prs", "3..3",
         "--members", "5", "--token", "cmd-token"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        url = re.search(r"http://[\d.]+:\d+", line).group(0)
        response = requests.get(f"{url}/user", headers={"Authorization": "Bearer cmd-token"}, timeout=5)
        assert response.status_code == 200 and response.json()["login"] == "octocat"
    finally:
        process.terminate()
        process.wait(timeout=10)
