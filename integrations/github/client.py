"""The GitHub client: REST for accounts, orgs, repositories and members; GraphQL for pull requests.

Base URLs come from settings (api.github.com, GitHub Enterprise Server's ``/api/v3`` and
``/api/graphql``, or the emulator) and can be overridden per client. HTTP, retries and rate
limits live in ``transport``; pull request paging in ``pulls``; GraphQL documents in ``queries``.
"""

import time
from urllib.parse import quote

from django.conf import settings

from . import oauth, pulls, queries
from .errors import GraphQLError, NoAccess, NotFound
from .oauth import exchange_oauth_code
from .transport import Transport, json_body, not_found_message
from .types import (
    MemberData,
    PullRequestData,
    PullRequestPage,
    RateLimitInfo,
    RepositoryData,
    ReviewData,
    repository_from_rest,
)

__all__ = [
    "GitHubClient",
    "MemberData",
    "PullRequestData",
    "PullRequestPage",
    "RateLimitInfo",
    "RepositoryData",
    "ReviewData",
    "exchange_oauth_code",
]


def _setting(value, name):
    return getattr(settings, name) if value is None else value


class GitHubClient:
    """One token, one ``requests.Session``; use as a context manager or call ``close()``.

    ``waiter(until, reason)`` is called for every rate-limit pause (default: sleep until then);
    ``on_attempt()`` before every HTTP attempt; ``sleep`` for retry backoff.
    """

    def __init__(
        self,
        token,
        *,
        api_url=None,
        graphql_url=None,
        web_url=None,
        connect_timeout=None,
        read_timeout=None,
        max_retries=None,
        backoff=None,
        backoff_max=None,
        waiter=None,
        on_attempt=None,
        sleep=time.sleep,
        max_wait_seconds=3600,
    ):
        self.api_url = _setting(api_url, "GITHUB_API_URL").rstrip("/")
        self.graphql_url = _setting(graphql_url, "GITHUB_GRAPHQL_URL").rstrip("/")
        self.web_url = _setting(web_url, "GITHUB_WEB_URL").rstrip("/")
        self._http = Transport(
            token,
            connect_timeout=_setting(connect_timeout, "GITHUB_CONNECT_TIMEOUT"),
            read_timeout=_setting(read_timeout, "GITHUB_READ_TIMEOUT"),
            max_retries=_setting(max_retries, "GITHUB_MAX_RETRIES"),
            backoff=_setting(backoff, "GITHUB_BACKOFF_SECONDS"),
            backoff_max=_setting(backoff_max, "GITHUB_BACKOFF_MAX_SECONDS"),
            waiter=waiter,
            on_attempt=on_attempt,
            sleep=sleep,
            max_wait_seconds=max_wait_seconds,
        )
        self._page_size = pulls.AdaptivePageSize()

    def close(self):
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def request_count(self):
        """HTTP requests sent, retries included."""
        return self._http.request_count

    @property
    def rate_limit(self):
        """The last RateLimitInfo GitHub sent, or None (never seen, or rate limiting off)."""
        return self._http.rate_limit

    @property
    def page_size(self):
        """Pull requests asked for per GraphQL page right now (5–100)."""
        return self._page_size.value

    @page_size.setter
    def page_size(self, value):
        """Start smaller (an incremental sync's first page); it grows back like after a timeout."""
        self._page_size.set(value)

    @property
    def last_scopes(self):
        """``X-OAuth-Scopes`` of the last answer ("read:org, repo"), or None (not sent for fine-grained tokens)."""
        return self._http.last_scopes

    # --- REST ----------------------------------------------------------------

    def _get(self, path, subject, params=None):
        return json_body(self._http.send("GET", f"{self.api_url}{path}", subject=subject, params=params), subject)

    def paginate(self, path, *, subject, params=None):
        """Every item of a REST list, following GitHub's Link headers page by page."""
        for page in self._http.paginate(f"{self.api_url}{path}", subject=subject, params=params):
            yield from page

    def get_viewer(self):
        # GitHub docs: https://docs.github.com/en/rest/users/users#get-the-authenticated-user
        return self._get("/user", "your GitHub account")

    def list_orgs(self):
        # GitHub docs: https://docs.github.com/en/rest/orgs/orgs#list-organizations-for-the-authenticated-user
        return list(self.paginate("/user/orgs", subject="your organisations", params={"per_page": 100}))

    def get_org(self, login):
        # GitHub docs: https://docs.github.com/en/rest/orgs/orgs#get-an-organization
        return self._get(f"/orgs/{quote(login)}", f"organisation {login}")

    def iter_org_repos(self, org):
        # GitHub docs: https://docs.github.com/en/rest/repos/repos#list-organization-repositories
        path = f"/orgs/{quote(org)}/repos"
        for payload in self.paginate(path, subject=f"organisation {org}", params={"per_page": 100}):
            yield repository_from_rest(payload)

    def get_repo(self, full_name):
        owner, _, name = full_name.partition("/")
        # GitHub docs: https://docs.github.com/en/rest/repos/repos#get-a-repository
        return repository_from_rest(self._get(f"/repos/{quote(owner)}/{quote(name)}", f"repository {full_name}"))

    def iter_org_members(self, org):
        """Members with their display names: one REST page, then one GraphQL query for its names."""
        url = f"{self.api_url}/orgs/{quote(org)}/members"
        # GitHub docs: https://docs.github.com/en/rest/orgs/members#list-organization-members
        for page in self._http.paginate(url, subject=f"the members of organisation {org}", params={"per_page": 100}):
            names = self._user_names([m["node_id"] for m in page if m.get("node_id")])
            for member in page:
                yield MemberData(
                    github_id=int(member["id"]),
                    login=member["login"],
                    name=names.get(member.get("node_id")) or "",
                    avatar_url=member.get("avatar_url") or "",
                )

    def _user_names(self, node_ids):
        if not node_ids:
            return {}
        # A user deleted since the REST page comes back null with a NOT_FOUND error: no name, no failure.
        # GitHub docs: https://docs.github.com/en/graphql/reference/queries#nodes
        data = self._graphql(
            {"query": queries.USER_NAMES, "variables": {"ids": node_ids}},
            subject="member names",
            tolerate_not_found=True,
        )
        return {node["id"]: node.get("name") or "" for node in data.get("nodes") or [] if node and node.get("id")}

    # --- GraphQL -------------------------------------------------------------

    def graphql(self, query, variables=None):
        """The ``data`` of one GraphQL query; typed errors (NotFound, GraphQLError, ...) on failure."""
        return self._graphql({"query": query, "variables": variables or {}}, subject="the requested data")

    def _graphql(self, payload, *, subject, on_overload=None, tolerate_not_found=False):
        # GitHub docs: https://docs.github.com/en/graphql/guides/forming-calls-with-graphql
        response = self._http.send(
            "POST", self.graphql_url, json=payload, subject=subject, graphql=True, on_overload=on_overload
        )
        body = json_body(response, subject)
        if not isinstance(body, dict):
            raise GraphQLError(f"GitHub answered the query for {subject} without data.")
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        types = {e.get("type") for e in errors}
        if errors and not (tolerate_not_found and types == {"NOT_FOUND"}):
            if "NOT_FOUND" in types:
                raise NotFound(not_found_message(subject))
            messages = "; ".join(str(e.get("message", "")).strip() for e in errors) or "no details"
            if "FORBIDDEN" in types:
                raise NoAccess(f"GitHub denied access to {subject}: {messages}")
            raise GraphQLError(f"GitHub rejected the query for {subject}: {messages}", errors)
        if body.get("data") is None:
            raise GraphQLError(f"GitHub answered the query for {subject} without data.")
        return body["data"]

    def iter_pull_request_pages(self, owner, name, *, after=None, direction="ASC"):
        """PullRequestPages of ``owner/name`` ordered by updated time, starting after cursor ``after``."""
        return pulls.iter_pull_request_pages(
            self._graphql, self._page_size, owner, name, after=after, direction=direction
        )

    # --- OAuth ---------------------------------------------------------------

    def oauth_authorize_url(self, client_id, redirect_uri, state, scope):
        return oauth.authorize_url(self.web_url, client_id, redirect_uri, state, scope)
