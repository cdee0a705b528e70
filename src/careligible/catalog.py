"""The rule catalog: trial files, shared definitions and the drug vocabulary, loaded and checked.

A rules directory holds::

    vocabulary/drugs.yaml   drug names and classes
    definitions.yaml        named conditions shared by trials ("refractory SLE", ...)
    considerations.yaml     the source article's advice, shown beside verdicts
    trials/NCT*.yaml        one file per trial: metadata, cohorts, criteria

Loading fails as a whole, listing every problem as ``file:line: field: problem``: a catalog with
one broken rule must never produce verdicts. See ``docs/rule-format.md`` for the format.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .case import Disease
from .conditions import Condition, FieldTest, ParseContext, parse_condition
from .errors import Problem, RulesError, describe_validation_error
from .registry.record import Site
from .registry.snapshot import FOLDER, Snapshot, load_snapshots, snapshot_files
from .vocabulary import Vocabulary, load_vocabulary
from .yamlsource import LineMap, YamlSyntaxError, decode_utf8, load_with_lines

Kind = Literal["inclusion", "exclusion"]
Status = Literal[
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
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    kind: Kind
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
    status: Status
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
    kind: Kind
    text: str
    condition: Condition | None
    rationale: str
    source: Source
    note: str | None = None
    where: str = ""  # file:line of the rule, for messages
    defines_population: bool = False

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

    def criterion(self, criterion_id: str) -> Criterion | None:
        for cohort in self.cohorts:
            for criterion in cohort.criteria:
                if criterion.id == criterion_id:
                    return criterion
        return None


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

    def trial(self, nct_id: str) -> Trial | None:
        return next((t for t in self.trials if t.nct_id == nct_id.upper()), None)


def default_rules_dir() -> Path:
    """The catalog shipped with the package, or the checkout's ``rules/`` in development."""
    packaged = Path(str(importlib.resources.files("careligible"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


def ruleset_version(directory: Path) -> str:
    """A content hash over every rule file and registry snapshot, so a verdict can name the exact
    catalog behind it (and a re-screen with the same version gives the same result)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")) + snapshot_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and check a rules directory; raise :class:`RulesError` listing every problem."""
    directory = directory or default_rules_dir()
    problems: list[Problem] = []
    if not directory.is_dir():
        raise RulesError([Problem("rules directory not found", file=str(directory))])
    vocabulary, vocab_problems = load_vocabulary(directory / "vocabulary" / "drugs.yaml")
    problems += vocab_problems
    definitions = _load_definitions(directory / "definitions.yaml", vocabulary, problems)
    trials = []
    seen: dict[str, str] = {}
    for path in sorted((directory / "trials").glob("*.yaml")):
        trial = _load_trial(path, vocabulary, definitions, problems, seen)
        if trial is not None:
            trials.append(trial)
    if not trials and not problems:
        problems.append(Problem("no trial files found", file=str(directory / "trials")))
    from .registry.overlay import apply_snapshots

    trials = apply_snapshots(trials, load_snapshots(directory / FOLDER, problems))
    drafts = [t for t in trials if t.meta.draft]
    trials = [t for t in trials if not t.meta.draft]
    considerations = _load_considerations(
        directory / "considerations.yaml", vocabulary, definitions, problems
    )
    if problems:
        raise RulesError(problems)
    version = ruleset_version(directory)
    return Catalog(trials, definitions, vocabulary, version, directory, considerations, drafts)


def _read(path: Path, problems: list[Problem]) -> tuple[Any, LineMap] | None:
    try:
        return load_with_lines(decode_utf8(path.read_bytes()))
    except OSError as exc:
        problems.append(Problem(f"cannot read: {exc.strerror or exc}", file=str(path)))
    except YamlSyntaxError as exc:
        problems.append(Problem(str(exc), file=str(path), line=exc.line))
    return None


def _validate(
    model: type[BaseModel], data: Any, path: Path, lines: LineMap, problems: list[Problem]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for problem in describe_validation_error(exc, model):
            line = lines.line_of(problem.loc) or 1  # an empty document has no lines
            problems.append(Problem(problem.message, problem.field, str(path), line))
        return None


def _load_definitions(
    path: Path, vocabulary: Vocabulary, problems: list[Problem]
) -> dict[str, Condition]:
    if not path.exists():
        return {}
    loaded = _read(path, problems)
    if loaded is None:
        return {}
    data, lines = loaded
    raw = _validate(RawDefinitions, data or {}, path, lines, problems)
    if raw is None:
        return {}
    definitions: dict[str, Condition] = {}
    ctx = ParseContext(vocabulary, definitions, str(path), lines.line_of)
    for name, definition in raw.definitions.items():
        if definition.source not in raw.sources:
            ctx.report(("definitions", name, "source"), f"unknown source '{definition.source}'")
        condition = parse_condition(definition.when, ("definitions", name, "when"), ctx)
        if condition is not None:
            definitions[name] = condition
    problems += ctx.problems
    return definitions


def _load_considerations(
    path: Path,
    vocabulary: Vocabulary,
    definitions: dict[str, Condition],
    problems: list[Problem],
) -> list[ConsiderationRule]:
    if not path.exists():
        return []
    loaded = _read(path, problems)
    if loaded is None:
        return []
    data, lines = loaded
    raw: RawConsiderations | None = _validate(RawConsiderations, data, path, lines, problems)
    if raw is None:
        return []
    ctx = ParseContext(vocabulary, definitions, str(path), lines.line_of)
    out = []
    for index, item in enumerate(raw.considerations):
        where = ("considerations", index)
        source = raw.sources.get(item.source)
        if source is None:
            ctx.report((*where, "source"), f"unknown source '{item.source}'")
            continue
        condition = parse_condition(item.when, (*where, "when"), ctx)
        if condition is None:
            continue
        citation = f"{source.cite_as or source.what}, {item.section}"
        out.append(
            ConsiderationRule(
                item.id,
                item.axis,
                item.title,
                item.advice,
                item.rationale,
                condition,
                citation,
                item.prefer,
            )
        )
    problems += ctx.problems
    return out


def _load_trial(
    path: Path,
    vocabulary: Vocabulary,
    definitions: dict[str, Condition],
    problems: list[Problem],
    seen: dict[str, str],
) -> Trial | None:
    """One trial file; ``seen`` maps the trial ids read so far to their files."""
    loaded = _read(path, problems)
    if loaded is None:
        return None
    data, lines = loaded
    if data is None:
        problems.append(
            Problem("the file is empty; a trial file describes one trial", "", str(path), 1)
        )
        return None
    raw: RawTrial | None = _validate(RawTrial, data, path, lines, problems)
    if raw is None:
        return None
    if raw.nct_id in seen:
        problems.append(
            Problem(
                f"{raw.nct_id} is also defined in {seen[raw.nct_id]}",
                "nct_id",
                str(path),
                lines.line_of(("nct_id",)),
            )
        )
        return None
    seen[raw.nct_id] = str(path)
    if path.stem != raw.nct_id:
        problems.append(
            Problem(
                f"file name should be {raw.nct_id}.yaml",
                "nct_id",
                str(path),
                lines.line_of(("nct_id",)),
            )
        )
    ctx = ParseContext(vocabulary, definitions, str(path), lines.line_of)
    general = _criteria(raw.criteria, ("criteria",), raw.sources, ctx)
    cohorts = []
    for index, cohort in enumerate(raw.cohorts):
        where = ("cohorts", index)
        if not cohort.diseases and not raw.draft:
            ctx.report((*where, "diseases"), "must name at least one disease")
        if cohort.source not in raw.sources:
            ctx.report((*where, "source"), f"unknown source '{cohort.source}'")
            continue
        own = _criteria(cohort.criteria, (*where, "criteria"), raw.sources, ctx)
        gate = _disease_criterion(cohort, raw.sources[cohort.source])
        criteria = (gate, *general, *own)
        ids: list[tuple[str, tuple[int | str, ...]]]
        ids = [(c.id, ("criteria", i)) for i, c in enumerate(raw.criteria)]
        ids += [(c.id, (*where, "criteria", i)) for i, c in enumerate(cohort.criteria)]
        # The general criteria are checked once, with the first cohort.
        _check_unique_ids(ids, ctx, report_from=0 if index == 0 else len(raw.criteria))
        cohorts.append(Cohort(cohort.id, cohort.name, tuple(cohort.diseases), criteria))
    _check_unique_ids([(c.id, ("cohorts", i)) for i, c in enumerate(raw.cohorts)], ctx, "cohort")
    problems += ctx.problems
    if ctx.problems:
        return None
    return Trial(raw, tuple(cohorts), str(path))


def _criteria(
    raws: list[RawCriterion],
    where: tuple[int | str, ...],
    sources: dict[str, Source],
    ctx: ParseContext,
) -> list[Criterion]:
    out = []
    for index, raw in enumerate(raws):
        path = (*where, index)
        if raw.source not in sources:
            ctx.report(
                (*path, "source"),
                f"unknown source '{raw.source}'; this file's sources are {', '.join(sources)}",
            )
            continue
        condition = None
        if raw.when is not None:
            condition = parse_condition(raw.when, (*path, "when"), ctx)
            if condition is None:
                continue
        line = ctx.line_of(path)
        out.append(
            Criterion(
                raw.id,
                raw.kind,
                raw.text,
                condition,
                raw.rationale,
                sources[raw.source],
                raw.note,
                where=f"{ctx.file}:{line}" if line else ctx.file,
                defines_population=raw.defines_population,
            )
        )
    return out


#: The id of the criterion every cohort starts with: does the case have a disease it enrols?
DISEASE = "disease"


def _disease_criterion(cohort: RawCohort, source: Source) -> Criterion:
    """Every cohort first asks whether the case has one of the cohort's diseases."""
    names = ", ".join(d.upper() if len(d) <= 4 else d for d in cohort.diseases)
    return Criterion(
        id=DISEASE,
        kind="inclusion",
        text=f"Primary disease is one this cohort enrols ({names}).",
        condition=FieldTest("disease", "in", tuple(cohort.diseases)),
        rationale="A cohort enrols only the diseases its protocol names.",
        source=source,
    )


def _check_unique_ids(
    items: list[tuple[str, tuple[int | str, ...]]],
    ctx: ParseContext,
    what: str = "criterion",
    report_from: int = 0,
) -> None:
    """Report each id used again (from item ``report_from`` on) at its second use.

    ``disease`` is taken by the criterion every cohort starts with.
    """
    first: dict[str, tuple[int | str, ...]] = {}
    for index, (item_id, path) in enumerate(items):
        if index >= report_from:
            if what == "criterion" and item_id == "disease":
                ctx.report(
                    (*path, "id"),
                    "criterion id 'disease' is reserved for the cohort's disease gate",
                )
            elif item_id in first:
                line = ctx.line_of((*first[item_id], "id"))
                ctx.report(
                    (*path, "id"), f"{what} id '{item_id}' is used twice (first on line {line})"
                )
        first.setdefault(item_id, path)
