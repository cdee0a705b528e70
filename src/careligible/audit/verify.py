"""Verification of a decision log: its chain, its head and whether its verdicts reproduce."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..case import Case
from ..catalog import Catalog
from ..rulediff import status_changes
from .records import AuditError, case_hash, fired_rules, parse_line, record_hash

if TYPE_CHECKING:  # screening loads the rule engine; importing this module must not
    from ..screening import Screener


@dataclass(frozen=True)
class LogLine:
    """One line of a log: its 1-based number and the record on it (None when not a record)."""

    number: int
    record: dict[str, Any] | None


@dataclass
class Verification:
    """What ``audit verify`` found: the first chain break and every verdict that did not reproduce."""

    records: int = 0
    chain_break: str | None = None
    not_reproduced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rescreened: int = 0
    head_mismatch: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain_break is None and self.head_mismatch is None and not self.not_reproduced


def read_log(path: Path) -> list[LogLine]:
    """Every non-empty line of a log, parsed; raises :class:`AuditError` if it cannot be read.

    Lines end at ``\n`` only: U+2028, U+0085 or a form feed inside a record are text. A last
    line without its ``\n`` is torn, and is reported as not a record.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: cannot read the audit log: {exc}") from None
    lines = text.split("\n")
    last = len(lines) - 1  # after the final "\n": empty, or a torn record
    return [
        LogLine(number, None if index == last else parse_line(line))
        for index, line in enumerate(lines)
        if line.strip()
        for number in (index + 1,)
    ]


def head_mismatch(lines: list[LogLine], expected: str) -> str | None:
    """Why the log does not end at the record whose hash is ``expected`` (None when it does)."""
    records = [line for line in lines if line.record is not None]
    hashes = [line.record.get("hash") for line in records if line.record is not None]
    expected = expected.strip().lower()
    if not records:
        return f"the log holds no record, but its head was {expected} (it was emptied)"
    if hashes[-1] == expected:
        return None
    if expected in hashes:
        after = len(hashes) - 1 - hashes.index(expected)
        return (
            f"the expected head {expected} is line {records[hashes.index(expected)].number}, "
            f"but {after} record(s) follow it"
        )
    return (
        f"the log ends at {hashes[-1]}, not at the expected head {expected}: records after it "
        "were deleted, or the last record was replaced"
    )


def chain_break(lines: Iterable[LogLine]) -> str | None:
    """The first record that breaks the chain, described by line number; None if it is intact."""
    prev: str | None = None
    for line in lines:
        record = line.record
        if record is None:
            return f"line {line.number}: not a decision record"
        if record.get("hash") != record_hash(record):
            return f"line {line.number}: the record does not match its hash (it was edited)"
        if record.get("prev") != prev:
            return (
                f"line {line.number}: the record does not follow the one before it "
                "(a record was deleted, inserted or reordered)"
            )
        prev = record["hash"]
    return None


def stale_status_warnings(catalog: Catalog, max_age_days: int, today: date) -> list[str]:
    """Trials whose recruitment status was last seen more than ``max_age_days`` ago.

    A verdict is only as current as the trial status behind it; ``rules check`` warns so that a
    reviewer re-checks the registry before the catalog is used.
    """
    warnings = []
    for trial in catalog.trials:
        if trial.meta.status_as_of is None:
            warnings.append(
                f"{trial.file}: status_as_of: {trial.nct_id} status '{trial.meta.status}' has no "
                "dated source; it ranks as unknown until the registry is re-checked"
            )
            continue
        age = (today - trial.meta.status_as_of).days
        if age > max_age_days:
            warnings.append(
                f"{trial.file}: status_as_of: {trial.nct_id} status '{trial.meta.status}' was "
                f"last seen {trial.meta.status_as_of.isoformat()}, {age} days ago "
                f"(more than {max_age_days}); re-check the registry"
            )
    return warnings


def verify_log(
    lines: list[LogLine], screener: Screener | None, expect_head: str | None = None
) -> Verification:
    """Check the chain, its head against ``expect_head`` when given and, with a screener, that
    every recorded case still gets its verdicts."""
    found = Verification(records=len(lines), chain_break=chain_break(lines))
    if expect_head is not None:
        found.head_mismatch = head_mismatch(lines, expect_head)
    else:
        found.notes.append(
            "no --expect-head given: records deleted from the end, or an emptied log, "
            "cannot be detected"
        )
    records = [(line.number, line.record) for line in lines if line.record is not None]
    without_case = sum("case" not in record for _, record in records)
    if without_case:
        found.notes.append(f"{without_case} record(s) hold no case and were not re-screened")
    if screener is None:
        return found
    for number, record in records:
        if "case" in record:
            found.rescreened += 1
            found.not_reproduced += _rescreen(number, record, screener)
    versions = {str(record.get("ruleset_version")) for _, record in records}
    others = sorted(versions - {screener.catalog.version})
    if found.rescreened and others:
        found.notes.append(
            f"records were made with ruleset version(s) {', '.join(others)}; "
            f"re-screened with {screener.catalog.version}"
        )
    return found


def _rescreen(number: int, record: Mapping[str, Any], screener: Screener) -> list[str]:
    """Every recorded verdict of one record that the given rules no longer give."""
    where = f"line {number}: case {record.get('case_id')}"
    try:
        case = Case.model_validate(record["case"])
    except ValidationError:
        return [f"{where}: the recorded case is no longer a valid case"]
    if case_hash(case) != record.get("case_sha256"):
        return [f"{where}: the recorded case does not match its case_sha256"]
    now = {t.nct_id: t for t in screener.screen(case).trials}
    fired = record.get("fired") or {}
    out = []
    for verdict in record.get("verdicts") or []:
        nct = verdict.get("nct_id")
        trial = now.get(nct)
        if trial is None:
            out.append(f"{where}: {nct}: the trial is no longer in the rules")
        elif (trial.verdict, trial.cohort) != (verdict.get("verdict"), verdict.get("cohort")):
            same = screener.cohort_results(case, nct).get(str(verdict.get("cohort")), trial)
            changed = status_changes(fired.get(nct) or {}, fired_rules(same))
            out.append(
                f"{where}: {nct}: recorded {verdict.get('verdict')} ({verdict.get('cohort')}), "
                f"now {trial.verdict} ({trial.cohort}); "
                + (f"criteria changed: {'; '.join(changed)}" if changed else "no criterion changed")
            )
    return out
