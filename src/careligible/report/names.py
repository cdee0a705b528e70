"""File names for reports, one per case, that never collide and never hide a second patient.

A report is named after its case id with the format's extension *added* (``demo.v1`` gives
``demo.v1.md``): replacing a "suffix" would make ``demo.v1`` and ``demo.v2`` both ``demo.md``.
Characters a file system or a shell could misread become ``_``, and names that would still
meet (``a/b`` and ``a_b``, or ``A`` and ``a`` on a file system that ignores case) get ``-2``,
``-3``... in the order the cases come, so a second run names them the same way.
"""

from __future__ import annotations

import re

#: Longest stem kept from an id; ids may be 128 characters, most file systems allow 255 bytes.
MAX_STEM = 100

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def stem_for(case_id: str) -> str:
    """A file-name stem for ``case_id``: safe characters only, never hidden, never empty."""
    stem = _UNSAFE.sub("_", case_id)[:MAX_STEM].lstrip(".")
    return stem or "case"


class ReportNames:
    """Hands out one distinct file name per case of a run."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, case_id: str, extension: str) -> str:
        """The name for ``case_id``'s report: ``STEM.EXT``, or ``STEM-N.EXT`` when taken."""
        stem = stem_for(case_id)
        name, number = f"{stem}.{extension}", 1
        while name.casefold() in self._taken:
            number += 1
            name = f"{stem}-{number}.{extension}"
        self._taken.add(name.casefold())
        return name
