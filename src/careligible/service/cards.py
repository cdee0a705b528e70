"""CDS Hooks cards from a screening result: few cards, every trial not ruled out, ranked.

One card per verdict that leaves a trial open (eligible, possibly eligible, needs information,
cannot screen...), each listing its trials by recruitment status, with what is missing, what to
ask next and where each trial's criteria come from, and a link to the full explanation. No card
at all when no trial enrols the patient's disease: silence is the right answer there. Verdicts
and statuses are ranked and labelled through the tables below only, so a new verdict gets a
card of its own without code changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..audit import tool_version
from ..catalog import Catalog, Trial
from ..results import DISCLAIMER, CaseResult, CohortResult

#: The verdict that rules a trial out: no card lists it as open.
RULED_OUT = "ineligible"

#: Verdict -> (rank, what the card's summary says of its trials). Unlisted verdicts rank last.
VERDICTS: dict[str, tuple[int, str]] = {
    "eligible": (0, "could enrol this patient"),
    "possibly_eligible": (1, "possibly eligible: a population criterion to confirm"),
    "needs_info": (2, "open, more information needed"),
    "cannot_screen": (3, "criteria not in the catalog: check by hand"),
}

#: Why a clinician may dismiss a card; their choice is kept in the feedback log.
OVERRIDE_SYSTEM = "urn:careligible:override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-screened", "Already screened or referred"),
    ("not-a-candidate", "Not a candidate for CAR-T therapy"),
    ("patient-declines", "Patient not interested"),
    ("record-incorrect", "The record is wrong or out of date"),
)

SUMMARY_LIMIT = 140  # CDS Hooks: a card's summary is under 140 characters


@dataclass(frozen=True)
class IssuedCard:
    """What the service remembers of a card it returned, to give feedback on it a meaning."""

    card: str
    case_id: str | None
    verdict: str
    trials: tuple[str, ...]


def cards_for(
    result: CaseResult, catalog: Catalog, explanation_url: str, notes: Iterable[str] = ()
) -> tuple[list[dict[str, Any]], list[IssuedCard]]:
    """The cards for one screened case, and what to remember of each."""
    trials = {t.nct_id: t for t in catalog.trials}
    open_trials = [t for t in result.trials if t.verdict != RULED_OUT]
    if not open_trials and all(_enrols_elsewhere(t) for t in result.trials):
        return [], []
    groups = _grouped(open_trials, trials) if open_trials else {RULED_OUT: _near_misses(result)}
    cards, issued = [], []
    for verdict, members in groups.items():
        card_id = str(uuid.uuid4())
        card = _card(card_id, verdict, members, trials, result, explanation_url, catalog.version)
        cards.append(card)
        issued.append(
            IssuedCard(card_id, result.case_id, verdict, tuple(t.nct_id for t in members))
        )
    extra = [*notes, *result.warnings]
    if extra:
        cards[0]["detail"] += "\n\n" + _warnings_markdown(extra)
    return cards, issued


def _enrols_elsewhere(trial: CohortResult) -> bool:
    """True when the trial is closed to the patient only because it enrols other diseases."""
    return trial.verdict == RULED_OUT and trial.blocked_by == ["disease"]


def _near_misses(result: CaseResult) -> list[CohortResult]:
    """The trials of the patient's disease that rule them out, one-criterion misses first."""
    enrolling = [t for t in result.trials if not _enrols_elsewhere(t)]
    return sorted(enrolling, key=lambda t: t.only_blocker is None)


def _grouped(
    open_trials: list[CohortResult], trials: dict[str, Trial]
) -> dict[str, list[CohortResult]]:
    """Open trials by verdict (verdict order), each group in the core's ranking (recruiting
    first, a stale status as unknown, then the share of criteria checked)."""
    verdicts = sorted({t.verdict for t in open_trials}, key=_verdict_rank)
    return {verdict: [t for t in open_trials if t.verdict == verdict] for verdict in verdicts}


def _verdict_rank(verdict: str) -> int:
    return VERDICTS.get(verdict, (len(VERDICTS), ""))[0]


def _verdict_label(verdict: str) -> str:
    if verdict == RULED_OUT:
        return "ruled out of every trial for this disease"
    return VERDICTS.get(verdict, (0, verdict.replace("_", " ")))[1]


def _card(
    card_id: str,
    verdict: str,
    members: list[CohortResult],
    trials: dict[str, Trial],
    result: CaseResult,
    explanation_url: str,
    ruleset: str,
) -> dict[str, Any]:
    names = ", ".join(_name(t.nct_id, trials) for t in members)
    head = f"CAR-T trials: {len(members)} {_verdict_label(verdict)}"
    summary = f"{head} ({names})"
    if len(summary) >= SUMMARY_LIMIT:
        summary = head[: SUMMARY_LIMIT - 1]
    ask = [a for a in result.ask_next if set(a.trials) & {t.nct_id for t in members}]
    detail = [_trial_markdown(t, trials.get(t.nct_id)) for t in members]
    if ask:
        detail.append(
            "**Ask next:** " + "; ".join(f"{a.fact} (settles {len(a.trials)})" for a in ask)
        )
    detail.append(f"_{DISCLAIMER}_")
    return {
        "uuid": card_id,
        "summary": summary,
        "indicator": "info",
        "detail": "\n\n".join(detail),
        "source": {
            "label": f"careligible {tool_version()}, rules {ruleset}",
            "url": _registry_url(members[0].nct_id, trials.get(members[0].nct_id)),
        },
        "links": [
            {
                "label": "Full explanation of every verdict",
                "url": explanation_url,
                "type": "absolute",
            },
            *(
                {
                    "label": f"{t.nct_id} registry record",
                    "url": _registry_url(t.nct_id, trials.get(t.nct_id)),
                    "type": "absolute",
                }
                for t in members
            ),
        ],
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
            for code, display in OVERRIDE_REASONS
        ],
        "extension": {
            "careligible": {
                "verdict": verdict,
                "trials": [
                    {
                        "nct_id": t.nct_id,
                        "verdict": t.verdict,
                        "status": t.status,
                        "status_as_of": t.status_as_of,
                        "cohort": t.cohort,
                        "missing": list(t.missing),
                    }
                    for t in members
                ],
            }
        },
    }


def _name(nct_id: str, trials: dict[str, Trial]) -> str:
    trial = trials.get(nct_id)
    return f"{trial.meta.acronym} {nct_id}" if trial and trial.meta.acronym else nct_id


def _registry_url(nct_id: str, trial: Trial | None) -> str:
    """The trial's registry record as cited in the rules, else its ClinicalTrials.gov page."""
    if trial is not None:
        registry = trial.meta.sources.get("registry")
        if registry is not None and registry.url:
            return registry.url
    return f"https://clinicaltrials.gov/study/{nct_id}"


def _trial_markdown(result: CohortResult, trial: Trial | None) -> str:
    meta = trial.meta if trial else None
    title = f" ({meta.acronym})" if meta and meta.acronym else ""
    lines = [f"**{result.nct_id}**{title}: {meta.title if meta else ''}".rstrip(": ")]
    if meta:
        lines.append(f"status {result.status_text}; cohort: {result.cohort_name}")
    if result.verdict == RULED_OUT:
        lines.append(
            f"ruled out by one criterion only: {result.only_blocker}"
            if result.only_blocker
            else f"ruled out by: {', '.join(result.blocked_by)}"
        )
    if result.missing:
        lines.append("missing: " + ", ".join(result.missing))
    if result.to_confirm:
        lines.append(f"{len(result.to_confirm)} item(s) to confirm at screening")
    if trial is not None:
        registry = trial.meta.sources.get("registry") or next(iter(trial.meta.sources.values()))
        lines.append(f"source: {registry.cite()} (checked {registry.checked.isoformat()})")
    return "  \n".join(lines)


def _warnings_markdown(warnings: list[str]) -> str:
    shown = warnings[:5]
    more = f" and {len(warnings) - 5} more (see the explanation)" if len(warnings) > 5 else ""
    return "**Import notes:** " + "; ".join(shown) + more
