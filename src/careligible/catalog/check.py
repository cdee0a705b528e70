"""Checks on a rules directory that no schema can express: special files, ids used twice.

Each check adds a :class:`Problem` naming file, line and field rather than stopping, so one load
lists everything wrong with a catalog at once.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..conditions import ParseContext
from ..errors import Problem, RulesError, describe_validation_error
from ..yamlsource import LineMap


def refuse_special_files(directory: Path) -> None:
    """Every ``*.yaml`` under the rules is read (for the ruleset version at least): a FIFO or a
    device among them would block or never end, so each is a problem before anything is read."""
    problems = []
    for path in sorted(directory.rglob("*.yaml")):
        try:
            regular = stat.S_ISREG(path.stat().st_mode) or path.is_dir()
        except OSError as exc:
            problems.append(Problem(f"cannot read: {exc.strerror or exc}", file=str(path)))
            continue
        if not regular:
            problems.append(
                Problem("not a regular file (a FIFO, socket or device)", file=str(path))
            )
    if problems:
        raise RulesError(problems)


def validate(
    model: type[BaseModel], data: Any, path: Path, lines: LineMap, problems: list[Problem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for problem in describe_validation_error(exc, model):
            line = lines.line_of(problem.loc) or 1  # an empty document has no lines
            problems.append(Problem(problem.message, problem.field, str(path), line))
        return None


def check_unique_ids(
    items: list[tuple[str, tuple[int | str, ...]]],
    ctx: ParseContext,
    what: str = "criterion",
    report_from: int = 0,
) -> None:
    """Report each id used again (from item ``report_from`` on) at its second use.

    ``disease`` is taken by the criterion every cohort starts with.
    """
    first: dict[str, tuple[int | str, ...]] = {}
    for index, (item_id, path) in enumerate(items):
        if index >= report_from:
            if what == "criterion" and item_id == "disease":
                ctx.report(
                    (*path, "id"),
                    "criterion id 'disease' is reserved for the cohort's disease gate",
                )
            elif item_id in first:
                line = ctx.line_of((*first[item_id], "id"))
                ctx.report(
                    (*path, "id"), f"{what} id '{item_id}' is used twice (first on line {line})"
                )
        first.setdefault(item_id, path)
