"""GitHub's published GraphQL schema, loaded once, for validating queries.

Both the GitHub client (to check its own queries in tests) and the local
emulator (to validate and execute incoming queries) use this module, so it
must stay free of Django imports.
"""

from __future__ import annotations

import functools
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, build_schema, parse, validate

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


@functools.lru_cache(maxsize=1)
def load_schema() -> GraphQLSchema:
    """Build the schema from ``schema.graphql`` (about 1.5 s, so cached).

    The published SDL does not pass graphql-core's strict checks (duplicate
    fields, deprecated interface implementations), so the SDL is trusted
    as is and the schema's own validation result is pre-set to "no errors";
    ``validate()`` would otherwise refuse to validate any query against it.
    """
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    schema = build_schema(text, assume_valid_sdl=True)
    schema._validation_errors = []
    return schema


def validate_document(source: str) -> list[str]:
    """Return the syntax and validation error messages of a query document.

    An empty list means the document is valid against GitHub's schema.
    """
    try:
        document = parse(source)
    except GraphQLError as error:
        return [error.message]
    return [error.message for error in validate(load_schema(), document)]
