"""From criterion statuses to cohort and trial verdicts, and the order trials are shown in.

A cohort is *ineligible* as soon as one inclusion is not met or one exclusion is met; *cannot
screen* when nothing rules the case out but the catalog lacks the trial's criteria; *needs
information* while a computable criterion is unknown (an exclusion whose facts are missing holds a
case there: missing data is never read as "no"); *possibly eligible* when everything computable
allows the case in but a population-defining item is only to confirm; and *eligible* only when
nothing of that kind is left. Other items to confirm at screening never block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .results import VERDICTS, CohortResult, ConfirmItem, CriterionKind, CriterionStatus, Verdict


class Decided(Protocol):
    """What the verdict of a cohort reads of one decided criterion.

    A full :class:`~careligible.results.CriterionResult` is one; so is the lighter record a
    screener keeps when its output names criteria by id only (``facts`` then holds what the
    criterion read only while it is unknown, which is all :func:`missing_facts` asks of it).
    """

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> CriterionKind: ...
    @property
    def status(self) -> CriterionStatus: ...
    @property
    def text(self) -> str: ...
    @property
    def facts(self) -> dict[str, Any]: ...


_RANK: dict[Verdict, int] = {verdict: rank for rank, verdict in enumerate(VERDICTS)}

#: Verdicts that make a trial no candidate: always ranked last.
NOT_CANDIDATES: frozenset[Verdict] = frozenset({"ineligible", "cannot_screen"})

#: How recruitment status orders candidates: recruiting first, closed trials last.
_STATUS_RANK = {
    "recruiting": 0,
    "not_yet_recruiting": 1,
    "enrolling_by_invitation": 1,
    "active_not_recruiting": 2,
    "unknown": 2,
}
_CLOSED = 3


def is_blocking(result: Decided) -> bool:
    """True when this criterion alone rules the case out."""
    return (result.kind == "inclusion" and result.status == "not_met") or (
        result.kind == "exclusion" and result.status == "met"
    )


def is_settled(result: Decided) -> bool:
    """True when this criterion is known to allow the case in."""
    return (result.kind == "inclusion" and result.status == "met") or (
        result.kind == "exclusion" and result.status == "not_met"
    )


def cohort_verdict(
    criteria: Sequence[Decided],
    to_confirm: Sequence[ConfirmItem] = (),
    criteria_complete: str = "full",
) -> Verdict:
    """The verdict of one cohort, by the precedence the module docstring gives."""
    if any(is_blocking(c) for c in criteria):
        return "ineligible"
    if criteria_complete == "none":
        return "cannot_screen"
    if not all(is_settled(c) for c in criteria):
        return "needs_info"
    if any(item.defines_population for item in to_confirm):
        return "possibly_eligible"
    return "eligible"


def status_rank(result: CohortResult) -> int:
    """0 for a recruiting trial, up to 3 for a closed one; a stale or undated status is unknown."""
    status = result.status if result.status_current else "unknown"
    return _STATUS_RANK.get(status, _CLOSED)


def share_checked(result: CohortResult) -> float:
    """The part of the cohort's criteria decided for this case."""
    return result.checked / result.total if result.total else 0.0


def missing_facts(criteria: Sequence[Decided]) -> list[str]:
    """What to find out for the undecided criteria, in criterion order, each once: their unknown
    facts, or, for a criterion whose recorded facts are all known yet decide nothing (a
    one-sided ``decide:``, a time window the case format cannot hold), the criterion itself
    as a question for the site, so that *needs information* always says what is needed."""
    out: dict[str, None] = {}
    for criterion in criteria:
        if criterion.status == "unknown":
            asked = len(out)
            for path, value in criterion.facts.items():
                if value is None:
                    out[path] = None
                elif isinstance(value, dict):
                    if value.get("uncertain"):
                        drugs = ", ".join(value["uncertain"])
                        out[f"therapies: outcome, duration or timing of {drugs}"] = None
                    if value.get("history_incomplete"):
                        out[INCOMPLETE_HISTORY] = None
            if len(out) == asked and not any(v is None for v in criterion.facts.values()):
                out[f"{criterion.id}: {UNDECIDED}"] = None
    return list(out)


#: How an unconfirmed therapy history is asked about.
INCOMPLETE_HISTORY = "therapies: is the listed therapy history complete? (therapies_complete)"

#: How a criterion the recorded facts cannot decide is asked about.
UNDECIDED = "the recorded facts do not decide it; for the site to judge"


def best_cohort(results: Sequence[CohortResult]) -> CohortResult:
    """A trial's verdict is that of its most favourable cohort.

    On a tie, a cohort that enrols the case's disease (all its criteria evaluated) comes before one
    that does not, then the one with fewest missing facts: a case ruled out of its own disease's
    cohort is shown why, not merely that other cohorts enrol other diseases.
    """
    return min(results, key=lambda r: (_RANK[r.verdict], r.not_evaluated > 0, len(r.missing)))


def rank_trials(
    results: Sequence[CohortResult], fit: Callable[[str], int] = lambda nct: 0
) -> list[CohortResult]:
    """Candidates first, ineligible and cannot-screen trials last; among candidates recruiting
    trials first (a status older than 12 months counts as unknown), then by verdict, then by the
    share of criteria checked, then by fewest missing facts.

    Within a tie, trials that fit more of the case's considerations (``fit``, by NCT id) come
    first; the catalog order decides the rest.
    """
    return sorted(
        results,
        key=lambda r: (
            r.verdict in NOT_CANDIDATES,
            status_rank(r),
            _RANK[r.verdict],
            -share_checked(r),
            len(r.missing),
            -fit(r.nct_id),
        ),
    )


def ask_next(results: Sequence[CohortResult], limit: int = 5) -> list[tuple[str, list[str]]]:
    """The missing facts that would settle the most needs_info trials, most decisive first."""
    trials_by_fact: dict[str, list[str]] = {}
    for result in results:
        if result.verdict == "needs_info":
            for fact in result.missing:
                trials_by_fact.setdefault(fact, []).append(result.nct_id)
    ranked = sorted(trials_by_fact.items(), key=lambda item: -len(item[1]))
    return ranked[:limit]
