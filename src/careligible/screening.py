"""Screening one case against the catalog: the API the CLI and the terminal UI share.

The engine decides each computable criterion; this module attaches to each decision the facts it
read and its source, aggregates cohorts and trials, and ranks the trials. It knows nothing of file
formats or of the user interface.
"""

from __future__ import annotations

from typing import Any

from .case import Case
from .catalog import Catalog, Cohort, ConsiderationRule, Criterion, Trial
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

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.engine = RuleEngine(catalog)

    def facts(self, case: Case) -> CaseFacts:
        return case_facts(case, self.catalog.vocabulary, self.engine.therapy_specs)

    def screen(self, case: Case, source: str = "") -> CaseResult:
        facts = self.facts(case)
        statuses = self.engine.evaluate(facts)
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
            considerations=[_consideration(rule, facts) for rule in fired],
            ask_next=[AskNext(fact=f, trials=t) for f, t in ask_next(ranked)],
        )

    def _fit(self, nct_id: str, fired: list[ConsiderationRule]) -> int:
        """How many fired considerations favour this trial's construct."""
        trial = self.catalog.trial(nct_id)
        assert trial is not None
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
        statuses = self.engine.evaluate(facts)
        return {c.id: self._cohort_result(trial, c, facts, statuses) for c in trial.cohorts}

    def _trial_result(
        self, trial: Trial, facts: CaseFacts, statuses: dict[CriterionKey, Status]
    ) -> TrialResult:
        cohorts = [self._cohort_result(trial, cohort, facts, statuses) for cohort in trial.cohorts]
        return best_cohort(cohorts)

    def _cohort_result(
        self, trial: Trial, cohort: Cohort, facts: CaseFacts, statuses: dict[CriterionKey, Status]
    ) -> TrialResult:
        decided = []
        confirm = []
        for criterion in cohort.criteria:
            if criterion.condition is None:
                confirm.append(
                    ConfirmItem(
                        id=criterion.id,
                        kind=criterion.kind,
                        text=criterion.text,
                        source=criterion.source.cite(),
                    )
                )
                continue
            status = statuses[(trial.nct_id, cohort.id, criterion.id)]
            decided.append(_criterion_result(criterion, status, facts))
        blockers = [c for c in decided if is_blocking(c)]
        return TrialResult(
            nct_id=trial.nct_id,
            verdict=cohort_verdict(decided),
            cohort=cohort.id,
            cohort_name=cohort.name,
            missing=missing_facts(decided),
            to_confirm=confirm,
            criteria=decided,
            blocked_by=[c.id for c in blockers],
            only_blocker=(
                blockers[0].text if len(blockers) == 1 and blockers[0].id != "disease" else None
            ),
        )


def _consideration(rule: ConsiderationRule, facts: CaseFacts) -> Consideration:
    return Consideration(
        id=rule.id,
        axis=rule.axis,
        title=rule.title,
        advice=rule.advice,
        rationale=rule.rationale,
        source=rule.citation,
        facts=_read(rule.condition, facts),
    )


def _criterion_result(criterion: Criterion, status: Status, facts: CaseFacts) -> CriterionResult:
    return CriterionResult(
        id=criterion.id,
        kind=criterion.kind,
        status=status,
        text=criterion.text,
        facts=read_facts(criterion, facts),
        source=criterion.source.cite(),
        rationale=criterion.rationale,
    )


def read_facts(criterion: Criterion, facts: CaseFacts) -> dict[str, Any]:
    """The facts a criterion read and their values (None = unknown), for explaining it."""
    assert criterion.condition is not None
    return _read(criterion.condition, facts)


def _read(condition: Condition, facts: CaseFacts) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in walk(condition):
        if isinstance(node, TherapyCount):
            label = f"therapies: {node.spec.describe()}"
            tallied = facts.tallies.get(node.spec.key)
            out[label] = (
                None
                if tallied is None
                else {
                    "qualifying": list(tallied.qualifying),
                    "uncertain": list(tallied.uncertain),
                }
            )
    for path in dict.fromkeys(condition.fields()):
        if path != "therapies":
            out[path] = facts.value_of(path)
    return out
