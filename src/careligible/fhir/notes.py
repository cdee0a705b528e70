"""What an import left out, in full or grouped so that a real record's notes fit on one screen.

A bundle exported from a health record holds hundreds of resources the case format does not use
(encounters, claims, vital signs) and many codes the mapping does not know. Listed one per line
they bury the few notes that matter, so by default they are grouped by reason, with counts and
the most frequent particulars; the full list stays available on request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: Lines of grouped notes shown for one bundle by default: about one terminal screen.
SCREEN_LINES = 80
#: Particulars (codes, names, resource types) shown on one grouped line.
SHOWN_DETAILS = 6


@dataclass(frozen=True)
class Note:
    """A resource, or part of one, that did not make it into the case, and why.

    ``group`` is the reason without its particulars (``no mapping for the code``) and ``detail``
    the particular (``LOINC 8302-2``), so that notes of one kind can be counted together.
    """

    resource: str
    reason: str
    group: str | None = None
    detail: str | None = None

    def __str__(self) -> str:
        return f"{self.resource}: {self.reason}"

    @property
    def kind(self) -> str:
        """The resource type the note is about (``Observation``), or the place it names."""
        return self.resource.split("/", 1)[0].split(" (", 1)[0]


def grouped(notes: Sequence[Note], limit: int = SCREEN_LINES) -> list[str]:
    """One line per reason, most frequent first, with counts; at most ``limit`` lines."""
    groups: dict[str, list[Note]] = {}
    for note in notes:
        groups.setdefault(note.group or note.reason, []).append(note)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    lines = [_line(reason, members) for reason, members in ordered]
    if len(lines) > limit:
        hidden = sum(len(members) for _, members in ordered[limit - 1 :])
        lines = [*lines[: limit - 1], f"... and {hidden} more note(s) of other kinds"]
    return lines


def _line(reason: str, members: list[Note]) -> str:
    if len(members) == 1:
        return str(members[0])
    details = Counter(m.detail for m in members if m.detail)
    kinds = Counter(m.kind for m in members)
    shown = _counted(details) if details else _counted(kinds)
    return f"{reason} ({len(members)}): {shown}"


def _counted(counts: Counter[str]) -> str:
    items = counts.most_common()
    parts = [name if n == 1 else f"{name} x{n}" for name, n in items[:SHOWN_DETAILS]]
    if len(items) > SHOWN_DETAILS:
        parts.append(f"and {len(items) - SHOWN_DETAILS} more")
    return ", ".join(parts)


def full(notes: Iterable[Note]) -> list[str]:
    """Every note, one per line, in the order the bundle gave them."""
    return [str(note) for note in notes]
