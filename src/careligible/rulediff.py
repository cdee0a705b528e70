"""What changed between two rule catalogs, and which cases it moves.

A reviewer approving a rules update needs two answers: which trials and criteria changed (text,
condition, kind, rationale or source), and what that does to real verdicts. Conditions are
compared as parsed objects (frozen dataclasses), so a change in YAML layout or key order is not a
change, while a changed threshold or a named definition that changed underneath a trial is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .case import Case
from .catalog import Catalog, Criterion, Trial

if TYPE_CHECKING:  # screening loads the rule engine; importing this module must not
    from .screening import Screener

Change = Literal["added", "removed", "changed"]

#: The parts of a criterion whose change matters to a reviewer, in the order they are reported.
ASPECTS = ("kind", "text", "condition", "rationale", "source")


@dataclass(frozen=True)
class CriterionChange:
    """One criterion added, removed or changed, in the cohorts where that is so."""

    nct_id: str
    criterion_id: str
    change: Change
    aspects: tuple[str, ...]
    cohorts: tuple[str, ...]


@dataclass(frozen=True)
class RuleDiff:
    old_version: str
    new_version: str
    trials_added: tuple[str, ...]
    trials_removed: tuple[str, ...]
    cohorts_added: tuple[tuple[str, str], ...]
    cohorts_removed: tuple[tuple[str, str], ...]
    criteria: tuple[CriterionChange, ...]

    @property
    def empty(self) -> bool:
        return not (
            self.trials_added
            or self.trials_removed
            or self.cohorts_added
            or self.cohorts_removed
            or self.criteria
        )


@dataclass(frozen=True)
class VerdictChange:
    """A case whose verdict on one trial differs between the two catalogs, and why."""

    source: str
    case_id: str | None
    nct_id: str
    old_verdict: str | None
    old_cohort: str | None
    new_verdict: str | None
    new_cohort: str | None
    criteria: tuple[str, ...]


def status_changes(
    old: Mapping[str, str], new: Mapping[str, str], absent: str = "unknown"
) -> list[str]:
    """``id: old -> new`` for every criterion whose status differs, in order of appearance."""
    out = []
    for cid in dict.fromkeys([*old, *new]):
        before, after = old.get(cid, absent), new.get(cid, absent)
        if before != after:
            out.append(f"{cid}: {before} -> {after}")
    return out


def diff_catalogs(old: Catalog, new: Catalog) -> RuleDiff:
    olds = {t.nct_id: t for t in old.trials}
    news = {t.nct_id: t for t in new.trials}
    common = [n for n in olds if n in news]
    cohorts_added: list[tuple[str, str]] = []
    cohorts_removed: list[tuple[str, str]] = []
    criteria: list[CriterionChange] = []
    for nct in common:
        before = {c.id for c in olds[nct].cohorts}
        after = {c.id for c in news[nct].cohorts}
        cohorts_added += [(nct, c.id) for c in news[nct].cohorts if c.id not in before]
        cohorts_removed += [(nct, c.id) for c in olds[nct].cohorts if c.id not in after]
        criteria += criterion_changes(olds[nct], news[nct])
    return RuleDiff(
        old_version=old.version,
        new_version=new.version,
        trials_added=tuple(n for n in news if n not in olds),
        trials_removed=tuple(n for n in olds if n not in news),
        cohorts_added=tuple(cohorts_added),
        cohorts_removed=tuple(cohorts_removed),
        criteria=tuple(criteria),
    )


def _by_id(trial: Trial) -> dict[str, dict[str, Criterion]]:
    """criterion id -> cohort id -> criterion: general criteria appear in every cohort."""
    out: dict[str, dict[str, Criterion]] = {}
    for cohort in trial.cohorts:
        for criterion in cohort.criteria:
            out.setdefault(criterion.id, {})[cohort.id] = criterion
    return out


def criterion_changes(old: Trial, new: Trial) -> list[CriterionChange]:
    """Changes in the cohorts both versions have; one entry per change shared by several cohorts."""
    shared = [c.id for c in old.cohorts if c.id in {n.id for n in new.cohorts}]
    before, after = _by_id(old), _by_id(new)
    groups: dict[tuple[str, Change, tuple[str, ...]], list[str]] = {}
    for cid in dict.fromkeys([*before, *after]):
        for cohort in shared:
            key = _compare(cid, before.get(cid, {}).get(cohort), after.get(cid, {}).get(cohort))
            if key is not None:
                groups.setdefault(key, []).append(cohort)
    return [
        CriterionChange(old.nct_id, cid, change, aspects, tuple(cohorts))
        for (cid, change, aspects), cohorts in groups.items()
    ]


def _compare(
    cid: str, old: Criterion | None, new: Criterion | None
) -> tuple[str, Change, tuple[str, ...]] | None:
    if old is None and new is None:
        return None
    if old is None:
        return (cid, "added", ())
    if new is None:
        return (cid, "removed", ())
    aspects = tuple(a for a in ASPECTS if getattr(old, a) != getattr(new, a))
    return (cid, "changed", aspects) if aspects else None


def verdict_changes(old: Screener, new: Screener, case: Case, source: str) -> list[VerdictChange]:
    """Every trial on which this case's verdict or cohort differs between the two catalogs."""
    before = {t.nct_id: t for t in old.screen(case, source).trials}
    after = {t.nct_id: t for t in new.screen(case, source).trials}
    out = []
    for nct in dict.fromkeys([*before, *after]):
        was, now = before.get(nct), after.get(nct)
        if (
            was is not None
            and now is not None
            and (was.verdict, was.cohort)
            == (
                now.verdict,
                now.cohort,
            )
        ):
            continue
        cohorts = [t.cohort for t in (was, now) if t is not None]
        out.append(
            VerdictChange(
                source=source,
                case_id=case.id,
                nct_id=nct,
                old_verdict=was.verdict if was else None,
                old_cohort=was.cohort if was else None,
                new_verdict=now.verdict if now else None,
                new_cohort=now.cohort if now else None,
                criteria=tuple(responsible(old, new, case, nct, cohorts)),
            )
        )
    return out


def responsible(
    old: Screener, new: Screener, case: Case, nct_id: str, cohorts: Sequence[str]
) -> list[str]:
    """``cohort: criterion: old -> new`` for each criterion whose status moved in these cohorts."""
    if old.catalog.trial(nct_id) is None or new.catalog.trial(nct_id) is None:
        return []
    before = old.cohort_results(case, nct_id)
    after = new.cohort_results(case, nct_id)
    out = []
    for cohort in dict.fromkeys(cohorts):
        if cohort in before and cohort in after:
            was = {c.id: c.status for c in before[cohort].criteria}
            now = {c.id: c.status for c in after[cohort].criteria}
            out += [f"{cohort}: {line}" for line in status_changes(was, now, absent="absent")]
    return out


def render_diff(diff: RuleDiff) -> str:
    """The rule changes as plain text, one line each."""
    lines = [f"ruleset {diff.old_version} -> {diff.new_version}"]
    lines += [f"trial added: {n}" for n in diff.trials_added]
    lines += [f"trial removed: {n}" for n in diff.trials_removed]
    lines += [f"cohort added: {n} {c}" for n, c in diff.cohorts_added]
    lines += [f"cohort removed: {n} {c}" for n, c in diff.cohorts_removed]
    for change in diff.criteria:
        what = f" ({', '.join(change.aspects)})" if change.aspects else ""
        lines.append(
            f"criterion {change.change}: {change.nct_id} {change.criterion_id}{what}"
            f" in cohort(s) {', '.join(change.cohorts)}"
        )
    if diff.empty:
        lines.append("no trial or criterion changed")
    return "\n".join(lines)


def render_verdict_change(change: VerdictChange) -> str:
    def verdict(value: str | None, cohort: str | None) -> str:
        return "absent" if value is None else f"{value} ({cohort})"

    line = (
        f"case {change.case_id} ({change.source}): {change.nct_id}: "
        f"{verdict(change.old_verdict, change.old_cohort)} -> "
        f"{verdict(change.new_verdict, change.new_cohort)}"
    )
    if change.criteria:
        line += f"; because {'; '.join(change.criteria)}"
    return line
