"""Validating a raw record against the case model; every problem names file, line and field."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..case import Case, id_problem
from ..errors import Problem, RulesError, describe_validation_error, dotted, show
from .jsonfile import Duplicated
from .records import ParsedCase, RawRecord
from .text import holds, path_where

if TYPE_CHECKING:
    from ..catalog import Catalog


def parse_case(record: RawRecord, catalog: Catalog | None = None) -> ParsedCase:
    """Validate a raw record against the case model; problems name file, line and field.

    A FHIR Bundle is imported first, with the FHIR mapping of ``catalog`` (the rules the case
    will be screened with; the shipped ones when None)."""
    try:
        return _parse_case(record, catalog)
    except RecursionError:  # a deeply nested value, while validating or describing it
        problem = Problem("nested too deeply", "", record.file, record.line)
        return ParsedCase(record.source, None, None, (problem,))


def _parse_case(record: RawRecord, catalog: Catalog | None = None) -> ParsedCase:
    if record.error is not None:
        return ParsedCase(
            record.source, None, None, (Problem(record.error, "", record.file, record.line),)
        )
    data = record.data
    case_id = data.get("id") if isinstance(data, dict) else None
    case_id = str(case_id) if isinstance(case_id, str | int) else None
    if case_id is not None and (len(case_id) > 128 or id_problem(case_id)):
        case_id = None  # not an id the model accepts; never echo it
    problem = unreadable(record)
    if problem is not None:
        return ParsedCase(record.source, case_id, None, (problem,))
    if isinstance(data, dict) and "resourceType" in data:  # FHIR: a Bundle, or a clear error
        return _parse_bundle(record, catalog)
    if not isinstance(data, dict):
        return ParsedCase(
            record.source,
            None,
            None,
            (Problem("a case must be a mapping of fields", "", record.file, record.line),),
        )
    try:
        return ParsedCase(record.source, case_id, Case.model_validate(data))
    except ValidationError as exc:
        problems = []
        for problem in describe_validation_error(exc, Case):
            line = record.line
            if record.lines is not None:
                line = record.lines.line_of(problem.loc) or record.line
            problems.append(
                dataclasses.replace(problem, file=record.file, line=line, loc=problem.loc)
            )
        return ParsedCase(record.source, case_id, None, tuple(problems))


def unreadable(record: RawRecord) -> Problem | None:
    """Why the decoded ``record`` cannot be taken as it stands, or None; checked before a case
    or a FHIR Bundle is read from it.

    A lone surrogate (JSON ``"\\ud800"``) is not text: it cannot be written as UTF-8 and would
    crash every output. A key written twice (:class:`Duplicated`) would lose one of two facts.
    Both are looked for in one walk; only a record that has one is walked again for where."""
    if not holds(record.data, _unreadable):
        return None
    surrogate = path_where(record.data, _has_surrogate)
    if surrogate is not None:
        return _not_text(record, surrogate)
    twice = path_where(record.data, _duplicated)
    if twice is not None:
        return _duplicate_key(record, record.data, twice)
    return None


def _unreadable(value: Any) -> bool:
    return _duplicated(value) or _has_surrogate(value)


def _duplicated(value: Any) -> bool:
    return isinstance(value, Duplicated)


def _has_surrogate(value: Any) -> bool:
    """A string holding a code point of U+D800 to U+DFFF: the only ones strict UTF-8 refuses,
    so encoding tells at C speed (ASCII, most of a record, holds none)."""
    if not isinstance(value, str) or value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _duplicate_key(record: RawRecord, data: Any, path: tuple[int | str, ...]) -> Problem:
    mapping = data
    for part in path:
        mapping = mapping[part]
    message = f"duplicate key {show(mapping.key)}"
    return Problem(message, dotted(path), record.file, record.line, code="duplicate_key")


def _not_text(record: RawRecord, path: tuple[int | str, ...]) -> Problem:
    line = record.lines.line_of(path) if record.lines is not None else None
    message = "holds a lone surrogate (an escape such as \\ud800), which is not text"
    return Problem(message, dotted(path), record.file, line or record.line, code="not_text")


def _parse_bundle(record: RawRecord, catalog: Catalog | None) -> ParsedCase:
    """A FHIR Bundle becomes its patient's case; what it could not map becomes warnings."""
    from ..fhir import BundleError, import_bundle

    try:
        imported = import_bundle(
            record.data, catalog=catalog, fallback_id=Path(record.file).stem[:128]
        )
    except RulesError as exc:  # the rules' own mapping: every bundle says so, none is lost
        more = f" and {len(exc.problems) - 1} more" if len(exc.problems) > 1 else ""
        problem = Problem(
            f"cannot import FHIR: the rules' FHIR mapping is invalid ({exc.problems[0]}{more}; "
            "see 'careligible rules check')"
        )
        return ParsedCase(record.source, None, None, (problem,))
    except BundleError as exc:
        problems = tuple(
            Problem(p.message, p.field, record.file, record.line) for p in exc.problems
        )
        return ParsedCase(record.source, None, None, problems)
    parsed = _parse_case(RawRecord(record.file, record.line, imported.data))
    return dataclasses.replace(parsed, warnings=tuple(imported.warnings()))
