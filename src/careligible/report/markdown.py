"""The referral report as Markdown: the one text every other format (HTML, PDF) is made from.

Text that comes from the case (its id, values, drug names, warnings) and from the rule files is
escaped (:func:`careligible.safetext.markdown_text`), so nothing in it can become a link, HTML or
a table cell of its own; only the registry links this module writes itself are live.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..case import THERAPY_COLUMNS
from ..results import DISCLAIMER
from ..safetext import markdown_code, markdown_source, markdown_text
from .content import (
    DOES_NOT_EXCLUDE,
    MET,
    MISSING,
    NOT_YET_KNOWN,
    RULES_OUT,
    TO_CONFIRM,
    Comparison,
    Decided,
    Referral,
    TrialSection,
)

_md = markdown_text

_THERAPY_HEADINGS = ("Drug", "Outcome", "Months", "Stopped (months ago)", "Dose")
assert len(_THERAPY_HEADINGS) == len(THERAPY_COLUMNS)


def render(referral: Referral) -> str:
    """The whole report, in the order a colleague reads it: who and when, the case, the
    summary, the side-by-side view, then each trial in full."""
    lines = [
        f"# CAR-T trial referral: case {_md(referral.case_id)}",
        "",
        *_header(referral),
        "",
        f"> {DISCLAIMER}",
    ]
    if referral.warnings:
        lines += ["", *(f"- Warning: {_md(w)}" for w in referral.warnings)]
    lines += ["", "## Case as entered", "", *_facts(referral)]
    lines += ["", "## Summary", "", *_summary(referral.trials)]
    if referral.comparison is not None:
        lines += ["", "## Side by side", "", *_comparison(referral.comparison)]
    for trial in referral.trials:
        lines += ["", *_trial(trial)]
    if referral.ask_next:
        lines += ["", "## Ask next", ""]
        lines += [
            f"- `{fact}` (would help settle {', '.join(ncts)})" for fact, ncts in referral.ask_next
        ]
    if referral.considerations:
        lines += ["", "## Considerations", ""]
        lines += [
            f"- **{_md(title)}**: {_md(advice)} (source: {markdown_source(source)})"
            for title, advice, source in referral.considerations
        ]
    lines += ["", "---", "", DISCLAIMER, ""]
    return "\n".join(lines)


def _header(referral: Referral) -> list[str]:
    shown = len(referral.trials)
    if referral.all_trials or referral.disease is None:
        which = f"all {shown} trials of the catalog"
    else:
        which = (
            f"the {shown} trial(s) with a cohort for {_md(referral.disease)}; "
            f"{referral.left_out} trial(s) of other diseases left out"
        )
    return [
        f"- Date: {referral.on.isoformat()}",
        f"- Tool: careligible {_md(referral.tool_version)}",
        f"- Ruleset version: `{referral.ruleset_version}`",
        f"- Case source: {markdown_code(referral.source) if referral.source else 'entered form'}",
        f"- Trials shown: {which}",
    ]


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def _facts(referral: Referral) -> list[str]:
    if not referral.facts:
        lines = ["No facts entered."]
    else:
        lines = _table(("Fact", "Value"), ((f"`{f.path}`", _md(f.value)) for f in referral.facts))
    lines += ["", "Prior therapies:", ""]
    if not referral.therapies:
        return [*lines, "None entered."]
    return lines + _table(_THERAPY_HEADINGS, ([_md(c) for c in row] for row in referral.therapies))


def _link(trial: TrialSection) -> str:
    return f"[{trial.nct_id}]({trial.registry_url})"


def _summary(trials: Sequence[TrialSection]) -> list[str]:
    if not trials:
        return ["No trial of the catalog has a cohort for this disease."]
    return _table(
        ("Trial", "Verdict", "Cohort", "Status", "Criteria checked"),
        (
            (
                _link(t),
                _md(t.verdict_label),
                _md(t.cohort_name),
                _md(t.status),
                f"{t.checked} of {t.total}",
            )
            for t in trials
        ),
    )


def _comparison(comparison: Comparison) -> list[str]:
    headings = ("Criteria reading", *comparison.trials)
    rows = ([_md(key), *(_md(c) for c in cells)] for key, cells in comparison.rows)
    return _table(headings, rows)


def _trial(trial: TrialSection) -> list[str]:
    name = f" ({_md(trial.acronym)})" if trial.acronym else ""
    lines = [
        f"## {trial.nct_id}{name}: {_md(trial.verdict_label)}",
        "",
        f"*{_md(trial.title)}*" if trial.title else "",
        "",
        f"- Registry: <{trial.registry_url}>",
        f"- Cohort: {_md(trial.cohort_name)}",
        f"- Recruitment status: {_md(trial.status)}",
        f"- Criteria checked: {trial.checked} of {trial.total}",
    ]
    if trial.sites:
        lines.append(f"- Recruiting sites: {'; '.join(_md(s) for s in trial.sites)}")
    else:
        lines.append("- Sites and contacts: see the registry record")
    if trial.only_blocker:
        lines += ["", f"Ruled out by one criterion only: {_md(trial.only_blocker)}"]
    lines += _criteria(RULES_OUT, trial.rules_out)
    lines += _criteria(MET, [c for c in trial.met if c.kind == "inclusion"])
    lines += _criteria(DOES_NOT_EXCLUDE, [c for c in trial.met if c.kind == "exclusion"])
    lines += _criteria(NOT_YET_KNOWN, trial.open)
    if trial.missing:
        lines += ["", f"### {MISSING}", "", ", ".join(f"`{p}`" for p in trial.missing)]
    if trial.to_confirm:
        lines += ["", f"### {TO_CONFIRM}", ""]
        lines += [
            f"- ({item.kind}{', defines the population' if item.defines_population else ''}) "
            f"{_md(item.text)} (source: {markdown_source(item.source)})"
            for item in trial.to_confirm
        ]
    if trial.not_evaluated_note:
        lines += ["", _md(trial.not_evaluated_note)]
    return lines


def _criteria(heading: str, criteria: Sequence[Decided]) -> list[str]:
    if not criteria:
        return []
    lines = ["", f"### {heading}", ""]
    for c in criteria:
        read = "; ".join(f"`{f.path}` = {_md(f.value)}" for f in c.facts)
        extra = f" (read: {read})" if read else ""
        if c.confirmed_by:
            extra += f" (confirmed at screening by {_md(c.confirmed_by)})"
        lines.append(f"- ({c.kind}) {_md(c.text)}{extra}")
    return lines
