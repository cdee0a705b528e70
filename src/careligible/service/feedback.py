"""CDS Hooks feedback: what clinicians did with each card, in an append-only, hash-chained log.

The EHR reports, per card, whether it was accepted or overridden and, when overridden, the coded
reason chosen from the card's ``overrideReasons``. Each report becomes one record chained like
the decision records of the audit log (``careligible audit verify`` checks its chain), so a
site can count screen failures and overrides per trial and trust that none was removed.

Free-text comments are not kept: a clinician's comment may name the patient. The record says
only whether one was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..audit import append_sealed, tool_version
from ..errors import Problem
from .cards import IssuedCard

#: Version of the feedback record layout.
FEEDBACK_FORMAT = 1

OUTCOMES = ("accepted", "overridden")


class FeedbackError(Exception):
    """A feedback request that does not follow CDS Hooks; ``problems`` name each field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Report:
    """One card's outcome as the EHR reported it."""

    card: str
    outcome: str
    outcome_time: str
    override_reason: dict[str, str] | None
    accepted_suggestions: tuple[str, ...]
    comment_given: bool


def parse_feedback(body: Any) -> list[Report]:
    """The reports of a feedback request, or :class:`FeedbackError` naming every bad field."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise FeedbackError([Problem("must be a list of card outcomes", "feedback")])
    problems: list[Problem] = []
    reports = []
    for index, item in enumerate(body["feedback"]):
        where = f"feedback[{index}]"
        report = _report(item, where, problems)
        if report is not None:
            reports.append(report)
    if problems:
        raise FeedbackError(problems)
    return reports


def _report(item: Any, where: str, problems: list[Problem]) -> Report | None:
    if not isinstance(item, dict):
        problems.append(Problem("must be an object", where))
        return None
    before = len(problems)
    card, outcome, when = item.get("card"), item.get("outcome"), item.get("outcomeTimestamp")
    if not isinstance(card, str) or not card:
        problems.append(Problem("is required (the uuid of a card)", f"{where}.card"))
    if outcome not in OUTCOMES:
        problems.append(Problem("must be 'accepted' or 'overridden'", f"{where}.outcome"))
    if not isinstance(when, str) or not when:
        problems.append(Problem("is required", f"{where}.outcomeTimestamp"))
    override = item.get("overrideReason")
    reason = override.get("reason") if isinstance(override, dict) else None
    if override is not None and not isinstance(reason, dict):
        problems.append(Problem("must hold a coded reason", f"{where}.overrideReason.reason"))
    if len(problems) > before:
        return None
    accepted = item.get("acceptedSuggestions") or []
    return Report(
        card=str(card),
        outcome=str(outcome),
        outcome_time=str(when),
        override_reason=(
            {k: str(reason[k]) for k in ("system", "code", "display") if reason.get(k)}
            if isinstance(reason, dict)
            else None
        ),
        accepted_suggestions=tuple(
            str(s.get("id")) for s in accepted if isinstance(s, dict) and s.get("id")
        ),
        comment_given=isinstance(override, dict) and bool(override.get("userComment")),
    )


class FeedbackLog:
    """The feedback log file; each report is one chained record."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, service: str, report: Report, card: IssuedCard | None) -> dict[str, Any]:
        record = {
            "format": FEEDBACK_FORMAT,
            "kind": "card-feedback",
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "tool_version": tool_version(),
            "service": service,
            "card": report.card,
            "outcome": report.outcome,
            "outcome_time": report.outcome_time,
            "override_reason": report.override_reason,
            "accepted_suggestions": list(report.accepted_suggestions),
            "comment_given": report.comment_given,
            # What the card was about, when this service issued it since its last start.
            "case_id": card.case_id if card else None,
            "verdict": card.verdict if card else None,
            "trials": list(card.trials) if card else None,
        }
        return append_sealed(self.path, record, "feedback log")
