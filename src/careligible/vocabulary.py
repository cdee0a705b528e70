"""The drug vocabulary: generic names, brand names and abbreviations, each with its class.

Kept as data in ``rules/vocabulary/drugs.yaml`` so a pharmacist can review it without reading code.
Rules count prior therapies by drug, class or group ("anti-CD20 mAb", "B-cell targeting"); this
module is the one place that turns what a clinician typed into those keys.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import Problem, dotted

#: Broader groups a class may belong to; rules may name these like classes.
GROUPS = frozenset(
    {
        "b_cell_targeting",
        "biologic",
        "immunosuppressant",
        "conventional_immunosuppressant",
        "ms_high_efficacy_dmt",
        "ms_dmt",
        "ig_or_plasma_exchange",
        "glucocorticoid",
    }
)


@dataclass(frozen=True)
class Drug:
    """A recognised drug: its generic key, its class and the groups of that class."""

    key: str
    drug_class: str
    groups: frozenset[str]

    def belongs_to(self, name: str) -> bool:
        """True when ``name`` is this drug, its class or one of its groups."""
        return name in self.names

    def belongs_to_any(self, names: Iterable[str]) -> bool:
        return not self.names.isdisjoint(names)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every name a rule may count this drug by: itself, its class and its groups."""
        return frozenset({self.key, self.drug_class, *self.groups})


def normalise(name: str) -> str:
    """Lower-case, with spaces, hyphens and underscores treated alike."""
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


class Vocabulary:
    """Looks up drugs by any of their names."""

    def __init__(
        self,
        classes: dict[str, tuple[str, frozenset[str]]],
        drugs: list[Drug],
        aliases: dict[str, str],
    ) -> None:
        self.classes = classes
        self.drugs = {d.key: d for d in drugs}
        self._by_name = {normalise(d.key): d.key for d in drugs}
        self._by_name.update({normalise(a): key for a, key in aliases.items()})

    def lookup(self, name: str) -> Drug | None:
        key = self._by_name.get(normalise(name))
        return self.drugs[key] if key else None

    def suggest(self, name: str) -> str | None:
        """The known drug name closest to a misspelt ``name``, if one is close enough.

        Only a suggestion for the warning: an unknown drug is never silently counted as another.
        """
        close = difflib.get_close_matches(normalise(name), self._by_name, n=1, cutoff=0.8)
        return close[0] if close else None

    def names(self) -> list[str]:
        """Every name the vocabulary recognises, for completion in forms."""
        return sorted(self._by_name)

    def knows(self, name: str) -> bool:
        """True for a drug key, class key or group: the names a rule may count by."""
        return name in self.drugs or name in self.classes or name in GROUPS

    def known_terms(self) -> list[str]:
        return sorted({*self.drugs, *self.classes, *GROUPS})


def load_vocabulary(path: Path) -> tuple[Vocabulary, list[Problem]]:
    """Read and check the vocabulary file; problems name the file and line."""
    from .readers.text import read_rule_text
    from .yamlsource import YamlSyntaxError, load_with_lines

    problems: list[Problem] = []
    where = str(path)
    try:
        data, lines = load_with_lines(read_rule_text(path))
    except OSError as exc:
        return Vocabulary({}, [], {}), [Problem(f"cannot read: {exc.strerror or exc}", file=where)]
    except YamlSyntaxError as exc:
        return Vocabulary({}, [], {}), [Problem(str(exc), file=where, line=exc.line)]
    if not isinstance(data, dict):
        return Vocabulary({}, [], {}), [
            Problem("expected 'classes' and 'drugs'", file=where, line=1)
        ]

    def entries(section: str) -> dict[Any, dict[str, Any]]:
        """The entries of ``classes`` or ``drugs``; a malformed one is reported and left out."""
        found = data.get(section) or {}
        if not isinstance(found, dict):
            problems.append(
                Problem("must be a mapping of names", section, where, lines.line_of((section,)))
            )
            return {}
        out = {}
        for key, spec in found.items():
            spec = spec or {}
            shape = _shape_problem(spec)
            if shape is None:
                out[key] = spec
                continue
            field, message = shape
            path = (section, key, field) if field else (section, key)
            problems.append(Problem(message, dotted(path), where, lines.line_of(path)))
        return out

    classes: dict[str, tuple[str, frozenset[str]]] = {}
    for key, spec in entries("classes").items():
        groups = frozenset(str(g) for g in spec.get("groups") or [])
        for group in groups - GROUPS:
            problems.append(
                Problem(
                    f"unknown group '{group}'",
                    f"classes.{key}.groups",
                    where,
                    lines.line_of(("classes", key, "groups")),
                )
            )
        classes[key] = (str(spec.get("label", key)), groups)

    drugs: list[Drug] = []
    aliases: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key, spec in entries("drugs").items():
        drug_class = spec.get("class")
        if drug_class not in classes:
            problems.append(
                Problem(
                    f"unknown class '{drug_class}'",
                    f"drugs.{key}.class",
                    where,
                    lines.line_of(("drugs", key, "class")),
                )
            )
            continue
        drugs.append(Drug(key, drug_class, classes[drug_class][1]))
        for alias in [key, *(spec.get("aliases") or [])]:
            norm = normalise(str(alias))
            if seen.get(norm, key) != key:
                problems.append(
                    Problem(
                        f"name '{alias}' is also used by '{seen[norm]}'",
                        f"drugs.{key}.aliases",
                        where,
                        lines.line_of(("drugs", key, "aliases")),
                    )
                )
            seen[norm] = key
            if alias != key:
                aliases[str(alias)] = key
    return Vocabulary(classes, drugs, aliases), problems


def _shape_problem(spec: Any) -> tuple[str, str] | None:
    """What is malformed in one class or drug entry: (its field, or "" for the entry; problem)."""
    if not isinstance(spec, dict):
        return "", "must be a mapping"
    for name in ("groups", "aliases"):
        if not isinstance(spec.get(name) or [], list):
            return name, "must be a list"
    if not isinstance(spec.get("class", ""), str):
        return "class", "must be the name of a class"
    return None
