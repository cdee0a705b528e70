"""The symbol table of case facts a rule may name, derived from the case model.

Rules name facts by dotted path (``labs.egfr``, ``scores.bilag_a``). Deriving the table from
:class:`careligible.case.Case` keeps one source of truth: a field added to the model is at once
usable in rules, and a misspelt path in a rule file is a load error with a "did you mean" hint.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from .case import Case

FieldKind = Literal["number", "bool", "choice", "list", "text"]


@dataclass(frozen=True)
class FieldSpec:
    """A case fact: its dotted path, what kind of value it holds, and its allowed values."""

    path: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    description: str = ""
    integer: bool = False


def _unwrap(annotation: Any) -> Any:
    """Drop ``None`` from an Optional and ``Annotated`` metadata."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return annotation


def _spec(path: str, annotation: Any, description: str) -> FieldSpec | None:
    bare = _unwrap(annotation)
    origin = typing.get_origin(bare)
    if bare is bool:
        return FieldSpec(path, "bool", description=description)
    if bare in (int, float):
        return FieldSpec(path, "number", description=description, integer=bare is int)
    if bare is str:
        return FieldSpec(path, "text", description=description)
    if origin is Literal:
        return FieldSpec(path, "choice", tuple(map(str, typing.get_args(bare))), description)
    if origin is list:
        item = _unwrap(typing.get_args(bare)[0])
        if isinstance(item, type) and issubclass(item, BaseModel):
            return None  # therapies: rules count them through a therapy condition
        choices = typing.get_args(item) if typing.get_origin(item) is Literal else ()
        return FieldSpec(path, "list", tuple(map(str, choices)), description)
    return None


def model_fields(model: type[BaseModel], prefix: str = "") -> list[FieldSpec]:
    """Every leaf field of a model (nested models flattened to dotted paths), in model order.

    Lists of models (therapies) are left out: they are not single facts.
    """
    specs: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        bare = _unwrap(info.annotation)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            specs.extend(model_fields(bare, f"{path}."))
            continue
        spec = _spec(path, info.annotation, info.description or "")
        if spec is not None:
            specs.append(spec)
    return specs


#: Case fields that are not facts about the patient: who the case is, and whether its therapy
#: list is the whole history (which changes how therapy counts read, not what a rule tests).
#: ``deceased`` is decided before any rule: a deceased case reaches no trial's criteria.
_NOT_RULE_FIELDS = ("id", "therapies_complete", "deceased")


@cache
def case_fields() -> dict[str, FieldSpec]:
    """Every fact a rule may test, by dotted path. Therapies are reached through counts instead."""
    fields = {s.path: s for s in model_fields(Case) if s.path not in _NOT_RULE_FIELDS}
    fields["therapies.recorded"] = FieldSpec(
        "therapies.recorded", "bool", description="Derived: whether the case lists prior therapy."
    )
    return fields


def put_path(data: dict[str, Any], path: str, value: Any) -> str | None:
    """Set ``value`` at the dotted ``path`` in nested mappings, making the mappings on the way.

    Returns None, or the part of the path that already holds a value that is not a mapping (then
    nothing is set): a case cannot hold both ``labs`` and ``labs.egfr``.
    """
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return part
        node = child
    node[parts[-1]] = value
    return None
