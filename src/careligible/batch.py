"""Screening whole case files: one result per input record, in input order, errors included.

A bad record becomes a result whose ``error`` says what is wrong and where; it never stops the
batch. Duplicate case ids are errors too, because results are looked up by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from .readers import ParsedCase, parse_case, read_records
from .results import CaseResult
from .screening import Screener


def parsed_cases(paths: Iterable[Path]) -> Iterator[ParsedCase]:
    """Every record of every file, validated, with duplicate ids turned into errors."""
    from .errors import Problem

    first_seen: dict[str, str] = {}
    for path in paths:
        for record in read_records(path):
            parsed = parse_case(record)
            if parsed.case is not None:
                earlier = first_seen.setdefault(parsed.case.id, parsed.source)
                if earlier != parsed.source:
                    problem = Problem(
                        f"duplicate case id '{parsed.case.id}' (first at {earlier})",
                        "id",
                        record.file,
                        record.line,
                    )
                    parsed = ParsedCase(parsed.source, parsed.case_id, None, (problem,))
            yield parsed


def screen_parsed(screener: Screener, parsed: ParsedCase) -> CaseResult:
    if parsed.case is None:
        return CaseResult(case_id=parsed.case_id, source=parsed.source, error=parsed.error)
    return screener.screen(parsed.case, parsed.source)


def screen_files(screener: Screener, paths: Iterable[Path]) -> Iterator[CaseResult]:
    for parsed in parsed_cases(paths):
        yield screen_parsed(screener, parsed)
