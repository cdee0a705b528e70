"""Screening one case against the catalog: the API the CLI and the terminal UI share.

The engine decides each computable criterion; this module attaches to each decision the facts it
read and its source, aggregates cohorts and trials, and ranks the trials. It knows nothing of file
formats or of the user interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .case import Case
from .catalog import DISEASE, Catalog, Cohort, ConsiderationRule, Criterion, Trial
from .conditions import Condition, TherapyCount, walk
from .engine import CONSIDERATIONS, CriterionKey, RuleEngine, Status
from .facts import CaseFacts, case_facts
from .results import (
    AskNext,
    CaseResult,
    ConfirmItem,
    Consideration,
    CriterionResult,
    TrialResult,
)
from .verdicts import (
    ask_next,
    best_cohort,
    cohort_verdict,
    is_blocking,
    missing_facts,
    rank_trials,
)


class Screener:
    """Holds a loaded catalog and its compiled engine; screens cases one at a time."""

    def __init__(self, catalog: Catalog, disease_gate: bool = True) -> None:
        """``disease_gate=False`` evaluates every cohort in full, even those of other diseases:
        slower, and used to show the gate changes no verdict."""
        self.catalog = catalog
        self.engine = RuleEngine(catalog)
        self.disease_gate = disease_gate
        # Everything about a result that does not depend on the case, worked out once.
        self._trials = {trial.nct_id: trial for trial in catalog.trials}
        self._cohorts = {
            (trial.nct_id, cohort.id): _CohortPlan.of(trial, cohort)
            for trial in catalog.trials
            for cohort in trial.cohorts
        }
        self._advice = {rule.id: _Reading.of(rule.condition) for rule in catalog.considerations}
        # A cohort the gate closed gives the same result for every case of the same disease.
        self._closed: dict[tuple[str, str, Any], TrialResult] = {}

    def facts(self, case: Case) -> CaseFacts:
        return case_facts(case, self.catalog.vocabulary, self.engine.therapy_specs)

    def screen(self, case: Case, source: str = "") -> CaseResult:
        facts = self.facts(case)
        statuses = self.engine.evaluate(facts, gate=self.disease_gate)
        trials = [self._trial_result(trial, facts, statuses) for trial in self.catalog.trials]
        fired = [
            rule
            for rule in self.catalog.considerations
            if statuses.get((CONSIDERATIONS, "all", rule.id)) == "met"
        ]
        ranked = rank_trials(trials, lambda nct: self._fit(nct, fired))
        return CaseResult(
            case_id=case.id,
            source=source,
            warnings=facts.warnings,
            trials=ranked,
            considerations=[_consideration(rule, self._advice[rule.id], facts) for rule in fired],
            ask_next=[AskNext(fact=f, trials=t) for f, t in ask_next(ranked)],
        )

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

    def cohort_results(self, case: Case, nct_id: str) -> dict[str, TrialResult]:
        """Every cohort of one trial, not only the best: for explaining and for tests."""
        trial = self.catalog.trial(nct_id)
        if trial is None:
            raise KeyError(nct_id)
        facts = self.facts(case)
        statuses = self.engine.evaluate(facts, gate=self.disease_gate)
        return {c.id: self._cohort_result(trial, c, facts, statuses) for c in trial.cohorts}

    def _trial_result(
        self, trial: Trial, facts: CaseFacts, statuses: dict[CriterionKey, Status]
    ) -> TrialResult:
        cohorts = [self._cohort_result(trial, cohort, facts, statuses) for cohort in trial.cohorts]
        return best_cohort(cohorts)

    def _cohort_result(
        self, trial: Trial, cohort: Cohort, facts: CaseFacts, statuses: dict[CriterionKey, Status]
    ) -> TrialResult:
        plan = self._cohorts[(trial.nct_id, cohort.id)]
        if plan.closed(statuses):
            key = (trial.nct_id, cohort.id, facts.value_of(DISEASE))
            if key not in self._closed:
                self._closed[key] = plan.result(facts, statuses)
            return self._closed[key]
        return plan.result(facts, statuses)


@dataclass(frozen=True)
class _CohortPlan:
    """A cohort's computable criteria with their plans, and its items to confirm."""

    nct_id: str
    cohort: Cohort
    computable: tuple[tuple[CriterionKey, Criterion, _Plan], ...]
    confirm: tuple[ConfirmItem, ...]

    @classmethod
    def of(cls, trial: Trial, cohort: Cohort) -> _CohortPlan:
        computable = tuple(
            ((trial.nct_id, cohort.id, c.id), c, _Plan.of(c))
            for c in cohort.criteria
            if c.condition is not None
        )
        confirm = tuple(_confirm_item(c) for c in cohort.criteria if c.condition is None)
        return cls(trial.nct_id, cohort, computable, confirm)

    def closed(self, statuses: dict[CriterionKey, Status]) -> bool:
        """True when the disease gate left this cohort's other criteria unevaluated."""
        return any(key not in statuses for key, _, _ in self.computable)

    def result(self, facts: CaseFacts, statuses: dict[CriterionKey, Status]) -> TrialResult:
        decided = [
            plan.result(criterion, statuses[key], facts)
            for key, criterion, plan in self.computable
            if key in statuses
        ]
        skipped = len(self.computable) - len(decided)
        confirm = list(self.confirm)
        if skipped:  # the cohort does not enrol this disease: nothing is left to confirm
            skipped += len(confirm)
            confirm = []
        blockers = [c for c in decided if is_blocking(c)]
        return TrialResult(
            nct_id=self.nct_id,
            verdict=cohort_verdict(decided),
            cohort=self.cohort.id,
            cohort_name=self.cohort.name,
            missing=missing_facts(decided),
            to_confirm=confirm,
            criteria=decided,
            blocked_by=[c.id for c in blockers],
            only_blocker=(
                blockers[0].text if len(blockers) == 1 and blockers[0].id != DISEASE else None
            ),
            not_evaluated=skipped,
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
        id=criterion.id, kind=criterion.kind, text=criterion.text, source=criterion.source.cite()
    )


def read_facts(criterion: Criterion, facts: CaseFacts) -> dict[str, Any]:
    """The facts a criterion read and their values (None = unknown), for explaining it."""
    assert criterion.condition is not None
    return _Reading.of(criterion.condition).read(facts)


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
            out[label] = (
                None
                if tallied is None
                else {"qualifying": list(tallied.qualifying), "uncertain": list(tallied.uncertain)}
            )
        for path in self.paths:
            out[path] = facts.value_of(path)
        return out


@dataclass(frozen=True)
class _Plan:
    """A criterion's reading and citation, prepared once so each result only fills in facts."""

    reading: _Reading
    source: str

    @classmethod
    def of(cls, criterion: Criterion) -> _Plan:
        assert criterion.condition is not None
        return cls(_Reading.of(criterion.condition), criterion.source.cite())

    def result(self, criterion: Criterion, status: Status, facts: CaseFacts) -> CriterionResult:
        return CriterionResult(
            id=criterion.id,
            kind=criterion.kind,
            status=status,
            text=criterion.text,
            facts=self.reading.read(facts),
            source=self.source,
            rationale=criterion.rationale,
        )
