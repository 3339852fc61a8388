"""Every GraphQL document the client sends (validated against GitHub's schema in tests/test_github_queries.py).

Ids are ``fullDatabaseId`` (a BigInt sent as a string); ``databaseId`` is deprecated, 32-bit,
and must not appear here.

Cost (https://docs.github.com/en/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api):
GitHub adds up the requests each connection needs, assuming every ``first`` is filled, and
divides by 100. A page of 100 pull requests is 1 request, plus 100 for their ``reviews``
(one per pull request, whatever ``first`` they ask for): 101 / 100 rounds to 1 point.
``REVIEWS_PER_PULL_REQUEST`` therefore costs no points; it is kept well below 100 so the
worst-case node count (and GitHub's work per page) stays small, yet above what nearly
every pull request has, so follow-up queries are rare.
"""

# Reviews fetched with each pull request (written into PULL_REQUESTS_PAGE); more need follow-up queries.
REVIEWS_PER_PULL_REQUEST = 50
# Page size of the follow-up queries, GitHub's maximum (written into PULL_REQUEST_REVIEWS).
REVIEWS_PER_FOLLOW_UP = 100

REVIEW_FIELDS = """
fragment ReviewFields on PullRequestReview {
  fullDatabaseId
  state
  submittedAt
  author { login }
}
"""

# GitHub docs: https://docs.github.com/en/graphql/reference/objects#repository (pullRequests)
PULL_REQUESTS_PAGE = (
    """
query PullRequestsPage($owner: String!, $name: String!, $first: Int!, $after: String,
                       $direction: OrderDirection!) {
  repository(owner: $owner, name: $name) {
    pullRequests(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: $direction}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        fullDatabaseId
        number
        title
        state
        isDraft
        createdAt
        updatedAt
        mergedAt
        closedAt
        additions
        deletions
        changedFiles
        author { login }
        commits { totalCount }
        reviews(first: 50) {
          totalCount
          pageInfo { hasNextPage endCursor }
          nodes { ...ReviewFields }
        }
      }
    }
  }
  rateLimit { cost remaining resetAt }
}
"""
    + REVIEW_FIELDS
)

# GitHub docs: https://docs.github.com/en/graphql/reference/objects#pullrequest (reviews)
PULL_REQUEST_REVIEWS = (
    """
query PullRequestReviews($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviews(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { ...ReviewFields }
      }
    }
  }
  rateLimit { cost remaining resetAt }
}
"""
    + REVIEW_FIELDS
)

# Display names of up to 100 users at once (REST lists members without names).
# GitHub docs: https://docs.github.com/en/graphql/reference/queries#nodes
USER_NAMES = """
query UserNames($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on User { id name }
  }
  rateLimit { cost remaining resetAt }
}
"""

ALL = {
    "PULL_REQUESTS_PAGE": PULL_REQUESTS_PAGE,
    "PULL_REQUEST_REVIEWS": PULL_REQUEST_REVIEWS,
    "USER_NAMES": USER_NAMES,
}
