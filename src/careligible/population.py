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

from collections import Counter
from dataclasses import dataclass

from .case import Case
from .catalog import Catalog
from .results import VERDICTS, CaseResult, CohortResult, Verdict
from .verdicts import missing_facts

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


#: How the summary names each verdict (the outputs' labels, without their advice).
SUMMARY_LABEL: dict[str, str] = {
    "eligible": "eligible",
    "possibly_eligible": "possibly eligible",
    "needs_info": "needs information",
    "cannot_screen": "cannot screen",
    "ineligible": "ineligible",
}

#: The verdicts that make a case a trial's candidate, in the order a coordinator works them.
CANDIDATE_VERDICTS: tuple[Verdict, ...] = ("eligible", "possibly_eligible", "needs_info")


class PopulationCounts:
    """What a population run found, counted as the records pass: the summary on stderr.

    Per case: read, with errors, recorded as deceased (never screened, whatever else it holds),
    pre-filtered (by reason), or screened, and then its best verdict over all trials. Per trial:
    its candidates (cases it is eligible, possibly eligible or needs information for), by
    verdict. Counting keeps no case: memory stays flat in the number of cases.
    """

    def __init__(self, trials: list[str]) -> None:
        self.read = 0
        self.errors = 0
        self.deceased = 0
        self.prefiltered: Counter[str] = Counter()
        self.best: Counter[str] = Counter()
        self.candidates: dict[str, Counter[str]] = {nct: Counter() for nct in trials}

    @property
    def screened(self) -> int:
        return sum(self.best.values())

    @property
    def with_candidate_trial(self) -> int:
        """Screened cases that are a candidate for at least one trial."""
        return sum(self.best[verdict] for verdict in CANDIDATE_VERDICTS)

    def add(self, result: CaseResult) -> None:
        self.read += 1
        if result.error is not None:
            self.errors += 1
            return
        if result.deceased:
            self.deceased += 1
            return
        if result.prefilter is not None:
            self.prefiltered[result.prefilter] += 1
            return
        verdicts = [trial.verdict for trial in result.trials]
        self.best[min(verdicts, key=VERDICTS.index, default="ineligible")] += 1
        for trial in result.trials:
            if trial.verdict in CANDIDATE_VERDICTS:
                self.candidates.setdefault(trial.nct_id, Counter())[trial.verdict] += 1

    def lines(self) -> list[str]:
        """The summary, one count per line, for a person at the end of a run."""
        lines = [f"population: {self.read} case(s) read, {self.errors} with errors"]
        lines.append(f"population: {self.deceased} recorded as deceased: not screened")
        for code, count in sorted(self.prefiltered.items()):
            lines.append(f"population: {count} pre-filtered: {PREFILTER_LABEL.get(code, code)}")
        lines.append(f"population: {self.screened} screened against the trials; best verdict:")
        lines += [f"population:   {SUMMARY_LABEL[v]}: {self.best[v]}" for v in VERDICTS]
        heads = ", ".join(SUMMARY_LABEL[v] for v in CANDIDATE_VERDICTS)
        lines.append(f"population: candidates per trial ({heads}):")
        none = 0
        for nct, found in self.candidates.items():
            if not found:
                none += 1
                continue
            counts = ", ".join(str(found[v]) for v in CANDIDATE_VERDICTS)
            lines.append(f"population:   {nct}: {counts}")
        if none:
            lines.append(f"population:   {none} trial(s) with no candidate")
        return lines


def lean(result: CaseResult) -> CaseResult:
    """The part of a result that the counts and the worklist read, for a worker to send back:
    every trial's verdict and cohort, and of a candidate trial its missing facts, undecided
    criteria and population-defining items to confirm. Most of a result (every decided
    criterion, the considerations) is none of that, and costs far more to send than to drop."""
    trials = [_lean_trial(trial) for trial in result.trials]
    return result.model_copy(update={"trials": trials, "considerations": [], "ask_next": []})


def _lean_trial(trial: CohortResult) -> CohortResult:
    if trial.verdict not in CANDIDATE_VERDICTS:
        return trial.model_copy(update={"criteria": [], "to_confirm": [], "missing": []})
    undecided = [c for c in trial.criteria if c.status == "unknown"]
    defining = [item for item in trial.to_confirm if item.defines_population]
    return trial.model_copy(update={"criteria": undecided, "to_confirm": defining})


# --- the coordinator's worklist -----------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One thing to settle for a candidate: a criterion in the protocol's words, and the facts
    to find out for it (none for an item to confirm at screening)."""

    text: str
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A case that is a candidate for one trial, with what stands between it and a referral."""

    order: int
    """The case's place in the input: ties keep input order."""
    case_id: str | None
    source: str
    verdict: Verdict
    cohort: str
    cohort_name: str
    missing: int
    """Facts to find out (needs information) or population-defining items to confirm (possibly
    eligible): what the rank counts."""
    find_out: tuple[Ask, ...]
    confirm: tuple[Ask, ...]

    @property
    def rank_key(self) -> tuple[int, int, int]:
        """Likely eligible first (eligible, then possibly eligible, then needs information),
        then the fewest items to settle, then input order."""
        return (CANDIDATE_VERDICTS.index(self.verdict), self.missing, self.order)


def candidate(result: CaseResult, trial: CohortResult, order: int) -> Candidate:
    """The worklist entry of ``result`` for one candidate trial."""
    find_out = tuple(
        Ask(criterion.text, tuple(missing_facts([criterion])))
        for criterion in trial.criteria
        if criterion.status == "unknown"
    )
    confirm = tuple(Ask(item.text) for item in trial.to_confirm if item.defines_population)
    missing = len(trial.missing) if trial.verdict == "needs_info" else len(confirm)
    return Candidate(
        order,
        result.case_id,
        result.source,
        trial.verdict,
        trial.cohort,
        trial.cohort_name,
        missing,
        find_out if trial.verdict == "needs_info" else (),
        confirm,
    )


class Worklist:
    """Per trial, its candidates from a population run, ranked for a trial coordinator.

    A case with an error, recorded as deceased, or pre-filtered is no one's candidate. The
    worklist keeps each candidate (never a whole result) until the run ends, so its memory grows
    with the number of candidates, not of cases.
    """

    def __init__(self, trials: list[str]) -> None:
        self._by_trial: dict[str, list[Candidate]] = {nct: [] for nct in trials}
        self._read = 0

    def add(self, result: CaseResult) -> None:
        order, self._read = self._read, self._read + 1
        if result.error is not None or result.deceased or result.prefilter is not None:
            return
        for trial in result.trials:
            if trial.verdict in CANDIDATE_VERDICTS:
                entry = candidate(result, trial, order)
                self._by_trial.setdefault(trial.nct_id, []).append(entry)

    def ranked(self) -> dict[str, list[Candidate]]:
        """Every trial (in catalog order) with its candidates, best first."""
        return {
            nct: sorted(entries, key=lambda c: c.rank_key)
            for nct, entries in self._by_trial.items()
        }
