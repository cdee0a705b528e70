"""Population screening: what a run over a whole record base needs beyond each case's verdicts.

One case screened on its own keeps the case format's rule: an absent fact is unknown, so a case
with no diagnosis is *needs information* for every trial. Over a record base, most patients have
no disease any trial enrols, and those rows would bury the few candidates. ``screen
--population`` therefore adds a pre-filter, never the default: a case whose primary disease is
not one any cohort of the catalog enrols (absent, ``other``, or a disease no trial takes) gets one
short result, :data:`NO_CANDIDATE_DISEASE`, instead of a verdict per trial, and is counted apart.

The diseases come from the catalog itself (:func:`enrolled_diseases`), so a trial added for a
new disease widens the filter with no change here. The filter reads exactly the fact the disease
gate of every cohort reads (the primary ``disease``), so it never drops a case any trial could
take: a case it keeps out is one every cohort's disease criterion rules out or leaves unknown.
"""

from __future__ import annotations

from .case import Case
from .catalog import Catalog
from .results import CaseResult

#: The short result of a case with no disease any trial of the catalog enrols.
NO_CANDIDATE_DISEASE = "no_candidate_disease"

#: How each short result reads, in every output people read.
PREFILTER_LABEL: dict[str, str] = {NO_CANDIDATE_DISEASE: "no candidate disease recorded"}


def enrolled_diseases(catalog: Catalog) -> frozenset[str]:
    """Every disease some cohort of a screened trial enrols (drafts are never screened)."""
    return frozenset(
        d for trial in catalog.trials for cohort in trial.cohorts for d in cohort.diseases
    )


def prefilter(case: Case, enrolled: frozenset[str]) -> str | None:
    """Why population screening stops before the trials for ``case``, or None to screen it."""
    if case.disease is None or case.disease not in enrolled:
        return NO_CANDIDATE_DISEASE
    return None


def prefiltered(case: Case, source: str, code: str) -> CaseResult:
    """The short result of a case the pre-filter stopped: no trials, the reason by its code."""
    return CaseResult(case_id=case.id, source=source, prefilter=code)


class PopulationCounts:
    """What a population run found, counted as the records pass: for the summary on stderr."""

    def __init__(self) -> None:
        self.read = 0
        self.errors = 0
        self.prefiltered: dict[str, int] = {}

    def add(self, result: CaseResult) -> None:
        self.read += 1
        if result.error is not None:
            self.errors += 1
        elif result.prefilter is not None:
            self.prefiltered[result.prefilter] = self.prefiltered.get(result.prefilter, 0) + 1

    def lines(self) -> list[str]:
        """The summary, one line per count."""
        lines = [f"population: {self.read} case(s) read, {self.errors} with errors"]
        for code, count in sorted(self.prefiltered.items()):
            lines.append(f"population: {count} pre-filtered: {PREFILTER_LABEL.get(code, code)}")
        return lines
