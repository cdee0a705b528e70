"""The case: one patient profile as a clinician would enter it.

This module implements the case-file contract (``docs/case-format.md``). Every field is optional
except ``id``, because an absent field means *unknown* — never "no" and never "normal". The rule
engine turns unknown facts into unknown criteria, so nothing here may invent a default value.

The model knows nothing of file formats (see :mod:`careligible.readers`) or of drug vocabularies
(see :mod:`careligible.vocabulary`): a drug is kept exactly as written and resolved later, so an
unrecognised drug is a warning, not an error.
"""

from __future__ import annotations

import functools
import types
import typing
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import show
from .safetext import unsafe_character

T = TypeVar("T")


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an id, or None. An id is shown in terminals, CSV cells, reports and
    audit lines: a control, formatting or bidirectional character could hide, reorder or inject
    text in any of them (see :mod:`careligible.safetext`)."""
    found = unsafe_character(text)
    if found is None:
        return None
    position, char = found
    return (
        f"must be plain text: character {position} is U+{ord(char):04X}, a control, "
        "formatting or bidirectional character"
    )


def _plain(text: str) -> str:
    problem = id_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def _distinct(items: list[T]) -> list[T]:
    """A list of codes names each one once: ``[renal, renal]`` is a slip, not two systems."""
    seen: list[T] = []
    for item in items:
        if item in seen:
            raise ValueError(f"lists {show(item)} twice; name each item once")
        seen.append(item)
    return items


#: A list whose items must differ (systems, diseases, damage items).
Distinct = AfterValidator(_distinct)

Disease = Literal["sle", "iim", "ssc", "mg", "ms", "ra", "sjogren", "t1d", "nmosd", "aav", "other"]
Serostatus = Literal["positive", "negative"]
InfectionStatus = Literal["positive", "negative", "latent", "treated"]
Outcome = Literal["inadequate_response", "intolerance", "response", "ongoing", "unknown"]
BilagSystem = Literal[
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
]
NephritisClass = Literal["II", "III", "IV", "V", "III+V", "IV+V", "VI"]
MgfaClass = Literal["I", "IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V"]
Malignancy = Literal["none", "active", "within_5y", "remote"]
NeuromuscularDisorder = Literal["lambert_eaton", "myositis", "myopathy", "motor_neuropathy", "cidp"]

#: Subtypes the contract names for each disease; other diseases take free text.
SUBTYPES: dict[str, tuple[str, ...]] = {
    "iim": (
        "dermatomyositis",
        "anti_synthetase",
        "imnm",
        "polymyositis",
        "inclusion_body",
        "juvenile_dm",
    ),
    "ssc": ("diffuse", "limited"),
    "mg": ("generalized", "ocular"),
    "ms": ("rrms", "spms", "ppms", "cis"),
}

CaseId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_plain),
]
NonNegative = Annotated[float, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class _Section(BaseModel):
    """Base of every part of a case: unknown keys are errors, so typos never pass silently.

    NaN and infinity are refused as numbers: NaN compares false with every limit, and either would
    otherwise reach the rules as a fact.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        """``true``/``false`` (and YAML's ``yes``/``no``) are never numbers: pydantic would read
        them as 1 and 0, so ``creatinine_mg_dl: false`` would pass "creatinine < 1.5"."""
        if isinstance(value, bool) and info.field_name in _numeric_fields(cls):
            return _NotANumber(value)  # refused by the number check, which names the value
        return value


class _NotANumber:
    """A boolean where a number belongs; its repr is what the error message shows."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


@functools.cache
def _numeric_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of ``model`` that hold a number (an int or a float, not a bool)."""
    return frozenset(
        name for name, info in model.model_fields.items() if _is_number(info.annotation)
    )


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is Annotated:
        return _is_number(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_number(arg) for arg in typing.get_args(annotation))
    return False


class LupusNephritis(_Section):
    present: bool | None = Field(
        default=None,
        description="false = no lupus nephritis: its class and activity are then decided, not asked.",
    )
    class_: NephritisClass | None = Field(default=None, alias="class")
    biopsy_months_ago: NonNegative | None = None
    active: bool | None = None

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _absent_has_no_details(self) -> LupusNephritis:
        """A case that says it has no nephritis cannot also give its class or activity."""
        if self.present is False and (self.class_ is not None or self.active):
            raise ValueError("present is false, so class and active cannot be given")
        return self


class Autoantibodies(_Section):
    ana: Serostatus | None = None
    anti_dsdna: Serostatus | None = None
    anti_sm: Serostatus | None = None
    anti_histone: Serostatus | None = None
    anti_chromatin: Serostatus | None = None
    anti_ro: Serostatus | None = None
    anti_la: Serostatus | None = None
    anti_rnp: Serostatus | None = None
    anti_jo1: Serostatus | None = None
    anti_synthetase_other: Serostatus | None = None
    anti_mda5: Serostatus | None = None
    anti_tif1g: Serostatus | None = None
    anti_nxp2: Serostatus | None = None
    anti_mi2: Serostatus | None = None
    anti_srp: Serostatus | None = None
    anti_hmgcr: Serostatus | None = None
    anti_scl70: Serostatus | None = None
    anti_centromere: Serostatus | None = None
    anti_rnapol3: Serostatus | None = None
    anti_achr: Serostatus | None = None
    anti_musk: Serostatus | None = None
    anti_lrp4: Serostatus | None = None
    anti_aqp4: Serostatus | None = None
    anti_mog: Serostatus | None = None
    antiphospholipid: Serostatus | None = None


class Complement(_Section):
    c3_low: bool | None = None
    c4_low: bool | None = None


class Scores(_Section):
    sledai_2k: Annotated[int, Field(ge=0, le=105)] | None = None
    selena_sledai: Annotated[int, Field(ge=0, le=105)] | None = Field(
        default=None, description="SELENA-SLEDAI total (trials that name this variant)."
    )
    clinical_sledai: Annotated[int, Field(ge=0, le=105)] | None = Field(
        default=None, description="SLEDAI without the complement and anti-dsDNA items."
    )
    bilag_a: Annotated[list[BilagSystem], Distinct] | None = None
    bilag_b: Annotated[list[BilagSystem], Distinct] | None = None
    physician_global: Annotated[float, Field(ge=0, le=3)] | None = None
    mg_adl: Annotated[int, Field(ge=0, le=24)] | None = None
    qmg: Annotated[int, Field(ge=0, le=39)] | None = None
    mgc: Annotated[int, Field(ge=0, le=50)] | None = None
    mgfa_class: MgfaClass | None = None
    edss: Annotated[float, Field(ge=0, le=10, multiple_of=0.5)] | None = None
    relapses_past_year: Annotated[int, Field(ge=0, le=50)] | None = None
    gd_lesions: Annotated[int, Field(ge=0, le=500)] | None = None
    mrss: Annotated[int, Field(ge=0, le=51)] | None = None
    mmt8: Annotated[float, Field(ge=0, le=150)] | None = None
    ck_u_per_l: Annotated[float, Field(ge=0, le=500_000)] | None = None
    eular_acr_2019_score: Annotated[int, Field(ge=0, le=60)] | None = None
    ecog: Annotated[int, Field(ge=0, le=5)] | None = None
    nine_hole_peg_s: Annotated[float, Field(gt=0, le=1000)] | None = None
    t25fw_s: Annotated[float, Field(gt=0, le=1000)] | None = None


class Labs(_Section):
    egfr: Annotated[float, Field(ge=0, le=250)] | None = None
    creatinine_mg_dl: Annotated[float, Field(ge=0, le=30)] | None = None
    upcr_g_g: Annotated[float, Field(ge=0, le=50)] | None = None
    alt_x_uln: Annotated[float, Field(ge=0, le=100)] | None = None
    ast_x_uln: Annotated[float, Field(ge=0, le=100)] | None = None
    bilirubin_x_uln: Annotated[float, Field(ge=0, le=100)] | None = None
    bilirubin_mg_dl: Annotated[float, Field(ge=0, le=50)] | None = None
    wbc: Annotated[float, Field(ge=0, le=500)] | None = None
    neutrophils: Annotated[float, Field(ge=0, le=500)] | None = None
    lymphocytes: Annotated[float, Field(ge=0, le=500)] | None = None
    platelets: Annotated[float, Field(ge=0, le=3000)] | None = None
    hemoglobin_g_dl: Annotated[float, Field(ge=0, le=30)] | None = None
    igg_g_l: Annotated[float, Field(ge=0, le=100)] | None = None
    cd19_b_cells_detectable: bool | None = None


class OrganFunction(_Section):
    dialysis: bool | None = None
    lvef_pct: Percent | None = None
    fvc_pct: Annotated[float, Field(ge=0, le=200)] | None = None
    dlco_pct: Annotated[float, Field(ge=0, le=200)] | None = None
    spo2_pct: Percent | None = None
    nyha_class: Annotated[int, Field(ge=1, le=4)] | None = None


class OrganDamage(_Section):
    sdi: Annotated[int, Field(ge=0, le=47)] | None = None
    esrd: bool | None = None
    ild: bool | None = None
    pah: bool | None = None
    irreversible: (
        Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]], Distinct]
        | None
    ) = None


class Therapy(_Section):
    """One prior or current treatment. ``drug`` is kept as written and resolved later."""

    drug: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    outcome: Outcome | None = None
    months: Annotated[float, Field(ge=0, le=1200)] | None = None
    stopped_months_ago: Annotated[float, Field(ge=0, le=1200)] | None = None
    dose: Annotated[str, StringConstraints(max_length=200)] | None = None


#: A therapy's fields in the order the case format writes them: the columns of every therapy
#: table (the TUI's rows, the referral report).
THERAPY_COLUMNS = tuple(Therapy.model_fields)


class History(_Section):
    prior_car_t: bool | None = None
    prior_hsct: bool | None = None
    gene_therapy: bool | None = Field(
        default=None, description="Any prior gene therapy or integrating-vector cell therapy."
    )
    solid_organ_transplant: bool | None = None
    catastrophic_aps: bool | None = None
    cns_disease: bool | None = None
    malignancy: Malignancy | None = None
    live_vaccine_weeks_ago: NonNegative | None = None
    major_surgery_weeks_ago: NonNegative | None = None
    thymectomy: bool | None = Field(default=None, description="false = never had a thymectomy.")
    thymectomy_months_ago: NonNegative | None = None
    anticoagulation_required: bool | None = None
    other_neuromuscular: Annotated[list[NeuromuscularDisorder], Distinct] | None = None
    splenectomy: bool | None = None
    primary_immunodeficiency: bool | None = None


class Infections(_Section):
    hbv: InfectionStatus | None = None
    hcv: InfectionStatus | None = None
    hiv: InfectionStatus | None = None
    tb: InfectionStatus | None = None
    active_serious: bool | None = None


Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class Confirmation(_Section):
    """A site's answer to an item the case format cannot express (a criterion to confirm).

    ``by`` is a role ("trial coordinator", "investigator"), never a person's name: the record is
    kept beside the verdict and in the audit log.
    """

    trial: Annotated[str, StringConstraints(pattern=r"^NCT\d{8}$")]
    criterion: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$")]
    cohort: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]*$")] | None = None
    answer: Literal["met", "not_met"]
    by: Role
    on: date


class Case(_Section):
    """One patient profile. Only ``id`` is required; every absent fact is unknown."""

    id: CaseId
    age: Annotated[int, Field(ge=0, le=120)] | None = None
    sex: Literal["female", "male"] | None = None
    weight_kg: Annotated[float, Field(ge=2, le=400)] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None

    disease: Disease | None = None
    # A code or a short phrase; the limit keeps a runaway cell or line from passing as one.
    subtype: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    classification_criteria_met: bool | None = None
    disease_duration_years: Annotated[float, Field(ge=0, le=120)] | None = None
    lupus_nephritis: LupusNephritis | None = None
    drug_induced: bool | None = None
    overlap: Annotated[list[Disease], Distinct] | None = None

    autoantibodies: Autoantibodies | None = None
    complement: Complement | None = None
    scores: Scores | None = None
    labs: Labs | None = None
    organ_function: OrganFunction | None = None
    organ_damage: OrganDamage | None = None
    therapies: list[Therapy] | None = None
    therapies_complete: bool | None = Field(
        default=None,
        description=(
            "Whether the listed therapies are the whole history. Absent means they are; false "
            "(an import or an entry not yet confirmed) means a treatment not listed may still "
            "have been given, so a count can be met but never ruled out by the list."
        ),
    )
    history: History | None = None
    infections: Infections | None = None

    as_of: date | None = Field(
        default=None,
        description="The date the facts are as of (default: the day of screening).",
    )
    deceased: bool | None = Field(
        default=None,
        description=(
            "true = the patient has died: screening gives a deceased result and no trial "
            "verdicts. false = known to be alive; absent = not recorded (screened as today)."
        ),
    )
    deceased_date: date | None = Field(
        default=None,
        description="The date of death, when known; it implies deceased: true.",
    )
    confirmations: list[Confirmation] | None = None

    @model_validator(mode="before")
    @classmethod
    def _date_of_death_implies_deceased(cls, data: Any) -> Any:
        """A date of death says the patient died: ``deceased`` is then true, so every reader
        (screening, a population count) needs to test one field only."""
        dated = isinstance(data, dict) and data.get("deceased_date") is not None
        if dated and data.get("deceased") is None:
            data = {**data, "deceased": True}
        return data

    @model_validator(mode="after")
    def _death_is_consistent(self) -> Case:
        """A date of death beside ``deceased: false`` contradicts itself, and one after the
        case's date is a death the facts (as of that date) cannot know of."""
        if self.deceased_date is None:
            return self
        if self.deceased is False:
            raise ValueError("deceased is false, so deceased_date cannot be given")
        limit = self.as_of or date.today()
        if self.deceased_date > limit:
            raise ValueError(
                f"deceased_date: {self.deceased_date.isoformat()} is after the case's date "
                f"({limit.isoformat()})"
            )
        return self

    @model_validator(mode="after")
    def _confirmed_before_facts_date(self) -> Case:
        """A confirmation dated after the facts it confirms would vouch for a future record."""
        limit = self.as_of or date.today()
        for index, item in enumerate(self.confirmations or []):
            if item.on > limit:
                raise ValueError(
                    f"confirmations[{index}].on: {item.on.isoformat()} is after the case's date "
                    f"({limit.isoformat()})"
                )
        return self

    @field_validator("subtype")
    @classmethod
    def _subtype_fits_disease(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Normalise the subtype to a code and check it against the disease named before it."""
        if value is None:
            return None
        code = value.lower().replace(" ", "_").replace("-", "_")
        allowed = SUBTYPES.get(info.data.get("disease") or "")
        if allowed and code not in allowed:
            raise ValueError(
                f"'{value}' is not a subtype of this disease; use one of {', '.join(allowed)}"
            )
        return code
