"""From a CDS Hooks request to one FHIR Bundle: the prefetch, and what the EHR left out.

The service asks the EHR (in discovery) for the patient and their conditions, observations and
medications. The EHR sends what it can as ``prefetch``; a key it omits (or sends as null) is read
from its ``fhirServer`` with the ``fhirAuthorization`` token it gave, through httpx. The pieces
become one ``collection`` Bundle, which :func:`careligible.fhir.import_bundle` reads exactly as it
reads a Bundle file, so a hook call and ``careligible screen`` on the same data agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from ..errors import Problem
from ..httpjson import json_answer

#: What discovery asks the EHR to prefetch (CDS Hooks prefetch templates).
PREFETCH: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationRequests": (
        "MedicationRequest?patient={{context.patientId}}&_include=MedicationRequest:medication"
    ),
    "medicationStatements": (
        "MedicationStatement?patient={{context.patientId}}&_include=MedicationStatement:medication"
    ),
}

#: Pages of one search read from the FHIR server at most; a longer history is cut, and said so.
MAX_PAGES = 10

_TEMPLATE = re.compile(r"\{\{\s*context\.patientId\s*\}\}")
_ENTRY = re.compile(r"^entry\[(\d+)\]")


class PrefetchError(Exception):
    """The prefetch is malformed: ``problems`` name the prefetch key and field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class PrefetchUnavailable(Exception):
    """Data the service needs is neither prefetched nor obtainable from the FHIR server."""


@dataclass(frozen=True)
class Assembled:
    """The Bundle to import, where each of its entries came from, and what was cut."""

    bundle: dict[str, Any]
    origins: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def locate(self, problem: Problem) -> Problem:
        """A problem of the assembled Bundle, named by the prefetch key and entry it came from."""
        match = _ENTRY.match(problem.field)
        if match is None or int(match.group(1)) >= len(self.origins):
            return Problem(problem.message, f"prefetch.{problem.field}".rstrip("."))
        field = self.origins[int(match.group(1))] + problem.field[match.end() :]
        return Problem(problem.message, field)


def missing_keys(prefetch: Mapping[str, Any] | None) -> list[str]:
    """The prefetch keys the EHR did not fill in."""
    given = prefetch or {}
    return [key for key in PREFETCH if given.get(key) is None]


def assemble(parts: Mapping[str, Any], notes: tuple[str, ...] = ()) -> Assembled:
    """One collection Bundle from the patient resource and the search Bundles."""
    problems: list[Problem] = []
    patient = parts.get("patient")
    if not isinstance(patient, dict) or patient.get("resourceType") != "Patient":
        problems.append(Problem("must be a FHIR Patient resource", "prefetch.patient"))
    entries: list[dict[str, Any]] = [{"resource": patient}]
    origins = ["prefetch.patient"]
    for key in PREFETCH:
        if key == "patient" or parts.get(key) is None:
            continue
        for index, entry in _search_entries(key, parts[key], problems):
            entries.append(entry)
            origins.append(f"prefetch.{key}.entry[{index}]")
    if problems:
        raise PrefetchError(problems)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Assembled(bundle, tuple(origins), notes)


def _search_entries(
    key: str, value: Any, problems: list[Problem]
) -> list[tuple[int, dict[str, Any]]]:
    """The matches of one search Bundle; search outcomes (OperationOutcome) are not data."""
    where = f"prefetch.{key}"
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        problems.append(Problem("must be a FHIR Bundle (a search result)", where))
        return []
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        problems.append(Problem("must be a list of entries", f"{where}.entry"))
        return []
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            problems.append(Problem("must be an object", f"{where}.entry[{index}]"))
            continue
        resource = entry.get("resource")
        mode = (
            (entry.get("search") or {}).get("mode")
            if isinstance(entry.get("search"), dict)
            else None
        )
        if mode == "outcome" or (
            isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome"
        ):
            continue
        out.append((index, {k: v for k, v in entry.items() if k in ("fullUrl", "resource")}))
    return out


async def fetch_missing(
    client: httpx.AsyncClient,
    keys: list[str],
    fhir_server: str,
    patient_id: str,
    access_token: str | None,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Read the missing prefetch keys from the EHR's FHIR server; notes say what was cut short."""
    headers = {"Accept": "application/fhir+json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    base = fhir_server.rstrip("/") + "/"
    fetched: dict[str, Any] = {}
    notes: list[str] = []
    for key in keys:
        url = urljoin(base, _TEMPLATE.sub(quote(patient_id, safe=""), PREFETCH[key]))
        fetched[key], cut = await _read_all(client, url, base, headers, key)
        if cut:
            notes.append(f"{key}: only the first {MAX_PAGES} pages were read from the FHIR server")
    return fetched, tuple(notes)


async def _read_all(
    client: httpx.AsyncClient, url: str, base: str, headers: dict[str, str], key: str
) -> tuple[Any, bool]:
    """A resource, or a search with its next pages (only on the same server) joined into one."""
    first = await _get(client, url, headers, key)
    if first.get("resourceType") != "Bundle":
        return first, False
    entries = list(first.get("entry") or [])
    page = first
    for _ in range(MAX_PAGES - 1):
        following = _next_link(page)
        if following is None:
            return {**first, "entry": entries}, False
        if not _same_server(following, base):
            raise PrefetchUnavailable(f"{key}: the next page is on another server; not followed")
        page = await _get(client, following, headers, key)
        entries.extend(page.get("entry") or [])
    return {**first, "entry": entries}, _next_link(page) is not None


async def _get(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], key: str
) -> dict[str, Any]:
    try:
        response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise PrefetchUnavailable(
            f"{key}: the FHIR server could not be read ({type(exc).__name__})"
        ) from None
    return json_answer(
        response,
        "a FHIR resource",
        lambda why: PrefetchUnavailable(f"{key}: the FHIR server {why}"),
    )


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def allowed_server(url: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``url`` lies under one of the FHIR bases the site configured.

    The hook request names its own ``fhirServer``; without this check any caller holding a valid
    token could make the service send requests, and the EHR's access token, to any address."""
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    return any(_same_server(url.rstrip("/") + "/", base.rstrip("/") + "/") for base in allowed)


def _same_server(url: str, base: str) -> bool:
    """The access token goes only where the EHR sent the service, never to another host."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) and a.path.startswith(b.path)
