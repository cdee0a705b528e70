"""The ``careligible`` command line: one module per command family, registered on one group.

Each command module imports :mod:`careligible.cli.common` and none of the others' internals, and
loads the heavy parts of the core (the engine, the terminal UI) only when its command runs.
"""

from __future__ import annotations

import click

from .audit import audit, explain
from .common import ExitCode
from .fhir import import_fhir
from .registry import registry, rules_draft
from .rules import rules, trials
from .screen import screen, tui
from .serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="careligible")
def main() -> None:
    """Which CAR-T trials could this patient with an autoimmune disease enter, and why.

    Decision support only: the screening team and investigator decide.
    """


for _command in (screen, tui, rules, trials, explain, audit, import_fhir, registry, serve):
    main.add_command(_command)
rules.add_command(rules_draft)

__all__ = ["ExitCode", "main"]
