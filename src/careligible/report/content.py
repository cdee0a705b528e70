"""What a referral report says, as plain data: the case as entered and, per trial, what decided it.

A colleague who receives a referral must be able to act on it without the tool: see the facts it
rests on, which criteria were met (by their text, not rule ids), which rule the case out, what
the site still has to confirm, what is missing, and where to look the trial up. This module
gathers exactly that from a case, its screening result and the catalog; the renderers
(:mod:`.markdown`, :mod:`.html`, :mod:`.pdf`) only lay it out.

Nothing here reads a clock or a file: the date is given, so the same inputs give the same report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..audit import tool_version
from ..case import THERAPY_COLUMNS, Case
from ..catalog import Catalog
from ..explain import show_value
from ..results import VERDICT_LABEL, CaseResult, CohortResult, ConfirmItem, CriterionResult
from ..verdicts import is_blocking, is_settled

#: Where a colleague looks a trial up: the registry's own page for it.
REGISTRY_URL = "https://clinicaltrials.gov/study/{nct_id}"


@dataclass(frozen=True)
class Fact:
    """One case fact as entered: its dotted path and its value as text."""

    path: str
    value: str


@dataclass(frozen=True)
class Decided:
    """A criterion with a decided or open status, and the facts it read."""

    kind: str
    text: str
    facts: tuple[Fact, ...]
    confirmed_by: str | None = None


@dataclass(frozen=True)
class TrialSection:
    """One trial of the report: its verdict and everything behind it."""

    nct_id: str
    title: str
    acronym: str | None
    verdict: str
    verdict_label: str
    cohort_name: str
    status: str
    checked: int
    total: int
    met: tuple[Decided, ...]
    """Criteria that allow the case in: inclusions met, exclusions known not to apply."""
    rules_out: tuple[Decided, ...]
    open: tuple[Decided, ...]
    to_confirm: tuple[ConfirmItem, ...]
    missing: tuple[str, ...]
    not_evaluated_note: str | None
    only_blocker: str | None
    """The text of the one criterion that rules the case out, when it is the only one."""
    registry_url: str
    sites: tuple[str, ...]
    """Recruiting sites from the registry snapshot ("Facility, City, Country"); empty without one."""


@dataclass(frozen=True)
class Comparison:
    """Two or three trials side by side: one row per thing the criteria read."""

    trials: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    """(what the criteria read, one cell per trial: status and criterion text, or "")."""


@dataclass(frozen=True)
class Referral:
    """Everything one report shows, for one case."""

    case_id: str
    disease: str | None
    source: str
    on: date
    tool_version: str
    ruleset_version: str
    facts: tuple[Fact, ...]
    therapies: tuple[tuple[str, ...], ...]
    warnings: tuple[str, ...]
    trials: tuple[TrialSection, ...]
    left_out: int
    """Trials not shown because none of their cohorts enrols the case's disease."""
    considerations: tuple[tuple[str, str, str], ...]
    """(title, advice, source) of each of the article's considerations that applied."""
    comparison: Comparison | None = None
    all_trials: bool = False
    ask_next: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())


class CompareError(ValueError):
    """``compare`` names too few, too many or unknown trials."""


def build(
    case: Case,
    result: CaseResult,
    catalog: Catalog,
    *,
    on: date,
    all_trials: bool = False,
    compare: Sequence[str] = (),
) -> Referral:
    """The report of ``case``: ``result`` is its screening against ``catalog`` on date ``on``.

    Only the trials with a cohort for the case's disease are shown unless ``all_trials``; a
    case of no stated disease shows every trial, since none can be left out on its account.
    ``compare`` names two or three trials to set side by side (:class:`CompareError` if not).
    """
    shown = [t for t in result.trials if all_trials or _enrols(catalog, t, case.disease)]
    return Referral(
        case_id=result.case_id or case.id,
        disease=case.disease,
        source=result.source,
        on=on,
        tool_version=tool_version(),
        ruleset_version=catalog.version,
        facts=tuple(case_facts(case)),
        therapies=tuple(therapy_rows(case)),
        warnings=tuple(result.warnings),
        trials=tuple(trial_section(catalog, t) for t in shown),
        left_out=len(result.trials) - len(shown),
        considerations=tuple((c.title, c.advice, c.source) for c in result.considerations),
        comparison=comparison(result, compare) if compare else None,
        all_trials=all_trials,
        ask_next=tuple((a.fact, tuple(a.trials)) for a in result.ask_next),
    )


def _enrols(catalog: Catalog, result: CohortResult, disease: str | None) -> bool:
    """True when one of the trial's cohorts is open to ``disease`` (or no disease is given)."""
    if disease is None:
        return True
    trial = catalog.trial(result.nct_id)
    return trial is None or any(disease in cohort.diseases for cohort in trial.cohorts)


def case_facts(case: Case) -> list[Fact]:
    """Every fact the case states, by dotted path, in the order of the case format; therapies
    are left to :func:`therapy_rows`. Unknown facts are not listed: they were not entered."""
    data = case.model_dump(by_alias=True, exclude_none=True, mode="json")
    data.pop("therapies", None)
    return list(_flatten(data, ""))


def _flatten(data: dict[str, Any], prefix: str) -> list[Fact]:
    facts = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "qualifying" not in value:
            facts += _flatten(value, f"{path}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            facts += [Fact(f"{path}[{i}]", show_value(item)) for i, item in enumerate(value)]
        else:
            facts.append(Fact(path, show_value(value)))
    return facts


def therapy_rows(case: Case) -> list[tuple[str, ...]]:
    """One row per prior therapy as entered; an empty cell is a value not given."""
    rows = []
    for therapy in case.therapies or []:
        data = therapy.model_dump(exclude_none=True, mode="json")
        rows.append(tuple(show_value(data[c]) if c in data else "" for c in THERAPY_COLUMNS))
    return rows


def trial_section(catalog: Catalog, result: CohortResult) -> TrialSection:
    trial = catalog.trial(result.nct_id)
    sites = tuple(
        ", ".join(p for p in (s.facility, s.city, s.country) if p)
        for s in (trial.sites if trial else ())
        if s.status in (None, "recruiting")
    )
    return TrialSection(
        nct_id=result.nct_id,
        title=trial.meta.title if trial else "",
        acronym=trial.meta.acronym if trial else None,
        verdict=result.verdict,
        verdict_label=VERDICT_LABEL[result.verdict],
        cohort_name=result.cohort_name,
        status=result.status_text,
        checked=result.checked,
        total=result.total,
        met=tuple(_decided(c) for c in result.criteria if is_settled(c)),
        rules_out=tuple(_decided(c) for c in result.criteria if is_blocking(c)),
        open=tuple(_decided(c) for c in result.criteria if c.status == "unknown"),
        to_confirm=tuple(result.to_confirm_first),
        missing=tuple(dict.fromkeys(result.missing)),
        not_evaluated_note=result.not_evaluated_note,
        only_blocker=result.only_blocker,
        registry_url=REGISTRY_URL.format(nct_id=result.nct_id),
        sites=sites,
    )


def _decided(result: CriterionResult) -> Decided:
    facts = tuple(Fact(path, show_value(value)) for path, value in result.facts.items())
    who = f"{result.confirmed.by} on {result.confirmed.on}" if result.confirmed else None
    return Decided(result.kind, result.text, facts, who)


STATUS_WORD = {"met": "met", "not_met": "not met", "unknown": "unknown"}

#: How a trial's criteria are grouped, by what each does to the case, in every output a clinician
#: reads (the report and the terminal UI's trial detail), so both say it in the same words.
RULES_OUT = "Rules the case out"
MET = "Met"
DOES_NOT_EXCLUDE = "Does not exclude"
NOT_YET_KNOWN = "Not yet known"
MISSING = "Missing facts"
TO_CONFIRM = "To confirm at screening"


def effect_word(criterion: CriterionResult) -> str:
    """A criterion's status in the words a clinician acts on: an exclusion *excludes* or *does
    not exclude* (never "met" beside "not met", which reads backwards for an exclusion), an
    inclusion is *met* or *not met*, and either may be *unknown*."""
    if criterion.kind != "exclusion" or criterion.status == "unknown":
        return STATUS_WORD[criterion.status]
    return "excludes" if criterion.status == "met" else "does not exclude"


def cell_status(criterion: CriterionResult) -> str:
    """The status as a comparison cell reads it; for an exclusion, what that does to the case."""
    word = STATUS_WORD[criterion.status]
    if criterion.kind != "exclusion" or criterion.status == "unknown":
        return word
    return f"{word} ({effect_word(criterion)})"


def comparison(result: CaseResult, nct_ids: Sequence[str]) -> Comparison:
    """Criteria x trials for two or three trials: each row is what the criteria read (the case
    facts, or the criterion's own text when it reads none), each cell that trial's criterion
    on it with its status (met / not met / unknown), empty when the trial has none."""
    wanted = list(dict.fromkeys(n.upper() for n in nct_ids))
    if not 2 <= len(wanted) <= 3:
        raise CompareError(f"compare two or three trials, not {len(wanted)}")
    by_id = {t.nct_id: t for t in result.trials}
    unknown = [n for n in wanted if n not in by_id]
    if unknown:
        raise CompareError(f"not in the rules: {', '.join(unknown)}")
    rows: dict[str, list[list[str]]] = {}
    for column, nct_id in enumerate(wanted):
        for criterion in by_id[nct_id].criteria:
            key = ", ".join(criterion.facts) or criterion.text
            cells = rows.setdefault(key, [[] for _ in wanted])
            cells[column].append(f"{cell_status(criterion)}: {criterion.text}")
        confirm = len(by_id[nct_id].to_confirm)
        if confirm:
            cells = rows.setdefault("to confirm at screening", [[] for _ in wanted])
            cells[column].append(f"{confirm} item(s)")
    return Comparison(
        tuple(wanted),
        tuple((key, tuple("; ".join(c) for c in cells)) for key, cells in rows.items()),
    )
