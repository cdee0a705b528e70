"""What parsing a condition needs at hand: the names it may refer to and where problems go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem, dotted
from ..fields import FieldSpec, case_fields
from ..vocabulary import Vocabulary
from .tree import Condition


@dataclass
class ParseContext:
    """What a condition may refer to, and where to report problems."""

    vocabulary: Vocabulary
    definitions: dict[str, Condition]
    file: str
    line_of: Callable[[tuple[int | str, ...]], int | None]
    problems: list[Problem] = field(default_factory=list)
    fields: dict[str, FieldSpec] = field(default_factory=case_fields)

    def report(self, path: tuple[int | str, ...], message: str) -> None:
        self.problems.append(Problem(message, dotted(path), self.file, self.line_of(path)))


def first_repeat(items: list[Any]) -> int | None:
    """The index of the first item equal to an earlier one: a list never counts a thing twice."""
    for index, item in enumerate(items):
        if item in items[:index]:
            return index
    return None
