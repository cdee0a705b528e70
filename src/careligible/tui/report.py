"""Pure text for the UI's panels: verdict and status labels, values, trial facts, "ask next".

No widgets here: each function takes a :class:`CaseResult` (or part of it) and the
:class:`Catalog` it came from and returns text. The exported report is the core's
(:mod:`careligible.report`), the same as ``careligible report`` writes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog
from ..explain import show_value
from ..results import VERDICT_LABEL as CORE_VERDICT_LABEL
from ..results import CaseResult, CohortResult, CriterionResult
from . import form_model

VERDICT_LABEL = {verdict: label.capitalize() for verdict, label in CORE_VERDICT_LABEL.items()}


def ask_next(result: CaseResult, limit: int = 10) -> list[tuple[str, list[str]]]:
    """The facts most often missing across needs-info trials, most frequent first, each with the
    trials it would help settle. Uses the core's list when the result carries one."""
    if result.ask_next:
        return [(a.fact, list(a.trials)) for a in result.ask_next[:limit]]
    trials: dict[str, list[str]] = {}
    for trial in result.by_verdict("needs_info"):
        for path in dict.fromkeys(trial.missing):
            trials.setdefault(path, []).append(trial.nct_id)
    counts = Counter({path: len(ncts) for path, ncts in trials.items()})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(path, trials[path]) for path, _ in ranked]


@dataclass(frozen=True)
class AskItem:
    """A missing fact as the clinician reads it, and where in the form it is entered."""

    label: str
    trials: tuple[str, ...]
    field: str | None
    """The form field (a key of :data:`form_model.FIELDS`, or :data:`form_model.THERAPIES`) that answers
    it; None when the form shows no field for it, so it is confirmed at screening."""


def ask_items(asks: list[tuple[str, list[str]]], disease: str) -> list[AskItem]:
    """:func:`ask_next`'s facts in the form's words, each with the field that answers it
    among those the form shows for ``disease``: a fact whose field the form hides for this
    disease (T25FW for an MG case) is to confirm at screening, not asked for in a hidden box."""
    return [_ask_item(fact, tuple(trials), disease) for fact, trials in asks]


def _ask_item(fact: str, trials: tuple[str, ...], disease: str) -> AskItem:
    spec = form_model.FIELDS.get(fact)
    if spec is not None:
        if spec.shown_for(disease):
            return AskItem(spec.label, trials, fact)
        where = f"the {disease} form" if disease else "the form"
        return AskItem(f"{spec.label}: not on {where}; to confirm at screening", trials, None)
    head, _, rest = fact.partition(":")
    if head == form_model.THERAPIES:
        return AskItem(f"prior therapies:{rest}", trials, form_model.THERAPIES)
    words = form_model.label_of(head.rsplit(".", 1)[-1])
    return AskItem(f"{words}:{rest or ' to confirm at screening'}", trials, None)


def show_facts(facts: dict[str, Any]) -> str:
    return "; ".join(f"{path} = {show_value(value)}" for path, value in facts.items())


def trial_meta(catalog: Catalog, nct_id: str) -> tuple[str, str, str, str, str]:
    """Title, targets, phase, sponsor and status of a trial ("" when unknown)."""
    trial = catalog.trial(nct_id)
    if trial is None:
        return ("", "", "", "", "")
    meta = trial.meta
    seen = meta.status_as_of.isoformat() if meta.status_as_of else "no dated source"
    status = f"{meta.status.replace('_', ' ')} (as of {seen})"
    return (meta.title, "/".join(meta.targets), meta.phase, meta.sponsor, status)


#: A trial's recruitment status in a word for the trial table (the detail gives it in full, with
#: its date): *open* is recruiting; a trial that does not recruit now reads so at a glance.
STATUS_WORD = {
    "recruiting": "open",
    "not_yet_recruiting": "not yet",
    "enrolling_by_invitation": "invite",
    "active_not_recruiting": "closed",
    "completed": "closed",
    "terminated": "closed",
    "withdrawn": "closed",
    "suspended": "paused",
    "unknown": "unknown",
}


def status_word(trial: CohortResult) -> tuple[str, str]:
    """The table's status cell and its style: green only for a trial recruiting by a current
    source; a status that is undated or over a year old ends in "?" (it ranks as unknown)."""
    word = STATUS_WORD.get(trial.status, trial.status.replace("_", " "))
    if not trial.status_current:
        return f"{word}?", "yellow"
    if trial.status == "recruiting":
        return word, "green"
    return word, "red" if word in ("closed", "paused") else "yellow"


def checked_count(trial: CohortResult) -> str:
    """Criteria decided for the case out of all the cohort's, computable and to confirm: the
    rest is unknown, to confirm at screening, or not evaluated for another disease."""
    return f"{trial.checked}/{trial.total}"


def checked_summary(trials: list[CohortResult]) -> str:
    """Criteria checked and items to confirm over some trials, as the summary line gives them:
    ``16/23 checked, 7 to confirm``."""
    checked = sum(t.checked for t in trials)
    total = sum(t.total for t in trials)
    confirm = sum(len(t.to_confirm) for t in trials)
    return f"{checked}/{total} checked, {confirm} to confirm"


def reasons(trial: CohortResult) -> list[CriterionResult]:
    """The criteria that decided a verdict: those not met, then those unknown."""
    order = {"not_met": 0, "unknown": 1, "met": 2}
    return sorted(
        (c for c in trial.criteria if c.id in trial.blocked_by or c.status == "unknown"),
        key=lambda c: order[c.status],
    )
