"""Pure rendering of one case's screening: a Markdown or HTML report, and the "ask next" list.

No widgets here: each function takes a :class:`CaseResult` and the :class:`Catalog` it came from
and returns text. Reports carry no clock and no file path, so the same case gives the same report.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from ..catalog import Catalog
from ..results import VERDICT_LABEL as CORE_VERDICT_LABEL
from ..results import CaseResult, CohortResult, CriterionResult
from ..writers import DISCLAIMER

VERDICT_LABEL = {verdict: label.capitalize() for verdict, label in CORE_VERDICT_LABEL.items()}
STATUS_LABEL = {"met": "met", "not_met": "NOT MET", "unknown": "unknown"}


def ask_next(result: CaseResult, limit: int = 10) -> list[tuple[str, list[str]]]:
    """The facts most often missing across needs-info trials, most frequent first, each with the
    trials it would help settle. Uses the core's list when the result carries one."""
    if result.ask_next:
        return [(a.fact, list(a.trials)) for a in result.ask_next[:limit]]
    trials: dict[str, list[str]] = {}
    for trial in result.by_verdict("needs_info"):
        for path in dict.fromkeys(trial.missing):
            trials.setdefault(path, []).append(trial.nct_id)
    counts = Counter({path: len(ncts) for path, ncts in trials.items()})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(path, trials[path]) for path, _ in ranked]


def show_value(value: Any) -> str:
    """A fact's value as people read it; ``None`` is unknown."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(show_value(v) for v in value) if value else "none"
    return str(value)


def show_facts(facts: dict[str, Any]) -> str:
    return "; ".join(f"{path} = {show_value(value)}" for path, value in facts.items())


def trial_meta(catalog: Catalog, nct_id: str) -> tuple[str, str, str, str, str]:
    """Title, targets, phase, sponsor and status of a trial ("" when unknown)."""
    trial = catalog.trial(nct_id)
    if trial is None:
        return ("", "", "", "", "")
    meta = trial.meta
    seen = meta.status_as_of.isoformat() if meta.status_as_of else "no dated source"
    status = f"{meta.status.replace('_', ' ')} (as of {seen})"
    return (meta.title, "/".join(meta.targets), meta.phase, meta.sponsor, status)


def reasons(trial: CohortResult) -> list[CriterionResult]:
    """The criteria that decided a verdict: those not met, then those unknown."""
    order = {"not_met": 0, "unknown": 1, "met": 2}
    return sorted(
        (c for c in trial.criteria if c.id in trial.blocked_by or c.status == "unknown"),
        key=lambda c: order[c.status],
    )


def _counts(result: CaseResult) -> str:
    return ", ".join(
        f"{len(result.by_verdict(v))} {VERDICT_LABEL[v].lower()}"  # type: ignore[arg-type]
        for v in VERDICT_LABEL
    )


def markdown(result: CaseResult, catalog: Catalog) -> str:
    lines = [
        f"# CAR-T trial screening: case {result.case_id or '(no id)'}",
        "",
        f"Ruleset version: `{catalog.version}`  ",
        f"Trials screened: {len(result.trials)} ({_counts(result)})",
        "",
        f"> {DISCLAIMER}",
        "",
    ]
    for warning in result.warnings:
        lines.append(f"- Warning: {warning}")
    if result.warnings:
        lines.append("")
    lines += ["## Summary", "", "| Trial | Verdict | Cohort | Targets | Phase | Sponsor | Status |"]
    lines.append("|---|---|---|---|---|---|---|")
    for trial in result.trials:
        _, targets, phase, sponsor, status = trial_meta(catalog, trial.nct_id)
        cells = [trial.nct_id, VERDICT_LABEL[trial.verdict], trial.cohort_name, targets, phase]
        cells += [sponsor, status]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    for trial in result.trials:
        title = trial_meta(catalog, trial.nct_id)[0]
        lines += ["", f"## {trial.nct_id}: {VERDICT_LABEL[trial.verdict]}", "", f"*{title}*", ""]
        lines.append(f"Cohort: {trial.cohort_name}")
        lines.append("")
        if trial.only_blocker:
            lines += [f"Ruled out by one criterion only: {trial.only_blocker}", ""]
        for c in reasons(trial):
            lines.append(f"- **{STATUS_LABEL[c.status]}** ({c.kind}) {c.text}")
            lines.append(f"  - Facts: {show_facts(c.facts) or 'none'}")
            lines.append(f"  - Why: {c.rationale}")
            lines.append(f"  - Source: {c.source}")
        if trial.missing:
            lines.append(f"- Missing facts: {', '.join(trial.missing)}")
        for item in trial.to_confirm:
            lines.append(f"- To confirm ({item.kind}): {item.text} (source: {item.source})")
        if trial.not_evaluated_note:
            lines.append(f"- {trial.not_evaluated_note}")
    asks = ask_next(result)
    if asks:
        lines += ["", "## Ask next", ""]
        for path, ncts in asks:
            lines.append(f"- {path} (would help settle {', '.join(ncts)})")
    if result.considerations:
        lines += ["", "## Considerations", ""]
        for note in result.considerations:
            lines.append(f"- **{note.title}**: {note.advice} (source: {note.source})")
    lines += ["", "---", "", DISCLAIMER, ""]
    return "\n".join(lines)


def _e(text: object) -> str:
    return html.escape(str(text))


def html_report(result: CaseResult, catalog: Catalog) -> str:
    case_id = _e(result.case_id or "(no id)")
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>CAR-T trial screening: case {case_id}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
        ".not_met{color:#a00}.unknown{color:#a60}.disclaimer{border:1px solid #999;padding:6px}"
        "</style></head><body>",
        f"<h1>CAR-T trial screening: case {case_id}</h1>",
        f"<p>Ruleset version: <code>{_e(catalog.version)}</code><br>",
        f"Trials screened: {len(result.trials)} ({_e(_counts(result))})</p>",
        f'<p class="disclaimer">{_e(DISCLAIMER)}</p>',
    ]
    if result.warnings:
        out.append("<ul>" + "".join(f"<li>Warning: {_e(w)}</li>" for w in result.warnings))
        out.append("</ul>")
    out.append("<h2>Summary</h2><table><tr><th>Trial</th><th>Verdict</th><th>Cohort</th>")
    out.append("<th>Targets</th><th>Phase</th><th>Sponsor</th><th>Status</th></tr>")
    for trial in result.trials:
        _, targets, phase, sponsor, status = trial_meta(catalog, trial.nct_id)
        cells = [trial.nct_id, VERDICT_LABEL[trial.verdict], trial.cohort_name, targets, phase]
        cells += [sponsor, status]
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    for trial in result.trials:
        title = trial_meta(catalog, trial.nct_id)[0]
        out.append(f"<h2>{_e(trial.nct_id)}: {_e(VERDICT_LABEL[trial.verdict])}</h2>")
        out.append(f"<p><em>{_e(title)}</em><br>Cohort: {_e(trial.cohort_name)}</p>")
        if trial.only_blocker:
            out.append(
                f"<p><strong>Ruled out by one criterion only:</strong> {_e(trial.only_blocker)}</p>"
            )
        out.append("<ul>")
        for c in reasons(trial):
            out.append(
                f'<li><strong class="{c.status}">{_e(STATUS_LABEL[c.status])}</strong> '
                f"({_e(c.kind)}) {_e(c.text)}<br>Facts: {_e(show_facts(c.facts) or 'none')}"
                f"<br>Why: {_e(c.rationale)}<br>Source: {_e(c.source)}</li>"
            )
        if trial.missing:
            out.append(f"<li>Missing facts: {_e(', '.join(trial.missing))}</li>")
        for item in trial.to_confirm:
            out.append(
                f"<li>To confirm ({_e(item.kind)}): {_e(item.text)} (source: {_e(item.source)})</li>"
            )
        if trial.not_evaluated_note:
            out.append(f"<li>{_e(trial.not_evaluated_note)}</li>")
        out.append("</ul>")
    asks = ask_next(result)
    if asks:
        out.append("<h2>Ask next</h2><ul>")
        for path, ncts in asks:
            out.append(f"<li>{_e(path)} (would help settle {_e(', '.join(ncts))})</li>")
        out.append("</ul>")
    if result.considerations:
        out.append("<h2>Considerations</h2><ul>")
        for note in result.considerations:
            out.append(
                f"<li><strong>{_e(note.title)}</strong>: {_e(note.advice)} "
                f"(source: {_e(note.source)})</li>"
            )
        out.append("</ul>")
    out.append(f'<hr><p class="disclaimer">{_e(DISCLAIMER)}</p></body></html>')
    return "\n".join(out) + "\n"
