"""The emulator's seeded world: organisations, members, repositories, PRs.

Everything is generated deterministically from the seed: the same
``build_world`` arguments always give the same ids, titles, timestamps and
reviews, in this process or in a subprocess. Reviews (and commits, review
comments) are generated lazily from a per-PR random stream, so a repository
with 50,000 PRs builds in about a second and costs only what is read.

Timestamps are stored as integer epoch seconds (compact, cheap to compare
for keyset pagination) and rendered as ISO 8601 ``...Z`` strings on output.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import random
import re
import threading
import time
import unicodedata

from . import ids
from .vocabulary import (
    AREAS,
    ASCII_FOLD,
    COMMENT_BODIES,
    DEPENDENCIES,
    FILE_PATHS,
    FIRST_NAMES,
    LANGUAGES,
    LAST_NAMES,
    ORG_NAMES,
    REPO_DESCRIPTIONS,
    REPO_NAMES,
    REVIEW_BODIES,
    SPECIAL_PEOPLE,
    TITLE_PREFIXES,
    TITLE_TEMPLATES,
)

# Fixed "now" of the generated history, so that a seed means the same data
# on any day. Live mutations (touch_prs, add_prs) use the real clock, kept
# strictly after everything generated.
ANCHOR = calendar.timegm((2026, 11, 1, 0, 0, 0))
HISTORY = 3 * 365 * 86400
DAY = 86400

GHOST_ID = 10137  # GitHub's placeholder for deleted accounts in REST payloads
OCTOCAT_ID = 583231

# Id spaces. PR and review ids exceed 2**31 (GitHub's fullDatabaseId is a
# BigInt for exactly that reason); each repository owns a contiguous block
# so an id can be mapped back to (repository, number) without an index.
PR_ID_BASE = 1_500_000_000_000
REVIEW_ID_BASE = 1_600_000_000_000
COMMENT_ID_BASE = 1_700_000_000_000
ISSUE_ID_BASE = 3_000_000_000
IDS_PER_REPO = 10_000_000

PR_STATES = ("OPEN", "CLOSED", "MERGED")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED")
REVIEW_STATE_WEIGHTS = (45, 15, 35, 5)


def iso(ts: int | None) -> str | None:
    """Render epoch seconds the way GitHub does: ``2024-05-01T12:00:00Z``."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_iso(value: str) -> int:
    """Parse an ISO 8601 timestamp (``Z`` or offset) to epoch seconds."""
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


def _epoch(now) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, dt.datetime):
        return int(now.timestamp())
    return int(now)


class User:
    __slots__ = ("id", "login", "name", "created_at", "company", "location")

    def __init__(self, id, login, name, created_at, company=None, location=None):
        self.id = id
        self.login = login
        self.name = name
        self.created_at = created_at
        self.company = company
        self.location = location

    @property
    def node_id(self) -> str:
        if self.id == GHOST_ID:
            return ids.legacy_node_id("User", self.id)
        return ids.node_id("U", self.id)

    @property
    def avatar_url(self) -> str:
        return f"https://avatars.githubusercontent.com/u/{self.id}?v=4"

    def __repr__(self):
        return f"<User {self.login}>"


GHOST = User(GHOST_ID, "ghost", "Deleted user", calendar.timegm((2008, 5, 13, 0, 0, 0)))


class Org:
    __slots__ = (
        "id",
        "login",
        "name",
        "description",
        "created_at",
        "repos",
        "members",
        "roles",
    )

    def __init__(self, id, login, name, description, created_at):
        self.id = id
        self.login = login
        self.name = name
        self.description = description
        self.created_at = created_at
        self.repos: dict[str, Repo] = {}  # lower-case name -> Repo, in creation order
        self.members: list[User] = []  # sorted by lower-case login
        self.roles: dict[int, str] = {}  # user id -> "admin" | "member"

    @property
    def node_id(self) -> str:
        return ids.node_id("O", self.id)

    @property
    def avatar_url(self) -> str:
        return f"https://avatars.githubusercontent.com/u/{self.id}?v=4"

    def __repr__(self):
        return f"<Org {self.login}>"


# Sort keys of the PR listings; ties are broken by number so keys are unique.
SORT_KEYS = {
    "created": lambda pr: (pr.created_at, pr.number),
    "updated": lambda pr: (pr.updated_at, pr.number),
    "comments": lambda pr: (pr.comments, pr.number),
    "long_running": lambda pr: (pr.updated_at - pr.created_at, pr.number),
}


class Repo:
    __slots__ = (
        "id",
        "index",
        "seed",
        "org",
        "name",
        "full_name",
        "private",
        "description",
        "language",
        "default_branch",
        "created_at",
        "updated_at",
        "pushed_at",
        "stars",
        "forks",
        "prs",
        "version",
        "_indexes",
        "_lock",
    )

    def __init__(self, id, index, seed, org, name, lock):
        self.id = id
        self.index = index
        self.seed = seed
        self.org = org
        self.name = name
        self.full_name = f"{org.login}/{name}"
        self.prs: list[PullRequest] = []  # prs[number - 1]
        self.version = 0
        self._indexes: dict = {}
        self._lock = lock

    @property
    def node_id(self) -> str:
        return ids.node_id("R", self.id)

    @property
    def pr_id_base(self) -> int:
        return PR_ID_BASE + self.index * IDS_PER_REPO

    def pull_request(self, number: int) -> PullRequest | None:
        if 1 <= number <= len(self.prs):
            return self.prs[number - 1]
        return None

    def sorted_index(self, field: str, states: frozenset | None = None):
        """Return ``(keys, prs)`` sorted ascending by ``SORT_KEYS[field]``.

        ``states`` restricts to PR states ("OPEN", "CLOSED", "MERGED").
        Cached until the repository changes, so paging through 50,000 PRs
        does not re-sort on every request.
        """
        cache_key = (field, states)
        cached = self._indexes.get(cache_key)
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        with self._lock:
            version = self.version
            key = SORT_KEYS[field]
            prs = self.prs if states is None else [p for p in self.prs if p.state in states]
            prs = sorted(prs, key=key)
            keys = [key(p) for p in prs]
            self._indexes[cache_key] = (version, keys, prs)
        return keys, prs

    def count(self, states: frozenset | None = None) -> int:
        return len(self.sorted_index("created", states)[1])

    def __repr__(self):
        return f"<Repo {self.full_name}>"


class PullRequest:
    __slots__ = (
        "repo",
        "number",
        "title",
        "state",
        "draft",
        "created_at",
        "updated_at",
        "closed_at",
        "merged_at",
        "author",
        "additions",
        "deletions",
        "changed_files",
        "commits",
        "comments",
        "review_count",
        "reviews_end",
        "_reviews",
    )

    @property
    def id(self) -> int:
        return self.repo.pr_id_base + self.number

    @property
    def issue_id(self) -> int:
        return ISSUE_ID_BASE + self.repo.index * IDS_PER_REPO + self.number

    @property
    def node_id(self) -> str:
        return ids.node_id("PR", self.repo.id, self.id)

    @property
    def merged(self) -> bool:
        return self.state == "MERGED"

    @property
    def rest_state(self) -> str:
        return "open" if self.state == "OPEN" else "closed"

    @property
    def head_ref(self) -> str:
        # Branch names do not follow later title edits.
        title = re.sub(r" \(edited(?: \d+)?\)$", "", self.title)
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40] or "change"
        owner = self.author.login.lower() if self.author else "patch"
        return f"{owner}/{slug.rstrip('-')}-{self.number}"

    @property
    def head_sha(self) -> str:
        return _sha(self.repo.id, self.number, "head")

    @property
    def merge_commit_sha(self) -> str | None:
        return _sha(self.repo.id, self.number, "merge") if self.state == "MERGED" else None

    @property
    def body(self) -> str:
        return f"{self.title}\n\nThis pull request changes {self.changed_files} files.\n\n- [x] Tests ✅"

    def _rng(self, salt: int) -> random.Random:
        return random.Random((self.repo.seed * 1_000_003 + self.repo.id) * 1_000_003 + self.number * 8 + salt)

    @property
    def reviews(self) -> list[Review]:
        """Reviews in submission order, generated on first access."""
        reviews = self._reviews
        if reviews is None:
            reviews = self._reviews = _generate_reviews(self)
        return reviews

    def commit_list(self) -> list[Commit]:
        """Up to 250 commits (GitHub's cap for the PR commits endpoint)."""
        rng = self._rng(1)
        count = min(self.commits, 250)
        end = self.reviews_end
        span = max(end - self.created_at, 1)
        stamps = sorted(self.created_at - 3600 + int(rng.random() * span) for _ in range(count))
        return [
            Commit(
                _sha(self.repo.id, self.number, f"c{k}"),
                _sha(self.repo.id, self.number, f"c{k - 1}") if k else None,
                self.author,
                stamps[k],
                f"{self.title.split(':')[-1].strip()} (part {k + 1})" if k else self.title,
            )
            for k in range(count)
        ]

    def review_comments(self) -> list[ReviewComment]:
        """A few inline comments, attached to the reviews that have a body."""
        rng = self._rng(2)
        out = []
        base = COMMENT_ID_BASE + (self.repo.index * IDS_PER_REPO + self.number) * 64
        for review in self.reviews:
            if review.state == "APPROVED" or len(out) >= 60:
                continue
            for _ in range(rng.randrange(0, 3)):
                out.append(
                    ReviewComment(
                        base + len(out),
                        review,
                        rng.choice(FILE_PATHS),
                        rng.randrange(1, 400),
                        rng.choice(COMMENT_BODIES),
                    )
                )
        return out

    def requested_reviewers(self) -> list[User]:
        if self.state != "OPEN":
            return []
        rng = self._rng(3)
        pool = [u for u in self.repo.org.members if u is not self.author]
        return sorted(rng.sample(pool, min(len(pool), rng.randrange(0, 3))), key=lambda u: u.id)

    def __repr__(self):
        return f"<PR {self.repo.full_name}#{self.number}>"


class Review:
    __slots__ = ("id", "pr", "author", "state", "submitted_at", "body")

    def __init__(self, id, pr, author, state, submitted_at, body):
        self.id = id
        self.pr = pr
        self.author = author
        self.state = state
        self.submitted_at = submitted_at
        self.body = body

    @property
    def node_id(self) -> str:
        return ids.node_id("PRR", self.pr.repo.id, self.id)

    @property
    def commit_id(self) -> str:
        return self.pr.head_sha

    def __repr__(self):
        return f"<Review {self.id} {self.state}>"


class Commit:
    __slots__ = ("sha", "parent_sha", "author", "date", "message")

    def __init__(self, sha, parent_sha, author, date, message):
        self.sha = sha
        self.parent_sha = parent_sha
        self.author = author
        self.date = date
        self.message = message


class ReviewComment:
    __slots__ = ("id", "review", "path", "line", "body")

    def __init__(self, id, review, path, line, body):
        self.id = id
        self.review = review
        self.path = path
        self.line = line
        self.body = body


def _sha(*parts) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _generate_reviews(pr: PullRequest) -> list[Review]:
    count = pr.review_count
    if not count:
        return []
    rng = pr._rng(0)
    start = min(pr.created_at + 300, pr.reviews_end)
    span = pr.reviews_end - start
    stamps = sorted(start + int(rng.random() * span) for _ in range(count))
    reviewers = [u for u in pr.repo.org.members if u is not pr.author] or pr.repo.org.members
    base = REVIEW_ID_BASE + (pr.repo.index * IDS_PER_REPO + pr.number) * 256
    reviews = []
    for k, stamp in enumerate(stamps):
        state = rng.choices(REVIEW_STATES, REVIEW_STATE_WEIGHTS)[0]
        if k == count - 1 and pr.state == "MERGED" and rng.random() < 0.8:
            state = "APPROVED"
        # ~3% of reviewers have since deleted their account: GraphQL author null.
        author = None if rng.random() < 0.03 else reviewers[int(len(reviewers) * rng.random() ** 1.5)]
        reviews.append(Review(base + k, pr, author, state, stamp, rng.choice(REVIEW_BODIES[state])))
    return reviews


def _edited_title(title: str) -> str:
    match = re.search(r" \(edited(?: (\d+))?\)$", title)
    if not match:
        return f"{title} (edited)"
    count = int(match.group(1) or 1) + 1
    return f"{title[: match.start()]} (edited {count})"


class World:
    """All orgs, users, repositories and PRs, plus thread-safe mutations."""

    def __init__(self, seed: int, viewer: User):
        self.seed = seed
        self.viewer = viewer
        self.lock = threading.RLock()
        self._orgs: dict[str, Org] = {}
        self._repos: dict[str, Repo] = {}
        self._repos_by_id: dict[int, Repo] = {}
        self._users: dict[str, User] = {}
        self._users_by_id: dict[int, User] = {}
        self.add_user(viewer)

    # -- lookups (case-insensitive, like GitHub) ---------------------------

    @property
    def orgs(self) -> list[str]:
        return [org.login for org in self._orgs.values()]

    def org(self, login: str) -> Org | None:
        return self._orgs.get(login.lower())

    def repos(self, org: str) -> list[Repo]:
        found = self.org(org)
        return list(found.repos.values()) if found else []

    def repo(self, full_name: str) -> Repo | None:
        """The repository ``owner/name``, or None if unknown or deleted."""
        return self._repos.get(full_name.lower())

    def repo_by_id(self, repo_id: int) -> Repo | None:
        return self._repos_by_id.get(repo_id)

    def _require_repo(self, full_name: str) -> Repo:
        repo = self.repo(full_name)
        if repo is None:
            raise KeyError(full_name)
        return repo

    def pull_requests(self, full_name: str) -> list[PullRequest]:
        """Every PR of the repository by number; each has ``.reviews``."""
        return list(self._require_repo(full_name).prs)

    def pull_request(self, full_name: str, number: int) -> PullRequest | None:
        repo = self.repo(full_name)
        return repo.pull_request(number) if repo else None

    def members(self, org: str) -> list[User]:
        found = self.org(org)
        return list(found.members) if found else []

    def user(self, login: str) -> User | None:
        if login.lower() == "ghost":
            return GHOST
        return self._users.get(login.lower())

    def user_by_id(self, user_id: int) -> User | None:
        return GHOST if user_id == GHOST_ID else self._users_by_id.get(user_id)

    def orgs_of(self, user: User) -> list[Org]:
        return [org for org in self._orgs.values() if user.id in org.roles]

    def add_user(self, user: User) -> None:
        self._users[user.login.lower()] = user
        self._users_by_id[user.id] = user

    def add_org(self, org: Org) -> None:
        self._orgs[org.login.lower()] = org

    def add_repo(self, repo: Repo) -> None:
        repo.org.repos[repo.name.lower()] = repo
        self._repos[repo.full_name.lower()] = repo
        self._repos_by_id[repo.id] = repo

    # -- mutations ---------------------------------------------------------

    def touch_prs(self, full_name: str, count: int, now=None, numbers=None) -> list[int]:
        """Edit ``count`` PRs now: new ``updated_at``, slightly changed title.

        By default the least recently updated PRs are touched, which is the
        case that breaks offset pagination over an ``updated`` ordering:
        they jump from the start of the order to its end. ``numbers`` picks
        specific PRs instead. Returns the touched PR numbers.
        """
        with self.lock:
            repo = self._require_repo(full_name)
            keys, by_updated = repo.sorted_index("updated")
            if numbers is None:
                targets = by_updated[: max(count, 0)]
            else:
                targets = [pr for n in numbers if (pr := repo.pull_request(int(n)))]
            latest = keys[-1][0] if keys else 0
            stamp = max(_epoch(now), latest + 1)
            for pr in targets:
                pr.reviews  # noqa: B018 - materialise before the window moves
                pr.updated_at = stamp
                pr.title = _edited_title(pr.title)
            repo.updated_at = max(repo.updated_at, stamp)
            repo.version += 1
            return [pr.number for pr in targets]

    def add_prs(self, full_name: str, count: int, now=None) -> list[int]:
        """Open ``count`` new PRs (created now, by org members); returns numbers."""
        with self.lock:
            repo = self._require_repo(full_name)
            rng = random.Random(f"{self.seed}:{repo.full_name}:add:{len(repo.prs)}")
            latest = max((pr.updated_at for pr in repo.prs), default=0)
            stamp = max(_epoch(now), latest + 1)
            numbers = []
            for _ in range(count):
                pr = _new_pr(repo, len(repo.prs) + 1, stamp, rng, repo.org.members, [])
                pr.state, pr.closed_at, pr.merged_at = "OPEN", None, None
                pr.updated_at = pr.reviews_end = stamp
                pr.review_count = rng.randrange(0, 3)
                pr.draft = rng.random() < 0.2
                repo.prs.append(pr)
                numbers.append(pr.number)
            repo.pushed_at = repo.updated_at = max(repo.pushed_at, stamp)
            repo.version += 1
            return numbers

    def delete_repo(self, full_name: str) -> None:
        """Remove a repository: REST answers 404, GraphQL NOT_FOUND."""
        with self.lock:
            repo = self._require_repo(full_name)
            del self._repos[repo.full_name.lower()]
            del self._repos_by_id[repo.id]
            del repo.org.repos[repo.name.lower()]

    # -- ground truth for tests running the emulator out of process --------

    def export_repo(self, full_name: str) -> dict:
        repo = self._require_repo(full_name)
        return {
            "repository": {
                "id": repo.id,
                "node_id": repo.node_id,
                "full_name": repo.full_name,
                "private": repo.private,
                "default_branch": repo.default_branch,
                "pushed_at": iso(repo.pushed_at),
            },
            "prs": [export_pr(pr) for pr in list(repo.prs)],
        }

    def export_members(self, org: str) -> dict:
        found = self.org(org)
        if found is None:
            raise KeyError(org)
        return {
            "org": found.login,
            "members": [
                {
                    "id": u.id,
                    "node_id": u.node_id,
                    "login": u.login,
                    "name": u.name,
                    "avatar_url": u.avatar_url,
                    "role": found.roles[u.id],
                }
                for u in found.members
            ],
        }


def export_pr(pr: PullRequest) -> dict:
    """One PR in the export shape (exactly these keys: tests compare rows whole)."""
    return {
        "id": pr.id,
        "number": pr.number,
        "title": pr.title,
        "author_login": pr.author.login if pr.author else None,
        "state": pr.state.lower(),
        "draft": pr.draft,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "merged_at": iso(pr.merged_at),
        "closed_at": iso(pr.closed_at),
        "additions": pr.additions,
        "deletions": pr.deletions,
        "changed_files": pr.changed_files,
        "commits": pr.commits,
        "reviews": [
            {
                "id": r.id,
                "reviewer_login": r.author.login if r.author else None,
                "state": r.state,
                "submitted_at": iso(r.submitted_at),
            }
            for r in pr.reviews
        ],
    }


# -- generation ------------------------------------------------------------


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(ASCII_FOLD))
    return "".join(c for c in folded.encode("ascii", "ignore").decode() if c.isalnum())


class _People:
    """Draws unique users (ids, logins, names) from one random stream."""

    def __init__(self, rng: random.Random, world: World):
        self.rng = rng
        self.world = world
        self.used_ids = {GHOST_ID, world.viewer.id}
        self.specials = list(SPECIAL_PEOPLE)
        rng.shuffle(self.specials)

    def _login_for(self, first: str, last: str) -> str:
        rng = self.rng
        f, la = _ascii(first), _ascii(last)
        pattern = rng.randrange(7)
        if pattern == 0:
            login = f"{f}{la}"
        elif pattern == 1:
            login = f"{f[0]}{la}"
        elif pattern == 2:
            login = f"{f}-{la}"
        elif pattern == 3:
            login = f"{f}{rng.randrange(1, 99)}"
        elif pattern == 4:
            login = f"{la}{f[0]}"
        elif pattern == 5:
            login = f"{f}-{la[:1]}"
        else:
            login = f"{f}{la}-dev"
        # Logins are case-preserving on GitHub; a few people capitalise theirs.
        return login if rng.random() < 0.12 else login.lower()

    def new(self) -> User:
        rng = self.rng
        if self.specials and rng.random() < 0.15:
            name, login = self.specials.pop()
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}"
            login = self._login_for(first, last)
        base, n = login, 2
        while self.world.user(login) is not None:
            login = f"{base}{n}"
            n += 1
        user_id = rng.randrange(1_000_000, 190_000_000)
        while user_id in self.used_ids:
            user_id = rng.randrange(1_000_000, 190_000_000)
        self.used_ids.add(user_id)
        if rng.random() < 0.08:
            name = None  # plenty of GitHub users never set a display name
        created = ANCHOR - HISTORY - rng.randrange(30 * DAY, 12 * 365 * DAY)
        user = User(user_id, login, name, created)
        self.world.add_user(user)
        return user


def build_world(
    seed: int = 1,
    orgs=("acme",),
    repos: int = 12,
    prs=(0, 300),
    members: int = 60,
    viewer: str = "octocat",
) -> World:
    """Generate a deterministic world.

    ``orgs`` may be a tuple of logins or a comma-separated string; ``prs`` is
    the inclusive (min, max) PR count per repository, or one int. ``members``
    counts the viewer, who is an admin of every org.
    """
    if isinstance(orgs, str):
        orgs = [o.strip() for o in orgs.split(",") if o.strip()]
    if isinstance(prs, int):
        prs = (prs, prs)
    pr_min, pr_max = sorted(int(p) for p in prs)
    rng = random.Random(f"world:{seed}")
    viewer_id = OCTOCAT_ID if viewer.lower() == "octocat" else rng.randrange(190_000_000, 200_000_000)
    viewer_name = "The Octocat" if viewer.lower() == "octocat" else viewer.title()
    viewer_user = User(viewer_id, viewer, viewer_name, calendar.timegm((2011, 1, 25, 18, 44, 36)))
    viewer_user.company, viewer_user.location = "@github", "San Francisco"
    world = World(seed, viewer_user)
    people = _People(rng, world)
    used_ids = {viewer_id}
    repo_index = 0
    earlier_members: list[User] = []

    for login in orgs:
        org_id = rng.randrange(10_000_000, 190_000_000)
        while org_id in used_ids:
            org_id = rng.randrange(10_000_000, 190_000_000)
        used_ids.add(org_id)
        org = Org(
            org_id,
            login,
            ORG_NAMES.get(login.lower(), login.replace("-", " ").title()),
            rng.choice(("We build things.", "Software for humans 🧑‍💻", None)),
            ANCHOR - HISTORY - rng.randrange(365 * DAY, 6 * 365 * DAY),
        )
        world.add_org(org)

        # Some people belong to several orgs, as in real enterprises.
        chosen = [viewer_user]
        shared = [u for u in earlier_members if u is not viewer_user]
        rng.shuffle(shared)
        chosen += shared[: int((members - 1) * 0.15)]
        while len(chosen) < members:
            chosen.append(people.new())
        roles = {viewer_user.id: "admin"}
        for user in chosen[1:]:
            roles[user.id] = "admin" if rng.random() < 0.08 else "member"
        org.roles = roles
        org.members = sorted(chosen, key=lambda u: u.login.lower())
        earlier_members += [u for u in chosen if u not in earlier_members]
        # Outside contributors author PRs without being members.
        outsiders = [people.new() for _ in range(max(3, members // 4))]
        # A few members do most of the work: order authors by activity.
        authors = chosen[1:] or chosen
        rng.shuffle(authors)
        authors.insert(rng.randrange(0, min(5, len(authors)) + 1), viewer_user)

        first_with_prs = True
        for i in range(repos):
            name = REPO_NAMES[i % len(REPO_NAMES)]
            if i >= len(REPO_NAMES):
                name = f"{name}-{i // len(REPO_NAMES) + 1}"
            repo_id = rng.randrange(100_000_000, 900_000_000)
            while repo_id in used_ids:
                repo_id = rng.randrange(100_000_000, 900_000_000)
            used_ids.add(repo_id)
            repo = Repo(repo_id, repo_index, seed, org, name, world.lock)
            repo_index += 1
            _fill_repo(repo, pr_min, pr_max, authors, outsiders, first_with_prs)
            if repo.prs:
                first_with_prs = False
            world.add_repo(repo)
    return world


def _new_pr(repo: Repo, number: int, created: int, rng: random.Random, authors, outsiders) -> PullRequest:
    random_ = rng.random
    pr = PullRequest()
    pr.repo = repo
    pr.number = number
    pr.created_at = created
    template = TITLE_TEMPLATES[int(random_() * len(TITLE_TEMPLATES))]
    prefix = TITLE_PREFIXES[int(random_() * len(TITLE_PREFIXES))]
    dep, v1, v2 = DEPENDENCIES[int(random_() * len(DEPENDENCIES))]
    area = AREAS[int(random_() * len(AREAS))]
    if template.startswith("Bump"):
        prefix = "chore(deps): " if random_() < 0.5 else ""
    pr.title = (prefix + template).format(area=area, dep=dep, v1=v1, v2=v2)
    roll = random_()
    if roll < 0.03:
        pr.author = None  # deleted account: GraphQL author null, REST "ghost"
    elif roll < 0.15 and outsiders:
        pr.author = outsiders[int(random_() * len(outsiders))]
    else:
        pr.author = authors[int(len(authors) * random_() ** 2)]
    pr.additions = int(rng.lognormvariate(3.6, 1.5))
    pr.deletions = int(pr.additions * random_() * 0.9 + rng.lognormvariate(1.5, 1.2))
    pr.changed_files = max(1, min(3000, int((pr.additions + pr.deletions) ** 0.55 * (0.3 + random_()))))
    pr.commits = max(1, min(300, int(rng.lognormvariate(0.9, 0.9))))
    pr.comments = min(80, int(rng.expovariate(0.3)))
    roll = random_()
    if roll < 0.30:
        pr.review_count = 0
    elif roll < 0.93:
        pr.review_count = 1 + int(random_() * 4)
    else:
        pr.review_count = 5 + int(random_() ** 2 * 26)
    pr._reviews = None
    return pr


def _fill_repo(repo: Repo, pr_min, pr_max, authors, outsiders, first_with_prs: bool) -> None:
    rng = random.Random(f"{repo.seed}:{repo.full_name}")
    random_ = rng.random
    repo.private = random_() < 0.7
    repo.description = REPO_DESCRIPTIONS[repo.index % len(REPO_DESCRIPTIONS)]
    repo.language = LANGUAGES[int(random_() * len(LANGUAGES))]
    roll = random_()
    repo.default_branch = "main" if roll < 0.85 else "master" if roll < 0.97 else "develop"
    repo.created_at = ANCHOR - HISTORY - rng.randrange(30 * DAY, 4 * 365 * DAY)
    repo.stars = int(rng.expovariate(0.05))
    repo.forks = int(repo.stars * random_() * 0.3)
    count = rng.randint(pr_min, pr_max)

    # PR numbers grow with creation time, as on GitHub.
    newest = ANCHOR - DAY
    created = sorted(newest - int(random_() * HISTORY) for _ in range(count))
    prs = repo.prs
    lognorm = rng.lognormvariate
    for number, created_at in enumerate(created, 1):
        pr = _new_pr(repo, number, created_at, rng, authors, outsiders)
        age = ANCHOR - created_at
        p_open = 0.55 if age < 30 * DAY else 0.15 if age < 180 * DAY else 0.03
        roll = random_()
        if roll < p_open:
            pr.state = "OPEN"
            pr.draft = random_() < 0.2
            pr.closed_at = pr.merged_at = None
            pr.updated_at = created_at + int(random_() * (ANCHOR - created_at))
            if pr.review_count:
                pr.updated_at = min(ANCHOR, max(pr.updated_at, created_at + 3600))
            pr.reviews_end = pr.updated_at
        else:
            pr.draft = random_() < 0.03
            life = int(lognorm(11.0, 1.6))  # median ~16 h, long tail of weeks
            closed = min(created_at + 60 + life, ANCHOR - 60)
            pr.closed_at = closed
            if random_() < 0.8:
                pr.state, pr.merged_at = "MERGED", closed
            else:
                pr.state, pr.merged_at = "CLOSED", None
            late = 0 if random_() < 0.7 else int(random_() * 5 * DAY)
            pr.updated_at = min(ANCHOR, closed + late)
            pr.reviews_end = closed
        prs.append(pr)

    # Guarantees tests rely on: a PR whose reviews need pagination (150)
    # in every repository of 40+ PRs, and both extremes in the first
    # repository of each org that has PRs.
    if prs and (count >= 40 or first_with_prs):
        long_lived = [p for p in prs if p.state != "OPEN" and p.reviews_end - p.created_at >= DAY]
        heavy = rng.choice(long_lived or prs)
        heavy.review_count = 150
        if first_with_prs and len(prs) > 1:
            quiet = rng.choice([p for p in prs if p is not heavy])
            quiet.review_count = 0
    repo.pushed_at = max((p.updated_at for p in prs), default=repo.created_at + DAY)
    repo.updated_at = repo.pushed_at
