"""What every command shares: exit codes, ``--rules``, the one catalog loader, output files.

Every command module of :mod:`careligible.cli` imports this one; none imports another's internals.
"""

from __future__ import annotations

import enum
import os
import stat
import sys
import tempfile
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import click

from ..catalog import Catalog, default_rules_dir, load_catalog
from ..errors import CareligibleError, RulesError
from ..readers import ParsedCase
from ..safetext import printable


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


rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Rules directory (default: the catalog shipped with careligible).",
)


def load_rules(
    rules_dir: Path | None, label: str = "the rule catalog", consequence: str = ""
) -> Catalog:
    """Load a catalog or stop with every problem on stderr: invalid rules give no verdicts."""
    try:
        return load_catalog(rules_dir)
    except RulesError as exc:
        refuse_rules(exc, f"careligible: {label} has {len(exc.problems)} problem(s){consequence}")


def refuse_rules(exc: RulesError, summary: str, code: ExitCode = ExitCode.CANNOT_RUN) -> NoReturn:
    """Print every problem of invalid rule files, then ``summary``, and exit: no verdicts."""
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    click.echo(summary, err=True)
    sys.exit(code)


@dataclass(frozen=True)
class Protected:
    """A file (or a directory of files) that a command's output must never replace."""

    path: Path
    what: str  # e.g. "an input", "the audit log", "the rule catalog"


def protected_files(
    inputs: Iterable[Path] = (),
    audit_log: Path | None = None,
    rules_dir: Path | None = None,
) -> list[Protected]:
    """What a command reads or appends to: its inputs, its audit log, the catalogs it may load
    (the shipped one always, and ``rules_dir`` when given)."""
    found = [Protected(path, "an input") for path in inputs]
    if audit_log is not None:
        found.append(Protected(audit_log, "the audit log"))
    found.append(Protected(default_rules_dir(), "the rule catalog"))
    if rules_dir is not None:
        found.append(Protected(rules_dir, "the rule catalog"))
    return found


def refuse_clash(target: Path | None, protected: Iterable[Protected], role: str) -> None:
    """Raise :class:`CareligibleError` when ``target`` is, or would replace, a protected file.

    The same file is recognised however it is reached: through a symbolic link, ``..``, or a
    hard link (the same inode on the same device). Anything inside a rules directory is refused,
    so an output can never become, or replace, a rule file.
    """
    if target is None or _is_device(target):
        return
    resolved = target.resolve()
    for item in protected:
        if item.path.is_dir():
            root = item.path.resolve()
            if resolved == root or root in resolved.parents:
                raise CareligibleError(
                    f"{role} {target} is inside {item.what} ({item.path}); nothing was written"
                )
        elif resolved == item.path.resolve() or _same_inode(resolved, item.path):
            raise CareligibleError(
                f"{role} {target} is {item.what} ({item.path}); writing it would destroy it, "
                "so nothing was written"
            )


def _is_device(path: Path) -> bool:
    """``/dev/null``, a FIFO, a terminal: written in place, never replaced (see below)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode) and not path.is_dir()
    except OSError:
        return False


def _same_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


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
        os.chmod(temp, _file_mode(target))  # mkstemp makes it private; keep the usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _file_mode(target: Path) -> int:
    """The permissions ``target`` has, or those a new file gets under the current umask."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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


def where_raised(exc: BaseException) -> str:
    """An exception's type and the line of careligible (or else the last line) that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}careligible{os.sep}" in f.filename] or frames
    place = f" at {Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else ""
    return f"{type(exc).__name__}{place}"


def quiet_stdout() -> None:
    """The reader of standard output left: point it at /dev/null so exiting cannot fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
