"""GitHub's static query analysis: pagination limits and point cost.

Before executing, GitHub checks every connection's ``first``/``last``
(required when nodes are requested, at most 100) and computes the rate-limit
cost as documented: add up the number of requests needed to fulfil each
connection, assuming every one reaches its ``first``/``last`` limit (a
connection nested in a page of 100 costs 100 requests), divide by 100, round,
minimum 1. ``nodeCount`` is the maximum number of nodes the query can
return; above 500,000 the query is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values

MAX_PAGE = 100
MAX_NODES = 500_000


@dataclass
class QueryCost:
    requests: int = 0
    node_count: int = 0
    errors: list[GraphQLError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def points(self) -> int:
        # "Divide by 100 and round": half rounds up, and a query costs >= 1.
        return max(1, int(self.requests / 100 + 0.5))


def _is_connection(named_type) -> bool:
    return isinstance(named_type, GraphQLObjectType) and named_type.name.endswith("Connection")


def _requests_items(selection_set, fragments) -> bool:
    """Does this connection selection ask for nodes or edges?"""
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if sel.name.value in ("nodes", "edges"):
                return True
        elif isinstance(sel, InlineFragmentNode):
            if _requests_items(sel.selection_set, fragments):
                return True
        elif isinstance(sel, FragmentSpreadNode):
            fragment = fragments.get(sel.name.value)
            if fragment and _requests_items(fragment.selection_set, fragments):
                return True
    return False


def analyze(schema, document, operation, variable_values) -> QueryCost:
    """Walk the operation; return its cost and any pagination errors."""
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    cost = QueryCost()

    def error(message, node, path, kind):
        cost.errors.append(GraphQLError(message, node, path=path, extensions={"type": kind}))

    def walk(parent_type, selection_set, multiplier, path, seen_fragments):
        for sel in selection_set.selections:
            if isinstance(sel, InlineFragmentNode):
                cond = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent_type
                walk(cond, sel.selection_set, multiplier, path, seen_fragments)
                continue
            if isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen_fragments:
                    continue
                cond = schema.get_type(fragment.type_condition.name.value)
                walk(cond, fragment.selection_set, multiplier, path, seen_fragments | {name})
                continue
            name = sel.name.value
            fields = getattr(parent_type, "fields", None)
            if name.startswith("__") or not fields or name not in fields:
                continue
            field_def = fields[name]
            key = sel.alias.value if sel.alias else name
            field_path = [*path, key]
            named = get_named_type(field_def.type)
            child_multiplier = multiplier
            if _is_connection(named) and ("first" in field_def.args or "last" in field_def.args):
                args = get_argument_values(field_def, sel, variable_values)
                first, last = args.get("first"), args.get("last")
                size = None
                if first is not None and last is not None:
                    error(
                        f"Passing both `first` and `last` to paginate the `{name}` connection is not supported.",
                        sel,
                        field_path,
                        "INVALID_PAGINATION",
                    )
                for arg, value in (("first", first), ("last", last)):
                    if value is None:
                        continue
                    if value < 0:
                        error(
                            f"`{arg}` on the `{name}` connection cannot be less than zero.",
                            sel,
                            field_path,
                            "INVALID_PAGINATION",
                        )
                    elif value > MAX_PAGE:
                        error(
                            f"Requesting {value} records on the `{name}` connection exceeds the"
                            f" `{arg}` limit of {MAX_PAGE} records.",
                            sel,
                            field_path,
                            "EXCESSIVE_PAGINATION",
                        )
                    size = value if size is None else size
                if size is None:
                    if sel.selection_set and _requests_items(sel.selection_set, fragments):
                        error(
                            f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.",
                            sel,
                            field_path,
                            "MISSING_PAGINATION_BOUNDARIES",
                        )
                    size = 0
                size = max(0, min(size, MAX_PAGE))
                cost.requests += multiplier
                cost.node_count += multiplier * size
                child_multiplier = multiplier * size
            elif name == "rateLimit" and parent_type is schema.query_type:
                args = get_argument_values(field_def, sel, variable_values)
                cost.dry_run = cost.dry_run or bool(args.get("dryRun"))
            if sel.selection_set:
                walk(named, sel.selection_set, child_multiplier, field_path, seen_fragments)

    walk(schema.query_type, operation.selection_set, 1, [], frozenset())
    if cost.node_count > MAX_NODES:
        cost.errors.append(
            GraphQLError(
                f"This query requests up to {cost.node_count:,} possible nodes which exceeds"
                f" the maximum limit of {MAX_NODES:,}.",
                extensions={"type": "MAX_NODE_LIMIT_EXCEEDED"},
            )
        )
    return cost
