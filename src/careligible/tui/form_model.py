"""The case form as data: which fields, in which sections, and how form text becomes a case.

Pure functions only (no widgets): the form holds every value as text, keyed by the field's dotted
path (``labs.egfr``, ``therapies[2].outcome``). Empty text means *unknown* and is left out of the
case, never turned into "no" or zero. Lists are comma-separated; ``none`` means an empty list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ValidationError

from .. import fields
from ..case import THERAPY_COLUMNS, Case, Disease, Therapy
from ..errors import describe_validation_error
from ..vocabulary import Vocabulary

InputKind = Literal["text", "int", "float", "enum", "bool", "list"]

YES, NO = "yes", "no"
EMPTY_LIST = "none"


@dataclass(frozen=True)
class FormField:
    """One form field: its dotted path, label, kind, allowed values and the diseases it shows for."""

    key: str
    label: str
    kind: InputKind
    choices: tuple[str, ...] = ()
    diseases: frozenset[str] | None = None  # None = always shown

    def shown_for(self, disease: str) -> bool:
        return self.diseases is None or disease in self.diseases


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[FormField, ...]


#: Field labels as a clinician writes them, by the field's last path segment. A segment not
#: listed reads as its words, its unit in brackets (:func:`label_of`).
LABELS = {
    "id": "case id",
    "weight_kg": "weight (kg)",
    "egfr": "eGFR",
    "qmg": "QMG",
    "mg_adl": "MG-ADL",
    "mgc": "MGC",
    "mgfa_class": "MGFA class",
    "edss": "EDSS",
    "gd_lesions": "Gd+ lesions",
    "mrss": "mRSS",
    "mmt8": "MMT8",
    "ck_u_per_l": "CK (U/L)",
    "nine_hole_peg_s": "9-hole peg (s)",
    "t25fw_s": "T25FW (s)",
    "sledai_2k": "SLEDAI-2K",
    "selena_sledai": "SELENA-SLEDAI",
    "clinical_sledai": "clinical SLEDAI",
    "bilag_a": "BILAG A",
    "bilag_b": "BILAG B",
    "eular_acr_2019_score": "EULAR/ACR 2019 score",
    "ecog": "ECOG",
    "present": "lupus nephritis",
    "class": "LN class",
    "biopsy_months_ago": "LN biopsy (months ago)",
    "active": "LN active",
    "ana": "ANA",
    "anti_dsdna": "anti-dsDNA",
    "anti_sm": "anti-Sm",
    "anti_ro": "anti-Ro",
    "anti_la": "anti-La",
    "anti_rnp": "anti-RNP",
    "anti_jo1": "anti-Jo-1",
    "anti_mda5": "anti-MDA5",
    "anti_tif1g": "anti-TIF1-gamma",
    "anti_nxp2": "anti-NXP2",
    "anti_mi2": "anti-Mi-2",
    "anti_srp": "anti-SRP",
    "anti_hmgcr": "anti-HMGCR",
    "anti_scl70": "anti-Scl-70",
    "anti_rnapol3": "anti-RNA pol III",
    "anti_aqp4": "anti-AQP4",
    "anti_mog": "anti-MOG",
    "anti_achr": "anti-AChR",
    "anti_musk": "anti-MuSK",
    "anti_lrp4": "anti-LRP4",
    "c3_low": "C3 low",
    "c4_low": "C4 low",
    "upcr": "UPCR",
    "alt": "ALT",
    "ast": "AST",
    "wbc": "WBC",
    "igg": "IgG",
    "cd19_b_cells_detectable": "CD19 B cells detectable",
    "lvef": "LVEF",
    "fvc": "FVC",
    "dlco": "DLCO",
    "spo2": "SpO2",
    "nyha_class": "NYHA class",
    "sdi": "SDI",
    "esrd": "ESRD",
    "ild": "ILD",
    "pah": "PAH",
    "prior_car_t": "prior CAR-T",
    "prior_hsct": "prior HSCT",
    "catastrophic_aps": "catastrophic APS",
    "cns_disease": "CNS disease",
    "hbv": "HBV",
    "hcv": "HCV",
    "hiv": "HIV",
    "tb": "TB",
    "active_serious": "active serious infection",
    "anti_synthetase_other": "other anti-synthetase",
}

#: Units a field's name ends in, as a label writes them.
UNITS = (
    ("_mg_dl", "mg/dL"),
    ("_g_dl", "g/dL"),
    ("_g_l", "g/L"),
    ("_g_g", "g/g"),
    ("_x_uln", "x ULN"),
    ("_pct", "%"),
    ("_years", "years"),
    ("_months_ago", "months ago"),
    ("_weeks_ago", "weeks ago"),
)


def label_of(name: str) -> str:
    """A field's label from its last path segment: ``creatinine_mg_dl`` -> "creatinine (mg/dL)",
    so no screen shows a clinician a field path."""
    if name in LABELS:
        return LABELS[name]
    for suffix, unit in UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{label_of(name[: -len(suffix)])} ({unit})"
    if name.startswith("anti_"):
        return "anti-" + name[len("anti_") :].replace("_", " ")
    return name.replace("_", " ")


#: Disease-specific fields, shown in the diagnosis section only for that disease.
DISEASE_FIELDS: dict[str, tuple[str, ...]] = {
    "sle": ("lupus_nephritis.class", "lupus_nephritis.biopsy_months_ago", "lupus_nephritis.active"),
    "mg": (
        "scores.mgfa_class",
        "scores.mg_adl",
        "scores.qmg",
        "scores.mgc",
    ),
    "ms": (
        "scores.edss",
        "scores.relapses_past_year",
        "scores.gd_lesions",
        "scores.nine_hole_peg_s",
        "scores.t25fw_s",
    ),
    "ssc": ("scores.mrss",),
    "iim": ("scores.mmt8", "scores.ck_u_per_l"),
}
_DISEASE_OF = {key: d for d, keys in DISEASE_FIELDS.items() for key in keys}

#: The serology each disease's form asks for, in the serology section: the antibodies that
#: classify the disease or its subtypes, and for multiple sclerosis the two that tell it from
#: NMOSD and MOGAD. A disease with no panel here (``other``, or none chosen yet) is asked for
#: every test, so no value is hidden when nothing says which are relevant. A test checks that
#: every serology fact a trial's rule reads is on the panel of each disease that trial enrols.
SEROLOGY: dict[str, tuple[str, ...]] = {
    "sle": (
        "ana",
        "anti_dsdna",
        "anti_sm",
        "anti_histone",
        "anti_chromatin",
        "anti_ro",
        "anti_la",
        "anti_rnp",
        "antiphospholipid",
        "c3_low",
        "c4_low",
    ),
    "iim": (
        "ana",
        "anti_jo1",
        "anti_synthetase_other",
        "anti_mda5",
        "anti_tif1g",
        "anti_nxp2",
        "anti_mi2",
        "anti_srp",
        "anti_hmgcr",
        "anti_ro",
        "anti_rnp",
    ),
    "ssc": ("ana", "anti_scl70", "anti_centromere", "anti_rnapol3", "anti_rnp"),
    "mg": ("anti_achr", "anti_musk", "anti_lrp4"),
    "ms": ("anti_aqp4", "anti_mog"),
    "nmosd": ("anti_aqp4", "anti_mog"),
    "sjogren": ("ana", "anti_ro", "anti_la"),
}
_SEROLOGY_TOPS = ("autoantibodies", "complement")


def _serology_diseases(path: str) -> frozenset[str] | None:
    """The diseases whose form shows a serology field: those with it on their panel and
    every disease without a panel. None for a field outside the serology section."""
    top, _, name = path.partition(".")
    if top not in _SEROLOGY_TOPS:
        return None
    unpaneled = set(get_args(Disease)) - SEROLOGY.keys()
    return frozenset({d for d, names in SEROLOGY.items() if name in names} | unpaneled | {""})


_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Demographics", ("id", "age", "sex", "weight_kg", "pregnant", "breastfeeding")),
    (
        "Diagnosis",
        (
            "disease",
            "subtype",
            "classification_criteria_met",
            "disease_duration_years",
            "drug_induced",
            "overlap",
            "lupus_nephritis",
        ),
    ),
    ("Serology", ("autoantibodies", "complement")),
    ("Activity scores", ("scores",)),
    ("Labs and organ function", ("labs", "organ_function")),
    ("Organ damage", ("organ_damage",)),
    ("History and infections", ("history", "infections")),
)


def _form_kind(spec: fields.FieldSpec) -> InputKind:
    """The form widget kind of a case fact: numbers split into whole and decimal."""
    if spec.kind == "number":
        return "int" if spec.integer else "float"
    return "enum" if spec.kind == "choice" else spec.kind


def _specs(model: type[BaseModel], prefix: str) -> list[FormField]:
    """One form field per leaf of the model, from the same symbol table the rules use."""
    out: list[FormField] = []
    for spec in fields.model_fields(model, prefix):
        alias = spec.path.rsplit(".", 1)[-1]
        disease = _DISEASE_OF.get(spec.path)
        out.append(
            FormField(
                spec.path,
                label_of(alias),
                _form_kind(spec),
                spec.choices,
                frozenset({disease}) if disease else _serology_diseases(spec.path),
            )
        )
    return out


def _build_sections() -> tuple[Section, ...]:
    by_top: dict[str, list[FormField]] = {}
    for spec in _specs(Case, ""):
        by_top.setdefault(spec.key.split(".")[0], []).append(spec)
    disease_specific = [s for s in _specs(Case, "") if s.key in _DISEASE_OF]
    sections = []
    for title, tops in _SECTIONS:
        fields = [s for top in tops for s in by_top.get(top, []) if s.key not in _DISEASE_OF]
        if title == "Diagnosis":
            fields += disease_specific
        sections.append(Section(title, tuple(fields)))
    return tuple(sections)


SECTIONS: tuple[Section, ...] = _build_sections()
FIELDS: dict[str, FormField] = {f.key: f for s in SECTIONS for f in s.fields}
THERAPY_FIELDS: dict[str, FormField] = {
    s.key: s for s in _specs(Therapy, "") if s.key in THERAPY_COLUMNS
}

#: "Is the list the whole therapy history?" ``yes`` is true, ``no`` false, empty is absent: what a
#: file without the field means, a listed history read as complete. A case begun in the form (or
#: imported) starts at ``no``, so a drug class not listed is unknown until the clinician says yes.
HISTORY_COMPLETE = FormField("therapies_complete", "complete?", "bool")


def _carried() -> tuple[str, ...]:
    """Case fields the form has no widget for (``as_of``, ``confirmations``, ``deceased``...).

    The form keeps them as it found them, as JSON text under their own key, so that a case
    opened and saved from the terminal UI loses none of what the file said and is screened on
    the same date and with the same confirmations as ``screen`` would use.
    """
    held = {key.split(".")[0] for key in FIELDS} | {"therapies", HISTORY_COMPLETE.key}
    names = (field.alias or name for name, field in Case.model_fields.items())
    return tuple(name for name in names if name not in held)


CARRIED: tuple[str, ...] = _carried()


#: The case key of the therapy history, and the form's name for its list of therapies.
THERAPIES = "therapies"


def therapy_key(row: int, column: str) -> str:
    return f"therapies[{row}].{column}"


def widget_id(key: str) -> str:
    """A widget id for a field path: ``labs.egfr`` -> ``f-labs--egfr``."""
    return "f-" + key.replace(".", "--").replace("[", "-").replace("]", "")


def _number(text: str, kind: InputKind) -> Any:
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return text  # the model reports it, worded for people
        return int(value) if kind == "int" and value.is_integer() else value


def _convert(text: str, spec: FormField) -> Any:
    text = text.strip()
    if spec.kind in ("int", "float"):
        return _number(text, spec.kind)
    if spec.kind == "bool":
        return {YES: True, NO: False}.get(text.lower(), text)
    if spec.kind == "list":
        if text.lower() == EMPTY_LIST:
            return []
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def drug_hint(vocabulary: Vocabulary, text: str) -> str:
    """The warning under a drug field whose name the rules do not know ("" when they do).

    A misspelt drug counts in no drug class, so verdicts change; the clinician has to see why at
    the field itself, not only in a summary of warnings.
    """
    if not text.strip() or vocabulary.lookup(text) is not None:
        return ""
    close = vocabulary.suggest(text)
    hint = "not a drug the rules know"
    return f"{hint} — did you mean {close}?" if close else hint


def therapy_rows(values: Mapping[str, str]) -> list[int]:
    """The therapy row numbers present in ``values``, in order."""
    rows = set()
    for key in values:
        if key.startswith("therapies["):
            rows.add(int(key[len("therapies[") : key.index("]")]))
    return sorted(rows)


def case_dict_from_values(values: Mapping[str, str]) -> dict[str, Any]:
    """Form text -> a case mapping (unvalidated). Empty text is left out: unknown."""
    out, _ = _case_dict(values)
    return out


def shown_fields(values: Mapping[str, str]) -> list[FormField]:
    """The fields the form shows for the disease in ``values``: the only ones that reach the case.

    A disease-specific field hidden by a disease switch (QMG typed under MG, then MS chosen)
    keeps its text in the form, so switching back restores it, but what is not on screen is
    neither screened nor saved: the clinician cannot see, check or correct it.
    """
    disease = values.get("disease", "").strip()
    return [spec for spec in FIELDS.values() if spec.shown_for(disease)]


def _case_dict(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[int, int]]:
    out: dict[str, Any] = {}
    for spec in shown_fields(values):
        key = spec.key
        text = values.get(key, "").strip()
        if text:
            fields.put_path(out, key, _convert(text, spec))
    if text := values.get(HISTORY_COMPLETE.key, "").strip():
        out[HISTORY_COMPLETE.key] = _convert(text, HISTORY_COMPLETE)
    for key in CARRIED:
        if text := values.get(key, ""):
            out[key] = json.loads(text)
    therapies: list[dict[str, Any]] = []
    index: dict[int, int] = {}  # position in the case -> form row
    for row in therapy_rows(values):
        item = {}
        for column, spec in THERAPY_FIELDS.items():
            text = values.get(therapy_key(row, column), "").strip()
            if text:
                item[column] = _convert(text, spec)
        if item:
            index[len(therapies)] = row
            therapies.append(item)
    if therapies:
        out["therapies"] = therapies
    return out, index


def validate(values: Mapping[str, str]) -> tuple[Case | None, dict[str, str]]:
    """Form text -> a case, or the problems keyed by the form field they belong to."""
    data, index = _case_dict(values)
    try:
        return Case.model_validate(data), {}
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for problem in describe_validation_error(exc, Case):
            field = problem.field
            if field.startswith("therapies["):
                pos = int(field[len("therapies[") : field.index("]")])
                rest = field[field.index("]") + 1 :].lstrip(".") or "drug"
                field = therapy_key(index.get(pos, pos), rest)
            problems.setdefault(field, problem.message)
        return None, problems


def _text(value: Any, spec: FormField) -> str:
    if value is None:
        return ""
    if spec.kind == "bool":
        return YES if value else NO
    if spec.kind == "list":
        return ", ".join(str(v) for v in value) if value else EMPTY_LIST
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _get(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def values_from_case(case: Case | Mapping[str, Any]) -> dict[str, str]:
    """A case (or a case mapping as read from a file) -> form text for every field."""
    data = case.model_dump(by_alias=True) if isinstance(case, Case) else case
    values = {key: _text(_get(data, key), spec) for key, spec in FIELDS.items()}
    values[HISTORY_COMPLETE.key] = _text(data.get(HISTORY_COMPLETE.key), HISTORY_COMPLETE)
    values.update(
        {key: json.dumps(data[key], default=str) for key in CARRIED if data.get(key) is not None}
    )
    for row, item in enumerate(data.get("therapies") or []):
        for column, spec in THERAPY_FIELDS.items():
            value = item.get(column) if isinstance(item, Mapping) else None
            values[therapy_key(row, column)] = _text(value, spec)
    return values


def blank_values(case_id: str = "new-case") -> dict[str, str]:
    """A new case: every fact unknown, and its therapy history not yet confirmed complete."""
    return {**{key: "" for key in FIELDS}, "id": case_id, HISTORY_COMPLETE.key: NO}
