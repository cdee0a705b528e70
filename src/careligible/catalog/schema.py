"""The rule catalog's shapes: the YAML schema of each rule file and the checked objects built from it.

The ``Raw*`` models are the files as written (pydantic refuses unknown or missing fields, naming
each); :class:`Criterion`, :class:`Cohort`, :class:`Trial` and :class:`Catalog` are what screening
reads once the conditions are parsed. See ``docs/rule-format.md`` for the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..case import Disease
from ..conditions import Condition
from ..results import CriterionKind
from ..vocabulary import Vocabulary

if TYPE_CHECKING:  # a trial holds them only when the rules directory has snapshots
    from ..registry.record import Site
    from ..registry.snapshot import Snapshot

RecruitmentStatus = Literal[
    "recruiting",
    "not_yet_recruiting",
    "active_not_recruiting",
    "enrolling_by_invitation",
    "completed",
    "terminated",
    "withdrawn",
    "suspended",
    "unknown",
]


Completeness = Literal["full", "partial", "none"]
"""``full``: the registry's (or protocol's) eligibility text was read whole; ``partial``: only key
criteria or a truncated copy; ``none``: nothing beyond the title, conditions, age or sex."""


class _Strict(BaseModel):
    """Base of the rule-file models. Their validators are built on first use: a start whose
    catalog comes from the cache (:mod:`.cache`) reads no rule file and never needs them."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Source(_Strict):
    """Where a rule comes from: a registry record, a publication, or a section of the article."""

    url: str | None = None
    section: str | None = None
    what: str = Field(min_length=1)
    checked: date
    cite_as: str | None = None

    def cite(self) -> str:
        return self.url or self.section or self.what


class RawCriterion(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    kind: CriterionKind
    text: str = Field(min_length=1)
    when: dict[str, Any] | None = None
    rationale: str = Field(min_length=1)
    source: str
    note: str | None = None
    defines_population: bool = False
    """Set on a criterion that defines who the trial is for (subtype, refractoriness, activity,
    organ involvement): while it is only to confirm, the verdict is at best possibly_eligible."""


class RawCohort(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    name: str
    diseases: list[Disease]  # at least one, except in a draft (checked in _load_trial)
    source: str
    criteria: list[RawCriterion] = Field(default_factory=list)


class Table1Row(_Strict):
    """The trial's row in the source article's Table 1, as printed."""

    row: int | None = None
    target: str
    condition: str
    phase: str
    sponsor: str


class RawTrial(_Strict):
    nct_id: str = Field(pattern=r"^NCT\d{8}$")
    title: str
    acronym: str | None = None
    product: str
    targets: list[str] = Field(min_length=1)
    cell_source: Literal["autologous", "allogeneic", "unknown"]
    modality: str
    lymphodepletion: str
    phase: str
    sponsor: str
    status: RecruitmentStatus
    status_as_of: date | None = None
    """The date the source gives for the status; None when no dated source shows it."""
    criteria_complete: Completeness
    """How much of the trial's eligibility text the catalog holds (see :data:`Completeness`)."""
    countries: list[str] = Field(default_factory=list)
    table1: Table1Row | None = None
    differences: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)
    sources: dict[str, Source] = Field(min_length=1)
    criteria: list[RawCriterion] = Field(default_factory=list)
    cohorts: list[RawCohort] = Field(min_length=1)
    draft: bool = False
    """A file drafted from a registry record: checked, but left out of screening."""


class RawDefinition(_Strict):
    text: str
    when: dict[str, Any]
    source: str


class RawDefinitions(_Strict):
    sources: dict[str, Source] = Field(default_factory=dict)
    definitions: dict[str, RawDefinition] = Field(default_factory=dict)


Axis = Literal["disease", "refractoriness", "organ_damage", "safety", "construct"]


class Preference(_Strict):
    """Which trials a consideration favours when verdicts tie."""

    targets: list[str] = Field(default_factory=list)
    no_lymphodepletion: bool = False
    cell_source: Literal["autologous", "allogeneic"] | None = None


class RawConsideration(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$")
    axis: Axis
    title: str
    when: dict[str, Any]
    advice: str
    rationale: str
    source: str
    section: str
    prefer: Preference | None = None


class RawConsiderations(_Strict):
    sources: dict[str, Source]
    considerations: list[RawConsideration]


@dataclass(frozen=True)
class ConsiderationRule:
    """Advice from the source article, shown when its condition is met."""

    id: str
    axis: str
    title: str
    advice: str
    rationale: str
    condition: Condition
    citation: str
    prefer: Preference | None = None


@dataclass(frozen=True)
class Criterion:
    """One eligibility criterion. Without a condition it is an item to confirm at screening."""

    id: str
    kind: CriterionKind
    text: str
    condition: Condition | None
    rationale: str
    source: Source
    note: str | None = None
    file: str = ""
    """The rule file that defines the criterion; empty for the disease criterion every cohort
    gets from its ``diseases``."""
    line: int | None = None
    """The line of ``file`` where the criterion's item starts."""
    defines_population: bool = False

    @property
    def place(self) -> str:
        """``file:line`` for messages, or the file alone when the line is not known."""
        return f"{self.file}:{self.line}" if self.line else self.file

    @property
    def to_confirm(self) -> bool:
        return self.condition is None

    def fields(self) -> list[str]:
        """The case facts this criterion reads, in order, without repeats."""
        return list(dict.fromkeys(self.condition.fields())) if self.condition else []


@dataclass(frozen=True)
class Cohort:
    id: str
    name: str
    diseases: tuple[str, ...]
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Trial:
    """A trial's metadata and its cohorts; the general criteria are copied into every cohort."""

    meta: RawTrial
    cohorts: tuple[Cohort, ...]
    file: str
    sites: tuple[Site, ...] = ()
    """Where the trial runs, from its registry snapshot (none without one)."""
    snapshot: Snapshot | None = field(default=None, compare=False)
    """The registry snapshot laid over the rule file, which a listing cites."""
    written: RawTrial | None = field(default=None, compare=False)
    """The metadata as the rule file writes it, when a snapshot replaced some of it."""

    @property
    def as_written(self) -> RawTrial:
        return self.written or self.meta

    @property
    def record_citation(self) -> str:
        """What the trial's status and sites rest on: its snapshot, else the file's first source."""
        if self.snapshot is not None:
            return self.snapshot.cite()
        return next(iter(self.meta.sources.values())).cite()

    @property
    def nct_id(self) -> str:
        return self.meta.nct_id

    @property
    def without_lymphodepletion(self) -> bool:
        """True when the sources say the product is given with no lymphodepleting chemotherapy."""
        return self.meta.lymphodepletion.strip().lower().startswith("none")

    def criterion(self, cohort_id: str, criterion_id: str) -> Criterion | None:
        """The criterion ``criterion_id`` of cohort ``cohort_id``: an id names a criterion only
        within its cohort, since two cohorts may each define their own under one id."""
        cohort = next((c for c in self.cohorts if c.id == cohort_id), None)
        if cohort is None:
            return None
        return next((c for c in cohort.criteria if c.id == criterion_id), None)

    def criteria_named(self, criterion_id: str) -> list[tuple[tuple[str, ...], Criterion]]:
        """Every distinct criterion with this id, each with the cohorts that hold it (a general
        criterion is one criterion held by every cohort), in the order of the file."""
        found: dict[int, tuple[list[str], Criterion]] = {}
        for cohort in self.cohorts:
            for criterion in cohort.criteria:
                if criterion.id == criterion_id:
                    found.setdefault(id(criterion), ([], criterion))[0].append(cohort.id)
        return [(tuple(cohorts), criterion) for cohorts, criterion in found.values()]


@dataclass
class Catalog:
    trials: list[Trial]
    definitions: dict[str, Condition]
    vocabulary: Vocabulary
    version: str
    directory: Path
    considerations: list[ConsiderationRule] = field(default_factory=list)
    drafts: list[Trial] = field(default_factory=list)
    """Draft trial files: loaded and checked, never screened."""
    fhir_mapping: str | None = None
    """The text of ``vocabulary/fhir.yaml``, how FHIR codes become case fields, kept with the
    rules it belongs to so that every command and every worker imports FHIR with the mapping of
    the catalog it screens with (``careligible.fhir.mapping_of`` reads it)."""

    def trial(self, nct_id: str) -> Trial | None:
        return next((t for t in self.trials if t.nct_id == nct_id.upper()), None)
