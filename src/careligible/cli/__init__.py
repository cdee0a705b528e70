"""The ``careligible`` command line: one module per command family, registered on one group.

Each command module imports :mod:`careligible.cli.common` (exit codes, the catalog loader, output
files) and :mod:`careligible.cli.options` (the options several commands take), and none of the
others' internals; it loads the heavy parts of the core (the engine, the terminal UI) only when
its command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .audit import audit, explain
from .common import ExitCode, broken_pipe, where_raised
from .fhir import import_fhir
from .registry import registry, rules_draft
from .report import report
from .rules import rules, trials
from .screen import screen, tui
from .serve import serve
from .terminology import rules_expand


class _Careligible(click.Group):
    """The command group: every command ends by the one exit-code table (``ExitCode``).

    Commands exit with their own codes; what escapes them is mapped here, so Ctrl-C is 130
    (click would say 1), a reader closing the pipe is 141, and a bug is one line and 3,
    never a traceback that could carry a case's values."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("careligible: interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            broken_pipe()
        except Exception as exc:
            click.echo(
                f"careligible: internal error: {where_raised(exc)}; please report it", err=True
            )
            sys.exit(ExitCode.INTERNAL_ERROR)


@click.group(cls=_Careligible, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="careligible")
def main() -> None:
    """Which CAR-T trials could this patient with an autoimmune disease enter, and why.

    Decision support only: the screening team and investigator decide.
    """


for _command in (screen, tui, rules, trials, explain, report, audit, import_fhir, registry, serve):
    main.add_command(_command)
rules.add_command(rules_draft)
rules.add_command(rules_expand)

__all__ = ["ExitCode", "main"]
