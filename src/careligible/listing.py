"""Read-only views of the catalog for people: the trial list and single rules."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog, ConsiderationRule, Criterion, Trial
from .conditions import describe


def trial_rows(catalog: Catalog) -> list[dict[str, Any]]:
    """One row per trial with the Table 1 columns, current phase and status; Table 1 order."""
    rows = []
    for trial in catalog.trials:
        meta = trial.meta
        t1 = meta.table1
        rows.append(
            {
                "row": t1.row if t1 else None,
                "target": "/".join(meta.targets),
                "condition": t1.condition if t1 else meta.title,
                "nct_id": meta.nct_id,
                "phase": meta.phase,
                "table1_phase": t1.phase if t1 else None,
                "sponsor": meta.sponsor,
                "status": meta.status,
                "status_as_of": meta.status_as_of.isoformat() if meta.status_as_of else None,
                "cell_source": meta.cell_source,
                "product": meta.product,
                "record": trial.record_citation,
            }
        )
    return sorted(rows, key=lambda r: (r["row"] is None, r["row"] or 0, r["nct_id"]))


def show_rule(catalog: Catalog, rule_id: str) -> str | None:
    """A plain-text account of a trial, a criterion or a consideration.

    A criterion is named ``NCT…/cohort/id``, or ``NCT…/id`` for every criterion of the trial with
    that id (cohorts may each define their own under one id; each is shown).
    """
    nct, *rest = rule_id.split("/")
    trial = catalog.trial(nct)
    if trial is not None and not rest:
        return _show_trial(trial)
    if trial is not None and len(rest) == 2:
        criterion = trial.criterion(rest[0], rest[1])
        return _show_criterion(trial, (rest[0],), criterion) if criterion else None
    if trial is not None and len(rest) == 1:
        found = trial.criteria_named(rest[0])
        return "\n\n".join(_show_criterion(trial, *item) for item in found) or None
    rule = next((c for c in catalog.considerations if c.id == rule_id), None)
    return _show_consideration(rule) if rule else None


def _show_trial(trial: Trial) -> str:
    meta = trial.meta
    lines = [
        f"{meta.nct_id}  {meta.title}",
        f"product: {meta.product} ({'/'.join(meta.targets)}, {meta.cell_source})",
        f"lymphodepletion: {meta.lymphodepletion}",
        f"phase: {meta.phase}; sponsor: {meta.sponsor}",
        f"status: {meta.status.replace('_', ' ')} (as of {meta.status_as_of})",
        f"registry record: {trial.record_citation}",
        f"rule file: {trial.file}",
    ]
    lines += [f"differs from Table 1: {d}" for d in meta.differences]
    lines += [f"not found in sources: {n}" for n in meta.not_found]
    for cohort in trial.cohorts:
        lines.append(f"\ncohort {cohort.id}: {cohort.name}")
        for criterion in cohort.criteria:
            rule = (
                describe(criterion.condition) if criterion.condition else "to confirm at screening"
            )
            lines.append(f"  {criterion.kind:9} {criterion.id}: {rule}")
    return "\n".join(lines)


def _show_criterion(trial: Trial, cohorts: tuple[str, ...], criterion: Criterion) -> str:
    rule = describe(criterion.condition) if criterion.condition else "none: to confirm at screening"
    lines = [
        f"{trial.nct_id}/{cohorts[0]}/{criterion.id} ({criterion.kind})",
        f"text: {criterion.text}",
        f"condition: {rule}",
        f"rationale: {criterion.rationale}",
        f"source: {criterion.source.cite()} ({criterion.source.what}; checked "
        f"{criterion.source.checked})",
    ]
    if criterion.note:
        lines.append(f"note: {criterion.note}")
    if len(cohorts) > 1:
        lines.append(f"cohorts: {', '.join(cohorts)}")
    if criterion.file:
        lines.append(f"defined at: {criterion.place}")
    return "\n".join(lines)


def _show_consideration(rule: ConsiderationRule) -> str:
    return "\n".join(
        [
            f"{rule.id} ({rule.axis}): {rule.title}",
            f"shown when: {describe(rule.condition)}",
            f"advice: {rule.advice}",
            f"rationale: {rule.rationale}",
            f"source: {rule.citation}",
        ]
    )
