"""Why a case got each verdict: every criterion with the facts it read, its rule and its source.

A verdict a clinician cannot trace is of no use at a screening meeting. This module turns a
:class:`CaseResult` into an explanation (plain data first, then text, Markdown or JSON): per trial
the verdict and cohort, and per criterion its status, what that status does to the verdict, the
facts read with their values, the rule's id and place in the rule files, its rationale and source;
then the items to confirm at screening, the missing facts and the considerations that applied.

Everything here is a pure function of the result and the catalog; nothing is printed.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .catalog import Catalog, Trial
from .results import CaseResult, CohortResult, CriterionResult, deceased_notice
from .safetext import markdown_code, markdown_source, markdown_text
from .verdicts import is_blocking, is_settled

Format = Literal["text", "json", "markdown"]

_EFFECT = {"blocks": "rules the case out", "allows": "allows the case in", "open": "undecided"}
_COMPLETE = {"full": "all", "partial": "only part", "none": "none"}
_DEFINES = ", defines the population: the verdict waits for it"


def effect(result: CriterionResult) -> str:
    """What this criterion's status does to the verdict: blocks, allows or leaves it open."""
    if is_blocking(result):
        return "blocks"
    return "allows" if is_settled(result) else "open"


def is_tally(value: Any) -> bool:
    """True for what a therapy count read (see :mod:`careligible.screening`)."""
    return isinstance(value, dict) and "qualifying" in value


def show_tally(value: dict[str, Any]) -> str:
    """What a therapy count read: the treatments that qualify, those that might, and a word
    when the list is not confirmed as the whole history (so "none" is not read as "never")."""
    qualifying = ", ".join(map(str, value["qualifying"])) or "none"
    uncertain = ", ".join(map(str, value.get("uncertain") or [])) or "none"
    shown = f"qualifying: {qualifying}; uncertain: {uncertain}"
    return f"{shown}; history not confirmed complete" if value.get("history_incomplete") else shown


def show_value(value: Any) -> str:
    """A fact's value as a clinician reads it: ``70`` not ``70.0``, yes/no, *unknown* for None
    (never "no"), an empty list as *none*; shared by explain, the report and the TUI so one
    value never reads two ways."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if is_tally(value):
        return show_tally(value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value) if value else "none"
    return str(value)


def rule_place(catalog: Catalog, trial: Trial | None, cohort: str, criterion_id: str) -> str:
    """``trials/NCT….yaml:LINE`` for a cohort's criterion, relative to the rules directory when
    possible."""
    criterion = trial.criterion(cohort, criterion_id) if trial else None
    if criterion is None or not criterion.file:
        return "automatic (built from the cohort's diseases)" if criterion_id == "disease" else ""
    file = criterion.file
    with contextlib.suppress(ValueError):  # outside the rules directory: keep the full path
        file = Path(file).resolve().relative_to(catalog.directory.resolve()).as_posix()
    return f"{file}:{criterion.line}" if criterion.line else file


def criterion_explanation(
    catalog: Catalog, trial: Trial | None, cohort: str, result: CriterionResult
) -> dict[str, Any]:
    return {
        "id": result.id,
        "rule": f"{trial.nct_id if trial else '?'}/{cohort}/{result.id}",
        "kind": result.kind,
        "status": result.status,
        "effect": effect(result),
        "text": result.text,
        "facts": dict(result.facts),
        "rationale": result.rationale,
        "source": result.source,
        "where": rule_place(catalog, trial, cohort, result.id),
        "confirmed": result.confirmed.model_dump() if result.confirmed else None,
    }


def trial_explanation(catalog: Catalog, result: CohortResult) -> dict[str, Any]:
    trial = catalog.trial(result.nct_id)
    return {
        "nct_id": result.nct_id,
        "title": trial.meta.title if trial else "",
        "acronym": trial.meta.acronym if trial else None,
        "status": trial.meta.status if trial else None,
        "status_as_of": (
            trial.meta.status_as_of.isoformat() if trial and trial.meta.status_as_of else None
        ),
        "record": trial.record_citation if trial else None,
        "verdict": result.verdict,
        "cohort": result.cohort,
        "cohort_name": result.cohort_name,
        "blocked_by": list(result.blocked_by),
        "criteria": [
            criterion_explanation(catalog, trial, result.cohort, c) for c in result.criteria
        ],
        "to_confirm": [c.model_dump() for c in result.to_confirm_first],
        "checked": result.checked,
        "total": result.total,
        "criteria_complete": result.criteria_complete,
        "status_current": result.status_current,
        "missing": list(result.missing),
        "not_evaluated": result.not_evaluated,
        "not_evaluated_note": result.not_evaluated_note,
    }


def case_explanation(
    result: CaseResult, catalog: Catalog, trials: Sequence[str] = ()
) -> dict[str, Any]:
    """The whole explanation of one case as plain data; ``trials`` limits it to those NCT ids."""
    wanted = {t.upper() for t in trials}
    return {
        "case_id": result.case_id,
        "source": result.source,
        "ruleset_version": catalog.version,
        "error": result.error,
        # only for a case recorded as deceased, as in the screening record
        **({"deceased": True, "deceased_date": result.deceased_date} if result.deceased else {}),
        "warnings": list(result.warnings),
        "trials": [
            trial_explanation(catalog, t) for t in result.trials if not wanted or t.nct_id in wanted
        ],
        "considerations": [c.model_dump() for c in result.considerations],
    }


def render(explanations: Sequence[dict[str, Any]], fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(list(explanations), indent=2, ensure_ascii=False)
    renderer = render_markdown if fmt == "markdown" else render_text
    return "\n\n".join(renderer(e) for e in explanations)


# --- plain text ---------------------------------------------------------------------------------


def head_text(record: dict[str, Any]) -> list[str]:
    """The lines every plain-text rendering of a record opens with (an explanation here, an
    expanded compact record in :mod:`careligible.compact`): the case, the ruleset, then the
    record's error or its warnings."""
    lines = [
        f"Case {record['case_id']} ({record['source']})",
        f"ruleset version {record['ruleset_version']}",
    ]
    if record["error"]:
        return [*lines, f"error: {record['error']}"]
    warnings = record["warnings"]
    if record.get("deceased"):  # said first, as what it is: the reason there are no verdicts
        notice = deceased_notice(record["deceased_date"])
        lines.append(notice)
        warnings = [w for w in warnings if w != notice]
    return lines + [f"warning: {w}" for w in warnings]


def render_text(explanation: dict[str, Any]) -> str:
    lines = head_text(explanation)
    if explanation["error"]:
        return "\n".join(lines)
    if explanation.get("deceased"):  # no trial was screened: the notice says so
        return "\n".join(lines)
    for trial in explanation["trials"]:
        lines += ["", *_trial_text(trial)]
    lines += ["", *_considerations_text(explanation["considerations"])]
    return "\n".join(lines)


def _trial_text(trial: dict[str, Any]) -> list[str]:
    name = f" {trial['acronym']}" if trial["acronym"] else ""
    lines = [
        f"{trial['nct_id']}{name}: {trial['verdict'].upper()} "
        f"(cohort {trial['cohort']}: {trial['cohort_name']})",
        f"  trial status {trial['status']} as of {trial['status_as_of'] or 'no dated source'}"
        + ("" if trial["status_current"] else " (not current: ranked as unknown)"),
        f"  checked {trial['checked']} of {trial['total']} criteria; "
        f"the catalog holds {_COMPLETE[trial['criteria_complete']]} of the trial's criteria",
    ]
    if trial["blocked_by"]:
        lines.append(f"  ruled out by: {', '.join(trial['blocked_by'])}")
    lines.append("  criteria:")
    for criterion in trial["criteria"]:
        lines += _criterion_text(criterion)
    if trial["not_evaluated_note"]:
        lines.append(f"  {trial['not_evaluated_note']}")
    lines.append("  to confirm at screening:" if trial["to_confirm"] else "  nothing to confirm")
    lines += [
        f"    - {c['id']} ({c['kind']}{_DEFINES if c['defines_population'] else ''}): "
        f"{c['text']} [source: {c['source']}]"
        for c in trial["to_confirm"]
    ]
    missing = ", ".join(trial["missing"]) or "nothing"
    lines.append(f"  missing: {missing}")
    return lines


def _criterion_text(criterion: dict[str, Any]) -> list[str]:
    lines = [
        f"    [{criterion['status']}] {criterion['id']} ({criterion['kind']}, "
        f"{_EFFECT[criterion['effect']]}): {criterion['text']}"
    ]
    lines += [f"        fact {path} = {show_value(v)}" for path, v in criterion["facts"].items()]
    if criterion["confirmed"]:
        who = criterion["confirmed"]
        lines.append(f"        confirmed at screening by {who['by']} on {who['on']}")
    lines.append(f"        rule {criterion['rule']}" + _at(criterion["where"]))
    lines.append(f"        why: {criterion['rationale']}")
    lines.append(f"        source: {criterion['source']}")
    return lines


def _at(where: str) -> str:
    if where.startswith("automatic"):
        return f" ({where})"
    return f" at {where}" if where else ""


def _considerations_text(considerations: list[dict[str, Any]]) -> list[str]:
    if not considerations:
        return ["considerations: none applied"]
    lines = ["considerations:"]
    for item in considerations:
        lines.append(f"  - {item['title']} ({item['axis']}): {item['advice']}")
        lines.append(f"    source: {item['source']}")
    return lines


# --- Markdown -----------------------------------------------------------------------------------


def render_markdown(explanation: dict[str, Any]) -> str:
    lines = [
        f"# Case {_md(explanation['case_id'])}",
        "",
        f"Source {markdown_code(explanation['source'])}, ruleset version `{explanation['ruleset_version']}`.",
    ]
    if explanation["error"]:
        return "\n".join([*lines, "", f"**Error:** {_md(explanation['error'])}"])
    if explanation.get("deceased"):
        notice = deceased_notice(explanation["deceased_date"])
        rest = [w for w in explanation["warnings"] if w != notice]
        return "\n".join(
            [*lines, "", f"**{_md(notice)}.**", *(f"- warning: {_md(w)}" for w in rest)]
        )
    lines += [f"- warning: {_md(w)}" for w in explanation["warnings"]]
    for trial in explanation["trials"]:
        lines += ["", *_trial_markdown(trial)]
    lines += ["", "## Considerations", ""]
    lines += [
        _cited(_md(c["title"]), _md(c["axis"]), c["advice"], c["source"])
        for c in explanation["considerations"]
    ] or ["None applied."]
    return "\n".join(lines)


def _trial_markdown(trial: dict[str, Any]) -> list[str]:
    name = f" ({_md(trial['acronym'])})" if trial["acronym"] else ""
    lines = [
        f"## {trial['nct_id']}{name}: {trial['verdict']}",
        "",
        f"Cohort `{trial['cohort']}`: {_md(trial['cohort_name'])}. "
        f"Trial status {trial['status']} as of {trial['status_as_of'] or 'no dated source'}. "
        f"Checked {trial['checked']} of {trial['total']} criteria; the catalog holds "
        f"{_COMPLETE[trial['criteria_complete']]} of the trial's criteria.",
        "",
        "| Status | Criterion | Facts read | Rule | Why | Source |",
        "|---|---|---|---|---|---|",
    ]
    for c in trial["criteria"]:
        facts = "<br>".join(f"`{p}` = {_md(show_value(v))}" for p, v in c["facts"].items())
        lines.append(
            f"| {c['status']} ({_EFFECT[c['effect']]}) | **{c['id']}** ({c['kind']}): "
            f"{_md(c['text'])} | {facts} | `{c['rule']}`{_at(c['where'])} | "
            f"{_md(c['rationale'])} | {markdown_source(c['source'])} |"
        )
    lines += ["", "To confirm at screening:", ""]
    lines += [
        _cited(
            c["id"],
            c["kind"] + (_DEFINES if c["defines_population"] else ""),
            c["text"],
            c["source"],
        )
        for c in trial["to_confirm"]
    ] or ["- nothing"]
    lines += ["", f"Missing: {_md(', '.join(trial['missing']) or 'nothing')}."]
    return lines


def _cited(name: str, note: str, text: str, source: str) -> str:
    """One bullet of the Markdown explanation: a bold name, a note in brackets, the text (made
    safe here) and the source it cites."""
    return f"- **{name}** ({note}): {_md(text)} (source: {markdown_source(source)})"


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell: no HTML, links, emphasis or cell breaks."""
    return markdown_text(text)
