"""Storing a page of pull requests and their reviews: one upsert statement per table.

Each table gets ``INSERT ... ON CONFLICT (unique columns) DO UPDATE SET col =
excluded.col ... RETURNING`` (PostgreSQL, and SQLite 3.35 and later), written
here rather than by ``bulk_create(update_conflicts=True)``: compiling the ORM's
statement was about half of the time a page took to store. Table and column
names come from the models' ``_meta``, and every value goes through its
field's ``get_db_prep_save``, as in the ORM's own INSERT, so the rows stored
are the same (datetimes in each backend's form, booleans, nulls).
"""

import sqlite3
from itertools import repeat
from operator import attrgetter

from django.db import connections, router, transaction

from integrations.models import PullRequest, PullRequestReview

PR_FIELDS = [
    "number",
    "title",
    "author_login",
    "state",
    "draft",
    "created_at",
    "updated_at",
    "merged_at",
    "closed_at",
    "additions",
    "deletions",
    "changed_files",
    "commits_count",
]
REVIEW_FIELDS = ["reviewer_login", "state", "submitted_at"]


class Upsert:
    """``INSERT INTO <model> (unique + update fields) ... ON CONFLICT (unique) DO UPDATE SET <update fields>``.

    ``returning`` names fields whose values come back for every row, inserted or
    updated. On PostgreSQL the rows go in as one array a column (``SELECT * FROM
    UNNEST(...)``, as the ORM's own bulk insert does there): a short statement
    whatever the number of rows. Elsewhere they are ``VALUES`` rows, as many a
    statement as the backend's parameter limit allows.
    """

    def __init__(self, model, unique, update, returning=()):
        meta = model._meta
        self.model = model
        self.fields = [meta.get_field(name) for name in (*unique, *update)]
        self.unique = [meta.get_field(name).column for name in unique]
        self.update = [meta.get_field(name).column for name in update]
        self.returning = [meta.get_field(name).column for name in returning]
        self._sql = {}  # vendor: (head, one row's placeholders or None for arrays, tail)

    def execute(self, rows):
        """Upsert ``rows`` (tuples of Python values in the fields' order); the RETURNING rows, if any."""
        if not rows:
            return []
        using = router.db_for_write(self.model)
        connection = connections[using]
        # Column by column, every value as the field prepares it for the ORM's INSERT.
        columns = [
            list(map(field.get_db_prep_save, values, repeat(connection)))
            for field, values in zip(self.fields, zip(*rows, strict=True), strict=True)
        ]
        returned = []
        with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
            for sql, params in self._statements(connection, columns):
                cursor.execute(sql, params)
                if self.returning:
                    returned.extend(cursor.fetchall())
        return returned

    def _statements(self, connection, columns):
        head, row, tail = self._parts(connection)
        if row is None:
            return [(f"{head} {tail}", columns)]
        rows = list(zip(*columns, strict=True))
        size = max(1, max_params(connection) // len(self.fields))
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)]
        return [
            (f"{head} {', '.join([row] * len(chunk))} {tail}", [value for values in chunk for value in values])
            for chunk in chunks
        ]

    def _parts(self, connection):
        parts = self._sql.get(connection.vendor)
        if parts is None:
            quote = connection.ops.quote_name
            columns = ", ".join(quote(field.column) for field in self.fields)
            head = f"INSERT INTO {quote(self.model._meta.db_table)} ({columns})"
            if connection.vendor == "postgresql":
                # varchar[], not varchar(100)[]: no silent truncation (as in the ORM's UNNEST insert).
                arrays = ", ".join(f"(%s)::{field.db_type(connection).split('(')[0]}[]" for field in self.fields)
                head, row = f"{head} SELECT * FROM UNNEST({arrays})", None
            else:
                head, row = f"{head} VALUES", "(" + ", ".join(["%s"] * len(self.fields)) + ")"
            updates = ", ".join(f"{quote(column)} = excluded.{quote(column)}" for column in self.update)
            tail = f"ON CONFLICT ({', '.join(map(quote, self.unique))}) DO UPDATE SET {updates}"
            if self.returning:
                tail += f" RETURNING {', '.join(map(quote, self.returning))}"
            parts = self._sql[connection.vendor] = (head, row, tail)
        return parts


def max_params(connection):
    """How many parameters one statement may have on ``connection`` (which must be connected)."""
    if connection.vendor == "sqlite":
        # Django 5.2 says 999, the default of SQLite before 3.32; the library knows its own limit.
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params


PULL_REQUESTS = Upsert(PullRequest, ["repository", "github_id"], PR_FIELDS, returning=["github_id", "id"])
REVIEWS = Upsert(PullRequestReview, ["pull_request", "github_id"], REVIEW_FIELDS)
_pr_values = attrgetter(*PR_FIELDS)
_review_values = attrgetter(*REVIEW_FIELDS)


def store_page(repository, prs):
    """Upsert a page of pull requests and their reviews on GitHub ids. Returns (prs, reviews) written."""
    if not prs:
        return 0, 0
    # RETURNING order is not promised: the ids are mapped by GitHub id.
    ids = dict(PULL_REQUESTS.execute([(repository.pk, pr.github_id, *_pr_values(pr)) for pr in prs]))
    # One row per review: an upsert may not touch the same row twice in one
    # statement, so a review GitHub lists twice (a follow-up page overlapping
    # the nested one) is written once, as last seen.
    reviews = {
        (ids[pr.github_id], review.github_id): (ids[pr.github_id], review.github_id, *_review_values(review))
        for pr in prs
        for review in pr.reviews
    }
    REVIEWS.execute(list(reviews.values()))
    return len(prs), len(reviews)
