"""The project's own exceptions, and clinician-readable validation messages.

Every error the tool reports names where the problem is (file, line or row, field) and what is
wrong, in words a clinician or coordinator understands. No message ever carries patient data beyond
the offending value itself, and engine errors carry none at all.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where it is."""

    message: str
    field: str = ""
    file: str = ""
    line: int | None = None
    loc: tuple[int | str, ...] = ()  # the field as a path, to look up its line in a LineMap
    code: str = ""  # what kind of problem, e.g. "extra_forbidden" for an unknown field

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.message])


class CareligibleError(Exception):
    """Base of every error the tool raises on purpose."""


class InputError(CareligibleError):
    """An input file cannot be read at all (missing, unreadable, unknown format)."""


class RulesError(CareligibleError):
    """The rule catalog is invalid; screening must not run on it."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class EngineError(CareligibleError):
    """The rule engine failed. Messages never include case data."""


def dotted(loc: Iterable[int | str]) -> str:
    """``('therapies', 2, 'outcome')`` -> ``therapies[2].outcome``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A hint naming the closest known spelling, or an empty string."""
    if len(word) > 100:  # no name is that long; difflib would index every character of it
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The nested model class found by walking ``loc`` down from ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part)) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """Strip Optional/list wrappers to reach a model class, if there is one."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        return None
    return annotation


def known_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def describe_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """Turn pydantic's errors into one :class:`Problem` each, worded for people."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        field = dotted(_cut(part) if isinstance(part, str) else part for part in loc)
        message = _wording(err, loc, model)
        problems.append(Problem(field=field, message=message, loc=loc, code=err["type"]))
    return problems


def _wording(err: Any, loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    shown = show(got)
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), known_names(parent)) if parent else ""
        return f"unknown field{hint}"
    if kind == "missing":
        return "is required"
    if kind in ("greater_than_equal", "greater_than"):
        word = "at least" if kind == "greater_than_equal" else "more than"
        return f"must be {word} {_num(ctx.get('ge', ctx.get('gt')))} (got {shown})"
    if kind in ("less_than_equal", "less_than"):
        word = "at most" if kind == "less_than_equal" else "less than"
        return f"must be {word} {_num(ctx.get('le', ctx.get('lt')))} (got {shown})"
    if kind == "multiple_of":
        return f"must be in steps of {_num(ctx.get('multiple_of'))} (got {shown})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number (got {shown})"
    if kind == "int_parsing_size":
        return f"is too large a number (got {shown})"
    if kind == "finite_number":  # inf: a number too large to read, such as 1e400
        return f"must be a finite number (got {shown})"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number (got {shown})"
    if kind == "invalid_key":
        return f"a field name must be text (got {shown})"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false (got {shown})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')} (got {shown})"
    if kind in ("list_type",):
        return f"must be a list (got {shown})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of fields (got {shown})"
    if kind in ("string_type",):
        return f"must be text (got {shown})"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')} (got {shown})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind.startswith("date_"):
        return f"must be a date written YYYY-MM-DD (got {shown})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return str(err["msg"])


def _cut(name: str) -> str:
    """A field name as shown: an unknown key may be megabytes long."""
    return name if len(name) <= 60 else name[:57] + "..."


def show(value: Any) -> str:
    """A short rendering of the offending value; long values are cut."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _num(value: Any) -> str:
    """``2.0`` -> ``2``: limits read as people write them."""
    return f"{value:g}" if isinstance(value, float) else str(value)
