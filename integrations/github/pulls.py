"""Pull requests and their reviews, a GraphQL page at a time, with an adaptive page size."""

from . import queries
from .errors import NotFound
from .transport import not_found_message
from .types import PullRequestData, PullRequestPage, ReviewData, parse_datetime

PR_STATES = {"OPEN": "open", "CLOSED": "closed", "MERGED": "merged"}


class AdaptivePageSize:
    """Halves after a GraphQL timeout (502/504); doubles back after a run of successes.

    GitHub stops a GraphQL query after about 10 s and answers 502: the same big page would
    time out again, a smaller one usually fits.
    """

    def __init__(self, maximum=100, minimum=5, recover_after=5):
        self.maximum = maximum
        self.minimum = minimum
        self.recover_after = recover_after
        self.value = maximum
        self._successes = 0

    def set(self, value):
        self.value = max(self.minimum, min(self.maximum, int(value)))
        self._successes = 0

    def shrink(self):
        self.value = max(self.minimum, self.value // 2)
        self._successes = 0

    def succeeded(self):
        self._successes += 1
        if self._successes >= self.recover_after and self.value < self.maximum:
            self.value = min(self.maximum, self.value * 2)
            self._successes = 0


def iter_pull_request_pages(graphql, page_size, owner, name, *, after=None, direction="ASC"):
    """Yield PullRequestPages ordered by updated time; every yielded pull request has all its reviews.

    ``graphql(payload, subject=..., on_overload=...)`` sends one query and returns its ``data``.
    """
    if direction not in ("ASC", "DESC"):
        raise ValueError(f"direction must be 'ASC' or 'DESC', not {direction!r}")
    subject = f"repository {owner}/{name}"
    while True:
        variables = {"owner": owner, "name": name, "after": after, "direction": direction}
        # GitHub docs: https://docs.github.com/en/graphql/reference/objects#repository
        data = graphql(
            lambda variables=variables: {
                "query": queries.PULL_REQUESTS_PAGE,
                "variables": {**variables, "first": page_size.value},
            },
            subject=subject,
            on_overload=page_size.shrink,
        )
        page_size.succeeded()
        if not data.get("repository"):
            raise NotFound(not_found_message(subject))
        connection = data["repository"]["pullRequests"]
        pull_requests = tuple(
            _pull_request(node, _all_reviews(graphql, owner, name, node))
            for node in connection["nodes"]
            if node is not None
        )
        info = connection["pageInfo"]
        yield PullRequestPage(
            pull_requests=pull_requests,
            end_cursor=info["endCursor"],
            has_next_page=bool(info["hasNextPage"]),
            total_count=int(connection["totalCount"]),
        )
        if not info["hasNextPage"] or not info["endCursor"]:
            return
        after = info["endCursor"]


def _all_reviews(graphql, owner, name, node):
    """The reviews on ``node``'s first page, plus follow-up pages when it has more."""
    reviews = node["reviews"]
    nodes = list(reviews["nodes"])
    info = reviews["pageInfo"]
    subject = f"pull request {owner}/{name}#{node['number']}"
    while info["hasNextPage"]:
        # GitHub docs: https://docs.github.com/en/graphql/reference/objects#pullrequest
        data = graphql(
            {
                "query": queries.PULL_REQUEST_REVIEWS,
                "variables": {"owner": owner, "name": name, "number": node["number"], "after": info["endCursor"]},
            },
            subject=subject,
        )
        pull_request = (data.get("repository") or {}).get("pullRequest")
        if not pull_request:
            raise NotFound(not_found_message(subject))
        nodes.extend(pull_request["reviews"]["nodes"])
        info = pull_request["reviews"]["pageInfo"]
    return tuple(_review(review) for review in nodes if review is not None)


def _pull_request(node, reviews):
    return PullRequestData(
        github_id=int(node["fullDatabaseId"]),  # BigInt: a string
        number=int(node["number"]),
        title=node["title"],
        author_login=(node.get("author") or {}).get("login"),
        state=PR_STATES.get(node["state"], node["state"].lower()),
        draft=bool(node["isDraft"]),
        created_at=parse_datetime(node["createdAt"]),
        updated_at=parse_datetime(node["updatedAt"]),
        merged_at=parse_datetime(node.get("mergedAt")),
        closed_at=parse_datetime(node.get("closedAt")),
        additions=int(node["additions"]),
        deletions=int(node["deletions"]),
        changed_files=int(node["changedFiles"]),
        commits_count=int(node["commits"]["totalCount"]),
        reviews=reviews,
    )


def _review(node):
    return ReviewData(
        github_id=int(node["fullDatabaseId"]),
        reviewer_login=(node.get("author") or {}).get("login"),
        state=node["state"],
        submitted_at=parse_datetime(node.get("submittedAt")),
    )
