"""Saving an edited case into its YAML file without losing what the file said around the values.

A clinician's case file carries comments (why a value is what it is, where it came from) and
numbers written as they were measured (``70``, ``0.50``). A plain dump would drop the comments and
write ``70.0`` for a weight the model holds as a float. So the file is loaded with ruamel.yaml's
round-trip loader, the edited case is laid over it (:func:`merge`): a value that did not change
keeps its exact text, a changed one is written plainly (a whole number without ``.0``), a fact
cleared to unknown is removed, and comments, key order, quoting and flow style stay.

Reading for screening never goes through here: :func:`careligible.readers.open_case` decides what a
file means; this module only writes an edited case back.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError


def _yaml() -> YAML:
    """Round-trip YAML in the layout of the shipped case files (2-space maps, ``  - `` items),
    with no line folding, so an untouched file is written back byte for byte."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def load_document(path: Path) -> CommentedMap | None:
    """The YAML file at ``path`` as an editable document, or None when it is not one mapping
    (missing, not YAML, a list of cases): the caller then writes a fresh file."""
    try:
        data = _yaml().load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    return data if isinstance(data, CommentedMap) else None


def fresh_document(data: Mapping[str, Any]) -> CommentedMap:
    """A new document holding ``data``, numbers written plainly."""
    return merge(CommentedMap(), data)


def merge(document: CommentedMap, data: Mapping[str, Any]) -> CommentedMap:
    """Lay ``data`` (a case as plain data) over ``document`` in place and return it.

    Keys of ``document`` missing from ``data`` are removed; unchanged values keep their text."""
    for key in [k for k in document if k not in data]:
        del document[key]
    for key, value in data.items():
        if key in document:
            document[key] = _merged(document[key], value)
        else:
            document[key] = _new(value, flow=False)
    return document


def _merged(old: Any, new: Any) -> Any:
    if isinstance(new, Mapping):
        return merge(old, new) if isinstance(old, CommentedMap) else _new(new, flow=False)
    if isinstance(new, list):
        return _merged_list(old, new)
    return old if _same(old, new) else _plain(new)


def _merged_list(old: Any, new: list[Any]) -> Any:
    if not isinstance(old, CommentedSeq):
        return _new(new, flow=False)
    if len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True)):
        return old
    item_flow = any(isinstance(i, CommentedMap) and i.fa.flow_style() for i in old)
    del old[len(new) :]
    for index, value in enumerate(new):
        if index < len(old):
            old[index] = _merged(old[index], value)
        else:
            old.append(_new(value, flow=item_flow))
    return old


def _same(old: Any, new: Any) -> bool:
    """Equal as case values: ``70`` and ``70.0`` are the same number, but a bool never is one;
    a quoted string equals the same text unquoted."""
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    if _number(old) and _number(new):
        return bool(old == new)
    if isinstance(old, str) and isinstance(new, str):
        return str(old) == str(new)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return isinstance(old, date) and type(old) is type(new) and old == new


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """A changed number as a person writes it: ``55``, not ``55.0``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _new(value: Any, flow: bool) -> Any:
    if isinstance(value, Mapping):
        mapping = CommentedMap((k, _new(v, flow=False)) for k, v in value.items())
        if flow:
            mapping.fa.set_flow_style()
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(_new(v, flow=False) for v in value)
        if not value or all(not isinstance(v, Mapping | list) for v in value):
            seq.fa.set_flow_style()  # [renal, haematological], [] as the case files write them
        return seq
    return _plain(value)


def dump(document: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()
