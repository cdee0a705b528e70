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

#: The groups whose classes a count must never mix with others': glucocorticoids count as one
#: therapy, and immunoglobulin or plasma exchange are rescue therapy, so an umbrella group holding
#: them beside immunosuppressants would let one course of prednisone or IVIG pass as a failed drug.
APART = ("glucocorticoid", "ig_or_plasma_exchange")

#: A biosimilar's four-letter suffix (``rituximab-abbs``, ``infliximab-dyyb``), after normalising.
_BIOSIMILAR = re.compile(r"^(?P<base>.+) [a-z]{4}$")


@dataclass(frozen=True)
class Drug:
    """A recognised drug: its key, its class and the groups of that class, and its agent.

    The *agent* is the active ingredient a protocol counts: salts and forms share one
    (mycophenolate mofetil and mycophenolic acid), and every systemic glucocorticoid is one.
    """

    key: str
    drug_class: str
    groups: frozenset[str]
    agent: str = ""
    atc: str | None = None

    def __post_init__(self) -> None:
        if not self.agent:
            object.__setattr__(self, "agent", self.key)

    def belongs_to_any(self, names: Iterable[str]) -> bool:
        return not self.names.isdisjoint(names)

    @cached_property
    def names(self) -> frozenset[str]:
        """Every name a rule may count this drug by: itself, its class and its groups."""
        return frozenset({self.key, self.agent, self.drug_class, *self.groups})


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
        groups: dict[str, str] | None = None,
    ) -> None:
        self.classes = classes
        self.groups = groups or {}
        self.drugs = {d.key: d for d in drugs}
        self._by_name = {normalise(d.key): d.key for d in drugs}
        self._by_name.update({normalise(a): key for a, key in aliases.items()})

    def lookup(self, name: str) -> Drug | None:
        """The drug a name means; a biosimilar's suffix (``rituximab-abbs``) names its reference."""
        norm = normalise(name)
        key = self._by_name.get(norm)
        if key is None and (suffixed := _BIOSIMILAR.match(norm)):
            key = self._by_name.get(suffixed["base"])
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
        return name in self.drugs or name in self.classes or name in self.groups

    def known_terms(self) -> list[str]:
        return sorted({*self.drugs, *self.classes, *self.groups})

    def classes_of(self, name: str) -> frozenset[str]:
        """The classes a rule's name (a class or a group) covers."""
        if name in self.classes:
            return frozenset({name})
        return frozenset(c for c, (_, groups) in self.classes.items() if name in groups)


def load_vocabulary(path: Path) -> tuple[Vocabulary, list[Problem]]:
    """Read and check the vocabulary file; problems name the file and line."""
    from .yamlsource import YamlSyntaxError, decode_utf8, load_with_lines

    problems: list[Problem] = []
    where = str(path)
    try:
        data, lines = load_with_lines(decode_utf8(path.read_bytes()))
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

    known_groups = {str(k): str((v or {}).get("label", k)) for k, v in entries("groups").items()}
    classes: dict[str, tuple[str, frozenset[str]]] = {}
    one_agent: set[str] = set()  # classes whose drugs all count as one agent
    for key, spec in entries("classes").items():
        groups = frozenset(str(g) for g in spec.get("groups") or [])
        for group in groups - known_groups.keys():
            problems.append(
                Problem(
                    f"unknown group '{group}'",
                    f"classes.{key}.groups",
                    where,
                    lines.line_of(("classes", key, "groups")),
                )
            )
        classes[key] = (str(spec.get("label", key)), groups)
        if spec.get("one_agent"):
            one_agent.add(str(key))

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
        atc = spec.get("atc")
        if atc is not None and not (isinstance(atc, str) and _ATC.match(atc)):
            problems.append(
                Problem(
                    f"'{atc}' is not an ATC code (like L04AA06)",
                    f"drugs.{key}.atc",
                    where,
                    lines.line_of(("drugs", key, "atc")),
                )
            )
        agent = drug_class if drug_class in one_agent else str(spec.get("agent") or key)
        drugs.append(Drug(key, drug_class, classes[drug_class][1], agent, atc))
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
    problems += _mixed_groups(known_groups, classes, where, lines.line_of)
    return Vocabulary(classes, drugs, aliases, known_groups), problems


_ATC = re.compile(r"^[A-Z]\d\d[A-Z][A-Z]\d\d$")


def _mixed_groups(
    groups: dict[str, str],
    classes: dict[str, tuple[str, frozenset[str]]],
    where: str,
    line_of: Any,
) -> list[Problem]:
    """Refuse an umbrella group that mixes glucocorticoids, rescue therapy and other classes."""
    out = []
    for group in groups:
        if group in APART:
            continue
        members = [c for c, (_, gs) in classes.items() if group in gs]
        kinds = {next((a for a in APART if a in classes[c][1]), "other") for c in members}
        if len(kinds) > 1:
            out.append(
                Problem(
                    f"group '{group}' mixes {', '.join(sorted(kinds))} classes; glucocorticoids "
                    "and immunoglobulin or plasma exchange must be counted apart",
                    f"groups.{group}",
                    where,
                    line_of(("groups", group)),
                )
            )
    return out


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
