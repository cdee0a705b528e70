"""Decision records and their hash chain: what one record holds and how it is sealed.

Everything here is data: no file is opened. :mod:`careligible.audit.log` writes these records,
:mod:`careligible.audit.verify` checks them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..case import Case
from ..catalog import Catalog
from ..errors import CareligibleError
from ..results import CaseResult, CohortResult

#: Version of the record layout, so readers can tell future layouts apart.
RECORD_FORMAT = 1

#: The statuses that count as a rule having fired; unknown criteria decided nothing.
FIRED = ("met", "not_met")


class AuditError(CareligibleError):
    """The audit log cannot be read or appended to. Messages never carry case data."""


def canonical_json(data: Any) -> str:
    """One fixed serialisation (sorted keys, no spaces), so equal data always hashes equally."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_of(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def case_data(case: Case) -> dict[str, Any]:
    """The normalised case: what is hashed, stored with ``include_case`` and re-screened."""
    return case.model_dump(mode="json", by_alias=True, exclude_none=True)


def case_hash(case: Case) -> str:
    return sha256_of(case_data(case))


def record_hash(record: Mapping[str, Any]) -> str:
    """The hash a record must carry: over everything in it except the hash itself."""
    return sha256_of({k: v for k, v in record.items() if k != "hash"})


def tool_version() -> str:
    try:
        return importlib.metadata.version("careligible")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def fired_rules(trial: CohortResult) -> dict[str, str]:
    """Criterion id -> status for every criterion of the chosen cohort that was decided."""
    return {c.id: c.status for c in trial.criteria if c.status in FIRED}


def build_record(
    result: CaseResult,
    case: Case | None,
    catalog: Catalog,
    include_case: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A decision record without its chain fields (``prev`` and ``hash``)."""
    record: dict[str, Any] = {
        "format": RECORD_FORMAT,
        "time": (now or datetime.now(UTC)).isoformat(timespec="microseconds"),
        "tool_version": tool_version(),
        "ruleset_version": catalog.version,
        "case_id": result.case_id,
        "case_sha256": case_hash(case) if case is not None else None,
        "verdicts": [
            {"nct_id": t.nct_id, "verdict": t.verdict, "cohort": t.cohort} for t in result.trials
        ],
        "fired": {t.nct_id: fired_rules(t) for t in result.trials},
    }
    confirmed = [
        {
            "nct_id": t.nct_id,
            "cohort": t.cohort,
            "criterion": c.id,
            "answer": c.status,
            "by": c.confirmed.by,
            "on": c.confirmed.on,
        }
        for t in result.trials
        for c in t.criteria
        if c.confirmed is not None
    ]
    if confirmed:  # what a site vouched for, beside what was computed
        record["confirmations"] = confirmed
    if include_case and case is not None:
        record["case"] = case_data(case)
    return record


def seal(record: Mapping[str, Any], prev: str | None) -> dict[str, Any]:
    """Chain a record to its predecessor and add its own hash."""
    sealed = {k: v for k, v in record.items() if k not in ("prev", "hash")}
    sealed["prev"] = prev
    sealed["hash"] = record_hash(sealed)
    return sealed


def parse_line(line: str) -> dict[str, Any] | None:
    """The record on one line of a log, or None when the line holds no JSON object."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # a line nested thousands deep is not a record either
        return None
    return value if isinstance(value, dict) else None
