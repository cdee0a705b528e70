"""The options that more than one command takes, each declared once.

An option's name, type and default mean the same on every command that takes it, so they are
fixed here; a command passes only what it says differently (its help text, its range). The
options are a public interface (the README and ``docs/`` quote them): a change here changes
every command that lists the option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click
from click.decorators import FC

rules_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Rules directory (default: the catalog shipped with careligible).",
)

#: What ``--audit-log`` does, on ``screen`` and ``serve`` alike.
AUDIT_LOG_HELP = "Append one hash-chained decision record per screened case to FILE."


def file_option(*decls: str, help: str, dir_okay: bool = False) -> Callable[[FC], FC]:
    """An optional file (a path, not opened: the command decides when and how to write it);
    ``dir_okay`` also takes a directory."""
    return click.option(
        *decls, type=click.Path(dir_okay=dir_okay, path_type=Path), default=None, help=help
    )


def output_option(help: str, dir_okay: bool = False) -> Callable[[FC], FC]:
    """``--output``/``-o``: where the results go; None is standard output."""
    return file_option("--output", "-o", help=help, dir_okay=dir_okay)


def audit_log_option(name: str = "audit_log") -> Callable[[FC], FC]:
    """``--audit-log FILE``, passed to the command as ``name``."""
    return file_option("--audit-log", name, help=AUDIT_LOG_HELP)


def format_option(
    choices: Sequence[str], default: str, help: str | None = None
) -> Callable[[FC], FC]:
    """``--format``, passed as ``fmt``, one of ``choices``; the default is shown."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help=help,
    )


def integer_option(
    *decls: str, minimum: int, default: int, help: str | None = None, metavar: str | None = None
) -> Callable[[FC], FC]:
    """A whole number of at least ``minimum``; the default is shown."""
    return click.option(
        *decls,
        type=click.IntRange(min=minimum),
        default=default,
        show_default=True,
        metavar=metavar,
        help=help,
    )


def timeout_option(minimum: float, default: float, help: str) -> Callable[[FC], FC]:
    """``--timeout SECONDS``: the longest something may take; the default is shown."""
    return click.option(
        "--timeout",
        type=click.FloatRange(min=minimum),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )


def date_option(*decls: str, help: str, metavar: str | None = None) -> Callable[[FC], FC]:
    """An optional calendar date, written ``YYYY-MM-DD``; None when not given."""
    return click.option(
        *decls,
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        metavar=metavar,
        help=help,
    )


def repeatable_option(*decls: str, metavar: str, help: str) -> Callable[[FC], FC]:
    """An option given once per value: the command gets a tuple, empty when it is not given."""
    return click.option(*decls, multiple=True, metavar=metavar, help=help)
