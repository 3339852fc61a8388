"""The REST endpoints a sync needs, with GitHub's pagination semantics.

Lists paginate by ``per_page`` (default 30, max 100) and ``page`` with an
RFC 5988 ``Link`` header in GitHub's rel order (prev, next, last, first).
REST pagination is offset-based, as on GitHub: PRs edited while a client
pages through ``sort=updated`` shift between pages (that is the point).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from .data import World, parse_iso
from .rest_payloads import Renderer
from .wire import Request, Response, json_response

DOCS = "https://docs.github.com/rest"
ALL_STATES = None
STATE_FILTERS = {
    "open": frozenset({"OPEN"}),
    "closed": frozenset({"CLOSED", "MERGED"}),
    "all": ALL_STATES,
}


class NotFound(Exception):
    def __init__(self, documentation_url: str = DOCS):
        self.documentation_url = documentation_url


def not_found_response(documentation_url: str = DOCS) -> Response:
    return json_response(404, {"message": "Not Found", "documentation_url": documentation_url, "status": "404"})


@dataclass
class Page:
    start: int
    stop: int
    links: str | None


def paginate(request: Request, base_url: str, total: int, default: int = 30) -> Page:
    """Resolve ``per_page``/``page`` and build the ``Link`` header."""
    try:
        per_page = int(request.param("per_page", default))
    except ValueError:
        per_page = default
    per_page = min(max(per_page, 1), 100)
    try:
        page = max(int(request.param("page", 1)), 1)
    except ValueError:
        page = 1
    last = max(1, -(-total // per_page))
    params = [(k, v) for k, values in request.query.items() if k != "page" for v in values]

    def url(n: int) -> str:
        return f"{base_url}{quote(request.path)}?{urlencode([*params, ('page', n)])}"

    rels = []
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels.append(("first", 1))
    links = ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels) or None
    start = (page - 1) * per_page
    return Page(start, min(start + per_page, total), links)


def _page_of(items, page: Page, descending: bool = False):
    if not descending:
        return items[page.start : page.stop]
    n = len(items)
    return items[max(n - page.stop, 0) : max(n - page.start, 0)][::-1]


class RestAPI:
    """Routes ``GET`` paths to handlers returning ``(payload, Page | None)``."""

    def __init__(self, world: World, base_url: str):
        self.world = world
        self.base_url = base_url
        self.render = Renderer(base_url)
        segment = r"([^/]+)"
        number = r"(\d+)"
        table = [
            ("/", self.root),
            ("/user", self.user),
            ("/user/orgs", self.user_orgs),
            ("/orgs/{org}", self.org),
            ("/orgs/{org}/repos", self.org_repos),
            ("/orgs/{org}/members", self.org_members),
            ("/repos/{owner}/{repo}", self.repo),
            ("/repos/{owner}/{repo}/pulls", self.pulls),
            ("/repos/{owner}/{repo}/pulls/{pull_number}", self.pull),
            ("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", self.pull_reviews),
            ("/repos/{owner}/{repo}/pulls/{pull_number}/commits", self.pull_commits),
            ("/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", self.requested_reviewers),
            ("/repos/{owner}/{repo}/pulls/{pull_number}/comments", self.pull_comments),
            ("/repos/{owner}/{repo}/issues", self.issues),
            ("/users/{username}", self.get_user),
            ("/users/{username}/orgs", self.user_orgs_of),
        ]
        self.routes = []
        for template, handler in table:
            pattern = re.escape(template).replace(r"\{pull_number\}", number)
            pattern = re.sub(r"\\\{[a-z_]+\\\}", segment, pattern)
            self.routes.append((re.compile(f"^{pattern}$"), template, handler))

    def match(self, path: str):
        """Return ``(template, handler, args)`` or None."""
        if len(path) > 1:
            path = path.rstrip("/")
        for pattern, template, handler in self.routes:
            found = pattern.match(path)
            if found:
                return template, handler, found.groups()
        return None

    def handle(self, request: Request, handler, args) -> Response:
        try:
            payload, page = handler(request, *args)
        except NotFound as exc:
            return not_found_response(exc.documentation_url)
        headers = {"Link": page.links} if page is not None and page.links else {}
        return json_response(200, payload, headers)

    # -- lookups -----------------------------------------------------------

    def _org(self, login):
        org = self.world.org(login)
        if org is None:
            raise NotFound(f"{DOCS}/orgs/orgs#get-an-organization")
        return org

    def _repo(self, owner, name):
        repo = self.world.repo(f"{owner}/{name}")
        if repo is None:
            raise NotFound(f"{DOCS}/repos/repos#get-a-repository")
        return repo

    def _pr(self, owner, name, number):
        pr = self._repo(owner, name).pull_request(int(number))
        if pr is None:
            raise NotFound(f"{DOCS}/pulls/pulls#get-a-pull-request")
        return pr

    def _list(self, request, items, render, default=30):
        page = paginate(request, self.base_url, len(items), default)
        return [render(i) for i in items[page.start : page.stop]], page

    # -- endpoints ---------------------------------------------------------

    def root(self, request):
        api = self.base_url
        return {
            "current_user_url": f"{api}/user",
            "organization_url": f"{api}/orgs/{{org}}",
            "organization_repositories_url": f"{api}/orgs/{{org}}/repos{{?type,page,per_page,sort}}",
            "rate_limit_url": f"{api}/rate_limit",
            "repository_url": f"{api}/repos/{{owner}}/{{repo}}",
            "user_url": f"{api}/users/{{user}}",
            "user_organizations_url": f"{api}/user/orgs",
        }, None

    def user(self, request):
        viewer = self.world.viewer
        return self.render.full_user(viewer, private=True), None

    def user_orgs(self, request):
        return self._list(request, self.world.orgs_of(self.world.viewer), self.render.simple_org)

    def org(self, request, login):
        return self.render.full_org(self._org(login)), None

    def org_repos(self, request, login):
        org = self._org(login)
        repos = list(org.repos.values())
        kind = request.param("type", "all")
        if kind == "public":
            repos = [r for r in repos if not r.private]
        elif kind == "private":
            repos = [r for r in repos if r.private]
        elif kind == "forks":
            repos = []
        sort = request.param("sort", "created")
        attr = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}.get(sort)
        direction = request.param("direction", "asc" if sort == "full_name" else "desc")
        if attr:
            repos.sort(key=lambda r: (getattr(r, attr), r.id), reverse=direction == "desc")
        else:
            repos.sort(key=lambda r: r.full_name.lower(), reverse=direction == "desc")
        return self._list(request, repos, self.render.repo)

    def org_members(self, request, login):
        org = self._org(login)
        role = request.param("role", "all")
        members = [u for u in org.members if role == "all" or org.roles[u.id] == role]
        return self._list(request, members, self.render.simple_user)

    def repo(self, request, owner, name):
        return self.render.repo(self._repo(owner, name), full=True), None

    def pulls(self, request, owner, name):
        repo = self._repo(owner, name)
        states = STATE_FILTERS.get(request.param("state", "open"), STATE_FILTERS["open"])
        sort = request.param("sort", "created")
        field = {
            "created": "created",
            "updated": "updated",
            "popularity": "comments",
            "long-running": "long_running",
        }.get(sort, "created")
        # GitHub: "Default: desc when sort is created or sort is not specified, otherwise asc."
        direction = request.param("direction", "desc" if sort == "created" else "asc")
        _, prs = repo.sorted_index(field, states)
        base_ref, head = request.param("base"), request.param("head")
        if base_ref and base_ref != repo.default_branch:
            prs = []  # every PR targets the default branch
        elif head:
            prs = [p for p in prs if f"{repo.org.login}:{p.head_ref}".lower() == head.lower()]
        page = paginate(request, self.base_url, len(prs))
        render = self.render.pull_request
        return [render(p) for p in _page_of(prs, page, direction == "desc")], page

    def pull(self, request, owner, name, number):
        return self.render.pull_request(self._pr(owner, name, number), full=True), None

    def pull_reviews(self, request, owner, name, number):
        return self._list(request, self._pr(owner, name, number).reviews, self.render.review)

    def pull_commits(self, request, owner, name, number):
        pr = self._pr(owner, name, number)
        return self._list(request, pr.commit_list(), lambda c: self.render.commit(pr, c))

    def requested_reviewers(self, request, owner, name, number):
        pr = self._pr(owner, name, number)
        return {"users": [self.render.simple_user(u) for u in pr.requested_reviewers()], "teams": []}, None

    def pull_comments(self, request, owner, name, number):
        pr = self._pr(owner, name, number)
        return self._list(request, pr.review_comments(), lambda c: self.render.review_comment(pr, c))

    def issues(self, request, owner, name):
        repo = self._repo(owner, name)
        states = STATE_FILTERS.get(request.param("state", "open"), STATE_FILTERS["open"])
        sort = request.param("sort", "created")
        field = {"created": "created", "updated": "updated", "comments": "comments"}.get(sort, "created")
        direction = request.param("direction", "desc")
        _, prs = repo.sorted_index(field, states)
        since = request.param("since")
        if since:
            try:
                cutoff = parse_iso(since)
            except ValueError:
                cutoff = None
            if cutoff is not None:
                prs = [p for p in prs if p.updated_at >= cutoff]
        if request.param("labels") or request.param("milestone") not in (None, "*", "none"):
            prs = []  # no PR has labels or a milestone
        page = paginate(request, self.base_url, len(prs))
        return [self.render.issue(p) for p in _page_of(prs, page, direction == "desc")], page

    def get_user(self, request, login):
        user = self.world.user(login)
        if user is None:
            org = self.world.org(login)
            if org is None:
                raise NotFound(f"{DOCS}/users/users#get-a-user")
            payload = self.render.full_org(org)
            return payload, None
        return self.render.full_user(user), None

    def user_orgs_of(self, request, login):
        user = self.world.user(login)
        if user is None:
            raise NotFound(f"{DOCS}/orgs/orgs#list-organizations-for-a-user")
        return self._list(request, self.world.orgs_of(user), self.render.simple_org)
