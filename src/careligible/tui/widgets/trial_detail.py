"""One trial's verdict explained: every criterion with its status, deciding facts, rationale and
source, then the items the screening team must confirm."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...results import CohortResult
from ..report import STATUS_LABEL, VERDICT_LABEL, show_facts

STATUS_STYLE = {"met": "green", "not_met": "bold red", "unknown": "yellow"}
STATUS_MARK = {"met": "✓", "not_met": "✗", "unknown": "?"}
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
    text.append(f"Status: {info.status}\n", style="dim")
    if trial.only_blocker:
        text.append(f"\nRuled out by one criterion only: {trial.only_blocker}\n", style="bold")
    text.append("\nCriteria\n", style="bold underline")
    order = {"not_met": 0, "unknown": 1, "met": 2}
    for c in sorted(trial.criteria, key=lambda c: order[c.status]):
        status = c.status
        if c.kind == "exclusion" and c.status in ("met", "not_met"):
            # an exclusion that is met blocks; show the effect, not only the status
            blocking = c.id in trial.blocked_by
            style = "bold red" if blocking else "green"
            mark = "✗" if blocking else "✓"
        else:
            style, mark = STATUS_STYLE[status], STATUS_MARK[status]
        text.append(f"{mark} {STATUS_LABEL[status]:7} ", style=style)
        text.append(f"[{c.kind}] ", style="dim")
        text.append(f"{c.text}\n")
        text.append(f"    value: {show_facts(c.facts) or 'none'}\n", style="cyan")
        text.append(f"    why: {c.rationale}\n", style="dim")
        text.append(f"    source: {c.source}\n", style="dim")
    if trial.not_evaluated_note:
        text.append(f"\n{trial.not_evaluated_note}\n", style="dim italic")
    if trial.to_confirm:
        text.append("\nTo confirm at screening\n", style="bold underline")
        for item in trial.to_confirm:
            text.append(f"• [{item.kind}] {item.text}\n")
            text.append(f"    source: {item.source}\n", style="dim")
    return text


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
