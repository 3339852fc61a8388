"""``store_page`` upserts a page of pull requests and reviews as the ORM would, on the configured test database."""

import math
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from operator import attrgetter

import pytest
from django.db import connection

from integrations.github.types import PullRequestData, ReviewData
from integrations.models import PullRequest, PullRequestReview, Team, TrackedRepository
from integrations.sync import store
from integrations.sync.store import PR_FIELDS, REVIEW_FIELDS, store_page

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
pr_values = attrgetter("github_id", *PR_FIELDS)
review_values = attrgetter("github_id", *REVIEW_FIELDS)


def _repo(github_id=1):
    team, _ = Team.objects.get_or_create(slug="acme", defaults={"name": "Acme"})
    return TrackedRepository.objects.create(team=team, github_id=github_id, full_name=f"acme/repo-{github_id}")


def _review(github_id, **changes):
    fields = {"github_id": github_id, "reviewer_login": f"reviewer-{github_id}", "state": "APPROVED"}
    fields["submitted_at"] = T0 + timedelta(seconds=github_id % 100_000)
    return ReviewData(**(fields | changes))


def _pr(github_id, reviews=(), **changes):
    fields = {
        "github_id": github_id,
        "number": github_id % 100_000,
        "title": f"Change {github_id}",
        "author_login": "octocat",
        "state": "open",
        "draft": False,
        "created_at": T0,
        "updated_at": T0 + timedelta(hours=1),
        "merged_at": None,
        "closed_at": None,
        "additions": 10,
        "deletions": 2,
        "changed_files": 3,
        "commits_count": 1,
        "reviews": tuple(reviews),
    }
    return PullRequestData(**(fields | changes))


def _stored(repository):
    """The ORM's reading of the repository: {github_id: (PR values, sorted review values)}."""
    return {
        pr.github_id: (pr_values(pr), sorted(review_values(r) for r in pr.reviews.all()))
        for pr in PullRequest.objects.filter(repository=repository).prefetch_related("reviews")
    }


def _given(prs):
    return {pr.github_id: (pr_values(pr), sorted(review_values(r) for r in pr.reviews)) for pr in prs}


def _raw_rows(repository):
    """The columns as the database holds them (no ORM conversion), without ids, in GitHub id order."""
    quote = connection.ops.quote_name
    pr_meta, review_meta = PullRequest._meta, PullRequestReview._meta
    pr_columns = [pr_meta.get_field(name).column for name in ["github_id", *PR_FIELDS]]
    review_columns = [review_meta.get_field(name).column for name in ["github_id", *REVIEW_FIELDS]]
    pr_table, review_table = quote(pr_meta.db_table), quote(review_meta.db_table)
    fk = quote(review_meta.get_field("pull_request").column)
    order = f"p.{quote(pr_meta.get_field('github_id').column)}"
    where = f"p.{quote(pr_meta.get_field('repository').column)} = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join('p.' + quote(c) for c in pr_columns)} FROM {pr_table} p WHERE {where} ORDER BY {order}",
            [repository.pk],
        )
        prs = cursor.fetchall()
        cursor.execute(
            f"SELECT {order}, {', '.join('r.' + quote(c) for c in review_columns)} FROM {review_table} r "
            f"JOIN {pr_table} p ON p.{quote(pr_meta.pk.column)} = r.{fk} WHERE {where} "
            f"ORDER BY {order}, r.{quote(review_meta.get_field('github_id').column)}",
            [repository.pk],
        )
        return prs, cursor.fetchall()


def _awkward_page():
    """Nulls, both booleans, Unicode and SQL-looking titles, datetimes off UTC, with and without microseconds."""
    return [
        _pr(
            101,
            title="Ünïcode ✓ 修复 🚀 — \"quotes\" 'single' %s %% \\ backslash",
            author_login=None,
            draft=True,
            created_at=datetime(2021, 3, 14, 1, 59, 26, tzinfo=IST),
            updated_at=datetime(2021, 3, 14, 2, 0, 0, tzinfo=UTC),
            reviews=[_review(1, reviewer_login=None, submitted_at=None, state="PENDING"), _review(2)],
        ),
        _pr(
            102,
            title="",
            state="merged",
            merged_at=T0 + timedelta(days=1, microseconds=1),
            closed_at=datetime(2024, 3, 1, 5, 30, tzinfo=IST),
            additions=0,
            deletions=0,
            changed_files=0,
            commits_count=2_000_000_000,
        ),
        _pr(2**53 + 1, title="a" * 5000, state="closed", closed_at=T0, reviews=[_review(2**40, state="DISMISSED")]),
    ]


def test_storing_a_page_inserts_every_pull_request_and_review():
    repository = _repo()
    page = [_pr(1, [_review(11), _review(12)]), _pr(2), _pr(3, [_review(31, state="COMMENTED")])]

    assert store_page(repository, page) == (3, 3)

    assert _stored(repository) == _given(page)
    assert PullRequestReview.objects.count() == 3


def test_a_review_listed_twice_in_a_page_is_stored_once_as_last_seen():
    repository = _repo()
    page = [_pr(1, [_review(11, state="COMMENTED"), _review(12), _review(11, state="APPROVED")])]

    assert store_page(repository, page) == (1, 2)

    assert dict(PullRequestReview.objects.values_list("github_id", "state")) == {11: "APPROVED", 12: "APPROVED"}


def test_an_empty_page_runs_no_query(django_assert_num_queries):
    repository = _repo()
    with django_assert_num_queries(0):
        assert store_page(repository, []) == (0, 0)


def test_storing_the_page_again_updates_in_place():
    repository = _repo()
    first = [_pr(1, [_review(11), _review(12)]), _pr(2, [_review(21)])]
    store_page(repository, first)
    ids = dict(PullRequest.objects.values_list("github_id", "id"))
    review_ids = dict(PullRequestReview.objects.values_list("github_id", "id"))

    assert store_page(repository, first) == (2, 3)
    assert _stored(repository) == _given(first)

    later = T0 + timedelta(days=3)
    second = [
        _pr(
            1,
            [_review(11, state="CHANGES_REQUESTED", submitted_at=later), _review(12), _review(13, reviewer_login=None)],
            title="Renamed ✎",
            author_login=None,
            state="merged",
            draft=True,
            updated_at=later,
            merged_at=later,
            closed_at=later,
            additions=99,
            deletions=98,
            changed_files=97,
            commits_count=96,
        ),
        _pr(2, [_review(21, submitted_at=None)], draft=False, author_login="someone-else"),
    ]
    assert store_page(repository, second) == (2, 4)

    assert _stored(repository) == _given(second)
    assert dict(PullRequest.objects.values_list("github_id", "id")) == ids
    assert {k: v for k, v in PullRequestReview.objects.values_list("github_id", "id") if k != 13} == review_ids
    assert PullRequest.objects.count() == 2
    assert PullRequestReview.objects.count() == 4


def test_reviews_go_to_their_own_pull_request_whatever_the_order():
    repository = _repo()
    store_page(repository, [_pr(5, [_review(50)]), _pr(3, [_review(30)])])
    # New and existing PRs interleaved, in neither insertion nor GitHub id order; the same review
    # GitHub ids under two PRs are two reviews (unique per pull request).
    page = [
        _pr(9, [_review(90), _review(7)]),
        _pr(3, [_review(30), _review(31)]),
        _pr(1, [_review(10)]),
        _pr(5, [_review(50), _review(7)]),
    ]

    store_page(repository, page)

    assert _stored(repository) == _given(page)
    owners = {(r.pull_request.github_id, r.github_id) for r in PullRequestReview.objects.select_related("pull_request")}
    assert owners == {(pr.github_id, r.github_id) for pr in page for r in pr.reviews}


def test_the_same_github_id_in_another_repository_is_another_pull_request():
    one, two = _repo(1), _repo(2)
    store_page(one, [_pr(1, [_review(11)], title="in one")])
    store_page(two, [_pr(1, [_review(11)], title="in two")])

    assert _stored(one) == _given([_pr(1, [_review(11)], title="in one")])
    assert _stored(two) == _given([_pr(1, [_review(11)], title="in two")])


def test_nulls_unicode_booleans_and_datetimes_read_back_as_given():
    repository = _repo()
    page = _awkward_page()

    store_page(repository, page)

    assert _stored(repository) == _given(page)
    # Aware datetimes compare as instants; the ORM reads them back in UTC.
    pr = PullRequest.objects.get(github_id=101)
    assert pr.created_at == datetime(2021, 3, 13, 20, 29, 26, tzinfo=UTC)
    assert pr.created_at.utcoffset() == timedelta(0)


def test_the_database_holds_what_the_orm_would_have_written():
    """Column by column, as stored: datetimes in the backend's own form, booleans, nulls."""
    raw, orm = _repo(1), _repo(2)
    page = _awkward_page()

    store_page(raw, page)
    prs = PullRequest.objects.bulk_create(
        PullRequest(repository=orm, github_id=pr.github_id, **{name: getattr(pr, name) for name in PR_FIELDS})
        for pr in page
    )
    PullRequestReview.objects.bulk_create(
        PullRequestReview(pull_request=row, github_id=r.github_id, **{name: getattr(r, name) for name in REVIEW_FIELDS})
        for pr, row in zip(page, prs, strict=True)
        for r in pr.reviews
    )

    assert _raw_rows(raw) == _raw_rows(orm)
    assert len(_raw_rows(raw)[1]) == 3


def test_a_page_is_one_statement_per_table(django_assert_num_queries):
    """100 PRs with 3,000 reviews: more parameters than Django 5.2's SQLite figure (999), fewer than the real limit."""
    repository = _repo()
    page = [_pr(n, [_review(n * 100 + k) for k in range(30)]) for n in range(1, 101)]

    with django_assert_num_queries(2):
        assert store_page(repository, page) == (100, 3000)
    with django_assert_num_queries(2):
        assert store_page(repository, page) == (100, 3000)

    assert _stored(repository) == _given(page)


def test_statements_are_chunked_under_the_parameter_limit(monkeypatch, django_assert_num_queries):
    """Where rows are VALUES (SQLite), as many a statement as the limit allows; PostgreSQL's arrays need no chunks."""
    monkeypatch.setattr(store, "max_params", lambda connection: 37)  # 2 PRs (15 values each), 7 reviews (5 each)
    repository = _repo()
    store_page(repository, [_pr(4, [_review(41)]), _pr(2)])
    page = [_pr(n, [_review(n * 10 + k) for k in range(n % 4)]) for n in range(1, 12)]
    reviews = sum(len(pr.reviews) for pr in page)
    statements = 2 if connection.vendor == "postgresql" else math.ceil(len(page) / 2) + math.ceil(reviews / 7)

    with django_assert_num_queries(statements):
        assert store_page(repository, page) == (11, reviews)

    expected = _given(page)
    expected[4] = (expected[4][0], [review_values(_review(41))])  # a review is never deleted
    assert _stored(repository) == expected
    assert PullRequest.objects.filter(repository=repository).count() == 11


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's limit")
def test_the_sqlite_parameter_limit_is_the_librarys_own():
    with connection.cursor():
        limit = store.max_params(connection)
    assert limit == connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    assert limit >= 15 * 100  # a whole page of PRs in one statement
