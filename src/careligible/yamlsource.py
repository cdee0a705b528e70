"""YAML loading that remembers where every value came from.

Rule files and case files are written by people; when one is wrong the tool must say on which line.
PyYAML's composer keeps a start mark on every node, so the document is built from nodes here and
the line of every mapping key and sequence item is recorded under its path.

Hostile or broken documents end in a located :class:`YamlSyntaxError`, never a Python error: nesting
is limited before the recursion limit is reached, and aliases may not expand a document far beyond
its own size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[int | str, ...]

#: Deepest nesting of mappings and lists accepted; case files need 4 levels, rule files about 12.
MAX_DEPTH = 100


@dataclass
class LineMap:
    """Line numbers (1-based) of the values in a document, by path."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest recorded ancestor."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None


class YamlSyntaxError(ValueError):
    """A YAML document could not be parsed; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than :data:`MAX_DEPTH`.

    PyYAML composes recursively, so a document of a few thousand ``[`` would otherwise end in a
    RecursionError.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.depth >= MAX_DEPTH:
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            raise YamlSyntaxError(f"invalid YAML: nested more than {MAX_DEPTH} levels deep", line)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """Parse one YAML document, returning its value and where each part of it stands."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {_problem(exc)}", _line(exc)) from None
    lines = LineMap()
    if node is None:
        return None, lines
    # Without aliases a document holds at most about one value per character.
    builder = _Builder(lines, budget=len(text) + 1000)
    try:
        return builder.build(node, ()), lines
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {_problem(exc)}", _line(exc)) from None


def _problem(exc: yaml.YAMLError) -> str:
    problem = str(getattr(exc, "problem", None) or exc)
    context = getattr(exc, "context", None)
    if context and problem.startswith("but "):  # "expected a single document ... but found ..."
        return f"{context} {problem}"
    return problem


def _line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


_BOOL = "tag:yaml.org,2002:bool"


class _Builder:
    """Builds Python values from composed nodes, recording the line of each path."""

    def __init__(self, lines: LineMap, budget: int) -> None:
        self.lines = lines
        self.budget = budget
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path) -> Any:
        line = node.start_mark.line + 1
        self.budget -= 1
        if self.budget < 0 or len(path) > MAX_DEPTH:  # reachable through aliases only
            # An aliased node carries its anchor's line; the top-level entry holding it is where
            # the document grew out of bounds.
            where = self.lines.lines.get(path[:1], line)
            if self.budget < 0:
                problem = "aliases (*name) expand the document far beyond its size"
            else:
                problem = f"nested more than {MAX_DEPTH} levels deep"
            raise YamlSyntaxError(f"invalid YAML: {problem}", where)
        self.lines.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.key(key_node, path)
                if isinstance(key, list | dict):
                    raise YamlSyntaxError(
                        "a mapping key must be a plain value", key_node.start_mark.line + 1
                    )
                if key in result:
                    raise YamlSyntaxError(f"duplicate key '{key}'", key_node.start_mark.line + 1)
                child = (*path, key)
                self.lines.lines[child] = key_node.start_mark.line + 1
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.scalar(node, path)

    def key(self, node: yaml.Node, path: Path) -> Any:
        """A mapping key. YAML 1.1 reads a plain ``on``, ``off``, ``yes``, ``no`` as booleans, but no
        key of a case or rule file is a boolean, and ``on`` is a field name (a confirmation's date):
        such a key is the text written."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL and not node.style:
            return node.value
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: Path) -> Any:
        """Construct a scalar (or a key).

        A plain scalar its implicit tag cannot make (a 5000-digit integer beyond Python's
        conversion limit, the date 2024-13-45) is kept as the text written: validation then
        reports it with its field, and the other records of the document are still read.
        """
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError):
            if isinstance(node, yaml.ScalarNode):
                return node.value
            raise
