"""The ``careligible`` command line: one module per command family, registered on one group.

Each command module imports :mod:`careligible.cli.common` (exit codes, the catalog loader, output
files) and :mod:`careligible.cli.options` (the options several commands take), and none of the
others' internals; it loads the heavy parts of the core (the engine, the terminal UI) only when
its command runs.
"""

from __future__ import annotations

import atexit
import functools
import gc
import importlib
import sys
from typing import Any

import click

from .common import ExitCode, broken_pipe, where_raised

#: Each command by its name: (the module of this package that holds it, its function there).
#: A command's module is imported only when that command runs or is listed in the help, so a
#: one-case ``screen`` never loads the service, the registry client or the audit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("audit", "audit"),
    "explain": ("audit", "explain"),
    "import-fhir": ("fhir", "import_fhir"),
    "registry": ("registry", "registry"),
    "report": ("report", "report"),
    "rules": ("rules", "rules"),
    "screen": ("screen", "screen"),
    "serve": ("serve", "serve"),
    "trials": ("rules", "trials"),
    "tui": ("screen", "tui"),
}

#: Commands of the ``rules`` group that live in other modules: (module, function).
RULES_SUBCOMMANDS = (("registry", "rules_draft"), ("terminology", "rules_expand"))


def _load(module: str, name: str) -> click.Command:
    command = getattr(importlib.import_module(f".{module}", __name__), name)
    assert isinstance(command, click.Command), name
    return command


@functools.cache
def _no_collection_at_exit() -> None:
    """Freeze what is left at exit out of the interpreter's last garbage collection.

    That collection only scans objects the exit frees anyway (the modules, the catalog, the
    engine): about 4% of a one-case screen. Every command has closed its files and outputs by
    then, so no finaliser is left for it to run."""
    atexit.register(gc.freeze)


class _Careligible(click.Group):
    """The command group: every command ends by the one exit-code table (``ExitCode``).

    Commands exit with their own codes; what escapes them is mapped here, so Ctrl-C is 130
    (click would say 1), a reader closing the pipe is 141, and a bug is one line and 3,
    never a traceback that could carry a case's values."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named, its module imported now (see :data:`COMMANDS`)."""
        if cmd_name not in COMMANDS:
            return None
        command = _load(*COMMANDS[cmd_name])
        if cmd_name == "rules" and isinstance(command, click.Group):
            for module, name in RULES_SUBCOMMANDS:
                command.add_command(_load(module, name))
        return command

    def invoke(self, ctx: click.Context) -> Any:
        _no_collection_at_exit()
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


__all__ = ["ExitCode", "main"]
