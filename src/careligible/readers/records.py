"""What every reader yields: a raw record (data or the reason it could not be read, and where),
and the validated case (or its problems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..case import Case
from ..errors import Problem
from ..yamlsource import LineMap


@dataclass(frozen=True)
class RawRecord:
    """One input record before validation."""

    file: str
    line: int
    data: Any = None
    error: str | None = None
    lines: LineMap | None = None  # where each field stands, for YAML

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ParsedCase:
    """A record after validation: a case, or the problems that stopped it."""

    source: str
    case_id: str | None
    case: Case | None
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()  # e.g. what a FHIR Bundle held that the case could not take

    @property
    def error(self) -> str | None:
        return "; ".join(str(p) for p in self.problems) if self.problems else None


def no_case(file: str) -> RawRecord:
    return RawRecord(file, 1, error="the file holds no case")


def not_utf8(file: str, line: int, which: str, field: str | None) -> RawRecord:
    where = f"{field}: " if field else ""
    return RawRecord(file, line, error=f"{where}not UTF-8 text ({which}); save the file as UTF-8")
