"""What screening produces: per criterion, per trial, per case.

These models are the output contract of ``careligible screen`` (JSON/JSONL) and what the terminal
UI and the audit trail show. Every criterion result carries the facts it read and its source, so a
verdict can always be traced back to the case and to the rule behind it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["met", "not_met", "unknown"]
Verdict = Literal["eligible", "needs_info", "ineligible"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class CriterionResult(_Out):
    id: str
    kind: Literal["inclusion", "exclusion"]
    status: Status
    text: str
    facts: dict[str, Any]
    source: str
    rationale: str


class ConfirmItem(_Out):
    """A criterion the case format cannot express: the screening team must check it."""

    id: str
    kind: Literal["inclusion", "exclusion"]
    text: str
    source: str


class NearestSite(_Out):
    """The trial's nearest recruiting site in the area asked for (``screen --near/--country``)."""

    facility: str
    city: str
    country: str
    distance_km: float | None = None
    """Geodesic distance from ``--near``; None when only a country was asked for."""

    def describe(self) -> str:
        """``Facility, City, Country (12.3 km)`` as the table and CSV outputs show it."""
        place = ", ".join(p for p in (self.facility, self.city, self.country) if p)
        return place + (f" ({self.distance_km:g} km)" if self.distance_km is not None else "")


class TrialResult(_Out):
    nct_id: str
    verdict: Verdict
    cohort: str
    cohort_name: str
    missing: list[str]
    to_confirm: list[ConfirmItem]
    criteria: list[CriterionResult]
    blocked_by: list[str] = []
    only_blocker: str | None = None
    """Set when exactly one criterion rules the case out: the text of that criterion."""
    not_evaluated: int = 0
    """Criteria left unevaluated because the cohort does not enrol the case's disease."""
    nearest_site: NearestSite | None = None
    """Set when screening was narrowed to an area: where the patient could go for this trial."""

    @property
    def not_evaluated_note(self) -> str | None:
        """Says why a cohort's other criteria are absent, so no one reads them as passed."""
        if not self.not_evaluated:
            return None
        return (
            f"{self.not_evaluated} other criteria not evaluated: this cohort does not enrol "
            "the case's disease"
        )


class Consideration(_Out):
    """Advice from the source article whose condition holds for this case."""

    id: str
    axis: str
    title: str
    advice: str
    rationale: str
    source: str
    facts: dict[str, Any] = {}


class AskNext(_Out):
    """A missing fact, and the needs-information trials it would help settle."""

    fact: str
    trials: list[str]


class CaseResult(_Out):
    case_id: str | None
    source: str
    error: str | None = None
    warnings: list[str] = []
    trials: list[TrialResult] = []
    considerations: list[Consideration] = []
    ask_next: list[AskNext] = []

    def by_verdict(self, verdict: Verdict) -> list[TrialResult]:
        return [t for t in self.trials if t.verdict == verdict]
