"""From criterion statuses to cohort and trial verdicts.

A cohort is *eligible* only when every computable inclusion is met and every computable exclusion is
known not to apply; *ineligible* as soon as one inclusion is not met or one exclusion is met; and
*needs information* otherwise. An exclusion whose facts are missing therefore holds a case at
needs_info: missing data is never read as "no". Items to confirm at screening never block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .results import CriterionResult, TrialResult, Verdict

_RANK: dict[Verdict, int] = {"eligible": 0, "needs_info": 1, "ineligible": 2}


def is_blocking(result: CriterionResult) -> bool:
    """True when this criterion alone rules the case out."""
    return (result.kind == "inclusion" and result.status == "not_met") or (
        result.kind == "exclusion" and result.status == "met"
    )


def is_settled(result: CriterionResult) -> bool:
    """True when this criterion is known to allow the case in."""
    return (result.kind == "inclusion" and result.status == "met") or (
        result.kind == "exclusion" and result.status == "not_met"
    )


def cohort_verdict(criteria: Sequence[CriterionResult]) -> Verdict:
    if any(is_blocking(c) for c in criteria):
        return "ineligible"
    if all(is_settled(c) for c in criteria):
        return "eligible"
    return "needs_info"


def missing_facts(criteria: Sequence[CriterionResult]) -> list[str]:
    """The unknown facts of the undecided criteria, in criterion order, each once."""
    out: dict[str, None] = {}
    for criterion in criteria:
        if criterion.status == "unknown":
            for path, value in criterion.facts.items():
                if value is None:
                    out[path] = None
                elif isinstance(value, dict) and value.get("uncertain"):
                    drugs = ", ".join(value["uncertain"])
                    out[f"therapies: outcome, duration or timing of {drugs}"] = None
    return list(out)


def best_cohort(results: Sequence[TrialResult]) -> TrialResult:
    """A trial's verdict is that of its most favourable cohort.

    On a tie, a cohort that enrols the case's disease (all its criteria evaluated) comes before one
    that does not, then the one with fewest missing facts: a case ruled out of its own disease's
    cohort is shown why, not merely that other cohorts enrol other diseases.
    """
    return min(results, key=lambda r: (_RANK[r.verdict], r.not_evaluated > 0, len(r.missing)))


def rank_trials(
    results: Sequence[TrialResult], fit: Callable[[str], int] = lambda nct: 0
) -> list[TrialResult]:
    """Eligible first, then needs_info by fewest missing facts, then ineligible.

    Within a tie, trials that fit more of the case's considerations (``fit``, by NCT id) come
    first; the catalog order decides the rest.
    """
    return sorted(results, key=lambda r: (_RANK[r.verdict], len(r.missing), -fit(r.nct_id)))


def ask_next(results: Sequence[TrialResult], limit: int = 5) -> list[tuple[str, list[str]]]:
    """The missing facts that would settle the most needs_info trials, most decisive first."""
    trials_by_fact: dict[str, list[str]] = {}
    for result in results:
        if result.verdict == "needs_info":
            for fact in result.missing:
                trials_by_fact.setdefault(fact, []).append(result.nct_id)
    ranked = sorted(trials_by_fact.items(), key=lambda item: -len(item[1]))
    return ranked[:limit]
