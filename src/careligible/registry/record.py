"""Reading a ClinicalTrials.gov API v2 study record (``GET /api/v2/studies/{nctId}``).

The record is JSON in the registry's documented shape: ``protocolSection`` with its modules
(``identificationModule``, ``statusModule``, ``designModule``, ``eligibilityModule``,
``conditionsModule``, ``contactsLocationsModule``, ``armsInterventionsModule``, ...). This module
turns the parts careligible uses into plain values and never guesses: a field the record lacks
reads as ``None`` (or empty), and an age of ``"N/A"`` means no limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

#: ``overallStatus`` values of the registry and the catalog's status words. The expanded-access
#: statuses (AVAILABLE, WITHHELD, ...) have no place in a trial catalog and read as ``unknown``.
STATUS = {
    "RECRUITING": "recruiting",
    "NOT_YET_RECRUITING": "not_yet_recruiting",
    "ACTIVE_NOT_RECRUITING": "active_not_recruiting",
    "ENROLLING_BY_INVITATION": "enrolling_by_invitation",
    "COMPLETED": "completed",
    "TERMINATED": "terminated",
    "WITHDRAWN": "withdrawn",
    "SUSPENDED": "suspended",
}

_PHASE = {
    "EARLY_PHASE1": "Early Phase 1",
    "PHASE1": "1",
    "PHASE2": "2",
    "PHASE3": "3",
    "PHASE4": "4",
}

#: How many years one of the registry's age units is.
_AGE_UNIT_YEARS = {
    "year": 1.0,
    "month": 1 / 12,
    "week": 7 / 365.25,
    "day": 1 / 365.25,
    "hour": 1 / (365.25 * 24),
    "minute": 1 / (365.25 * 24 * 60),
}

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+?)s?\s*$")


class RecordError(ValueError):
    """The JSON is not a registry study record careligible can read."""


@dataclass(frozen=True)
class Age:
    """An age limit as the registry writes it ("18 Years") and in years."""

    text: str
    years: float


@dataclass(frozen=True)
class Site:
    """One location of a study: where it is and whether it recruits."""

    facility: str
    city: str
    country: str
    status: str | None
    """The site's own status, lower case (``recruiting``...), or None when the record gives none."""
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class StudyRecord:
    """The parts of one registry record careligible reads."""

    nct_id: str
    title: str
    acronym: str | None
    sponsor: str
    status: str
    """The catalog's status word (``recruiting``...); ``unknown`` for a status it has no word for."""
    status_verified: str | None
    last_update_posted: date | None
    phase: str
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    eligibility_criteria: str
    minimum_age: Age | None
    maximum_age: Age | None
    sex: str
    """``all``, ``female`` or ``male``."""
    sites: tuple[Site, ...]
    why_stopped: str | None


def parse_record(data: Any) -> StudyRecord:
    """Read a study record; raise :class:`RecordError` when it has no ``protocolSection``."""
    if not isinstance(data, dict) or not isinstance(data.get("protocolSection"), dict):
        raise RecordError("not a ClinicalTrials.gov API v2 study record (no protocolSection)")
    section = data["protocolSection"]
    ident = _module(section, "identificationModule")
    nct_id = ident.get("nctId")
    if not isinstance(nct_id, str) or not re.fullmatch(r"NCT\d{8}", nct_id):
        raise RecordError(
            "protocolSection.identificationModule.nctId is missing or not NCT########"
        )
    status = _module(section, "statusModule")
    design = _module(section, "designModule")
    eligibility = _module(section, "eligibilityModule")
    sponsor = _module(section, "sponsorCollaboratorsModule").get("leadSponsor") or {}
    org = ident.get("organization") or {}
    return StudyRecord(
        nct_id=nct_id,
        title=_text(ident.get("officialTitle")) or _text(ident.get("briefTitle")) or nct_id,
        acronym=_text(ident.get("acronym")),
        sponsor=_text(sponsor.get("name")) or _text(org.get("fullName")) or "",
        status=STATUS.get(str(status.get("overallStatus", "")).upper(), "unknown"),
        status_verified=_text(status.get("statusVerifiedDate")),
        last_update_posted=_date((status.get("lastUpdatePostDateStruct") or {}).get("date")),
        phase=phase_label(design.get("phases") or []),
        conditions=tuple(_texts(_module(section, "conditionsModule").get("conditions"))),
        interventions=tuple(
            _text(item.get("name")) or ""
            for item in _module(section, "armsInterventionsModule").get("interventions") or []
            if isinstance(item, dict) and _text(item.get("name"))
        ),
        eligibility_criteria=_text(eligibility.get("eligibilityCriteria")) or "",
        minimum_age=parse_age(eligibility.get("minimumAge")),
        maximum_age=parse_age(eligibility.get("maximumAge")),
        sex=str(eligibility.get("sex") or "ALL").lower(),
        sites=tuple(_sites(_module(section, "contactsLocationsModule").get("locations"))),
        why_stopped=_text(status.get("whyStopped")),
    )


def phase_label(phases: list[Any]) -> str:
    """``["PHASE1", "PHASE2"]`` -> ``"Phase 1/2"``, as the catalog writes phases."""
    named = [_PHASE[p] for p in phases if p in _PHASE]
    if not named:
        return "Not Applicable" if "NA" in phases else "not stated"
    numbered = [n for n in named if n != "Early Phase 1"]
    return "Phase " + "/".join(numbered) if numbered else "Early Phase 1"


def parse_age(value: Any) -> Age | None:
    """``"18 Years"`` -> 18.0 years; ``"N/A"``, an absent value or an unknown unit -> no limit."""
    if not isinstance(value, str):
        return None
    match = _AGE.match(value)
    if match is None:
        return None
    unit = _AGE_UNIT_YEARS.get(match.group(2).lower())
    if unit is None:
        return None
    return Age(value.strip(), float(match.group(1)) * unit)


def _module(section: dict[str, Any], name: str) -> dict[str, Any]:
    module = section.get(name)
    return module if isinstance(module, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _texts(value: Any) -> list[str]:
    return [t for t in (_text(v) for v in value) if t] if isinstance(value, list) else []


def _date(value: Any) -> date | None:
    """A registry date: ``2024-05-10``, or ``2024-05`` read as the first of the month."""
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value if len(value) > 7 else f"{value}-01")
    except ValueError:
        return None


def _sites(locations: Any) -> list[Site]:
    out = []
    for item in locations if isinstance(locations, list) else []:
        if not isinstance(item, dict):
            continue
        geo = item.get("geoPoint")
        lat, lon = (
            (_degrees(geo.get("lat")), _degrees(geo.get("lon")))
            if isinstance(geo, dict)
            else (None, None)
        )
        located = lat is not None and lon is not None
        status = _text(item.get("status"))
        out.append(
            Site(
                facility=_text(item.get("facility")) or "(facility not named)",
                city=_text(item.get("city")) or "",
                country=_text(item.get("country")) or "",
                status=status.lower() if status else None,
                lat=lat if located else None,
                lon=lon if located else None,
            )
        )
    return out


def _degrees(value: Any) -> float | None:
    """A coordinate of ``geoPoint``, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
