"""The audit log file: appended under a lock, its head read, a torn tail refused or cut back."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..case import Case
from ..catalog import Catalog
from ..results import CaseResult
from .records import AuditError, build_record, canonical_json, parse_line, seal


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
    here, so all of them can be checked by :func:`~careligible.audit.verify.chain_break`.
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
    head = parse_line(kept_lines[-1].decode("utf-8", "replace")) if kept_lines else None
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
    record = parse_line(line.decode("utf-8", errors="replace"))
    value = record.get("hash") if record is not None else None
    return value if isinstance(value, str) else None
