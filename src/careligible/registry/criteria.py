"""Splitting the registry's eligibility text into inclusion and exclusion items.

``eligibilityModule.eligibilityCriteria`` is Markdown written by each sponsor: headings such as
"Inclusion Criteria:" or "Key Exclusion Criteria", items bulleted (``*``, ``-``, ``+``) or
numbered (``1.``, ``1)``), sub-items indented under an item, and notes as plain paragraphs.
Each top-level item becomes one :class:`Item`; its sub-items and the paragraphs that follow it
stay with it, so no word of the text is lost. Text before any heading, or under a heading that
names neither inclusion nor exclusion, is kept with the kind ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..results import CriterionKind

_BULLET = re.compile(r"^(?P<indent>\s*)(?:[*+\-•]|\d{1,3}[.)]|[a-zA-Z][.)])\s+(?P<text>.*)$")
_HEADING = re.compile(r"^\s*(?:#+\s*)?(?P<text>.{1,100}?):?\s*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")


@dataclass(frozen=True)
class Item:
    """One criterion of the registry text, with its sub-items and notes."""

    kind: CriterionKind | None
    heading: str
    text: str


def unescape(text: str) -> str:
    """The registry escapes Markdown punctuation (``\\>=``); criteria read better without."""
    return _ESCAPE.sub(r"\1", text)


def split_criteria(markdown: str) -> list[Item]:
    """The items of an eligibility text, in order (see the module docstring)."""
    items: list[Item] = []
    kind: CriterionKind | None = None
    heading = ""
    current: list[str] | None = None

    def flush() -> None:
        nonlocal current
        if current:
            items.append(Item(kind, heading, " ".join(current).strip()))
        current = None

    for raw in unescape(markdown).splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        head = _heading(line)
        bullet = _BULLET.match(line)
        if head is not None and not bullet:
            flush()
            heading = head
            kind = _kind_of(heading)
            continue
        if bullet and not bullet.group("indent"):
            flush()
            current = [bullet.group("text").strip()]
        elif bullet:  # a sub-item belongs to the item above it
            current = [*(current or []), f"({bullet.group('text').strip()})"]
        elif current is not None:  # a continuation line or a note under the item
            current.append(line.strip())
        else:  # a paragraph before any item of its section: an item of its own
            items.append(Item(kind, heading, line.strip()))
    flush()
    return items


def _heading(line: str) -> str | None:
    """A section heading: names inclusion or exclusion (with "criteria" or alone), or ends in
    a colon and names criteria. "Other protocol-defined criteria apply." is no heading."""
    match = _HEADING.match(line)
    if match is None:
        return None
    text = match.group("text").strip()
    lower = text.lower()
    sided = "inclusion" in lower or "exclusion" in lower
    short = len(lower.split()) <= 8
    if (
        short
        and sided
        and ("criteria" in lower or line.rstrip().endswith(":") or len(lower.split()) <= 2)
    ):
        return text
    if short and "criteria" in lower and line.rstrip().endswith(":"):
        return text
    return None


def _kind_of(heading: str) -> CriterionKind | None:
    lower = heading.lower()
    if "exclusion" in lower:
        return "exclusion"
    if "inclusion" in lower:
        return "inclusion"
    return None
