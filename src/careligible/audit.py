"""Decision records: an append-only, hash-chained JSON Lines log of every verdict given.

Each record names the tool and ruleset versions behind a screening, a SHA-256 of the case, the
verdicts and the criteria that decided them, so that any verdict can later be traced and, when the
case itself was recorded, reproduced. Every record carries the hash of the record before it
(``prev``) and its own hash over its canonical JSON (``hash``): editing, deleting or reordering
records breaks the chain at the first record touched.

A chain alone cannot show that its *last* records were removed (or the log emptied, or the last
record edited and rehashed): what is left is still a valid chain. So the head of the log — the
hash of its last record and the record count — is an anchor kept apart from the log: ``screen
--audit-log`` prints it, and ``audit verify --expect-head`` fails unless the log still ends at
exactly that record.

A record is one line ending in ``\n``; nothing else ends a record (a U+2028 inside an id is
text). A write cut short (a full disk, a crash) leaves a torn last line: nothing is appended
after it until ``audit repair`` has cut the log back to its last whole record.

Only the case id (a pseudonym) identifies a case; its file name is never recorded, and the case
itself only on request (``include_case``).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from .case import Case
from .catalog import Catalog
from .errors import CareligibleError
from .results import CaseResult, CohortResult
from .rulediff import status_changes

if TYPE_CHECKING:  # screening loads the rule engine; importing this module must not
    from .screening import Screener

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


class AuditLog:
    """An audit log file that several processes may append to at once.

    Each append holds an exclusive ``flock`` on the file while it reads the last record's hash and
    writes the next record, so concurrent writers can never chain two records to the same
    predecessor; the record is fsynced before the lock is released.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(
        self,
        result: CaseResult,
        case: Case | None,
        catalog: Catalog,
        include_case: bool = False,
    ) -> dict[str, Any]:
        """Record one screened case; return the record as written."""
        return append_sealed(self.path, build_record(result, case, catalog, include_case))


def append_sealed(path: Path, record: Mapping[str, Any], what: str = "audit log") -> dict[str, Any]:
    """Chain ``record`` to the last record of the log at ``path`` and append it, under a lock.

    Any append-only log of this shape (decision records, screen-failure feedback) goes through
    here, so all of them can be checked by :func:`chain_break`.
    """
    try:
        with path.open("a+b") as handle, _locked(handle):
            sealed = seal(record, _last_hash(handle, path))
            handle.seek(0, os.SEEK_END)
            handle.write(canonical_json(sealed).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise AuditError(f"{path}: cannot append to the {what}: {exc.strerror}") from None
    return sealed


def open_audit_log(path: Path | None) -> AuditLog | None:
    """The log behind ``--audit-log FILE``, or None when no log was asked for.

    A log ending in a torn record is refused here, before anything is screened.
    """
    if path is None:
        return None
    check_tail(path)
    return AuditLog(path)


@contextmanager
def _locked(handle: IO[bytes]) -> Iterator[None]:
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _last_hash(handle: IO[bytes], path: Path) -> str | None:
    """The hash of the log's last record, reading backwards so long logs stay cheap.

    A last line that is not a whole record (no closing ``\n``, not JSON, no hash) is refused:
    chaining after it would bury the damage in the middle of the log.
    """
    line = _last_line(handle)
    if line is None:
        return None
    value = _whole_record_hash(line)
    if value is None:
        raise AuditError(
            f"{path}: the last record is torn or unreadable, so nothing was appended; "
            f"run 'careligible audit repair {path}' to cut the log back to its last whole record"
        )
    return value


def _last_line(handle: IO[bytes], chunk: int = 4096) -> bytes | None:
    """The log's last line, with its ``\n`` when it has one; None for an empty log."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return None
    data = b""
    position = end
    while position > 0:
        position = max(0, position - chunk)
        handle.seek(position)
        data = handle.read(end - position)
        if data[:-1].rfind(b"\n") >= 0:
            break
    return data[data[:-1].rfind(b"\n") + 1 :]


@dataclass(frozen=True)
class Head:
    """The anchor of a log: how many records it holds and the hash of the last one."""

    records: int
    hash: str | None

    def __str__(self) -> str:
        return f"{self.records} record(s), head {self.hash or '(none: the log is empty)'}"


def log_head(path: Path) -> Head:
    """The head of the log at ``path`` (records counted by line), for the auditor to keep."""
    try:
        with path.open("rb") as handle, _locked(handle):
            count = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
            return Head(count, _last_hash(handle, path))
    except FileNotFoundError:
        return Head(0, None)
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the audit log: {exc.strerror}") from None


def check_tail(path: Path) -> None:
    """Raise :class:`AuditError` when the log ends in a torn record (before any screening).

    Only the end of the log is read, so a long log costs nothing here."""
    try:
        with path.open("rb") as handle, _locked(handle):
            _last_hash(handle, path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the audit log: {exc.strerror}") from None


@dataclass(frozen=True)
class Repair:
    """What ``audit repair`` did: the whole records kept and the bytes of torn tail dropped."""

    kept: int
    dropped_bytes: int
    dropped_lines: int
    head: str | None


def repair_log(path: Path) -> Repair:
    """Cut the log back to its last whole record (a line ending ``\n`` whose hash holds).

    Only a torn *tail* is dropped: records in the middle are never touched, so an edit or a
    deletion there is still found by ``audit verify``.
    """
    try:
        with path.open("r+b") as handle, _locked(handle):
            data = handle.read()
            keep = _whole_prefix(data)
            if keep < len(data):
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        raise AuditError(f"{path}: cannot repair the audit log: {exc.strerror}") from None
    kept_lines = data[:keep].split(b"\n")[:-1]
    head = _parse_line(kept_lines[-1].decode("utf-8", "replace")) if kept_lines else None
    tail = data[keep:]
    return Repair(
        kept=len(kept_lines),
        dropped_bytes=len(tail),
        dropped_lines=tail.count(b"\n") + (not tail.endswith(b"\n") and bool(tail)),
        head=str(head["hash"]) if head else None,
    )


def _whole_prefix(data: bytes) -> int:
    """The length of ``data`` up to the end of its last whole record."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        if _whole_record_hash(data[start:end]) is not None:
            return end
        end = start
    return 0


def _whole_record_hash(line: bytes) -> str | None:
    """The ``hash`` of a whole record: a line ending ``\n`` holding a JSON object with a hash.

    Whether that hash is right is for ``audit verify`` to say: an edited record is evidence,
    never "torn", so it neither blocks appending nor is cut off by ``audit repair``.
    """
    if not line.endswith(b"\n"):
        return None
    record = _parse_line(line.decode("utf-8", errors="replace"))
    value = record.get("hash") if record is not None else None
    return value if isinstance(value, str) else None


# --- verification -------------------------------------------------------------------------------


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
        LogLine(number, None if index == last else _parse_line(line))
        for index, line in enumerate(lines)
        if line.strip()
        for number in (index + 1,)
    ]


def _parse_line(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):  # a line nested thousands deep is not a record either
        return None
    return value if isinstance(value, dict) else None


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
