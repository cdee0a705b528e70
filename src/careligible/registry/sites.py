"""Where a trial recruits: its sites from the registry snapshot, near a place or in a country.

A site *recruits* when the registry gives it the status ``RECRUITING``, or gives it no status of
its own while the study as a whole is recruiting. Distances are geodesic on the WGS84 ellipsoid
(geographiclib), in kilometres. Country names are the registry's ("Germany", "Korea, Republic
of"); ISO 3166 codes and names are matched through pycountry.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pycountry
from geographiclib.geodesic import Geodesic

from ..results import CaseResult, NearestSite
from .record import Site

if TYPE_CHECKING:
    from ..batch.stream import Encoder, Screened
    from ..catalog import Catalog, Trial


def country_code(name: str) -> str | None:
    """The ISO 3166 alpha-2 code of a country name or code; None when pycountry has none."""
    return _country_code(name.strip().lower())


@functools.cache
def _country_code(key: str) -> str | None:
    try:
        found = pycountry.countries.lookup(key)
    except LookupError:
        try:
            found = pycountry.countries.search_fuzzy(key)[0]
        except LookupError:
            return None
    return str(found.alpha_2)


def recruiting(site: Site, study_status: str) -> bool:
    """Whether a site takes patients now (see the module's note on sites without a status)."""
    if site.status is not None:
        return site.status == "recruiting"
    return study_status == "recruiting"


def distance_km(lat: float, lon: float, site: Site) -> float | None:
    """Geodesic distance from a point to a site, or None when the site has no coordinates."""
    if site.lat is None or site.lon is None:
        return None
    return float(Geodesic.WGS84.Inverse(lat, lon, site.lat, site.lon)["s12"]) / 1000.0


@dataclass(frozen=True)
class Area:
    """Where the patient can go: a country, a circle around a point, or both."""

    country: str | None = None
    """ISO 3166 alpha-2 code."""
    near: tuple[float, float] | None = None
    within_km: float | None = None

    def describe(self) -> str:
        parts = []
        if self.country:
            parts.append(f"in {self.country}")
        if self.near is not None:
            parts.append(f"within {self.within_km:g} km of {self.near[0]:g},{self.near[1]:g}")
        return " and ".join(parts)

    def nearest(self, trial: Trial) -> NearestSite | None:
        """The trial's nearest recruiting site in this area, or None when it has none there."""
        best: tuple[float, Site] | None = None
        for site in trial.sites:
            if not recruiting(site, trial.meta.status):
                continue
            if self.country and country_code(site.country) != self.country:
                continue
            km = 0.0
            if self.near is not None:
                measured = distance_km(*self.near, site)
                if measured is None or measured > (self.within_km or 0.0):
                    continue
                km = measured
            if best is None or km < best[0]:
                best = (km, site)
        if best is None:
            return None
        km, site = best
        return NearestSite(
            facility=site.facility,
            city=site.city,
            country=site.country,
            distance_km=round(km, 1) if self.near is not None else None,
        )

    def narrow(self, result: CaseResult, catalog: Catalog) -> CaseResult:
        """Keep the trials with a recruiting site in the area, each naming its nearest site."""
        if result.error is not None:
            return result
        by_id = {t.nct_id: t for t in catalog.trials}
        kept = []
        for trial_result in result.trials:
            trial = by_id.get(trial_result.nct_id)
            site = self.nearest(trial) if trial is not None else None
            if site is not None:
                kept.append(trial_result.model_copy(update={"nearest_site": site}))
        names = {t.nct_id for t in kept}
        asks = [
            ask.model_copy(update={"trials": [t for t in ask.trials if t in names]})
            for ask in result.ask_next
        ]
        return result.model_copy(update={"trials": kept, "ask_next": [a for a in asks if a.trials]})


def parse_area(country: str | None, near: str | None, within: float | None) -> Area | None:
    """The ``--country``, ``--near LAT,LON`` and ``--within KM`` options as an area.

    Raises ValueError with a message for the user when they do not fit together.
    """
    if country is None and near is None:
        if within is not None:
            raise ValueError("--within needs --near LAT,LON")
        return None
    code = None
    if country is not None:
        code = country_code(country)
        if code is None:
            raise ValueError(f"--country: no country '{country}' (use an ISO code such as DE)")
    point = None
    if near is not None:
        if within is None:
            raise ValueError("--near needs --within KM")
        point = _point(near)
    return Area(code, point, within)


def _point(text: str) -> tuple[float, float]:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise ValueError(f"--near: expected LAT,LON in degrees (got '{text}')") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"--near: {text} is not a place (latitude -90..90, longitude -180..180)")
    return lat, lon


def narrowed(
    outcomes: Iterable[Screened], area: Area, catalog: Catalog, encode: Encoder | None
) -> Iterator[Screened]:
    """Screening outcomes narrowed to ``area``, re-encoded in the output format."""
    for item in outcomes:
        if item.result is None:
            yield item
            continue
        result = area.narrow(item.result, catalog)
        text = encode(result) if encode is not None else None
        yield replace(item, text=text, result=result)


def countries_of(sites: Sequence[Site]) -> list[str]:
    """The ISO codes of the countries the sites are in, in first-seen order."""
    codes = (country_code(s.country) for s in sites if s.country)
    return list(dict.fromkeys(c for c in codes if c))
