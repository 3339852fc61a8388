"""``POST /graphql``: validation, cost, execution against GitHub's schema.

The view classes below expose the world in the shape of GitHub's GraphQL
types: a GraphQL field is an attribute, property or method (called with
the field's arguments) of the same name; anything not implemented comes
back as a GraphQL error with a path, never as a 500.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from graphql import GraphQLError, OperationDefinitionNode, execute, parse, validate
from graphql.execution.values import get_variable_values

from integrations.github.schema import load_schema

from . import ids
from .cost import QueryCost, analyze
from .data import IDS_PER_REPO, REVIEW_ID_BASE, World, iso
from .executor import FastExecutor, resolve_attribute, resolve_type


def not_found(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"type": "NOT_FOUND"})


def _invalid_cursor(cursor) -> GraphQLError:
    return GraphQLError(f"`{cursor}` does not appear to be a valid cursor.", extensions={"type": "INVALID_CURSOR"})


@dataclass
class RateInfo:
    """The graphql budget after this query, for ``rateLimit { ... }``."""

    cost: int
    limit: int
    remaining: int
    used: int
    reset_at: int
    node_count: int


class Context:
    __slots__ = ("world", "base_url", "viewer", "rate")

    def __init__(self, world: World, base_url: str, viewer, rate: RateInfo):
        self.world = world
        self.base_url = base_url
        self.viewer = viewer
        self.rate = rate


# -- connections -------------------------------------------------------------


class PageInfo:
    __slots__ = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")

    def __init__(self, has_next, has_previous, start, end):
        self.hasNextPage = has_next
        self.hasPreviousPage = has_previous
        self.startCursor = start
        self.endCursor = end


class Edge:
    __slots__ = ("cursor", "node", "role")

    def __init__(self, cursor, node, role=None):
        self.cursor = cursor
        self.node = node
        self.role = role


class Connection:
    """A page of items with cursors, built from a prepared slice."""

    __slots__ = ("totalCount", "_items", "_cursors", "pageInfo", "_roles")

    def __init__(self, total, items, cursors, has_next, has_previous, roles=None):
        self.totalCount = total
        self._items = items
        self._cursors = cursors
        self._roles = roles
        self.pageInfo = PageInfo(
            has_next, has_previous, cursors[0] if cursors else None, cursors[-1] if cursors else None
        )

    @property
    def nodes(self):
        return self._items

    @property
    def edges(self):
        roles = self._roles or [None] * len(self._items)
        return [Edge(c, n, r) for c, n, r in zip(self._cursors, self._items, roles, strict=True)]


class CountOnly:
    """A connection whose items the emulator does not model, only their count."""

    __slots__ = ("totalCount",)

    def __init__(self, total):
        self.totalCount = total


def offset_page(items, first, after, last, before, wrap):
    """Slice ``items`` like GitHub's offset-cursor connections do."""
    lo, hi = 0, len(items)
    try:
        if after is not None:
            lo = max(lo, ids.decode_offset_cursor(after) + 1)
        if before is not None:
            hi = min(hi, ids.decode_offset_cursor(before))
    except ids.InvalidCursor as exc:
        raise _invalid_cursor(exc.args[0]) from None
    hi = max(lo, hi)
    if first is not None:
        hi = min(hi, lo + first)
    elif last is not None:
        lo = max(lo, hi - last)
    window = items[lo:hi]
    cursors = [ids.offset_cursor(i) for i in range(lo, hi)]
    return [wrap(i) for i in window], cursors, hi < len(items), lo > 0


def _order_field(order_by) -> tuple[str, str]:
    if not order_by:
        return "created", "ASC"  # GitHub's default for pullRequests
    field = {"CREATED_AT": "created", "UPDATED_AT": "updated", "COMMENTS": "comments"}[order_by["field"]]
    return field, order_by.get("direction", "ASC")


def keyset_page(keys, items, field, ascending, first, after, last, before):
    """Page a sorted index by cursor *position*, not offset.

    ``after`` means strictly after the sort key stored in the cursor, so a
    PR edited mid-walk (its key changed) cannot shift the others: nothing
    is skipped, and the edited PR reappears later in an ascending walk.
    """
    n = len(keys)
    vlo, vhi = 0, n  # window in "requested order" coordinates
    try:
        if after is not None:
            key = ids.decode_keyset_cursor(after, field)
            vlo = bisect_right(keys, key) if ascending else n - bisect_left(keys, key)
        if before is not None:
            key = ids.decode_keyset_cursor(before, field)
            vhi = bisect_left(keys, key) if ascending else n - bisect_right(keys, key)
    except ids.InvalidCursor as exc:
        raise _invalid_cursor(exc.args[0]) from None
    vhi = max(vlo, vhi)
    if first is not None:
        vhi = min(vhi, vlo + first)
    elif last is not None:
        vlo = max(vlo, vhi - last)
    if ascending:
        page_keys, page_items = keys[vlo:vhi], items[vlo:vhi]
    else:
        page_keys = keys[n - vhi : n - vlo][::-1]
        page_items = items[n - vhi : n - vlo][::-1]
    cursors = [ids.keyset_cursor(field, k) for k in page_keys]
    return page_items, cursors, vhi < n, vlo > 0


# -- object views ------------------------------------------------------------


class UserView:
    __slots__ = ("user", "ctx")
    graphql_type = "User"

    def __init__(self, user, ctx):
        self.user = user
        self.ctx = ctx

    id = property(lambda self: self.user.node_id)
    databaseId = property(lambda self: self.user.id)
    login = property(lambda self: self.user.login)
    name = property(lambda self: self.user.name)
    company = property(lambda self: self.user.company)
    location = property(lambda self: self.user.location)
    email = ""  # not public unless the user chose so
    bio = None
    createdAt = property(lambda self: iso(self.user.created_at))
    resourcePath = property(lambda self: f"/{self.user.login}")
    url = property(lambda self: f"{self.ctx.base_url}/{self.user.login}")
    isViewer = property(lambda self: self.user is self.ctx.viewer)

    def avatarUrl(self, size=None):
        url = self.user.avatar_url
        return f"{url}&s={size}" if size else url

    def organizations(self, first=None, after=None, last=None, before=None):
        orgs = self.ctx.world.orgs_of(self.user)
        items, cursors, nxt, prev = offset_page(orgs, first, after, last, before, lambda o: OrgView(o, self.ctx))
        return Connection(len(orgs), items, cursors, nxt, prev)


class OrgView:
    __slots__ = ("org", "ctx")
    graphql_type = "Organization"

    def __init__(self, org, ctx):
        self.org = org
        self.ctx = ctx

    id = property(lambda self: self.org.node_id)
    databaseId = property(lambda self: self.org.id)
    login = property(lambda self: self.org.login)
    name = property(lambda self: self.org.name)
    description = property(lambda self: self.org.description)
    createdAt = property(lambda self: iso(self.org.created_at))
    resourcePath = property(lambda self: f"/{self.org.login}")
    url = property(lambda self: f"{self.ctx.base_url}/{self.org.login}")
    viewerIsAMember = property(lambda self: self.ctx.viewer.id in self.org.roles)

    def avatarUrl(self, size=None):
        url = self.org.avatar_url
        return f"{url}&s={size}" if size else url

    def membersWithRole(self, first=None, after=None, last=None, before=None):
        members = self.org.members
        items, cursors, nxt, prev = offset_page(members, first, after, last, before, lambda u: u)
        roles = [self.org.roles[u.id].upper() for u in items]
        return Connection(len(members), [UserView(u, self.ctx) for u in items], cursors, nxt, prev, roles=roles)

    def repositories(self, first=None, after=None, last=None, before=None, orderBy=None, **_):
        repos = list(self.org.repos.values())
        if orderBy:
            attr = {
                "CREATED_AT": "created_at",
                "UPDATED_AT": "updated_at",
                "PUSHED_AT": "pushed_at",
                "STARGAZERS": "stars",
            }.get(orderBy["field"], "name")
            repos.sort(key=lambda r: (getattr(r, attr), r.id), reverse=orderBy.get("direction") == "DESC")
        items, cursors, nxt, prev = offset_page(repos, first, after, last, before, lambda r: RepoView(r, self.ctx))
        return Connection(len(repos), items, cursors, nxt, prev)

    def repository(self, name):
        repo = self.org.repos.get(name.lower())
        return RepoView(repo, self.ctx) if repo else None


class RefView:
    __slots__ = ("name", "prefix", "id")
    graphql_type = "Ref"

    def __init__(self, repo, name):
        self.name = name
        self.prefix = "refs/heads/"
        self.id = f"REF_{repo.node_id[2:]}{name}"


class RepoView:
    __slots__ = ("repo", "ctx")
    graphql_type = "Repository"

    def __init__(self, repo, ctx):
        self.repo = repo
        self.ctx = ctx

    id = property(lambda self: self.repo.node_id)
    databaseId = property(lambda self: self.repo.id)
    name = property(lambda self: self.repo.name)
    nameWithOwner = property(lambda self: self.repo.full_name)
    owner = property(lambda self: OrgView(self.repo.org, self.ctx))
    description = property(lambda self: self.repo.description)
    isPrivate = property(lambda self: self.repo.private)
    visibility = property(lambda self: "PRIVATE" if self.repo.private else "PUBLIC")
    isArchived = False
    isFork = False
    isDisabled = False
    isTemplate = False
    isEmpty = False
    createdAt = property(lambda self: iso(self.repo.created_at))
    updatedAt = property(lambda self: iso(self.repo.updated_at))
    pushedAt = property(lambda self: iso(self.repo.pushed_at))
    stargazerCount = property(lambda self: self.repo.stars)
    forkCount = property(lambda self: self.repo.forks)
    resourcePath = property(lambda self: f"/{self.repo.full_name}")
    url = property(lambda self: f"{self.ctx.base_url}/{self.repo.full_name}")
    defaultBranchRef = property(lambda self: RefView(self.repo, self.repo.default_branch))

    def pullRequests(
        self,
        first=None,
        after=None,
        last=None,
        before=None,
        orderBy=None,
        states=None,
        labels=None,
        baseRefName=None,
        headRefName=None,
    ):
        field, direction = _order_field(orderBy)
        state_set = frozenset(states) if states else None
        keys, prs = self.repo.sorted_index(field, state_set)
        # No PR carries labels, and every PR targets the default branch.
        if labels or (baseRefName is not None and baseRefName != self.repo.default_branch):
            keys, prs = [], []
        elif headRefName is not None:
            pairs = [(k, p) for k, p in zip(keys, prs, strict=True) if p.head_ref == headRefName]
            keys, prs = [k for k, _ in pairs], [p for _, p in pairs]
        items, cursors, nxt, prev = keyset_page(keys, prs, field, direction == "ASC", first, after, last, before)
        ctx = self.ctx
        return Connection(len(prs), [PullRequestView(p, ctx) for p in items], cursors, nxt, prev)

    def pullRequest(self, number):
        pr = self.repo.pull_request(number)
        if pr is None:
            raise not_found(f"Could not resolve to a PullRequest with the number of {number}.")
        return PullRequestView(pr, self.ctx)


def _actor(user, ctx):
    # Deleted accounts: GraphQL answers author null (REST shows "ghost").
    return UserView(user, ctx) if user is not None else None


class PullRequestView:
    __slots__ = ("pr", "ctx")
    graphql_type = "PullRequest"

    def __init__(self, pr, ctx):
        self.pr = pr
        self.ctx = ctx

    id = property(lambda self: self.pr.node_id)
    fullDatabaseId = property(lambda self: str(self.pr.id))
    # Deprecated Int field: real ids no longer fit in 32 bits, so graphql
    # serialisation fails exactly as it would for a real client's query.
    databaseId = property(lambda self: self.pr.id)
    number = property(lambda self: self.pr.number)
    title = property(lambda self: self.pr.title)
    body = property(lambda self: self.pr.body)
    state = property(lambda self: self.pr.state)
    isDraft = property(lambda self: self.pr.draft)
    merged = property(lambda self: self.pr.state == "MERGED")
    closed = property(lambda self: self.pr.state != "OPEN")
    locked = False
    createdAt = property(lambda self: iso(self.pr.created_at))
    updatedAt = property(lambda self: iso(self.pr.updated_at))
    mergedAt = property(lambda self: iso(self.pr.merged_at))
    closedAt = property(lambda self: iso(self.pr.closed_at))
    additions = property(lambda self: self.pr.additions)
    deletions = property(lambda self: self.pr.deletions)
    changedFiles = property(lambda self: self.pr.changed_files)
    author = property(lambda self: _actor(self.pr.author, self.ctx))
    baseRefName = property(lambda self: self.pr.repo.default_branch)
    headRefName = property(lambda self: self.pr.head_ref)
    headRefOid = property(lambda self: self.pr.head_sha)
    repository = property(lambda self: RepoView(self.pr.repo, self.ctx))
    resourcePath = property(lambda self: f"/{self.pr.repo.full_name}/pull/{self.pr.number}")
    url = property(lambda self: f"{self.ctx.base_url}/{self.pr.repo.full_name}/pull/{self.pr.number}")
    permalink = url

    def commits(self, first=None, after=None, last=None, before=None):
        return CountOnly(self.pr.commits)

    def comments(self, first=None, after=None, last=None, before=None, orderBy=None):
        return CountOnly(self.pr.comments)

    def reviews(self, first=None, after=None, last=None, before=None, states=None, author=None):
        reviews = self.pr.reviews
        if states:
            wanted = set(states)
            reviews = [r for r in reviews if r.state in wanted]
        if author is not None:
            reviews = [r for r in reviews if r.author and r.author.login.lower() == author.lower()]
        ctx = self.ctx
        items, cursors, nxt, prev = offset_page(reviews, first, after, last, before, lambda r: ReviewView(r, ctx))
        return Connection(len(reviews), items, cursors, nxt, prev)


class ReviewView:
    __slots__ = ("review", "ctx")
    graphql_type = "PullRequestReview"

    def __init__(self, review, ctx):
        self.review = review
        self.ctx = ctx

    id = property(lambda self: self.review.node_id)
    fullDatabaseId = property(lambda self: str(self.review.id))
    databaseId = property(lambda self: self.review.id)
    state = property(lambda self: self.review.state)
    body = property(lambda self: self.review.body)
    submittedAt = property(lambda self: iso(self.review.submitted_at))
    createdAt = submittedAt
    publishedAt = submittedAt
    author = property(lambda self: _actor(self.review.author, self.ctx))
    pullRequest = property(lambda self: PullRequestView(self.review.pr, self.ctx))
    url = property(
        lambda self: (
            f"{self.ctx.base_url}/{self.review.pr.repo.full_name}/pull/"
            f"{self.review.pr.number}#pullrequestreview-{self.review.id}"
        )
    )


class RateLimitView:
    __slots__ = ("cost", "limit", "remaining", "used", "resetAt", "nodeCount")
    graphql_type = "RateLimit"

    def __init__(self, rate: RateInfo):
        self.cost = rate.cost
        self.limit = rate.limit
        self.remaining = rate.remaining
        self.used = rate.used
        self.resetAt = iso(rate.reset_at)
        self.nodeCount = rate.node_count


class QueryView:
    __slots__ = ("ctx",)
    graphql_type = "Query"

    def __init__(self, ctx: Context):
        self.ctx = ctx

    viewer = property(lambda self: UserView(self.ctx.viewer, self.ctx))

    def rateLimit(self, dryRun=False):
        return RateLimitView(self.ctx.rate)

    def organization(self, login):
        org = self.ctx.world.org(login)
        if org is None:
            raise not_found(f"Could not resolve to an Organization with the login of '{login}'.")
        return OrgView(org, self.ctx)

    def user(self, login):
        user = self.ctx.world.user(login)
        if user is None:
            raise not_found(f"Could not resolve to a User with the login of '{login}'.")
        return UserView(user, self.ctx)

    def repository(self, owner, name, followRenames=True):
        repo = self.ctx.world.repo(f"{owner}/{name}")
        if repo is None:
            raise not_found(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return RepoView(repo, self.ctx)

    def node(self, id):
        found = self._lookup(id)
        if found is None:
            raise not_found(f"Could not resolve to a node with the global id of '{id}'")
        return found

    def nodes(self, ids):
        out = []
        for node_id in ids:
            found = self._lookup(node_id)
            out.append(
                found
                if found is not None
                else not_found(f"Could not resolve to a node with the global id of '{node_id}'")
            )
        return out

    def _lookup(self, node_id):
        decoded = ids.decode_node_id(node_id)
        world, ctx = self.ctx.world, self.ctx
        if decoded is None:
            if node_id == ids.legacy_node_id("User", 10137):
                return UserView(world.user("ghost"), ctx)
            return None
        type_name, numbers = decoded
        if type_name == "User" and len(numbers) == 1:
            user = world.user_by_id(numbers[0])
            return UserView(user, ctx) if user else None
        if type_name == "Organization" and len(numbers) == 1:
            org = next((o for o in map(world.org, world.orgs) if o.id == numbers[0]), None)
            return OrgView(org, ctx) if org else None
        if type_name == "Repository" and len(numbers) == 1:
            repo = world.repo_by_id(numbers[0])
            return RepoView(repo, ctx) if repo else None
        if type_name in ("PullRequest", "PullRequestReview") and len(numbers) == 2:
            repo = world.repo_by_id(numbers[0])
            if repo is None:
                return None
            if type_name == "PullRequest":
                pr = repo.pull_request(numbers[1] - repo.pr_id_base)
                return PullRequestView(pr, ctx) if pr and pr.id == numbers[1] else None
            slot, k = divmod(numbers[1] - REVIEW_ID_BASE, 256)
            pr = repo.pull_request(slot - repo.index * IDS_PER_REPO)
            if pr and k < len(pr.reviews) and pr.reviews[k].id == numbers[1]:
                return ReviewView(pr.reviews[k], ctx)
        return None


# -- request handling --------------------------------------------------------


@dataclass
class Prepared:
    document: object
    operation: OperationDefinitionNode
    variables: object
    cost: QueryCost
    introspection: bool


class GraphQLService:
    """Parse/validate (cached by query text), analyse cost, execute."""

    CACHE_SIZE = 512

    def __init__(self, world: World, schema=None):
        self.world = world
        self.schema = schema or load_schema()
        self._documents: dict[str, tuple] = {}
        self._cache_lock = threading.Lock()

    def _document(self, query: str):
        cached = self._documents.get(query)
        if cached is None:
            try:
                document = parse(query)
                errors = validate(self.schema, document)
            except GraphQLError as error:
                document, errors = None, [error]
            cached = (document, [_format_error(e) for e in errors])
            with self._cache_lock:
                if len(self._documents) >= self.CACHE_SIZE:
                    self._documents.clear()
                self._documents[query] = cached
        return cached

    def prepare(self, body: bytes) -> Prepared | dict:
        """Return a Prepared query, or the error payload to answer with (200)."""
        try:
            request = json.loads(body or b"null")
        except ValueError:
            return {"errors": [{"message": "Problems parsing JSON"}]}
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}
        document, errors = self._document(request["query"])
        if errors:
            return {"errors": errors}
        operation_name = request.get("operationName") or None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
            if not operations:
                return {"errors": [{"message": f"Unknown operation named '{operation_name}'."}]}
        elif len(operations) > 1:
            return {"errors": [{"message": "Must provide operation name if query contains multiple operations."}]}
        operation = operations[0]
        if operation.operation.value != "query":
            return {
                "errors": [
                    {
                        "type": "NOT_IMPLEMENTED",
                        "message": f"The GitHub emulator only implements queries, not {operation.operation.value}s.",
                    }
                ]
            }
        raw_variables = request.get("variables") or {}
        if not isinstance(raw_variables, dict):
            return {"errors": [{"message": "Variables must be a JSON object."}]}
        variables = get_variable_values(self.schema, operation.variable_definitions or (), raw_variables)
        if isinstance(variables, list):
            return {"errors": [_format_error(e) for e in variables]}
        cost = analyze(self.schema, document, operation, variables)
        if cost.errors:
            return {"errors": [_format_error(e) for e in cost.errors]}
        introspection = any(
            getattr(sel, "name", None) is not None and sel.name.value in ("__schema", "__type")
            for sel in operation.selection_set.selections
        )
        return Prepared(document, operation, variables, cost, introspection)

    def execute(self, prepared: Prepared, ctx: Context, reference: bool = False) -> dict:
        """Run a prepared query. ``reference=True`` uses graphql-core's executor."""
        root = QueryView(ctx)
        if reference or prepared.introspection:
            result = execute(
                self.schema,
                prepared.document,
                root,
                variable_values=prepared.variables.coerced,
                operation_name=prepared.operation.name.value if prepared.operation.name else None,
                field_resolver=resolve_attribute,
                type_resolver=resolve_type,
            )
            data, errors = result.data, result.errors or []
        else:
            data, errors = FastExecutor(
                self.schema, prepared.document, prepared.operation, prepared.variables, root
            ).run()
        payload = {"data": data}
        if errors:
            payload["errors"] = [_format_error(e) for e in errors]
        return payload


def _format_error(error: GraphQLError) -> dict:
    """graphql-core's error dict, with GitHub's top-level ``type`` field."""
    formatted = error.formatted
    out = {}
    extensions = dict(formatted.get("extensions") or {})
    if "type" in extensions:
        out["type"] = extensions.pop("type")
    if "path" in formatted and formatted["path"] is not None:
        out["path"] = formatted["path"]
    if formatted.get("locations"):
        out["locations"] = formatted["locations"]
    out["message"] = formatted["message"]
    if extensions:
        out["extensions"] = extensions
    return out


def make_rate_info(cost: QueryCost, snapshot) -> RateInfo:
    return RateInfo(
        cost=cost.points,
        limit=snapshot.limit,
        remaining=snapshot.remaining,
        used=snapshot.used,
        reset_at=snapshot.reset,
        node_count=cost.node_count,
    )
