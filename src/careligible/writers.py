"""Writing screening results: a table for people; CSV, JSON, JSON Lines, compact JSON Lines and
Parquet for programs.

Every writer takes results one at a time and writes them as they come, in input order, so a long
batch streams. Machine formats write exactly one record per input record, errors included.

Text from the input (ids, file names, drug names in warnings, error messages) is made safe for
each reader (:mod:`careligible.safetext`): the table shows control and bidirectional characters
as escapes, and a CSV cell that a spreadsheet would compute (``=``, ``+``, ``-``, ``@``) starts
with ``'``. JSON and JSON Lines carry the text as it is, escaped by JSON itself.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import partial
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .population import PREFILTER_LABEL
from .results import (
    DISCLAIMER,
    VERDICT_LABEL,
    VERDICTS,
    CaseResult,
    CohortResult,
    deceased_notice,
)
from .safetext import csv_cell, printable
from .verdicts import NOT_CANDIDATES


class Writer(Protocol):
    def write(self, result: CaseResult) -> None: ...

    def close(self) -> None: ...


class EncodingWriter:
    """A writer whose records can be encoded apart (in another process) and written later.

    Subclasses give :meth:`encode` (a static method, so workers can call it without a writer) and
    change :meth:`write_encoded` or :meth:`close` where their format frames the records.
    """

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    @staticmethod
    def encode(result: CaseResult) -> str:
        raise NotImplementedError

    def write(self, result: CaseResult) -> None:
        self.write_encoded(self.encode(result))

    def write_encoded(self, text: str) -> None:
        self.out.write(text)

    def close(self) -> None:
        pass


class JsonLinesWriter(EncodingWriter):
    @staticmethod
    def encode(result: CaseResult) -> str:
        return result.model_dump_json() + "\n"


class JsonWriter(EncodingWriter):
    """A JSON array written item by item."""

    def __init__(self, out: IO[str]) -> None:
        super().__init__(out)
        self.count = 0

    @staticmethod
    def encode(result: CaseResult) -> str:
        return result.model_dump_json(indent=2)

    def write_encoded(self, text: str) -> None:
        self.out.write("[\n" if self.count == 0 else ",\n")
        self.out.write(text)
        self.count += 1

    def close(self) -> None:
        self.out.write("[]\n" if self.count == 0 else "\n]\n")


class CsvWriter(EncodingWriter):
    """One row per case: the trials by verdict, their statuses, what is missing, and any error.

    A population run (``screen --population``) adds a ``prefilter`` column after ``error``: the
    code of a case's short result, empty for a case screened against the trials.

    A case recorded as deceased has ``deceased`` true (and its ``deceased_date``) and no trials.
    """

    COLUMNS = (
        "case_id",
        "source",
        "error",
        "deceased",
        "deceased_date",
        *VERDICTS,
        "status",
        "missing",
        "warnings",
        "nearest_sites",
    )
    POPULATION_COLUMNS = (*COLUMNS[:3], "prefilter", *COLUMNS[3:])

    def __init__(self, out: IO[str], population: bool = False) -> None:
        super().__init__(out)
        self.started = False
        self.population = population

    def _head(self) -> None:
        """The header row, written with the first record (or at close), never on creation: a
        writer is made before the run's guarded writes, and a full disk must fail inside them."""
        if not self.started:
            columns = self.POPULATION_COLUMNS if self.population else self.COLUMNS
            csv.writer(self.out, lineterminator="\n").writerow(columns)
            self.started = True

    def write_encoded(self, text: str) -> None:
        self._head()
        self.out.write(text)

    def close(self) -> None:
        self._head()

    def write(self, result: CaseResult) -> None:
        self.write_encoded(self.encode_row(result, self.population))

    @staticmethod
    def encode(result: CaseResult) -> str:
        return CsvWriter.encode_row(result)

    @staticmethod
    def encode_row(result: CaseResult, population: bool = False) -> str:
        """One row; with ``population``, the ``prefilter`` cell after ``error``."""
        missing = sorted({m for t in result.by_verdict("needs_info") for m in t.missing})
        line = io.StringIO()
        cells = [
            result.case_id or "",
            result.source,
            result.error or "",
            *([result.prefilter or ""] if population else []),
            "true" if result.deceased else "",
            result.deceased_date or "",
            *(";".join(t.nct_id for t in result.by_verdict(v)) for v in VERDICTS),
            ";".join(f"{t.nct_id} {t.status_text}" for t in result.trials),
            ";".join(missing),
            " | ".join(result.warnings),
            " | ".join(
                f"{t.nct_id}: {t.nearest_site.describe()}" for t in result.trials if t.nearest_site
            ),
        ]
        csv.writer(line, lineterminator="\n").writerow([csv_cell(cell) for cell in cells])
        return line.getvalue()


_STYLE = {
    "eligible": "bold green",
    "possibly_eligible": "green",
    "needs_info": "yellow",
    "cannot_screen": "dim",
    "ineligible": "red",
}


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _detail(trial: CohortResult) -> str:
    """What stands between a candidate trial and a referral."""
    if trial.verdict == "needs_info":
        return ", ".join(trial.missing)
    defining = [_short(item.text) for item in trial.to_confirm if item.defines_population]
    rest = len(trial.to_confirm) - len(defining)
    parts = [f"confirm: {' / '.join(defining)}"] if defining else []
    if rest:
        parts.append(f"{rest} other item(s) to confirm at screening")
    if trial.nearest_site is not None:
        parts.append(f"nearest recruiting site: {trial.nearest_site.describe()}")
    return "; ".join(parts)


class TableWriter:
    """Per case: eligible and needs-information trials with what is missing; a count of the rest."""

    def __init__(self, out: IO[str]) -> None:
        self.console = Console(file=out, width=max(Console(file=out).width, 100), highlight=False)
        self.count = 0

    def write(self, result: CaseResult) -> None:
        self.count += 1
        # Ids, paths and error messages come from the input: escaped, "[/x]" in them is text,
        # and control sequences in them are shown, never sent to the terminal.
        title = f"{_text(result.case_id or '(no id)')}  [dim]{_text(result.source)}[/dim]"
        if result.error:
            self.console.print(
                f"[bold]{title}[/bold]\n  [red]error:[/red] {_text(result.error)}\n", markup=True
            )
            return
        if result.deceased:
            notice = deceased_notice(result.deceased_date)
            rest = [w for w in result.warnings if w != notice]
            self.console.print(
                f"[bold]{title}[/bold]\n  [bold magenta]{_text(notice)}[/bold magenta]", markup=True
            )
            for warning in rest:
                self.console.print(Text(printable(f"  warning: {warning}"), style="yellow"))
            self.console.print()
            return
        if result.prefilter is not None:  # a population run's short result
            label = PREFILTER_LABEL.get(result.prefilter, result.prefilter)
            self.console.print(f"[bold]{title}[/bold]\n  [dim]{_text(label)}[/dim]\n", markup=True)
            return
        open_trials = [t for t in result.trials if t.verdict not in NOT_CANDIDATES]
        if not open_trials:
            self.console.print(
                f"[bold]{title}[/bold]\n  no trial is open to this case", markup=True
            )
        table = Table(title=title, title_justify="left", expand=False, show_lines=False)
        table.add_column("trial", no_wrap=True)
        table.add_column("verdict")
        table.add_column("status")
        table.add_column("checked", no_wrap=True)
        table.add_column("cohort")
        table.add_column("missing facts / to confirm", overflow="fold")
        for trial in open_trials:
            table.add_row(
                printable(trial.nct_id),
                Text(VERDICT_LABEL[trial.verdict], style=_STYLE[trial.verdict]),
                Text(printable(trial.status_text), style="" if trial.status_current else "dim"),
                f"{trial.checked}/{trial.total}",
                printable(trial.cohort_name),
                printable(_detail(trial)),
            )
        if open_trials:
            self.console.print(table)
        unscreenable = result.by_verdict("cannot_screen")
        if unscreenable:
            names = "; ".join(f"{t.nct_id} ({t.status_text})" for t in unscreenable)
            self.console.print(
                Text(printable(f"  cannot screen (criteria not available): {names}"), style="dim")
            )
        ineligible = result.by_verdict("ineligible")
        near = [t for t in ineligible if t.only_blocker]
        for trial in near:
            self.console.print(
                Text(
                    printable(
                        f"  {trial.nct_id} is ruled out by one criterion only: {trial.only_blocker}"
                    ),
                    style="magenta",
                )
            )
        others = [t for t in ineligible if not t.only_blocker]
        elsewhere = [t for t in others if "disease" in t.blocked_by]
        ruled_out = [
            f"{t.nct_id} ({', '.join(t.blocked_by)})" for t in others if t not in elsewhere
        ]
        if ruled_out:
            self.console.print(
                Text(printable(f"  ineligible: {'; '.join(ruled_out)}"), style="dim")
            )
        if elsewhere:
            self.console.print(
                Text(f"  {len(elsewhere)} trial(s) enrol other diseases", style="dim")
            )
        if result.ask_next:
            asks = "; ".join(f"{a.fact} ({len(a.trials)} trial(s))" for a in result.ask_next)
            self.console.print(Text(printable(f"  ask next: {asks}"), style="cyan"))
        for warning in result.warnings:
            self.console.print(Text(printable(f"  warning: {warning}"), style="yellow"))
        for item in result.considerations:
            text = f"  consider ({item.axis}): {item.title}. {item.advice} [{item.source}]"
            self.console.print(Text(printable(text)))
        self.console.print()

    def close(self) -> None:
        self.console.print(Text(DISCLAIMER, style="italic dim"))


def _text(value: str) -> str:
    """Input text inside Rich markup: inert as markup and as terminal control."""
    return escape(printable(value))


class CompactWriter(EncodingWriter):
    """JSON Lines of :mod:`careligible.compact` records: what decides each verdict, by id."""

    def __init__(self, out: IO[str], ruleset_version: str) -> None:
        super().__init__(out)
        self.ruleset_version = ruleset_version

    def write(self, result: CaseResult) -> None:
        from .compact import encode_compact

        self.write_encoded(encode_compact(result, self.ruleset_version))


def _parquet(out: IO[str], ruleset_version: str) -> Writer:
    from .parquetfile import ParquetWriter  # pyarrow is an optional dependency

    return ParquetWriter(out, ruleset_version)


#: Every output format and how to make its writer (given the output and the ruleset version).
WRITERS: dict[str, Callable[[IO[str], str], Writer]] = {
    "table": lambda out, _: TableWriter(out),
    "csv": lambda out, _: CsvWriter(out),
    "json": lambda out, _: JsonWriter(out),
    "jsonl": lambda out, _: JsonLinesWriter(out),
    "compact": CompactWriter,
    "parquet": _parquet,
}

#: Formats that are binary files: never written to standard output.
BINARY_FORMATS = frozenset({"parquet"})


def make_writer(
    fmt: str, out: IO[str], ruleset_version: str = "", population: bool = False
) -> Writer:
    """The writer of ``fmt``; ``population`` gives the CSV its ``prefilter`` column (every
    other format carries a short result in the fields it already has)."""
    if fmt == "csv" and population:
        return CsvWriter(out, population=True)
    return WRITERS[fmt](out, ruleset_version)


Encoder = Callable[[CaseResult], str]

#: The formats that name criteria by id only: their results need no criterion's text or facts.
BY_ID = frozenset({"compact", "parquet"})

#: The formats whose records can be encoded in worker processes, and their encoders.
ENCODERS: dict[str, Encoder] = {
    "csv": CsvWriter.encode,
    "json": JsonWriter.encode,
    "jsonl": JsonLinesWriter.encode,
}


def encoder(fmt: str, ruleset_version: str, population: bool = False) -> Encoder | None:
    """The function that encodes one record of ``fmt`` (None for the table), picklable so that
    workers can encode. Compact records and Parquet rows carry the ruleset version; a population
    run's CSV rows carry the ``prefilter`` cell."""
    if fmt in BY_ID:
        from .compact import encode_compact  # the reading side of compact records is not needed

        return partial(encode_compact, ruleset_version=ruleset_version)
    if fmt == "csv" and population:
        return partial(CsvWriter.encode_row, population=True)
    return ENCODERS.get(fmt)
