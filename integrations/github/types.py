"""What the GitHub client returns: small frozen records with aware UTC datetimes."""

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class RateLimitInfo:
    """The last ``X-RateLimit-*`` headers seen; ``None`` fields when GitHub left one out."""

    limit: int | None
    remaining: int
    reset_at: datetime | None
    resource: str | None


@dataclass(frozen=True)
class RepositoryData:
    github_id: int
    full_name: str
    private: bool
    default_branch: str
    pushed_at: datetime | None
    archived: bool


@dataclass(frozen=True)
class MemberData:
    github_id: int
    login: str
    name: str  # '' when the user set none
    avatar_url: str


@dataclass(frozen=True)
class ReviewData:
    github_id: int
    reviewer_login: str | None  # None: the reviewer's account was deleted
    state: str  # GitHub's PullRequestReviewState: APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    submitted_at: datetime | None


@dataclass(frozen=True)
class PullRequestData:
    github_id: int
    number: int
    title: str
    author_login: str | None  # None: the author's account was deleted
    state: str  # open / closed / merged
    draft: bool
    created_at: datetime
    updated_at: datetime
    merged_at: datetime | None
    closed_at: datetime | None
    additions: int
    deletions: int
    changed_files: int
    commits_count: int
    reviews: tuple[ReviewData, ...]


@dataclass(frozen=True)
class PullRequestPage:
    """One page of pull requests, every one with all of its reviews."""

    pull_requests: tuple[PullRequestData, ...]
    end_cursor: str | None
    has_next_page: bool
    total_count: int


def parse_datetime(value):
    """GitHub's ISO 8601 timestamp (``2017-10-10T16:00:00Z``) as an aware UTC datetime; None stays None."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def repository_from_rest(payload):
    return RepositoryData(
        github_id=int(payload["id"]),
        full_name=payload["full_name"],
        private=bool(payload.get("private", False)),
        default_branch=payload.get("default_branch") or "",
        pushed_at=parse_datetime(payload.get("pushed_at")),
        archived=bool(payload.get("archived", False)),
    )
