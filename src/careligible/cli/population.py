"""What ``screen --population`` adds to a run: the counts on stderr and the worklist file.

The screening itself (the pre-filter included) happens in the screener, wherever the cases are
screened; this module only watches the results go by in the main process, in input order, and
at the end prints the summary and writes ``--worklist FILE``. The worklist is checked before
anything is screened: a name it cannot be written under, or one that would replace an input,
the rules, the audit log or the results, stops the run with nothing written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, NoReturn

import click

from ..batch import Screened
from ..catalog import Catalog
from ..errors import CareligibleError
from ..population import PopulationCounts, Worklist
from ..worklist import worklist_format
from .common import ExitCode, Protected, destination, refuse_clash

WriteWorklist = Callable[[IO[str], Worklist, Catalog], None]


class PopulationRun:
    """The counts of a population run and, with ``--worklist``, its candidates per trial."""

    def __init__(self, catalog: Catalog, worklist: Path | None, protected: list[Protected]) -> None:
        trials = [trial.nct_id for trial in catalog.trials]
        self.catalog = catalog
        self.counts = PopulationCounts(trials)
        self.worklist_path = worklist
        self.worklist = Worklist(trials) if worklist is not None else None
        self.protected = protected
        self._write: WriteWorklist | None = None

    @classmethod
    def start(
        cls,
        catalog: Catalog,
        worklist: Path | None,
        output: Path | None,
        protected: list[Protected],
    ) -> PopulationRun:
        """A run whose worklist, if any, can be written without replacing anything it must not;
        raises :class:`CareligibleError` otherwise, before any case is screened."""
        run = cls(catalog, worklist, [*protected])
        if worklist is None:
            return run
        try:
            run._write = worklist_format(worklist)
        except ValueError as exc:
            raise CareligibleError(str(exc)) from None
        if output is not None:
            run.protected.append(Protected(output, "the output"))
        refuse_clash(worklist, run.protected, "the worklist")
        refuse_clash(output, [Protected(worklist, "the worklist")], "the output")
        return run

    def observe(self, results: Iterator[Screened]) -> Iterator[Screened]:
        """Pass the records on, counting each result (and keeping each candidate) on the way."""
        for item in results:
            if item.result is not None:
                self.counts.add(item.result)
                if self.worklist is not None:
                    self.worklist.add(item.result)
            yield item

    def finish(self) -> None:
        """The summary on stderr, then the worklist file, written whole or not at all."""
        for line in self.counts.lines():
            click.echo(f"careligible: {line}", err=True)
        if self.worklist is None or self.worklist_path is None or self._write is None:
            return
        path = self.worklist_path
        try:
            with destination(path, self.protected) as out:
                self._write(out, self.worklist, self.catalog)
        except CareligibleError as exc:
            _fail(ExitCode.CANNOT_RUN, str(exc))
        except OSError as exc:
            _fail(ExitCode.OUTPUT_FAILED, f"{path}: cannot write the worklist ({exc.strerror})")
        click.echo(f"careligible: worklist written to {path}", err=True)


def _fail(code: ExitCode, message: str) -> NoReturn:
    click.echo(f"careligible: {message}", err=True)
    sys.exit(code)
