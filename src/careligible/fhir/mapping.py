"""The FHIR mapping as data: ``rules/vocabulary/fhir.yaml``, loaded and checked.

Which LOINC, SNOMED CT, ICD-10-CM and RxNorm codes fill which case field is clinical content that a
reviewer must be able to read and correct without reading code, so it lives in YAML next to the
drug vocabulary. Loading checks every target field against the case model and every fixed value
against the field's type, so a typo in the mapping fails loudly instead of mis-filling cases.
The format is described in ``docs/fhir.md``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..case import Case
from ..errors import Problem, RulesError, describe_validation_error, dotted
from ..fields import put_path
from ..readers.text import read_rule_text
from ..vocabulary import Vocabulary
from ..yamlsource import LineMap, YamlSyntaxError, load_with_lines
from . import elements

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    from ..catalog import Catalog

#: The computed Condition value: within_5y or remote, from the abatement date.
SINCE_ABATEMENT = "@since_abatement"

ReadingKind = Literal["quantity", "ratio_to_uln", "coded", "below_range"]


def normalise_text(text: str) -> str:
    """Lower-case with every run of punctuation and spaces made one space: how text is compared."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def normalise_unit(unit: str) -> str:
    """Units compare without case or spaces, with the micro sign spelt 'u' ('µmol/L' = 'umol/l')."""
    return re.sub(r"\s+", "", unit).replace("µ", "u").replace("μ", "u").lower()


#: ICD editions whose codes compare without dots, case or ICD-10-GM's marks (+ * ! for
#: etiology, manifestation and secondary codes): M32.14 = m3214 = M32.14+.
ICD_SYSTEMS = frozenset({"icd10cm", "icd10", "icd10gm", "icd10gm_dimdi", "icd9cm"})


def normalise_code(system: str, code: str) -> str:
    """ICD codes compare without their dot, case or marks; other systems as written."""
    code = code.strip()
    return re.sub(r"[^0-9A-Z]", "", code.upper()) if system in ICD_SYSTEMS else code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Divide(_Strict):
    divide_by: float = Field(gt=0)


class Answer(_Strict):
    value: Any
    codes: dict[str, list[str]] = Field(default_factory=dict)
    interpretation: list[str] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)


class PatientRules(_Strict):
    gender: dict[str, str] = Field(default_factory=dict)


class ConditionRule(_Strict):
    name: str = Field(min_length=1)
    codes: dict[str, list[str]] = Field(default_factory=dict)
    text: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    if_active: dict[str, Any] = Field(default_factory=dict)
    if_inactive: dict[str, Any] = Field(default_factory=dict)
    review: str | None = None
    note: str | None = None
    #: The concepts whose descendants ``codes`` lists by hand (by system), so that the list can
    #: be refreshed from a terminology server (:mod:`.terminology`); matching ignores it.
    descendants_of: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _maps_something(self) -> ConditionRule:
        if not (self.codes or self.text):
            raise ValueError("an entry needs codes or text to match")
        if not (self.fields or self.if_active or self.if_inactive or self.review):
            raise ValueError("an entry needs fields, if_active, if_inactive or review")
        return self


class DefaultLimit(_Strict):
    """An upper limit of normal for results that come without their laboratory's range.

    A published adult reference value, never a number of ours: ``source`` names where it comes
    from. ``units`` are the spellings of the one unit it is in; a result in another unit is
    refused rather than converted.
    """

    value: float = Field(gt=0)
    units: list[str] = Field(min_length=1)
    source: str = Field(min_length=1)

    def applies_to(self, unit: str) -> bool:
        return normalise_unit(unit) in {normalise_unit(u) for u in self.units}


class ObservationRule(_Strict):
    name: str = Field(min_length=1)
    codes: dict[str, list[str]] = Field(default_factory=dict)
    text: list[str] = Field(default_factory=list)
    field: str
    kind: ReadingKind = "quantity"
    units: dict[str, float | Divide] = Field(default_factory=dict)
    answers: str | None = None
    note: str | None = None
    #: ``ratio_to_uln`` only: the limit used when a result has no upper reference limit.
    default_upper_limit: DefaultLimit | None = None

    @model_validator(mode="after")
    def _complete(self) -> ObservationRule:
        if not (self.codes or self.text):
            raise ValueError("an entry needs codes or text to match")
        if self.kind == "quantity" and not self.units:
            raise ValueError("a quantity entry needs units")
        if self.kind in ("coded", "below_range") and not self.answers:
            raise ValueError(f"a {self.kind} entry needs answers")
        if self.default_upper_limit is not None and self.kind != "ratio_to_uln":
            raise ValueError("default_upper_limit is for ratio_to_uln entries only")
        return self

    def factor(self, unit: str) -> float | None:
        """The factor taking a value in ``unit`` to the case field's unit, or None if not listed."""
        wanted = normalise_unit(unit)
        for key, factor in self.units.items():
            if normalise_unit(key) == wanted:
                return 1 / factor.divide_by if isinstance(factor, Divide) else float(factor)
        return None


class RawMapping(_Strict):
    systems: dict[str, str]
    patient: PatientRules = Field(default_factory=PatientRules)
    answer_sets: dict[str, list[Answer]] = Field(default_factory=dict)
    conditions: list[ConditionRule] = Field(default_factory=list)
    observations: list[ObservationRule] = Field(default_factory=list)
    medications: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Dose-form words of products that act where applied (eye drops, ointments, inhalers):
    #: such a product is not systemic therapy, whatever its ingredient.
    local_forms: list[str] = Field(default_factory=list)
    #: Drug -> the local-form words that are its systemic route (inhaled iloprost treats the
    #: pulmonary circulation): for that drug those forms are therapy.
    systemic_forms: dict[str, list[str]] = Field(default_factory=dict)


#: A mapping entry that codes and texts select: a condition's or an observation's.
Rule = TypeVar("Rule", ConditionRule, ObservationRule)


@dataclass(frozen=True)
class CodeMatch:
    """One rule's code: exact, ``M32*`` the code and every code under it, or ``*/3`` every
    code that ends so (an ICD-O-3 morphology's behaviour digit: /3 is malignant)."""

    system: str
    code: str
    prefix: bool
    suffix: bool = False

    def matches(self, system: str, code: str) -> int:
        """How specific the match is (longer is more specific); 0 when it does not match."""
        if system != self.system:
            return 0
        if code == self.code:
            return 2 * len(self.code) + 1  # an exact code beats a prefix of the same length
        if self.prefix and code.startswith(self.code):
            return 2 * len(self.code)
        if self.suffix and code.endswith(self.code):
            return 2 * len(self.code)
        return 0


def _code_matches(codes: dict[str, list[str]]) -> tuple[CodeMatch, ...]:
    out = []
    for system, values in codes.items():
        for value in values:
            prefix, suffix = value.endswith("*"), value.startswith("*")
            code = normalise_code(system, value.strip("*"))
            out.append(CodeMatch(system, code, prefix, suffix))
    return tuple(out)


@dataclass(frozen=True)
class FhirMapping:
    """The loaded mapping, with code lookups prepared."""

    raw: RawMapping
    source: str
    systems_by_uri: dict[str, str] = field(default_factory=dict)
    condition_codes: tuple[tuple[ConditionRule, tuple[CodeMatch, ...]], ...] = ()
    observation_codes: tuple[tuple[ObservationRule, tuple[CodeMatch, ...]], ...] = ()

    @classmethod
    def build(cls, raw: RawMapping, source: str) -> FhirMapping:
        return cls(
            raw,
            source,
            {uri.rstrip("/"): alias for alias, uri in raw.systems.items()},
            tuple((rule, _code_matches(rule.codes)) for rule in raw.conditions),
            tuple((rule, _code_matches(rule.codes)) for rule in raw.observations),
        )

    def system_alias(self, uri: str | None) -> str | None:
        return self.systems_by_uri.get((uri or "").rstrip("/"))

    def matched(
        self,
        concept: CodeableConcept | None,
        coded: Callable[[str, str], Iterable[Rule]],
        written: Iterable[Rule],
    ) -> list[Rule]:
        """The entries ``concept`` matches, each once, in the order found: per coding in a
        system the mapping knows, those ``coded`` gives for its system alias and normalised
        code; then those of ``written`` whose text the concept carries. Conditions and
        observations differ only in ``coded`` (the most specific entry, or every entry)."""
        found: list[Rule] = []
        for system, value in elements.codes(concept):
            alias = self.system_alias(system)
            if alias is None:
                continue
            for rule in coded(alias, normalise_code(alias, value)):
                if rule not in found:
                    found.append(rule)
        said = {normalise_text(t) for t in elements.texts(concept)}
        for rule in written:
            if rule not in found and said & {normalise_text(t) for t in rule.text}:
                found.append(rule)
        return found

    def answers(self, name: str) -> list[Answer]:
        return self.raw.answer_sets[name]

    def drug_for_code(self, system: str, code: str) -> str | None:
        return self.raw.medications.get(system, {}).get(code.strip())

    def local_form(self, name: str, drug: str) -> str | None:
        """The local dose form ``name`` states (``ophthalmic``), compared as whole words; None
        when it states none, or only forms that are ``drug``'s systemic route."""
        padded = f" {normalise_text(name)} "
        systemic = set(self.raw.systemic_forms.get(drug, []))
        return next(
            (
                form
                for form in self.raw.local_forms
                if form not in systemic and f" {normalise_text(form)} " in padded
            ),
            None,
        )


def default_mapping_path() -> Path:
    from ..catalog import default_rules_dir

    return default_rules_dir() / "vocabulary" / "fhir.yaml"


def load_mapping(path: Path | None = None, vocabulary: Vocabulary | None = None) -> FhirMapping:
    """Read and check a mapping file. Raises :class:`RulesError` listing every problem.

    With a ``vocabulary``, the drug names the mapping points RxNorm codes at are checked too.
    """
    return _load(path or default_mapping_path(), vocabulary)


def mapping_of(catalog: Catalog) -> FhirMapping:
    """The FHIR mapping of ``catalog``'s rules directory, checked against its drug vocabulary;
    the shipped mapping when the directory has none. Raises :class:`RulesError`."""
    if catalog.fhir_mapping is None:
        return load_mapping(vocabulary=catalog.vocabulary)
    where = str(catalog.directory / "vocabulary" / "fhir.yaml")
    return _parsed(catalog.fhir_mapping, where, catalog.vocabulary)


def import_rules(
    catalog: Catalog | None, mapping: FhirMapping | None, vocabulary: Vocabulary | None
) -> tuple[FhirMapping | None, Vocabulary | None]:
    """The mapping and drug vocabulary an import works with: ``catalog``'s (:func:`mapping_of`)
    when one is given, else those passed (None: the shipped ones).

    Every reader that imports FHIR for a catalog goes through here, so that a rules directory's
    own ``fhir.yaml`` is never skipped by one of them. Raises :class:`RulesError` when the
    catalog's mapping is invalid, and :class:`TypeError` when both a catalog and a mapping or
    vocabulary are given (one of them would be ignored).
    """
    if catalog is None:
        return mapping, vocabulary
    if mapping is not None or vocabulary is not None:
        raise TypeError("give a catalog, or a mapping and a vocabulary, not both")
    return mapping_of(catalog), catalog.vocabulary


@functools.lru_cache(maxsize=8)
def _parsed(text: str, where: str, vocabulary: Vocabulary) -> FhirMapping:
    return parse_mapping(text, where, vocabulary)


@functools.lru_cache(maxsize=8)
def _load(path: Path, vocabulary: Vocabulary | None) -> FhirMapping:
    where = str(path)
    try:
        text = read_rule_text(path)
    except OSError as exc:
        raise RulesError([Problem(f"cannot read: {exc.strerror or exc}", file=where)]) from None
    return parse_mapping(text, where, vocabulary)


def parse_mapping(text: str, where: str, vocabulary: Vocabulary | None = None) -> FhirMapping:
    """Check a mapping file's text as :func:`load_mapping` does; ``where`` names it in problems."""
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise RulesError([Problem(str(exc), file=where, line=exc.line)]) from None
    try:
        raw = RawMapping.model_validate(data)
    except ValidationError as exc:
        raise RulesError(
            [
                Problem(p.message, p.field, where, lines.line_of(p.loc))
                for p in describe_validation_error(exc, RawMapping)
            ]
        ) from None
    problems = list(_check(raw, lines, where, vocabulary))
    if problems:
        raise RulesError(problems)
    return FhirMapping.build(raw, where)


def _check(
    raw: RawMapping, lines: LineMap, where: str, vocabulary: Vocabulary | None
) -> Iterable[Problem]:
    """Everything a schema cannot say: known systems, real case fields, valid values."""

    def problem(message: str, *loc: int | str) -> Problem:
        return Problem(message, dotted(loc), where, lines.line_of(loc))

    systems = set(raw.systems)
    for index, cond in enumerate(raw.conditions):
        for system in cond.codes:
            if system not in systems:
                yield problem(f"unknown code system '{system}'", "conditions", index, "codes")
        for system, parents in cond.descendants_of.items():
            for code in parents:
                if code not in cond.codes.get(system, []):
                    yield problem(
                        f"'{code}' is not among the entry's {system} codes",
                        "conditions",
                        index,
                        "descendants_of",
                        system,
                    )
        base = dict(cond.fields)
        for key in ("fields", "if_active", "if_inactive"):
            values: dict[str, Any] = {**base, **getattr(cond, key)}
            computed = {p for p, v in values.items() if v == SINCE_ABATEMENT}
            if computed - {"history.malignancy"}:
                yield problem(f"{SINCE_ABATEMENT} is for history.malignancy", "conditions", index)
            checked = {p: v for p, v in values.items() if p not in computed}
            for path, message in values_problems(checked):
                yield problem(message, "conditions", index, key, path)
    for index, obs in enumerate(raw.observations):
        for system in obs.codes:
            if system not in systems:
                yield problem(f"unknown code system '{system}'", "observations", index, "codes")
        if obs.answers is not None and obs.answers not in raw.answer_sets:
            yield problem(f"unknown answer set '{obs.answers}'", "observations", index, "answers")
            continue
        if obs.kind in ("coded", "below_range") and obs.answers:
            for answer in raw.answer_sets[obs.answers]:
                for _path, message in values_problems({obs.field: answer.value}):
                    yield problem(message, "observations", index, "field")
        elif all(values_problems({obs.field: sample}) for sample in (1, 10)):
            message = values_problems({obs.field: 10})[0][1]
            yield problem(f"not a numeric case field ({message})", "observations", index, "field")
    for drug, forms in raw.systemic_forms.items():
        if vocabulary is not None and vocabulary.lookup(drug) is None:
            yield problem(f"'{drug}' is not in the drug vocabulary", "systemic_forms", drug)
        for form in forms:
            if form not in raw.local_forms:
                yield problem(f"'{form}' is not one of local_forms", "systemic_forms", drug)
    for system, codes in raw.medications.items():
        if system not in systems:
            yield problem(f"unknown code system '{system}'", "medications", system)
        for code, drug in codes.items():
            if vocabulary is not None and vocabulary.lookup(drug) is None:
                yield problem(
                    f"'{drug}' is not in the drug vocabulary", "medications", system, code
                )


def values_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """Why each of ``values`` (dotted case paths) cannot stand in a case; empty when all can."""
    data: dict[str, Any] = {"id": "mapping-check"}
    for path, value in values.items():
        clash = put_path(data, path, value)
        if clash is not None:
            return [(path, f"'{path}' clashes with '{clash}'")]
    try:
        Case.model_validate(data)
    except ValidationError as exc:
        return [(p.field, f"{p.field}: {p.message}") for p in describe_validation_error(exc, Case)]
    return []
