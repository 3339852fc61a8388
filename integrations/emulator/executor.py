"""A lean synchronous GraphQL executor for already-validated documents.

graphql-core's ``execute`` spends about 10 us of bookkeeping per field
(resolve-info objects, awaitable checks, incremental-delivery plumbing);
a page of 100 PRs with their reviews is ~4,000 fields, i.e. ~45 ms before
any real work. Benchmarks run a sync against the emulator, so the emulator
must not be the bottleneck. This executor keeps graphql-core for
everything that defines correctness (parsing, validation, variable and
argument coercion, scalar/enum serialisation, error formatting) and only
replaces the field walk, following the spec's null-propagation rules.
``tests/test_emulator.py`` checks it against ``graphql.execute``.

Resolution convention (shared with the graphql-core fallback): a field
``f`` on a source object is ``getattr(source, "f")``; if that is callable
it is called with the field's coerced arguments as keyword arguments.
Abstract types are resolved from the object's ``graphql_type`` attribute.
A missing attribute is reported as a GraphQL error, never a crash.
"""

from __future__ import annotations

import logging

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSkipDirective,
    InlineFragmentNode,
    located_error,
)
from graphql.execution.values import get_argument_values, get_directive_values

logger = logging.getLogger(__name__)

_MISSING = object()


class _NullBubble(Exception):
    """A non-null position became null; the nearest nullable parent absorbs it."""


def not_implemented(type_name: str, field_name: str) -> GraphQLError:
    return GraphQLError(
        f"Field '{field_name}' on type '{type_name}' is not implemented by the GitHub emulator.",
        extensions={"type": "NOT_IMPLEMENTED"},
    )


def resolve_attribute(source, info, **args):
    """Field resolver for graphql-core's own executor, same convention."""
    value = getattr(source, info.field_name, _MISSING)
    if value is _MISSING:
        raise not_implemented(info.parent_type.name, info.field_name)
    return value(**args) if callable(value) else value


def resolve_type(value, info, abstract_type):
    """Type resolver for graphql-core's own executor."""
    return getattr(value, "graphql_type", None)


class FastExecutor:
    def __init__(self, schema, document, operation, variable_values, root_value):
        self.schema = schema
        self.operation = operation
        self.variables = variable_values
        self.root = root_value
        self.fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
        self.errors: list[GraphQLError] = []
        self._plans: dict = {}
        self._applies: dict = {}

    def run(self) -> tuple[dict | None, list[GraphQLError]]:
        root_type = self.schema.query_type
        try:
            data = self._execute_fields(root_type, self.root, None, (self.operation.selection_set,))
        except _NullBubble:
            data = None
        return data, self.errors

    # -- field collection --------------------------------------------------

    def _included(self, node) -> bool:
        if not node.directives:
            return True
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip["if"]:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and not include["if"])

    def _condition_applies(self, condition, runtime_type) -> bool:
        if condition is None:
            return True
        key = (condition.name.value, runtime_type.name)
        applies = self._applies.get(key)
        if applies is None:
            cond_type = self.schema.get_type(condition.name.value)
            applies = cond_type is runtime_type or (
                not isinstance(cond_type, GraphQLObjectType)
                and cond_type is not None
                and self.schema.is_sub_type(cond_type, runtime_type)
            )
            self._applies[key] = applies
        return applies

    def _collect(self, runtime_type, selection_sets, fields, visited) -> None:
        for selection_set in selection_sets:
            for sel in selection_set.selections:
                if not self._included(sel):
                    continue
                if isinstance(sel, FieldNode):
                    key = sel.alias.value if sel.alias else sel.name.value
                    fields.setdefault(key, []).append(sel)
                elif isinstance(sel, InlineFragmentNode):
                    if self._condition_applies(sel.type_condition, runtime_type):
                        self._collect(runtime_type, (sel.selection_set,), fields, visited)
                elif isinstance(sel, FragmentSpreadNode):
                    name = sel.name.value
                    fragment = self.fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    visited.add(name)
                    if self._condition_applies(fragment.type_condition, runtime_type):
                        self._collect(runtime_type, (fragment.selection_set,), fields, visited)

    def _plan(self, runtime_type, selection_sets):
        """Collected fields of a selection for one runtime type, memoised.

        Memoised per execution (keyed by node identity), so the 100 PR
        objects of a page share one plan and one set of coerced arguments.
        """
        key = (runtime_type.name, *map(id, selection_sets))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        fields: dict[str, list[FieldNode]] = {}
        self._collect(runtime_type, selection_sets, fields, set())
        plan = []
        for response_key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                plan.append((response_key, name, None, nodes, None, None, None))
                continue
            field_def = runtime_type.fields.get(name)
            if field_def is None:  # excluded by validation; be defensive
                continue
            args = get_argument_values(field_def, nodes[0], self.variables) if field_def.args else {}
            sub_sets = tuple(n.selection_set for n in nodes if n.selection_set)
            plan.append((response_key, name, field_def, nodes, args, sub_sets, field_def.type))
        self._plans[key] = plan
        return plan

    # -- execution ---------------------------------------------------------

    def _execute_fields(self, parent_type, source, path, selection_sets) -> dict:
        result = {}
        for key, name, field_def, nodes, args, sub_sets, return_type in self._plan(parent_type, selection_sets):
            if field_def is None:
                result[key] = parent_type.name
                continue
            field_path = (path, key)
            try:
                value = getattr(source, name, _MISSING)
                if value is _MISSING:
                    raise not_implemented(parent_type.name, name)
                if callable(value):
                    value = value(**args)
                result[key] = self._complete(return_type, nodes, sub_sets, value, field_path, parent_type, name)
            except _NullBubble:
                if isinstance(return_type, GraphQLNonNull):
                    raise
                result[key] = None
            except Exception as error:  # noqa: BLE001 - becomes a GraphQL error
                self._record(error, nodes, field_path)
                if isinstance(return_type, GraphQLNonNull):
                    raise _NullBubble from None
                result[key] = None
        return result

    def _complete(self, return_type, nodes, sub_sets, value, path, parent_type, field_name):
        if isinstance(value, Exception):
            raise value
        if isinstance(return_type, GraphQLNonNull):
            completed = self._complete(return_type.of_type, nodes, sub_sets, value, path, parent_type, field_name)
            if completed is None:
                raise GraphQLError(f"Cannot return null for non-nullable field {parent_type.name}.{field_name}.")
            return completed
        if value is None:
            return None
        if isinstance(return_type, (GraphQLScalarType, GraphQLEnumType)):
            return return_type.coerce_output_value(value)
        if isinstance(return_type, GraphQLObjectType):
            return self._execute_fields(return_type, value, path, sub_sets)
        if isinstance(return_type, GraphQLList):
            item_type = return_type.of_type
            non_null = isinstance(item_type, GraphQLNonNull)
            items = []
            for index, item in enumerate(value):
                item_path = (path, index)
                try:
                    items.append(self._complete(item_type, nodes, sub_sets, item, item_path, parent_type, field_name))
                except _NullBubble:
                    if non_null:
                        raise
                    items.append(None)
                except Exception as error:  # noqa: BLE001
                    self._record(error, nodes, item_path)
                    if non_null:
                        raise _NullBubble from None
                    items.append(None)
            return items
        # Interface or union: the object names its concrete type.
        type_name = getattr(value, "graphql_type", None)
        runtime_type = self.schema.get_type(type_name) if type_name else None
        if not isinstance(runtime_type, GraphQLObjectType) or not self.schema.is_sub_type(return_type, runtime_type):
            raise GraphQLError(
                f"Abstract type '{return_type.name}' must resolve to an Object type at runtime"
                f" for field '{parent_type.name}.{field_name}'. Received {type_name!r}."
            )
        return self._execute_fields(runtime_type, value, path, sub_sets)

    def _record(self, error: Exception, nodes, path) -> None:
        keys = []
        while path is not None:
            path, key = path
            keys.append(key)
        keys.reverse()
        if not isinstance(error, GraphQLError):
            logger.exception("emulator resolver failed at %s", keys, exc_info=error)
        self.errors.append(located_error(error, nodes, keys))
