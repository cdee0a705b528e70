"""YAML loading that remembers where every value came from.

Rule files and case files are written by people; when one is wrong the tool must say on which line.
PyYAML's composer keeps a start mark on every node, so the document is built from nodes here and
the line of every mapping key and sequence item is recorded under its path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[int | str, ...]


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


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """Parse one YAML document, returning its value and where each part of it stands."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(f"invalid YAML: {problem}", line) from None
    lines = LineMap()
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")
    try:
        return _build(node, (), lines, constructor), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise YamlSyntaxError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", mark.line + 1 if mark else None
        ) from None


def _build(node: yaml.Node, path: Path, lines: LineMap, constructor: yaml.SafeLoader) -> Any:
    lines.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise YamlSyntaxError(
                    "a mapping key must be a plain value", key_node.start_mark.line + 1
                )
            if key in result:
                raise YamlSyntaxError(f"duplicate key '{key}'", key_node.start_mark.line + 1)
            child = (*path, key)
            lines.lines[child] = key_node.start_mark.line + 1
            result[key] = _build(value_node, child, lines, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, (*path, index), lines, constructor)
            for index, item in enumerate(node.value)
        ]
    return constructor.construct_object(node, deep=True)
