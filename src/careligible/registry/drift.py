"""The drift check: where a trial's rule file and its registry snapshot disagree.

Compared per trial: the status (and the date it was seen), the phase, the age and sex limits the
criteria test, the conditions the record lists against the diseases the cohorts enrol, and the
eligibility text, whose changes since the trial's first snapshot (its baseline) are shown as a
unified diff. Nothing here changes a rule: the report is for the curator, who re-encodes.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..catalog import Cohort, Trial
from ..conditions import FieldTest
from .record import Age, StudyRecord
from .snapshot import Snapshot


@dataclass(frozen=True)
class Change:
    """One fact the rule file and the registry give differently."""

    what: str
    rule: str
    registry: str


@dataclass
class Drift:
    """Everything the drift check found for one trial."""

    nct_id: str
    file: str
    snapshot: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    text_diff: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.changes or self.text_diff)

    def topics(self) -> list[str]:
        """What differs, each named once: ``status``, ``phase``, ..., ``eligibility text``."""
        named = [c.what for c in self.changes] + (["eligibility text"] if self.text_diff else [])
        return list(dict.fromkeys(named))


def check_trial(trial: Trial, conditions: Mapping[str, str]) -> Drift | None:
    """Compare a loaded trial with its snapshot; None when it has none.

    ``conditions`` maps lower-case registry condition names to case disease codes.
    """
    snapshot = trial.snapshot
    if snapshot is None:
        return None
    written, study = trial.as_written, snapshot.study
    drift = Drift(trial.nct_id, trial.file, snapshot.cite())
    if written.status != study.status:
        stopped = f"; why stopped: {study.why_stopped}" if study.why_stopped else ""
        drift.changes.append(
            Change(
                "status",
                f"{written.status} as of {written.status_as_of}",
                f"{study.status} as of {snapshot.seen}{stopped}",
            )
        )
    if _norm(written.phase) != _norm(study.phase):
        drift.changes.append(Change("phase", written.phase, study.phase))
    drift.changes += _age_changes(trial.cohorts, study)
    rule_sex = _rule_sex(trial.cohorts)
    if rule_sex != study.sex:
        drift.changes.append(Change("sex", rule_sex, study.sex))
    drift.changes += _condition_changes(trial, snapshot, conditions)
    drift.text_diff = criteria_diff(snapshot)
    checked = max(s.checked for s in written.sources.values())
    posted = study.last_update_posted
    if posted is not None and posted > checked:
        drift.notes.append(
            f"the registry record was last updated {posted}, after the rule file was checked "
            f"({checked}): review its eligibility text"
            + ("" if drift.text_diff else " (no earlier snapshot to diff against)")
        )
    return drift


def check_catalog(trials: Iterable[Trial], conditions: Mapping[str, str]) -> list[Drift]:
    """The drift of every trial that has a snapshot, in catalog order."""
    return [d for d in (check_trial(t, conditions) for t in trials) if d is not None]


def criteria_diff(snapshot: Snapshot) -> str:
    """A unified diff of the eligibility text from the baseline snapshot to this one."""
    old, new = snapshot.baseline.eligibility_criteria, snapshot.study.eligibility_criteria
    if old == new:
        return ""
    lines = difflib.unified_diff(
        _wrapped(old),
        _wrapped(new),
        fromfile=f"baseline {snapshot.baseline.fetched} (sha256 {snapshot.baseline.sha256[:12]})",
        tofile=f"snapshot {snapshot.fetched} (sha256 {snapshot.sha256[:12]})",
        lineterm="",
    )
    return "\n".join(lines)


def render(drift: Drift) -> str:
    """The drift of one trial as text for the curator."""
    out = [f"{drift.nct_id} ({drift.file})", f"  against {drift.snapshot}"]
    if not drift.drifted and not drift.notes:
        out.append("  in step with the registry")
    for change in drift.changes:
        out.append(
            f"  {change.what}: rule file says {change.rule}; registry says {change.registry}"
        )
    out += [f"  note: {note}" for note in drift.notes]
    if drift.text_diff:
        out.append("  eligibility text changed since the baseline snapshot:")
        out += [f"    {line}" for line in drift.text_diff.splitlines()]
    return "\n".join(out)


def _wrapped(text: str) -> list[str]:
    """Long registry lines wrapped, so one changed word shows as one changed line."""
    out: list[str] = []
    for line in text.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        out += textwrap.wrap(line, 90, subsequent_indent=indent + "  ") or [""]
    return out


def _norm(text: str) -> str:
    return "".join(text.lower().split())


def _age_bounds(cohort: Cohort) -> tuple[float | None, float | None]:
    """The age limits a cohort's criteria test directly (whole years: ages are whole)."""
    low: float | None = None
    high: float | None = None
    for criterion in cohort.criteria:
        test = criterion.condition
        if not isinstance(test, FieldTest) or test.field != "age":
            continue
        if test.op == "between":
            low, high = test.value[0], test.value[1]
        elif test.op == "at_least":
            low = test.value
        elif test.op == "above":
            low = test.value + 1
        elif test.op == "at_most":
            high = test.value
        elif test.op == "below":
            high = test.value - 1
    return low, high


def _age_changes(cohorts: Iterable[Cohort], study: StudyRecord) -> list[Change]:
    """The widest age band of the cohorts against the registry's minimum and maximum age."""
    bounds = [_age_bounds(c) for c in cohorts]
    lows, highs = [lo for lo, _ in bounds], [hi for _, hi in bounds]
    low = None if None in lows else min(lo for lo in lows if lo is not None)
    high = None if None in highs else max(hi for hi in highs if hi is not None)
    out = []
    for what, rule, registry in (
        ("minimum age", low, study.minimum_age),
        ("maximum age", high, study.maximum_age),
    ):
        if not _same_age(rule, registry):
            shown = f"{rule:g} years" if rule is not None else "no limit"
            out.append(Change(what, shown, registry.text if registry else "no limit (N/A)"))
    return out


def _same_age(rule: float | None, registry: Age | None) -> bool:
    if rule is None or registry is None:
        return rule is None and registry is None
    return abs(rule - registry.years) < 1e-6


def _rule_sex(cohorts: Iterable[Cohort]) -> str:
    """``female`` or ``male`` when every cohort requires it directly, else ``all``."""
    found = set()
    for cohort in cohorts:
        sexes = {
            c.condition.value
            for c in cohort.criteria
            if isinstance(c.condition, FieldTest)
            and c.condition.field == "sex"
            and c.condition.op == "equals"
        }
        found.add(sexes.pop() if len(sexes) == 1 else "all")
    return found.pop() if len(found) == 1 else "all"


def _condition_changes(
    trial: Trial, snapshot: Snapshot, conditions: Mapping[str, str]
) -> list[Change]:
    enrolled = {d for c in trial.cohorts for d in c.diseases}
    out = []
    for name in snapshot.study.conditions:
        code = conditions.get(name.lower())
        if code is not None and code not in enrolled:
            out.append(Change("conditions", f"no cohort enrols {code}", f"lists '{name}' ({code})"))
    before, now = set(snapshot.baseline.conditions), set(snapshot.study.conditions)
    if before != now:
        added = ", ".join(sorted(now - before)) or "none"
        removed = ", ".join(sorted(before - now)) or "none"
        out.append(
            Change(
                "conditions since the baseline",
                f"baseline lists {', '.join(sorted(before)) or 'none'}",
                f"added {added}; removed {removed}",
            )
        )
    return out
