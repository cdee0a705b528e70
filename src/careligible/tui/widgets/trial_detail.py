"""One trial's verdict explained, what blocks first: the criteria that rule the case out, then
what is not yet known, missing or to confirm at screening, then what allows the case in; each
criterion with its deciding facts, rationale and source.

The grouping, the headings and the status words (*excludes*, *does not exclude*, *met*, *not
met*, *unknown*) are the report's (:mod:`careligible.report.content`), so the screen and the
referral a colleague reads say the same thing the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...report.content import (
    DOES_NOT_EXCLUDE,
    MET,
    MISSING,
    NOT_YET_KNOWN,
    RULES_OUT,
    TO_CONFIRM,
    effect_word,
)
from ...results import CohortResult, CriterionResult
from ...verdicts import is_blocking, is_settled
from ..report import VERDICT_LABEL, show_facts

#: Mark and style of a criterion by what it does to the case: rules it out, leaves it open,
#: allows it in. The word beside the mark says the same (:func:`effect_word`).
EFFECT_MARK = {"blocks": ("✗", "bold red"), "open": ("?", "yellow"), "allows": ("✓", "green")}
VERDICT_STYLE = {
    "eligible": "bold green",
    "possibly_eligible": "green",
    "needs_info": "bold yellow",
    "cannot_screen": "dim",
    "ineligible": "bold red",
}


@dataclass(frozen=True)
class TrialInfo:
    """What the catalog says about a trial, handed down by the app."""

    title: str = ""
    targets: str = ""
    phase: str = ""
    sponsor: str = ""
    status: str = ""


def render_trial(trial: CohortResult, info: TrialInfo) -> Text:
    text = Text()
    text.append(f"{trial.nct_id}  ", style="bold")
    text.append(VERDICT_LABEL[trial.verdict], style=VERDICT_STYLE[trial.verdict])
    text.append(f"\n{info.title}\n", style="italic")
    text.append(f"Cohort: {trial.cohort_name}\n")
    text.append(f"Targets: {info.targets} · {info.phase} · {info.sponsor}\n", style="dim")
    text.append(f"Status: {trial.status_text}\n", style="dim")
    text.append(f"Criteria checked: {trial.checked} of {trial.total}\n")
    if trial.only_blocker:
        text.append(f"\nRuled out by one criterion only: {trial.only_blocker}\n", style="bold")
    criteria = trial.criteria
    _criteria(text, RULES_OUT, "blocks", [c for c in criteria if is_blocking(c)])
    _criteria(text, NOT_YET_KNOWN, "open", [c for c in criteria if c.status == "unknown"])
    missing = list(dict.fromkeys(trial.missing))
    if missing:
        _heading(text, MISSING)
        text.append("".join(f"• {path}\n" for path in missing), style="yellow")
    if trial.to_confirm:
        _heading(text, TO_CONFIRM)
        for item in trial.to_confirm_first:
            text.append(f"• [{item.kind}] {item.text}\n")
            text.append(f"    source: {item.source}\n", style="dim")
    allows = [c for c in criteria if is_settled(c)]
    _criteria(text, MET, "allows", [c for c in allows if c.kind == "inclusion"])
    _criteria(text, DOES_NOT_EXCLUDE, "allows", [c for c in allows if c.kind == "exclusion"])
    if trial.not_evaluated_note:
        text.append(f"\n{trial.not_evaluated_note}\n", style="dim italic")
    return text


def _heading(text: Text, heading: str) -> None:
    text.append(f"\n{heading}\n", style="bold underline")


def _criteria(text: Text, heading: str, effect: str, criteria: Sequence[CriterionResult]) -> None:
    if not criteria:
        return
    _heading(text, heading)
    mark, style = EFFECT_MARK[effect]
    for c in criteria:
        text.append(f"{mark} {effect_word(c)} ", style=style)
        text.append(f"[{c.kind}] ", style="dim")
        text.append(f"{c.text}\n")
        text.append(f"    value: {show_facts(c.facts) or 'none'}\n", style="cyan")
        text.append(f"    why: {c.rationale}\n", style="dim")
        text.append(f"    source: {c.source}\n", style="dim")


class TrialDetail(VerticalScroll):
    """Shows one trial's explanation; :meth:`show` hands the trial down."""

    DEFAULT_CSS = """
    TrialDetail { height: 1fr; }
    TrialDetail > Static { width: 1fr; }
    """

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Select a trial to see why.", id="trial-detail-text")

    def show(self, trial: CohortResult | None, info: TrialInfo) -> None:
        body = self.query_one("#trial-detail-text", Static)
        body.update(render_trial(trial, info) if trial else "Select a trial to see why.")
