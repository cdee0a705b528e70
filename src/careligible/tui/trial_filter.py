"""Which trials the table shows: filters over the screened list, never over the screening.

A filter only narrows the view. Every trial is still screened, counted in the summary and
written to the report; the table says which filters hide how many trials, so nothing is hidden
without a word. Countries are the ISO 3166 codes the catalog lists per trial (from the rule
file, or from the registry snapshot's sites when one is laid over it); a trial that lists none
cannot be placed, and a country filter hides it like any trial not in that country.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pycountry

from ..catalog import Catalog
from ..results import CohortResult


@dataclass(frozen=True)
class TrialFacts:
    """What the filters read of one trial, from the catalog."""

    targets: str = ""
    """The targets as the table writes them: ``CD19``, ``CD19/BCMA``."""
    diseases: frozenset[str] = frozenset()
    """Every disease any of the trial's cohorts enrols."""
    countries: tuple[str, ...] = ()


def trial_facts(catalog: Catalog, nct_id: str) -> TrialFacts:
    """The catalog's facts for a trial; empty for a trial the catalog does not hold."""
    trial = catalog.trial(nct_id)
    if trial is None:
        return TrialFacts()
    diseases = frozenset(d for cohort in trial.cohorts for d in cohort.diseases)
    return TrialFacts("/".join(trial.meta.targets), diseases, tuple(trial.meta.countries))


def country_name(code: str) -> str:
    """A country's common name for an ISO code (the code itself when pycountry has none)."""
    found = pycountry.countries.get(alpha_2=code)
    if found is None:
        return code
    return str(getattr(found, "common_name", None) or found.name)


@dataclass(frozen=True)
class TrialFilter:
    """The view's filters; the default shows every trial."""

    recruiting_only: bool = False
    my_disease: bool = False
    target: str = ""
    """A target combination as the catalog writes it (``CD19/BCMA``); empty for any."""
    country: str = ""
    """An ISO 3166 alpha-2 code; empty for any."""

    @property
    def active(self) -> bool:
        return self != TrialFilter()

    def keeps(self, trial: CohortResult, facts: TrialFacts, disease: str) -> bool:
        """Whether the table shows ``trial`` for a case of ``disease`` ("" when not entered:
        then *my disease* cannot narrow anything and keeps every trial)."""
        if self.recruiting_only and trial.status != "recruiting":
            return False
        if self.my_disease and disease and disease not in facts.diseases:
            return False
        if self.target and facts.targets != self.target:
            return False
        return not self.country or self.country in facts.countries

    def words(self, disease: str) -> list[str]:
        """Each active filter in a few words, for the line above the table."""
        out = []
        if self.recruiting_only:
            out.append("recruiting")
        if self.my_disease:
            out.append(f"enrols {disease.upper()}" if disease else "my disease (none entered)")
        if self.target:
            out.append(self.target)
        if self.country:
            out.append(f"in {country_name(self.country)}")
        return out


def describe(trial_filter: TrialFilter, disease: str, shown: int, total: int) -> str:
    """The line above the table while a filter is on: what it keeps and how many it hides."""
    hidden = total - shown
    kept = ", ".join(trial_filter.words(disease))
    return f"Filter (F4): {kept} · {hidden} of {total} trials hidden"


def target_choices(catalog: Catalog) -> list[str]:
    """Every target combination of the catalog's trials, sorted."""
    return sorted({"/".join(t.meta.targets) for t in catalog.trials})


def country_choices(catalog: Catalog) -> list[tuple[str, str]]:
    """(name, code) of every country any trial lists, by name."""
    codes = {code for t in catalog.trials for code in t.meta.countries}
    return sorted((country_name(code), code) for code in codes)


def without_country(catalog: Catalog) -> list[str]:
    """The trials that list no country, which a country filter always hides."""
    return [t.nct_id for t in catalog.trials if not t.meta.countries]


def shown_trials(
    trials: Iterable[CohortResult],
    trial_filter: TrialFilter,
    facts_of: dict[str, TrialFacts],
    disease: str,
) -> list[CohortResult]:
    """The trials the filter keeps, in their ranked order."""
    return [
        t for t in trials if trial_filter.keeps(t, facts_of.get(t.nct_id, TrialFacts()), disease)
    ]
