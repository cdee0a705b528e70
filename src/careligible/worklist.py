"""The coordinator's worklist of a population run (``screen --worklist FILE``), as CSV or Markdown.

Per trial, its candidates ranked (:class:`careligible.population.Worklist`), each with what to
ask: the criteria still undecided, in the protocol's words, with the facts to find out for each,
and the population-defining items to confirm at screening. CSV is for a spreadsheet (one row per
trial and candidate); Markdown for reading (one section per trial). Text from the input (case
ids, sources) and from the rules is made safe for each reader, as in every output
(:mod:`careligible.safetext`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .catalog import Catalog
from .population import Ask, Candidate, Worklist
from .results import DISCLAIMER, VERDICT_LABEL
from .safetext import csv_cell, markdown_code, markdown_text

COLUMNS = (
    "nct_id",
    "rank",
    "case_id",
    "source",
    "verdict",
    "cohort",
    "to_settle",
    "find_out",
    "confirm",
)


def _ask_text(ask: Ask) -> str:
    return f"{ask.text} [find out: {', '.join(ask.facts)}]" if ask.facts else ask.text


def write_csv(out: IO[str], worklist: Worklist, catalog: Catalog) -> None:
    """One row per trial and candidate, trials in catalog order, candidates best first."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for nct, candidates in worklist.ranked().items():
        for rank, entry in enumerate(candidates, start=1):
            cells = [
                nct,
                str(rank),
                entry.case_id or "",
                entry.source,
                entry.verdict,
                entry.cohort,
                str(entry.missing),
                " | ".join(_ask_text(ask) for ask in entry.find_out),
                " | ".join(_ask_text(ask) for ask in entry.confirm),
            ]
            writer.writerow([csv_cell(cell) for cell in cells])


def write_markdown(out: IO[str], worklist: Worklist, catalog: Catalog) -> None:
    """One section per trial: its candidates as a ranked table with what to ask each."""
    out.write("# Worklist: candidates per trial\n\n")
    out.write(
        f"Ruleset version {markdown_code(catalog.version)}. Candidates are ranked eligible "
        "first, then possibly eligible, then needs information with the fewest facts to find "
        "out; ties keep input order.\n\n"
    )
    for nct, candidates in worklist.ranked().items():
        trial = catalog.trial(nct)
        title = f": {markdown_text(trial.meta.title)}" if trial is not None else ""
        out.write(f"## {markdown_text(nct)}{title}\n\n")
        if not candidates:
            out.write("No candidate.\n\n")
            continue
        out.write(f"{len(candidates)} candidate(s).\n\n")
        out.write("| # | case | verdict | cohort | what to ask |\n|---|---|---|---|---|\n")
        for rank, entry in enumerate(candidates, start=1):
            out.write(_markdown_row(rank, entry))
        out.write("\n")
    out.write(f"*{markdown_text(DISCLAIMER)}*\n")


def _markdown_row(rank: int, entry: Candidate) -> str:
    case = f"{markdown_text(entry.case_id or '(no id)')} ({markdown_text(entry.source)})"
    asks = [f"Find out: {_markdown_ask(ask)}" for ask in entry.find_out]
    asks += [f"Confirm: {_markdown_ask(ask)}" for ask in entry.confirm]
    cells = (
        str(rank),
        case,
        markdown_text(VERDICT_LABEL[entry.verdict]),
        markdown_text(entry.cohort_name),
        "<br>".join(asks) or "nothing open",
    )
    return "| " + " | ".join(cells) + " |\n"


def _markdown_ask(ask: Ask) -> str:
    facts = ", ".join(markdown_code(fact) for fact in ask.facts)
    return markdown_text(ask.text) + (f" ({facts})" if facts else "")


#: The worklist formats, by the file name's suffix.
FORMATS: dict[str, Callable[[IO[str], Worklist, Catalog], None]] = {
    ".csv": write_csv,
    ".md": write_markdown,
    ".markdown": write_markdown,
}


def worklist_format(path: Path) -> Callable[[IO[str], Worklist, Catalog], None]:
    """The writer for ``path`` by its suffix; a ValueError names the suffixes it takes."""
    writer = FORMATS.get(path.suffix.lower())
    if writer is None:
        raise ValueError(f"--worklist {path}: name the file .csv or .md (Markdown)")
    return writer
