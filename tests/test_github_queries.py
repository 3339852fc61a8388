"""Every GraphQL document the client sends is valid against GitHub's published schema."""

import re

import pytest

from integrations.github import queries
from integrations.github.schema import validate_document


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_document_is_valid_against_githubs_schema(name):
    assert validate_document(queries.ALL[name]) == []


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_document_uses_full_database_ids_only(name):
    # databaseId is deprecated (32-bit); fullDatabaseId is the 64-bit BigInt.
    assert not re.search(r"\bdatabaseId\b", queries.ALL[name])


def test_every_module_level_document_is_listed():
    documents = {k for k, v in vars(queries).items() if isinstance(v, str) and re.search(r"^\s*query\b", v, re.M)}
    assert documents == set(queries.ALL)


def test_page_queries_ask_for_the_documented_review_page_sizes():
    assert f"reviews(first: {queries.REVIEWS_PER_PULL_REQUEST})" in queries.PULL_REQUESTS_PAGE
    assert f"reviews(first: {queries.REVIEWS_PER_FOLLOW_UP}, after: $after)" in queries.PULL_REQUEST_REVIEWS


def test_a_broken_document_is_reported():
    """The check itself works: an unknown field is an error."""
    assert validate_document('query { repository(owner: "a", name: "b") { noSuchField } }')
