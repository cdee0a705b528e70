"""The compact result: per case and trial only what decides the verdict, for population runs.

A ``jsonl`` record carries every criterion with its text, facts, rationale and source: tens of
kilobytes per case, which a nightly run over millions of records cannot store. The compact record
keeps, per trial, the verdict and the *ids* of the criteria that decide it, plus the ruleset
version; since criterion ids are stable within one ruleset, :func:`expand` turns any record back
into the criteria's text, rationale and source later, from the same catalog.

One record per case, with the ``jsonl`` key names wherever they mean the same::

    {"case_id", "source", "ruleset_version", "error"?, "prefilter"?, "deceased"?,
     "deceased_date"?, "warnings"?, "trials": [
        {"nct_id", "verdict", "cohort"?, "status"?, "blocked_by"?, "missing"?, "to_confirm"?}]}

Per trial, in the order ``jsonl`` ranks them (every trial is kept):

* a trial ruled out by its disease criterion alone (none of its cohorts enrols the case's
  disease, by far the most common line) is only ``nct_id`` and ``verdict``: its cohort says
  nothing about the case, and its recruitment status nothing to anyone;
* every other trial has ``cohort`` (its best cohort, as in ``jsonl``) and ``status`` (the
  recruitment status), and what decides its verdict: ``blocked_by`` (ids of the criteria that rule
  the case out) when *ineligible*, ``missing`` (the facts to find out, exactly as ``jsonl`` lists
  them) when *needs information*, ``to_confirm`` (ids of the population-defining items still
  open) when *possibly eligible*.

A key that would hold nothing is left out: no ``error`` means none. A population run's short
result (:mod:`careligible.population`) is ``prefilter`` with its code, and no trials; a case
recorded as deceased has ``deceased: true`` (and ``deceased_date`` when known) and no trials.
Nothing here knows of files.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .catalog import DISEASE, Catalog, Cohort, Trial
from .explain import head_text, rule_place
from .population import PREFILTER_LABEL
from .results import CaseResult, CohortResult, Verdict
from .screening import CATALOG_GAPS

#: What a trial ruled out by the disease gate alone is recorded as blocked by, when expanded.
GATED = (DISEASE,)


def disease_gated(trial: CohortResult) -> bool:
    """True when only the disease criterion rules the case out of this trial's every cohort."""
    return trial.verdict == "ineligible" and tuple(trial.blocked_by) == GATED


def compact_trial(trial: CohortResult) -> dict[str, Any]:
    """One trial's entry: its verdict and the ids of what decides it, nothing else."""
    entry: dict[str, Any] = {"nct_id": trial.nct_id, "verdict": trial.verdict}
    if disease_gated(trial):
        return entry
    entry["cohort"] = trial.cohort
    entry["status"] = trial.status
    if trial.verdict == "ineligible":
        entry["blocked_by"] = list(trial.blocked_by)
    elif trial.verdict == "needs_info" and trial.missing:
        entry["missing"] = list(trial.missing)
    elif trial.verdict == "possibly_eligible":
        entry["to_confirm"] = [item.id for item in trial.to_confirm if item.defines_population]
    return entry


def compact_record(result: CaseResult, ruleset_version: str) -> dict[str, Any]:
    """The compact record of one case result (an error record keeps its error, and no trials)."""
    record: dict[str, Any] = {
        "case_id": result.case_id,
        "source": result.source,
        "ruleset_version": ruleset_version,
    }
    if result.error is not None:
        record["error"] = result.error
    if result.prefilter is not None:
        record["prefilter"] = result.prefilter
    if result.deceased:
        record["deceased"] = True
        if result.deceased_date:
            record["deceased_date"] = result.deceased_date
    if result.warnings:
        record["warnings"] = list(result.warnings)
    record["trials"] = [compact_trial(t) for t in result.trials]
    return record


def encode_compact(result: CaseResult, ruleset_version: str) -> str:
    """One JSON Lines record, without the spaces of the default separators."""
    record = compact_record(result, ruleset_version)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- expanding a record from its catalog ---------------------------------------------------------


class _Read(BaseModel):
    """Base of the models a record is read back with; built on first use, since writing
    compact records never needs them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CompactTrial(_Read):
    """A trial entry as read back (from JSON Lines, or a Parquet row with its nulls)."""

    nct_id: str
    verdict: Verdict
    cohort: str | None = None
    status: str | None = None
    blocked_by: list[str] | None = None
    missing: list[str] | None = None
    to_confirm: list[str] | None = None


class CompactRecord(_Read):
    case_id: str | None
    source: str
    ruleset_version: str
    error: str | None = None
    prefilter: str | None = None
    deceased: bool | None = None
    deceased_date: str | None = None
    warnings: list[str] | None = None
    trials: list[CompactTrial]


class VersionMismatch(ValueError):
    """The record was written with another ruleset than the one given to expand it."""


def read_record(data: object) -> CompactRecord:
    """A compact record checked for shape; a ValueError names the fields wrong, not values."""
    try:
        return CompactRecord.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "record" for e in exc.errors()})
        raise ValueError(f"wrong or missing: {', '.join(fields)}") from None


def expand(data: object, catalog: Catalog) -> dict[str, Any]:
    """A compact record with each named criterion spelled out from ``catalog``.

    Criterion ids only mean something within their ruleset, so a record written with another
    version is refused rather than expanded with criteria it was never screened against.
    """
    record = read_record(data)
    version = record.ruleset_version
    if version != catalog.version:
        raise VersionMismatch(
            f"written with ruleset version {version}, but these rules are version "
            f"{catalog.version}; pass --rules with the ruleset it was written with"
        )
    return {
        "case_id": record.case_id,
        "source": record.source,
        "ruleset_version": version,
        "error": record.error,
        "prefilter": record.prefilter,
        # only for a case recorded as deceased, as in the jsonl record
        **({"deceased": True, "deceased_date": record.deceased_date} if record.deceased else {}),
        "warnings": list(record.warnings or []),
        "trials": [_expand_trial(entry, catalog) for entry in record.trials],
    }


def _expand_trial(entry: CompactTrial, catalog: Catalog) -> dict[str, Any]:
    trial = catalog.trial(entry.nct_id)
    gated = entry.cohort is None and entry.verdict == "ineligible"
    blocked = list(GATED) if gated else list(entry.blocked_by or [])
    cohort = _cohort(trial, entry.cohort)
    return {
        "nct_id": entry.nct_id,
        "title": trial.meta.title if trial else "(not in these rules)",
        "verdict": entry.verdict,
        "cohort": entry.cohort,
        "cohort_name": cohort.name if cohort else None,
        "status": entry.status,
        "blocked_by": [_criterion(catalog, trial, cohort, c) for c in blocked],
        "missing": list(entry.missing or []),
        "to_confirm": [_criterion(catalog, trial, cohort, c) for c in entry.to_confirm or []],
    }


def _cohort(trial: Trial | None, cohort_id: str | None) -> Cohort | None:
    if trial is None:
        return None
    return next((c for c in trial.cohorts if c.id == cohort_id), None)


def _criterion(
    catalog: Catalog, trial: Trial | None, cohort: Cohort | None, criterion_id: str
) -> dict[str, Any]:
    """A criterion by id, in the record's cohort first (ids repeat across cohorts)."""
    found, held_by = None, cohort.id if cohort is not None else ""
    if trial is not None and cohort is not None:
        found = trial.criterion(cohort.id, criterion_id)
    if found is None and trial is not None and (named := trial.criteria_named(criterion_id)):
        held_by, found = named[0][0][0], named[0][1]
    if found is None:
        gaps = dict(CATALOG_GAPS.values())  # what the catalog says it lacks of a trial
        text = gaps.get(criterion_id, "(not in these rules)")
        return {
            "id": criterion_id,
            "kind": "inclusion",
            "text": text,
            "rationale": "",
            "source": "",
            "where": "",
        }
    return {
        "id": found.id,
        "kind": found.kind,
        "text": found.text,
        "rationale": found.rationale,
        "source": found.source.cite(),
        "where": rule_place(catalog, trial, held_by, found.id),
    }


def render_expanded(expanded: dict[str, Any]) -> str:
    """An expanded record as plain text, one trial per block."""
    lines = head_text(expanded)
    if expanded["error"]:
        return "\n".join(lines)
    if expanded.get("deceased"):
        return "\n".join(lines)
    if expanded.get("prefilter"):
        label = PREFILTER_LABEL.get(expanded["prefilter"], expanded["prefilter"])
        return "\n".join([*lines, f"{label} (population pre-filter: no trial screened)"])
    for trial in expanded["trials"]:
        cohort = f" (cohort {trial['cohort']}: {trial['cohort_name']})" if trial["cohort"] else ""
        status = f", trial status {trial['status']}" if trial["status"] else ""
        lines += ["", f"{trial['nct_id']}: {str(trial['verdict']).upper()}{cohort}{status}"]
        for label, key in (("ruled out by", "blocked_by"), ("to confirm", "to_confirm")):
            for item in trial[key]:
                lines.append(f"  {label}: {item['id']} ({item['kind']}): {item['text']}")
                if item["rationale"]:
                    lines.append(f"      why: {item['rationale']}")
                if item["source"]:
                    lines.append(f"      source: {item['source']}")
                if item["where"]:
                    lines.append(f"      rule: {item['where']}")
        if trial["missing"]:
            lines.append(f"  missing: {', '.join(trial['missing'])}")
    return "\n".join(lines)
