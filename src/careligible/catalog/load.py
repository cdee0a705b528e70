"""Loading a rules directory: trial files, shared definitions and the drug vocabulary.

A rules directory holds::

    vocabulary/drugs.yaml   drug names and classes
    definitions.yaml        named conditions shared by trials ("refractory SLE", ...)
    considerations.yaml     the source article's advice, shown beside verdicts
    trials/NCT*.yaml        one file per trial: metadata, cohorts, criteria

Every file is read against one :class:`_Scope` and reports into its one list of problems, so
loading fails as a whole (see :mod:`careligible.catalog`).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conditions import Condition, FieldTest, ParseContext, parse_when
from ..errors import Problem, RulesError
from ..readers.text import read_rule_bytes, read_rule_text
from ..registry.folder import FOLDER, snapshot_files
from ..vocabulary import Vocabulary, load_vocabulary
from ..yamlsource import LineMap, YamlSyntaxError, load_with_lines
from .cache import cached_catalog, keep_catalog
from .check import check_unique_ids, refuse_special_files, validate
from .schema import (
    Catalog,
    Cohort,
    ConsiderationRule,
    Criterion,
    RawCohort,
    RawConsiderations,
    RawCriterion,
    RawDefinitions,
    RawTrial,
    Source,
    Trial,
)


def default_rules_dir() -> Path:
    """The catalog shipped with the package, or the checkout's ``rules/`` in development."""
    packaged = Path(str(importlib.resources.files("careligible"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "rules"


def ruleset_version(directory: Path) -> str:
    """A content hash over every rule file and registry snapshot, so a verdict can name the exact
    catalog behind it (and a re-screen with the same version gives the same result)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")) + snapshot_files(directory):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(read_rule_bytes(path))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def load_catalog(directory: Path | None = None, cached: bool = True) -> Catalog:
    """Load and check a rules directory; raise :class:`RulesError` listing every problem.

    A directory loaded before with the same content comes from the cache of loaded catalogs
    (:mod:`.cache`) unless ``cached`` is False (``rules check`` reads every file again).
    """
    directory = directory or default_rules_dir()
    if not directory.is_dir():
        raise RulesError([Problem("rules directory not found", file=str(directory))])
    refuse_special_files(directory)
    version = _version_if_readable(directory) if cached else None
    if version is not None and (found := cached_catalog(directory, version)) is not None:
        return found
    catalog = _load(directory)
    if cached:
        keep_catalog(directory, catalog)
    return catalog


def _version_if_readable(directory: Path) -> str | None:
    """The ruleset version, or None when a file cannot be read (loading then says which)."""
    try:
        return ruleset_version(directory)
    except OSError:
        return None


def _load(directory: Path) -> Catalog:
    """Parse and check every file of a rules directory."""
    problems: list[Problem] = []
    vocabulary, vocab_problems = load_vocabulary(directory / "vocabulary" / "drugs.yaml")
    problems += vocab_problems
    scope = _Scope(vocabulary, {}, problems)
    definitions = _load_definitions(directory / "definitions.yaml", scope)
    trials = []
    seen: dict[str, str] = {}
    for path in sorted((directory / "trials").glob("*.yaml")):
        trial = _load_trial(path, scope, seen)
        if trial is not None:
            trials.append(trial)
    if not trials and not problems:
        problems.append(Problem("no trial files found", file=str(directory / "trials")))
    from ..registry.overlay import apply_snapshots
    from ..registry.snapshot import load_snapshots

    trials = apply_snapshots(trials, load_snapshots(directory / FOLDER, problems))
    drafts = [t for t in trials if t.meta.draft]
    trials = [t for t in trials if not t.meta.draft]
    considerations = _load_considerations(directory / "considerations.yaml", scope)
    if problems:
        raise RulesError(problems)
    version = ruleset_version(directory)
    mapping = directory / "vocabulary" / "fhir.yaml"
    return Catalog(
        trials,
        definitions,
        vocabulary,
        version,
        directory,
        considerations,
        drafts,
        read_rule_text(mapping) if mapping.is_file() else None,
    )


@dataclass(frozen=True)
class _Scope:
    """What every rule file is read against: the vocabulary, the shared definitions (filled in
    as ``definitions.yaml`` is read) and the one list of problems loading reports."""

    vocabulary: Vocabulary
    definitions: dict[str, Condition]
    problems: list[Problem]

    def context(self, path: Path, lines: LineMap) -> ParseContext:
        """Where the conditions of the file at ``path`` parse, reporting into :attr:`problems`."""
        return ParseContext(
            self.vocabulary, self.definitions, str(path), lines.line_of, self.problems
        )


def _read(path: Path, problems: list[Problem]) -> tuple[Any, LineMap] | None:
    try:
        return load_with_lines(read_rule_text(path))
    except OSError as exc:
        problems.append(Problem(f"cannot read: {exc.strerror or exc}", file=str(path)))
    except YamlSyntaxError as exc:
        problems.append(Problem(str(exc), file=str(path), line=exc.line))
    return None


def _load_definitions(path: Path, scope: _Scope) -> dict[str, Condition]:
    """The shared definitions, into ``scope`` as they parse: a later one may use an earlier one."""
    definitions = scope.definitions
    if not path.exists():
        return definitions
    problems = scope.problems
    loaded = _read(path, problems)
    if loaded is None:
        return definitions
    data, lines = loaded
    raw = validate(RawDefinitions, data or {}, path, lines, problems)
    if raw is None:
        return definitions
    ctx = scope.context(path, lines)
    for name, definition in raw.definitions.items():
        if definition.source not in raw.sources:
            ctx.report(("definitions", name, "source"), f"unknown source '{definition.source}'")
        condition = parse_when(definition.when, ("definitions", name, "when"), ctx)
        if condition is not None:
            definitions[name] = condition
    return definitions


def _load_considerations(path: Path, scope: _Scope) -> list[ConsiderationRule]:
    """The source article's advice, each with the condition under which it applies."""
    if not path.exists():
        return []
    problems = scope.problems
    loaded = _read(path, problems)
    if loaded is None:
        return []
    data, lines = loaded
    raw: RawConsiderations | None = validate(RawConsiderations, data, path, lines, problems)
    if raw is None:
        return []
    ctx = scope.context(path, lines)
    out = []
    for index, item in enumerate(raw.considerations):
        where = ("considerations", index)
        source = raw.sources.get(item.source)
        if source is None:
            ctx.report((*where, "source"), f"unknown source '{item.source}'")
            continue
        condition = parse_when(item.when, (*where, "when"), ctx)
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
    return out


def _load_trial(path: Path, scope: _Scope, seen: dict[str, str]) -> Trial | None:
    """One trial file; ``seen`` maps the trial ids read so far to their files."""
    problems = scope.problems
    loaded = _read(path, problems)
    if loaded is None:
        return None
    data, lines = loaded
    if data is None:
        problems.append(
            Problem("the file is empty; a trial file describes one trial", "", str(path), 1)
        )
        return None
    raw: RawTrial | None = validate(RawTrial, data, path, lines, problems)
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
    before = len(problems)  # a wrong file name is said, but the trial is still read
    ctx = scope.context(path, lines)
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
        check_unique_ids(ids, ctx, report_from=0 if index == 0 else len(raw.criteria))
        cohorts.append(Cohort(cohort.id, cohort.name, tuple(cohort.diseases), criteria))
    check_unique_ids([(c.id, ("cohorts", i)) for i, c in enumerate(raw.cohorts)], ctx, "cohort")
    if len(problems) > before:
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
            condition = parse_when(raw.when, (*path, "when"), ctx)
            if condition is None:
                continue
        out.append(
            Criterion(
                raw.id,
                raw.kind,
                raw.text,
                condition,
                raw.rationale,
                sources[raw.source],
                raw.note,
                file=ctx.file,
                line=ctx.line_of(path),
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
