"""Refresh the mapping's curated descendant lists from a site's terminology server.

No SNOMED CT release ships with careligible (its content is licensed), so an entry of the mapping
that should match a concept and everything under it lists the descendants by hand, and names the
concept in ``descendants_of``. A site with a terminology server can refresh those lists: each
concept is expanded with ``ValueSet/$expand`` over its implicit value set
(``http://snomed.info/sct?fhir_vs=isa/55464009``: the concept and every active concept under it),
and a new mapping file is written for review, with what each concept gained and lost. The input
is never rewritten: a reviewer reads the new file and puts it in place.

A code the expansion of a broader entry shares with a more specific one (lupus nephritis codes
are also SLE codes) stays with the more specific entry, as matching would otherwise be ambiguous.
The text of the file is kept as written (comments included); only the refreshed lists are
replaced, and a comment above each entry says where its list now comes from.

The server is reached through ``fhirpy``, imported only here and only when a server is used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import CareligibleError
from ..safetext import one_line
from .mapping import FhirMapping

#: Code systems whose implicit value set ``<uri>?fhir_vs=isa/<code>`` FHIR R4 defines.
IMPLICIT_ISA = frozenset({"http://snomed.info/sct"})
#: Codes asked for per request; a server may send fewer, and says how many in ``total``.
PAGE = 1000
#: More codes than this under one concept is not a descendant list a reviewer can read.
MAX_CODES = 50_000

#: Expands (system URI, code) into the codes of the concept and its descendants.
Expander = Callable[[str, str], frozenset[str]]


class ExpansionError(CareligibleError):
    """One concept could not be expanded; its list is kept as it was."""


@dataclass(frozen=True)
class ConceptChange:
    """What expanding one entry's ``descendants_of`` concepts did to its list for one system.

    ``removed`` holds the listed codes the server no longer puts under the concepts (inactive,
    or not descendants) and those that moved to a more specific entry (also in ``moved``).
    """

    entry: str
    system: str
    concepts: tuple[str, ...]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Refresh:
    """The refreshed mapping text and, per concept, what changed."""

    text: str
    changes: tuple[ConceptChange, ...]

    @property
    def failed(self) -> list[ConceptChange]:
        return [c for c in self.changes if c.error is not None]


@dataclass
class _Entry:
    """One condition entry's list for one system, before and after the expansion."""

    index: int
    name: str
    system: str
    uri: str
    concepts: tuple[str, ...]
    old: tuple[str, ...]
    expanded: dict[str, frozenset[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def new(self) -> frozenset[str]:
        return frozenset(self.concepts).union(*self.expanded.values())


def refresh_mapping(
    text: str, mapping: FhirMapping, expand: Expander, server: str, day: dt.date
) -> Refresh:
    """The mapping ``text`` (already loaded as ``mapping``) with each curated list expanded."""
    entries = list(_entries(mapping))
    for entry in entries:
        for concept in entry.concepts:
            try:
                entry.expanded[concept] = expand(entry.uri, concept)
            except ExpansionError as exc:
                entry.errors[concept] = str(exc)
    owners = _owners(mapping, entries)
    changes: list[ConceptChange] = []
    replacements: list[tuple[_Entry, list[str], str]] = []
    for entry in entries:
        if entry.errors:
            reasons = "; ".join(entry.errors.values())
            changes.append(ConceptChange(entry.name, entry.system, entry.concepts, error=reasons))
            continue
        mine = owners.get(id(entry), frozenset())
        parents = [c for c in entry.concepts if c in mine]
        codes = parents + sorted(mine - set(parents), key=_code_order)
        changes.append(
            ConceptChange(
                entry.name,
                entry.system,
                entry.concepts,
                added=tuple(c for c in codes if c not in entry.old),
                removed=tuple(c for c in entry.old if c not in mine),
                moved=tuple(sorted(entry.new - mine, key=_code_order)),
            )
        )
        isa = ", ".join(f"isa/{c}" for c in entry.concepts)
        note = f"{entry.system} list expanded ({isa}, {len(codes)} codes), not curated: review it"
        replacements.append((entry, codes, note))
    header = (
        f"# Refreshed by careligible rules expand from {one_line(server)} on {day.isoformat()}.\n"
        "# The lists marked 'expanded' below come from that server's ValueSet/$expand, not from\n"
        "# hand curation. Review this file before using it as vocabulary/fhir.yaml.\n"
    )
    return Refresh(header + _rewrite(text, replacements), tuple(changes))


def _entries(mapping: FhirMapping) -> Iterator[_Entry]:
    for index, rule in enumerate(mapping.raw.conditions):
        for system, concepts in rule.descendants_of.items():
            if concepts:
                yield _Entry(
                    index,
                    rule.name,
                    system,
                    mapping.raw.systems[system],
                    tuple(concepts),
                    tuple(rule.codes.get(system, [])),
                )


def _owners(mapping: FhirMapping, entries: list[_Entry]) -> dict[int, frozenset[str]]:
    """Which codes each refreshed list may hold: a code claimed by several entries belongs to the
    most specific, that is an entry listing it without expansion, else the smallest expansion."""
    fixed: dict[tuple[str, str], int] = {}
    refreshed = {(e.index, e.system) for e in entries if not e.errors}
    for index, rule in enumerate(mapping.raw.conditions):
        for system, codes in rule.codes.items():
            if (index, system) not in refreshed:
                for code in codes:
                    fixed.setdefault((system, code), index)
    best: dict[tuple[str, str], tuple[int, int]] = {}
    for entry in entries:
        if entry.errors:
            continue
        size = len(entry.new)
        for code in entry.new:
            key = (entry.system, code)
            if key in fixed and fixed[key] != entry.index:
                continue
            if key not in best or size < best[key][0]:
                best[key] = (size, id(entry))
    owned: dict[int, set[str]] = {}
    for (_system, code), (_size, owner) in best.items():
        owned.setdefault(owner, set()).add(code)
    return {owner: frozenset(codes) for owner, codes in owned.items()}


def _code_order(code: str) -> tuple[int, str]:
    return (len(code), code)


def _rewrite(text: str, replacements: list[tuple[_Entry, list[str], str]]) -> str:
    """``text`` with each entry's list replaced, and a comment line above the entry."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return text
    edits: list[tuple[int, int, str]] = []
    for entry, codes, note in replacements:
        item = _child(_child(root, "conditions"), entry.index)
        node = _child(_child(item, "codes"), entry.system)
        start, end = node.start_mark.index, node.end_mark.index
        column = node.start_mark.column
        edits.append((start, end, _flow_list(codes, column)))
        line_start = text.rfind("\n", 0, item.start_mark.index) + 1
        prefix = text[line_start : item.start_mark.index]  # "  - ": the comment goes under "-"
        indent = len(prefix) - len(prefix.lstrip(" "))
        edits.append((line_start, line_start, f"{' ' * indent}# {one_line(note)}\n"))
    out = text
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + new + out[end:]
    return out


def _child(node: yaml.Node, key: str | int) -> yaml.Node:
    if isinstance(key, int):
        assert isinstance(node, yaml.SequenceNode)
        return node.value[key]  # type: ignore[no-any-return]
    assert isinstance(node, yaml.MappingNode)
    for name, value in node.value:
        if name.value == key:
            return value  # type: ignore[no-any-return]
    raise KeyError(key)


def _flow_list(codes: list[str], column: int, width: int = 100) -> str:
    """``["a", "b", ...]`` wrapped to ``width``, continuation lines under the first code."""
    lines: list[str] = []
    current = "["
    for number, code in enumerate(codes):
        item = json.dumps(code) + ("," if number < len(codes) - 1 else "")
        if len(current) > 1 and column + len(current) + 1 + len(item) > width:
            lines.append(current.rstrip())
            current = " " * (column + 1) + item
        else:
            current += ("" if current.endswith("[") or current.endswith(" ") else " ") + item
    return "\n".join([*lines, current + "]"])


class ServerExpander:
    """Expands concepts with ``ValueSet/$expand`` on a FHIR terminology server, through fhirpy."""

    def __init__(self, server: str, timeout: float = 60.0) -> None:
        try:
            from fhirpy import SyncFHIRClient
        except ImportError:
            raise CareligibleError(
                "refreshing from a terminology server needs fhirpy: "
                "pip install 'careligible[terminology]'"
            ) from None
        self.server = server
        self.client = SyncFHIRClient(server, requests_config={"timeout": timeout})

    def __call__(self, system: str, code: str) -> frozenset[str]:
        if system not in IMPLICIT_ISA:
            raise ExpansionError(f"{system} has no implicit is-a value set; not expanded")
        url = f"{system}?fhir_vs=isa/{code}"
        found: set[str] = set()
        offset = 0
        while True:
            page = self._page(url, offset)
            contains = list(_flatten(page.get("contains") or []))
            before = len(found)
            found.update(
                str(c["code"])
                for c in contains
                if c.get("system") == system and c.get("code") and not c.get("inactive")
            )
            if len(found) > MAX_CODES:
                raise ExpansionError(f"isa/{code}: more than {MAX_CODES} codes; not expanded")
            offset += len(contains)
            total = page.get("total")
            done = offset >= total if isinstance(total, int) else len(contains) < PAGE
            if done or not contains or len(found) == before:
                return frozenset(found)

    def _page(self, url: str, offset: int) -> dict[str, Any]:
        """One page of the expansion of ``url``; any failure is an :class:`ExpansionError`."""
        import requests
        from fhirpy.base.exceptions import BaseFHIRError

        params = {"url": url, "offset": offset, "count": PAGE, "activeOnly": "true"}
        try:
            found = self.client.execute("ValueSet/$expand", method="get", params=params)
        except BaseFHIRError as exc:
            raise ExpansionError(f"{url}: the server refused: {_reason(exc)}") from None
        except requests.RequestException as exc:
            raise ExpansionError(
                f"{url}: cannot reach {self.server} ({type(exc).__name__})"
            ) from None
        except ValueError:
            raise ExpansionError(f"{url}: the server's answer is not JSON") from None
        if not isinstance(found, dict) or found.get("resourceType") != "ValueSet":
            raise ExpansionError(f"{url}: the server's answer is not a ValueSet")
        expansion = found.get("expansion")
        if not isinstance(expansion, dict):
            raise ExpansionError(f"{url}: the ValueSet has no expansion")
        return expansion


def _flatten(contains: list[Any]) -> Iterator[dict[str, Any]]:
    """Every concept of a (possibly nested) ``expansion.contains``."""
    for item in contains:
        if isinstance(item, dict):
            yield item
            yield from _flatten(item.get("contains") or [])


def _reason(exc: Exception) -> str:
    """The OperationOutcome's diagnostics or text, short and on one line; else the error type."""
    resource = getattr(exc, "resource", None)
    if resource is None:
        try:
            resource = json.loads(str(exc))
        except ValueError:
            resource = None
    if isinstance(resource, dict):
        for issue in resource.get("issue") or []:
            if isinstance(issue, dict):
                text = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
                if text:
                    return one_line(str(text))[:200]
    return type(exc).__name__
