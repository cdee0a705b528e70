"""What every command shares: exit codes, the one catalog loader, output files.

Every command module of :mod:`careligible.cli` imports this one; none imports another's internals.
The options several commands take (``--rules`` among them) are in :mod:`careligible.cli.options`.
"""

from __future__ import annotations

import enum
import os
import sys
import tempfile
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

import click

from ..catalog import Catalog, default_rules_dir, load_catalog
from ..errors import CareligibleError, RulesError
from ..outputs import Protected as Protected  # the output rules live with every front end's
from ..outputs import file_mode
from ..outputs import protected_files as protected_files
from ..outputs import refuse_clash as refuse_clash
from ..readers import ParsedCase
from ..safetext import printable

if TYPE_CHECKING:
    from ..case import Case


class ExitCode(enum.IntEnum):
    """What the exit status of every command means."""

    OK = 0
    """Every record was screened (or the check passed)."""
    RECORD_ERRORS = 1
    """Some records had errors; every record was still written. For ``rules check``: problems found."""
    CANNOT_RUN = 2
    """Nothing could be screened: unreadable input, invalid rules or bad usage."""
    INTERNAL_ERROR = 3
    """A fault inside careligible itself; the message says where. Please report it."""
    OUTPUT_FAILED = 4
    """The results could not be written (disk full, file size limit, no permission)."""
    WORKERS_LOST = 5
    """Worker processes kept dying and the run could not go on; no output file was replaced."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (SIGINT); no output file was replaced."""
    BROKEN_PIPE = 141
    """The reader of standard output went away (e.g. ``| head``)."""
    TERMINATED = 143
    """Stopped by SIGTERM or SIGHUP; no output file was replaced."""


def rules_directory(rules_dir: Path | None) -> Path:
    """The rules directory a command works on: ``--rules DIR``, else the shipped catalog."""
    return rules_dir or default_rules_dir()


def load_rules(
    rules_dir: Path | None, label: str = "the rule catalog", consequence: str = ""
) -> Catalog:
    """Load a catalog or stop with every problem on stderr: invalid rules give no verdicts."""
    try:
        return load_catalog(rules_dir)
    except RulesError as exc:
        refuse_rules(exc, f"careligible: {label} has {len(exc.problems)} problem(s){consequence}")


def fail(message: str | Exception, code: ExitCode = ExitCode.CANNOT_RUN) -> NoReturn:
    """Stop the command: ``careligible: message``, one line on stderr, and exit with ``code``.

    The message is written as given: one from an input is made safe (``printable``) by the caller.
    """
    click.echo(f"careligible: {message}", err=True)
    sys.exit(code)


def refuse_rules(exc: RulesError, summary: str, code: ExitCode = ExitCode.CANNOT_RUN) -> NoReturn:
    """Print every problem of invalid rule files, then ``summary``, and exit: no verdicts."""
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    click.echo(summary, err=True)
    sys.exit(code)


@contextmanager
def destination(output: Path | None, protected: Iterable[Protected] = ()) -> Iterator[IO[str]]:
    """Where the records go: standard output, or ``output`` written so that it is never partial.

    An ``output`` that is one of the ``protected`` files (an input, the audit log, a rule file)
    is refused before anything is written (:func:`refuse_clash`).

    A regular file (or a new one) is written to a temporary file beside it and renamed over it
    only when all went well; a symbolic link is followed, so the link stays. A device or a pipe
    (``/dev/null``, a FIFO) cannot be replaced without destroying it: it is written directly.
    """
    refuse_clash(output, protected, "the output")
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = output.resolve()
    if target.exists() and not target.is_file():
        try:
            stream = target.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise CareligibleError(f"{output}: cannot write there ({exc.strerror})") from None
        with stream:
            yield stream
        return
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as exc:
        raise CareligibleError(f"{output}: cannot write there ({exc.strerror})") from None
    try:
        os.chmod(temp, file_mode(target))  # mkstemp makes it private; keep the usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def refused_record(parsed: ParsedCase) -> str:
    """The stderr line for a record that could not be screened: where, and which fields.

    Never the offending values: those may be patient data, and stderr ends up in logs. The full
    reasons are in the ``error`` field of ``careligible screen --format jsonl``.
    """
    fields = sorted({p.field for p in parsed.problems if p.field})
    where = {f"{p.file}:{p.line}" if p.line is not None else p.file for p in parsed.problems}
    places = ", ".join(sorted(where - {parsed.source})) or ""
    what = f" ({', '.join(fields)})" if fields else ""
    also = f" at {places}" if places else ""
    return printable(
        f"careligible: {parsed.source}: not a valid case{what}{also}; "
        "'careligible screen --format jsonl' gives the reasons"
    )


class CaseRecords:
    """The cases in ``paths`` for a command that screens them one by one (``explain``,
    ``report``, ``rules diff``): in input order, read as ``screen`` reads them, FHIR imported
    with ``catalog``'s mapping (the shipped one for None). A record that is not a valid case is
    one line on stderr (:func:`refused_record`) and counted in ``refused``; the rest go on."""

    def __init__(self, paths: Iterable[Path], catalog: Catalog | None) -> None:
        self.paths = tuple(paths)
        self.catalog = catalog
        self.refused = 0

    def __iter__(self) -> Iterator[tuple[Case, str]]:
        """Each valid case with its source (file:line)."""
        from ..batch import parsed_cases

        for parsed in parsed_cases(self.paths, self.catalog):
            if parsed.case is None:
                self.refused += 1
                click.echo(refused_record(parsed), err=True)
                continue
            yield parsed.case, parsed.source


def where_raised(exc: BaseException) -> str:
    """An exception's type and the line of careligible (or else the last line) that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}careligible{os.sep}" in f.filename] or frames
    place = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    return f"{type(exc).__name__}{place}"


def broken_pipe() -> NoReturn:
    """The reader of standard output left (``| head``): point standard output at /dev/null, so
    that exiting (which flushes it) cannot fail too, and exit with ``BROKEN_PIPE``."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(ExitCode.BROKEN_PIPE)
