"""Registry snapshots: one JSON file per trial in the rules directory's ``registry/``.

A snapshot keeps the registry's record exactly as received, with when it was fetched, the date
its facts are known to hold (``seen``), the record's ``lastUpdatePostDate`` and a SHA-256 of the
record, so a verdict can name the very text behind it and an edited file is noticed. The first
snapshot stored for a trial is kept as its *baseline* (its criteria text, conditions, status and
phase), the point the criteria-text diff starts from; later snapshots replace the record but
never the baseline.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import Problem
from .folder import FOLDER as FOLDER  # where the snapshots are, for the commands that store them
from .record import RecordError, StudyRecord, parse_record

FORMAT = "careligible-registry-snapshot/1"


@dataclass(frozen=True)
class Baseline:
    """What the first snapshot of a trial said, kept for the diff."""

    fetched: str
    last_update_posted: str | None
    sha256: str
    eligibility_criteria: str
    conditions: tuple[str, ...]
    status: str
    phase: str


@dataclass(frozen=True)
class Snapshot:
    """One trial's stored registry record and where it came from."""

    nct_id: str
    fetched: str
    """When the record was fetched or loaded (UTC, ISO 8601)."""
    seen: date
    """The date the record's facts are known to hold: the fetch date, or for a saved download the
    date given, else its ``lastUpdatePostDate``."""
    source: str
    sha256: str
    record: dict[str, Any]
    study: StudyRecord
    baseline: Baseline
    file: str = ""

    @property
    def last_update_posted(self) -> date | None:
        return self.study.last_update_posted

    def cite(self) -> str:
        """How a rule cites this snapshot: file, hash and the registry's last update."""
        posted = self.last_update_posted.isoformat() if self.last_update_posted else "not given"
        return (
            f"ClinicalTrials.gov record {self.nct_id}, "
            f"{f'snapshot {Path(self.file).name}' if self.file else f'read from {self.source}'} "
            f"(sha256 {self.sha256[:12]}, lastUpdatePostDate {posted}, seen {self.seen})"
        )


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record in canonical JSON: the same record always hashes the same."""
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def make_snapshot(
    record: dict[str, Any], source: str, fetched: datetime, seen: date | None = None
) -> Snapshot:
    """A new snapshot of ``record`` (its own baseline until stored beside an older one)."""
    study = parse_record(record)
    digest = record_hash(record)
    stamp = fetched.isoformat(timespec="seconds").replace("+00:00", "Z")
    return Snapshot(
        nct_id=study.nct_id,
        fetched=stamp,
        seen=seen or fetched.date(),
        source=source,
        sha256=digest,
        record=record,
        study=study,
        baseline=_baseline_of(study, stamp, digest),
    )


def store(directory: Path, snapshot: Snapshot) -> tuple[Path, str]:
    """Write ``snapshot`` as ``directory/NCT########.json``, keeping an earlier baseline.

    Returns the file and ``new``, ``changed`` or ``unchanged`` (the record against the one stored
    before). The file is written beside its target and renamed, so a failed write leaves the old
    snapshot whole; an unreadable old snapshot is never replaced (its baseline would be lost).
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{snapshot.nct_id}.json"
    baseline, state = snapshot.baseline, "new"
    if path.exists():
        old = read_snapshot(path)
        baseline = old.baseline
        state = "unchanged" if old.sha256 == snapshot.sha256 else "changed"
    data = {
        "format": FORMAT,
        "nct_id": snapshot.nct_id,
        "fetched": snapshot.fetched,
        "seen": snapshot.seen.isoformat(),
        "source": snapshot.source,
        "last_update_post_date": _iso(snapshot.last_update_posted),
        "sha256": snapshot.sha256,
        "baseline": {**baseline.__dict__, "conditions": list(baseline.conditions)},
        "record": snapshot.record,
    }
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=False)
            handle.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path, state


def read_json(path: Path) -> Any:
    """A JSON file's content; raise :class:`SnapshotError` naming the file when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SnapshotError(path, "", f"cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(path, "", f"not valid JSON ({exc})") from None


def is_snapshot(data: Any) -> bool:
    """Whether parsed JSON is a stored snapshot (rather than a bare registry record)."""
    return isinstance(data, dict) and data.get("format") == FORMAT


def read_snapshot(path: Path, data: Any = None) -> Snapshot:
    """Read a stored snapshot; raise :class:`SnapshotError` naming the file and field."""
    data = read_json(path) if data is None else data
    if not is_snapshot(data):
        raise SnapshotError(path, "format", f"not a snapshot file (expected format {FORMAT})")
    record = data.get("record")
    try:
        study = parse_record(record)
    except RecordError as exc:
        raise SnapshotError(path, "record", str(exc)) from None
    assert isinstance(record, dict)
    if record_hash(record) != data.get("sha256"):
        raise SnapshotError(
            path, "sha256", "does not match the record: the record was edited after it was stored"
        )
    if study.nct_id != data.get("nct_id"):
        raise SnapshotError(path, "nct_id", f"does not match the record's {study.nct_id}")
    try:
        seen = date.fromisoformat(str(data.get("seen")))
        baseline = _read_baseline(data.get("baseline"))
    except (TypeError, ValueError, KeyError) as exc:
        raise SnapshotError(path, "seen/baseline", f"cannot be read ({exc})") from None
    return Snapshot(
        nct_id=study.nct_id,
        fetched=str(data.get("fetched", "")),
        seen=seen,
        source=str(data.get("source", "")),
        sha256=str(data["sha256"]),
        record=record,
        study=study,
        baseline=baseline,
        file=str(path),
    )


def load_snapshots(directory: Path, problems: list[Problem]) -> dict[str, Snapshot]:
    """Every snapshot in ``directory`` by NCT id; each unreadable one is added to ``problems``."""
    out: dict[str, Snapshot] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("NCT*.json")):
        try:
            snapshot = read_snapshot(path)
        except SnapshotError as exc:
            problems.append(exc.problem)
            continue
        if path.stem != snapshot.nct_id:
            problems.append(
                Problem(f"file name should be {snapshot.nct_id}.json", "nct_id", str(path))
            )
            continue
        out[snapshot.nct_id] = snapshot
    return out


class SnapshotError(ValueError):
    """A snapshot file that cannot be used, with the file and field to fix."""

    def __init__(self, path: Path, field: str, message: str) -> None:
        super().__init__(f"{path}: {field + ': ' if field else ''}{message}")
        self.problem = Problem(message, field, str(path), None)


def _baseline_of(study: StudyRecord, fetched: str, digest: str) -> Baseline:
    return Baseline(
        fetched=fetched,
        last_update_posted=_iso(study.last_update_posted),
        sha256=digest,
        eligibility_criteria=study.eligibility_criteria,
        conditions=study.conditions,
        status=study.status,
        phase=study.phase,
    )


def _read_baseline(data: Any) -> Baseline:
    if not isinstance(data, dict):
        raise ValueError("baseline is missing")
    return Baseline(
        fetched=str(data["fetched"]),
        last_update_posted=data.get("last_update_posted"),
        sha256=str(data["sha256"]),
        eligibility_criteria=str(data["eligibility_criteria"]),
        conditions=tuple(str(c) for c in data.get("conditions", [])),
        status=str(data["status"]),
        phase=str(data["phase"]),
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
