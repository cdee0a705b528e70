"""Screening one case against the catalog: the API the CLI and the terminal UI share.

The engine decides each computable criterion; this module attaches to each decision the facts it
read and its source, aggregates cohorts and trials, and ranks the trials. It knows nothing of file
formats or of the user interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from .case import Case, Confirmation
from .catalog import DISEASE, Catalog, Cohort, ConsiderationRule, Criterion, Trial
from .conditions import Condition, TherapyCount, walk
from .engine import CONSIDERATIONS, CriterionKey, RuleEngine
from .facts import CaseFacts, Tallier, TherapyTally, case_facts
from .population import enrolled_diseases, prefilter, prefiltered
from .results import (
    AskNext,
    CaseResult,
    CohortResult,
    Confirmed,
    ConfirmItem,
    Consideration,
    CriterionKind,
    CriterionResult,
    CriterionStatus,
    deceased_notice,
)
from .verdicts import (
    Decided,
    ask_next,
    best_cohort,
    cohort_verdict,
    is_blocking,
    missing_facts,
    rank_trials,
)


class Screener:
    """Holds a loaded catalog and its compiled engine; screens cases one at a time."""

    def __init__(
        self,
        catalog: Catalog,
        disease_gate: bool = True,
        population: bool = False,
        criteria: bool = True,
    ) -> None:
        """``disease_gate=False`` evaluates every cohort in full, even those of other diseases:
        slower, and used to show the gate changes no verdict. ``population=True`` gives a case
        with no disease any trial enrols one short result instead of its verdicts
        (:mod:`careligible.population`); never the default.

        ``criteria=False`` leaves each cohort's ``criteria`` empty: the verdicts, what rules out,
        what is missing and what is to confirm are the same, but no criterion's text, facts and
        source are gathered. It is for outputs that name criteria by id only (the compact
        record), where gathering them was most of a case's cost."""
        self.catalog = catalog
        self.population = population
        self.criteria = criteria
        self._enrolled = enrolled_diseases(catalog)
        self.engine = RuleEngine(catalog)
        self._tallier = Tallier(self.engine.therapy_specs)
        self.disease_gate = disease_gate
        # Everything about a result that does not depend on the case, worked out once.
        self._trials = {trial.nct_id: trial for trial in catalog.trials}
        self._cohorts = {
            (trial.nct_id, cohort.id): _CohortPlan.of(trial, cohort)
            for trial in catalog.trials
            for cohort in trial.cohorts
        }
        self._advice = {rule.id: _Reading.of(rule.condition) for rule in catalog.considerations}
        # A cohort the gate closed gives the same result for every case of the same disease, and
        # so does a trial all of whose cohorts it closed (the gate reads the disease alone).
        self._closed: dict[tuple[str, str, Any, bool], CohortResult] = {}
        self._closed_trials: dict[tuple[str, Any, bool], CohortResult] = {}

    def facts(self, case: Case) -> CaseFacts:
        return case_facts(case, self.catalog.vocabulary, self._tallier)

    def screen(self, case: Case, source: str = "") -> CaseResult:
        if case.deceased:
            return deceased_result(case, source)
        if self.population and (code := prefilter(case, self._enrolled)) is not None:
            return prefiltered(case, source, code)
        facts = self.facts(case)
        statuses = self.engine.evaluate(facts, gate=self.disease_gate)
        context = _Context.of(case)
        trials = [
            self._trial_result(trial, facts, statuses, context) for trial in self.catalog.trials
        ]
        warnings = facts.warnings + self._unmatched_confirmations(case)
        fired = [
            rule
            for rule in self.catalog.considerations
            if statuses.get((CONSIDERATIONS, "all", rule.id)) == "met"
        ]
        ranked = rank_trials(trials, lambda nct: self._fit(nct, fired))
        return CaseResult(
            case_id=case.id,
            source=source,
            warnings=warnings,
            trials=ranked,
            considerations=[_consideration(rule, self._advice[rule.id], facts) for rule in fired],
            ask_next=[AskNext(fact=f, trials=t) for f, t in ask_next(ranked)],
        )

    def _unmatched_confirmations(self, case: Case) -> list[str]:
        """A confirmation that names no item to confirm changes nothing: say so, never ignore it."""
        out = []
        for index, item in enumerate(case.confirmations or []):
            plans = [
                plan
                for (nct, cohort), plan in self._cohorts.items()
                if nct == item.trial and item.cohort in (None, cohort)
            ]
            if not any(c.id == item.criterion for plan in plans for c in plan.confirm):
                out.append(
                    f"confirmations[{index}]: {item.trial} has no item to confirm "
                    f"'{item.criterion}'"
                    + (f" in cohort '{item.cohort}'" if item.cohort else "")
                    + "; it was not applied"
                )
        return out

    def _fit(self, nct_id: str, fired: list[ConsiderationRule]) -> int:
        """How many fired considerations favour this trial's construct."""
        trial = self._trials[nct_id]
        score = 0
        for rule in fired:
            prefer = rule.prefer
            if prefer is None:
                continue
            if set(prefer.targets) & set(trial.meta.targets):
                score += 1
            if prefer.no_lymphodepletion and trial.without_lymphodepletion:
                score += 1
            if prefer.cell_source and prefer.cell_source == trial.meta.cell_source:
                score += 1
        return score

    def cohort_results(self, case: Case, nct_id: str) -> dict[str, CohortResult]:
        """Every cohort of one trial, not only the best: for explaining and for tests."""
        trial = self.catalog.trial(nct_id)
        if trial is None:
            raise KeyError(nct_id)
        facts = self.facts(case)
        statuses = self.engine.evaluate(facts, gate=self.disease_gate)
        context = _Context.of(case)
        return {
            c.id: self._cohort_result(trial, c, facts, statuses, context) for c in trial.cohorts
        }

    def _trial_result(
        self,
        trial: Trial,
        facts: CaseFacts,
        statuses: dict[CriterionKey, CriterionStatus],
        context: _Context,
    ) -> CohortResult:
        key = (trial.nct_id, facts.value_of(DISEASE), _status_current(trial, context.as_of))
        known = self._closed_trials.get(key)
        if known is not None:
            return known
        cohorts = [
            self._cohort_result(trial, cohort, facts, statuses, context) for cohort in trial.cohorts
        ]
        best = best_cohort(cohorts)
        if all(self._cohorts[(trial.nct_id, c.id)].closed(statuses) for c in trial.cohorts):
            self._closed_trials[key] = best
        return best

    def _cohort_result(
        self,
        trial: Trial,
        cohort: Cohort,
        facts: CaseFacts,
        statuses: dict[CriterionKey, CriterionStatus],
        context: _Context,
    ) -> CohortResult:
        plan = self._cohorts[(trial.nct_id, cohort.id)]
        if plan.closed(statuses):
            current = _status_current(trial, context.as_of)
            key = (trial.nct_id, cohort.id, facts.value_of(DISEASE), current)
            if key not in self._closed:
                self._closed[key] = plan.result(facts, statuses, context, self.criteria)
            return self._closed[key]
        return plan.result(facts, statuses, context, self.criteria)


def deceased_result(case: Case, source: str = "") -> CaseResult:
    """The result of a case recorded as deceased: that fact, said once, and no trial verdicts.

    Screening a patient who has died against trials would only produce referrals no one can
    act on; every output carries the notice (as the first warning) and the ``deceased`` fields.
    """
    on = case.deceased_date.isoformat() if case.deceased_date else None
    return CaseResult(
        case_id=case.id,
        source=source,
        deceased=True,
        deceased_date=on,
        warnings=[deceased_notice(on)],
    )


@dataclass(frozen=True)
class _Context:
    """What screening reads from a case beside its facts: its date and the site's confirmations."""

    as_of: date
    confirmations: tuple[Confirmation, ...]

    @classmethod
    def of(cls, case: Case) -> _Context:
        return cls(case.as_of or date.today(), tuple(case.confirmations or ()))

    def confirmation(self, nct_id: str, cohort: str, criterion: str) -> Confirmation | None:
        """The latest confirmation of one item (a cohort-specific one wins over a general one)."""
        found = [
            c
            for c in self.confirmations
            if c.trial == nct_id and c.criterion == criterion and c.cohort in (None, cohort)
        ]
        found.sort(key=lambda c: (c.cohort is not None, c.on))
        return found[-1] if found else None


#: A status older than this, at the case's date, ranks as unknown.
STATUS_MAX_AGE_DAYS = 365


def _status_current(trial: Trial, as_of: date) -> bool:
    seen = trial.meta.status_as_of
    return seen is not None and 0 <= (as_of - seen).days <= STATUS_MAX_AGE_DAYS


@dataclass(frozen=True)
class _CohortPlan:
    """A cohort's computable criteria with their plans, and its items to confirm."""

    trial: Trial
    cohort: Cohort
    computable: tuple[tuple[CriterionKey, Criterion, _Plan], ...]
    confirm: tuple[ConfirmItem, ...]
    keys: frozenset[CriterionKey]

    @property
    def nct_id(self) -> str:
        return self.trial.nct_id

    @classmethod
    def of(cls, trial: Trial, cohort: Cohort) -> _CohortPlan:
        computable = tuple(
            ((trial.nct_id, cohort.id, c.id), c, _Plan.of(c))
            for c in cohort.criteria
            if c.condition is not None
        )
        confirm = tuple(_confirm_item(c) for c in cohort.criteria if c.condition is None)
        keys = frozenset(key for key, _, _ in computable)
        return cls(trial, cohort, computable, (*confirm, *_catalog_gaps(trial)), keys)

    def closed(self, statuses: dict[CriterionKey, CriterionStatus]) -> bool:
        """True when the disease gate left this cohort's other criteria unevaluated."""
        return not self.keys <= statuses.keys()

    def result(
        self,
        facts: CaseFacts,
        statuses: dict[CriterionKey, CriterionStatus],
        context: _Context,
        full: bool = True,
    ) -> CohortResult:
        """The cohort's result; with ``full=False`` its ``criteria`` are left empty (see
        :class:`Screener`), everything else is the same."""
        decided: list[CriterionResult | _Decision] = [
            plan.result(criterion, statuses[key], facts)
            if full
            else plan.decision(criterion, statuses[key], facts)
            for key, criterion, plan in self.computable
            if key in statuses
        ]
        skipped = len(self.computable) - len(decided)
        confirm = list(self.confirm)
        if skipped:  # the cohort does not enrol this disease: nothing is left to confirm
            skipped += len(confirm)
            confirm = []
        confirmed = [
            r
            for item in (confirm if context.confirmations else ())
            if (r := self._confirmed(item, context)) is not None
        ]
        decided += confirmed
        done = {r.id for r in confirmed}
        confirm = [item for item in confirm if item.id not in done]
        blockers = [c for c in decided if is_blocking(c)]
        meta = self.trial.meta
        verdict = cohort_verdict(decided, confirm, meta.criteria_complete)
        return CohortResult(
            nct_id=self.nct_id,
            verdict=verdict,
            cohort=self.cohort.id,
            cohort_name=self.cohort.name,
            status=meta.status,
            status_as_of=meta.status_as_of.isoformat() if meta.status_as_of else None,
            status_current=_status_current(self.trial, context.as_of),
            criteria_complete=meta.criteria_complete,
            checked=sum(1 for c in decided if c.status != "unknown"),
            total=len(self.computable) + len(self.confirm),
            # A ruled-out trial asks for nothing: no missing fact could let the case in.
            missing=[] if verdict == "ineligible" else missing_facts(decided),
            to_confirm=confirm,
            criteria=[c for c in decided if isinstance(c, CriterionResult)] if full else [],
            blocked_by=[c.id for c in blockers],
            only_blocker=_only_blocker(blockers),
            not_evaluated=skipped,
        )

    def _confirmed(self, item: ConfirmItem, context: _Context) -> CriterionResult | None:
        """An item to confirm that the site has answered, as a decided criterion."""
        found = context.confirmation(self.nct_id, self.cohort.id, item.id)
        if found is None or item.id == CRITERIA_NOT_AVAILABLE:
            return None
        return CriterionResult(
            id=item.id,
            kind=item.kind,
            status=found.answer,
            text=item.text,
            facts={},
            source=item.source,
            rationale="Answered at screening by the site; not computed from the case's facts.",
            confirmed=Confirmed(by=found.by, on=found.on.isoformat()),
            defines_population=item.defines_population,
        )


def _only_blocker(blockers: Sequence[Decided]) -> str | None:
    """The text of the one criterion that rules the case out, unless it is the disease."""
    if len(blockers) != 1 or blockers[0].id == DISEASE:
        return None
    return blockers[0].text


#: The items every cohort of a trial gets when the catalog holds only part of its criteria, or none.
REST_OF_CRITERIA = "rest_of_criteria"
CRITERIA_NOT_AVAILABLE = "criteria_not_available"


#: What a trial file's ``criteria_complete`` leaves to confirm: (item id, its text).
CATALOG_GAPS = {
    "partial": (
        REST_OF_CRITERIA,
        "The rest of the protocol's criteria (the catalog holds only part of them).",
    ),
    "none": (
        CRITERIA_NOT_AVAILABLE,
        "The trial's eligibility criteria (no eligibility text was available).",
    ),
}


def _catalog_gaps(trial: Trial) -> tuple[ConfirmItem, ...]:
    """What the catalog lacks of a trial, as items to confirm: never read as passed.

    A partially encoded trial can reach *eligible* only once a site confirms the criteria the
    catalog does not hold; one with no eligibility text stays *cannot screen*.
    """
    gap = CATALOG_GAPS.get(trial.meta.criteria_complete)
    if gap is None:
        return ()
    source = next(iter(trial.meta.sources.values())).cite()
    item_id, text = gap
    return (
        ConfirmItem(
            id=item_id, kind="inclusion", text=text, source=source, defines_population=True
        ),
    )


def _consideration(rule: ConsiderationRule, reading: _Reading, facts: CaseFacts) -> Consideration:
    return Consideration(
        id=rule.id,
        axis=rule.axis,
        title=rule.title,
        advice=rule.advice,
        rationale=rule.rationale,
        source=rule.citation,
        facts=reading.read(facts),
    )


def _confirm_item(criterion: Criterion) -> ConfirmItem:
    return ConfirmItem(
        id=criterion.id,
        kind=criterion.kind,
        text=criterion.text,
        source=criterion.source.cite(),
        defines_population=criterion.defines_population,
    )


def _tally_facts(tallied: TherapyTally) -> dict[str, Any]:
    """What a therapy count read, as shown and explained: the treatments that qualify, those
    that might, and whether the list was the whole history."""
    read: dict[str, Any] = {
        "qualifying": list(tallied.qualifying),
        "uncertain": list(tallied.uncertain),
    }
    if not tallied.complete:
        read["history_incomplete"] = True
    return read


@dataclass(frozen=True)
class _Reading:
    """What a condition reads: the therapy counts (label, tally key) and the fact paths."""

    tallies: tuple[tuple[str, str], ...]
    paths: tuple[str, ...]

    @classmethod
    def of(cls, condition: Condition) -> _Reading:
        tallies = {
            f"therapies: {node.spec.describe()}": node.spec.key
            for node in walk(condition)
            if isinstance(node, TherapyCount)
        }
        paths = (p for p in dict.fromkeys(condition.fields()) if p != "therapies")
        return cls(tuple(tallies.items()), tuple(paths))

    def read(self, facts: CaseFacts) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, key in self.tallies:
            tallied = facts.tallies.get(key)
            out[label] = None if tallied is None else _tally_facts(tallied)
        for path in self.paths:
            out[path] = facts.value_of(path)
        return out


class _Decision(NamedTuple):
    """A decided criterion as a screener without ``criteria`` keeps it: enough for the verdict,
    what rules out and what is missing, and nothing gathered that those do not read."""

    id: str
    kind: CriterionKind
    status: CriterionStatus
    text: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    """A criterion's reading and citation, prepared once so each result only fills in facts."""

    reading: _Reading
    source: str

    @classmethod
    def of(cls, criterion: Criterion) -> _Plan:
        assert criterion.condition is not None
        return cls(_Reading.of(criterion.condition), criterion.source.cite())

    def result(
        self, criterion: Criterion, status: CriterionStatus, facts: CaseFacts
    ) -> CriterionResult:
        return CriterionResult(
            id=criterion.id,
            kind=criterion.kind,
            status=status,
            text=criterion.text,
            facts=self.reading.read(facts),
            source=self.source,
            rationale=criterion.rationale,
            defines_population=criterion.defines_population,
        )

    def decision(
        self, criterion: Criterion, status: CriterionStatus, facts: CaseFacts
    ) -> _Decision:
        """The light record of one decision: its facts are read only while it is unknown, the
        one case in which what is missing is worked out from them."""
        read = self.reading.read(facts) if status == "unknown" else {}
        return _Decision(criterion.id, criterion.kind, status, criterion.text, read)
