"""What screening produces: per criterion, per trial, per case.

These models are the output contract of ``careligible screen`` (JSON/JSONL) and what the terminal
UI and the audit trail show. Every criterion result carries the facts it read and its source, so a
verdict can always be traced back to the case and to the rule behind it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CriterionStatus = Literal["met", "not_met", "unknown"]
"""What screening found for one criterion: met, not met, or unknown for want of facts."""
CriterionKind = Literal["inclusion", "exclusion"]
"""An inclusion must be met to enrol; an exclusion, if met, rules the case out."""
Verdict = Literal["eligible", "possibly_eligible", "needs_info", "cannot_screen", "ineligible"]
"""A trial's verdict for a case, from the most to the least favourable:

* ``eligible``: every criterion the catalog can compute is met (inclusions) or known not to apply
  (exclusions), and every criterion that defines the trial's population was computed or confirmed;
* ``possibly_eligible``: the same, but a population-defining criterion (or the part of the
  criteria the catalog lacks) is only listed to confirm;
* ``needs_info``: nothing rules the case out, but facts a criterion needs are missing;
* ``cannot_screen``: nothing rules the case out, but the catalog holds too little of the trial's
  criteria to screen it (its eligibility text was not available);
* ``ineligible``: a criterion rules the case out.
"""
VERDICTS: tuple[Verdict, ...] = (
    "eligible",
    "possibly_eligible",
    "needs_info",
    "cannot_screen",
    "ineligible",
)

#: Said by every output people read: the tool supports a decision, it never makes one.
DISCLAIMER = (
    "Decision support only: verdicts come from published eligibility criteria and the "
    "facts entered; the screening team and investigator decide."
)

#: How each verdict reads to a clinician, in every output.
VERDICT_LABEL: dict[str, str] = {
    "eligible": "eligible",
    "possibly_eligible": "possibly eligible: confirm",
    "needs_info": "needs information",
    "cannot_screen": "cannot screen: criteria not available",
    "ineligible": "ineligible",
}

#: The same verdicts in a word or two, for a narrow column (the terminal UI's trial table, where
#: a terminal 80 columns wide must show verdict, trial, criteria checked and status at once).
VERDICT_SHORT: dict[str, str] = {
    "eligible": "eligible",
    "possibly_eligible": "possibly",
    "needs_info": "needs info",
    "cannot_screen": "no criteria",
    "ineligible": "ineligible",
}


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Confirmed(_Out):
    """Who confirmed an item the case format cannot express, and when: a role, never a name."""

    by: str
    on: str


class CriterionResult(_Out):
    id: str
    kind: CriterionKind
    status: CriterionStatus
    text: str
    facts: dict[str, Any]
    source: str
    rationale: str
    confirmed: Confirmed | None = None
    """Set when the status is a site's confirmation of an item to confirm, not computed."""
    defines_population: bool = False


class ConfirmItem(_Out):
    """A criterion the case format cannot express: the screening team must check it."""

    id: str
    kind: CriterionKind
    text: str
    source: str
    defines_population: bool = False
    """True when the item defines who the trial is for: until confirmed, the verdict is at best
    possibly_eligible."""


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


class CohortResult(_Out):
    """One cohort of a trial screened against a case. A case's result lists, for each trial, the
    cohort that fits it best (see :func:`~careligible.verdicts.best_cohort`)."""

    nct_id: str
    verdict: Verdict
    cohort: str
    cohort_name: str
    status: str = "unknown"
    """The trial's recruitment status as the catalog's source gives it."""
    status_as_of: str | None = None
    """The source's date for that status (ISO), or None when no dated source shows it."""
    status_current: bool = False
    """False when the status is undated or older than 12 months at the case's date: it then
    ranks as unknown."""
    criteria_complete: str = "full"
    checked: int = 0
    """Criteria decided for this case (computed, or confirmed by the site)."""
    total: int = 0
    """Criteria of the cohort, computable and to confirm alike."""
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
    def status_text(self) -> str:
        """The status with its source date, as every output shows it."""
        seen = self.status_as_of or "undated"
        stale = "" if self.status_current else ", not current"
        return f"{self.status.replace('_', ' ')} ({seen}{stale})"

    @property
    def to_confirm_first(self) -> list[ConfirmItem]:
        """Items to confirm, those that define the trial's population first."""
        return sorted(self.to_confirm, key=lambda item: not item.defines_population)

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


def deceased_notice(on: str | None) -> str:
    """What every output says of a case recorded as deceased, in place of trial verdicts."""
    when = f" on {on}" if on else " (date not recorded)"
    return f"DECEASED{when}: the patient is recorded as deceased; no trial was screened"


class CaseResult(_Out):
    case_id: str | None
    source: str
    error: str | None = None
    prefilter: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """Set when population screening stopped before the trials (``screen --population``): the
    code of why (:data:`careligible.population.NO_CANDIDATE_DISEASE`), with no trials. Left out
    of a record when unset, so records of an ordinary run are unchanged."""
    deceased: bool = Field(default=False, exclude_if=lambda value: not value)
    """True when the case records the patient as deceased: then no trial is screened, and
    ``trials`` is empty. Left out of a record when false (the patient is not recorded as
    deceased, which is not the same as known to be alive)."""
    deceased_date: str | None = Field(default=None, exclude_if=lambda value: value is None)
    """The date of death (ISO), when the case gives it; left out when unset."""
    warnings: list[str] = []
    trials: list[CohortResult] = []
    """Each trial's best-fitting cohort, ranked."""
    considerations: list[Consideration] = []
    ask_next: list[AskNext] = []

    def by_verdict(self, verdict: Verdict) -> list[CohortResult]:
        return [t for t in self.trials if t.verdict == verdict]
