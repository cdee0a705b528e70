"""Reading and writing the files the UI handles: case YAML (or a FHIR Bundle to import) and
exported reports. No widgets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .. import report
from ..case import Case
from ..catalog import Catalog
from ..errors import InputError
from ..fhir import BundleError, ImportedCase, import_bundle
from ..fhir.notes import grouped
from ..outputs import write_atomic
from ..readers import open_case, roundtrip
from ..results import CaseResult
from .form_model import HISTORY_COMPLETE, NO, values_from_case

#: Lines of import notes (grouped by reason) shown in one notification; the rest are counted.
SHOWN_NOTES = 8


@dataclass(frozen=True)
class LoadedCase:
    """Form text for a case file; ``imported`` is set when the file was a FHIR Bundle."""

    values: dict[str, str]
    imported: ImportedCase | None = None

    def import_message(self) -> str:
        """What the clinician must know about an imported case: its date and what was left out."""
        if self.imported is None:
            return ""
        notes = self.imported.notes
        lines = [
            f"Imported from a FHIR Bundle as of {self.imported.reference_date.isoformat()}. "
            "Therapy outcomes stay unknown: fill them in, then save with Ctrl+S."
        ]
        if notes:
            lines.append(f"Not mapped ({len(notes)}):")
            lines += [f"- {line}" for line in grouped(notes, SHOWN_NOTES)]
        return "\n".join(lines)


#: Problems the form cannot show for correction: the file must be fixed before it is opened.
FORM_CANNOT_HOLD = frozenset({"extra_forbidden", "duplicate_key", "not_text"})


def load_case_file(path: Path, catalog: Catalog | None = None) -> LoadedCase:
    """A case file (YAML, JSON, or a FHIR Bundle) -> form text, read as ``screen`` reads it.

    Invalid values are kept, for the form to flag. A field the form cannot hold (a misspelt
    ``weigth_kg``) is refused: the form would drop it silently and a save would lose it. A FHIR
    Bundle is imported as its patient's case; the file itself is never written to.
    """
    opened = open_case(path)
    if opened.is_bundle:
        try:
            imported = import_bundle(opened.data, catalog=catalog, fallback_id=path.stem[:128])
        except BundleError as exc:
            raise InputError(f"{path}: {exc}") from None
        values = values_from_case(imported.data)
        # One record's medication list is no confirmed history, even when it lists nothing.
        values[HISTORY_COMPLETE.key] = values[HISTORY_COMPLETE.key] or NO
        return LoadedCase(values, imported)
    unknown = [str(p) for p in opened.problems if p.code in FORM_CANNOT_HOLD]
    if unknown:
        raise InputError(
            "; ".join(unknown) + "; the form cannot hold these fields, correct them in the file"
        )
    return LoadedCase(values_from_case(opened.data))


#: What Save writes: YAML, or JSON for a ``.json`` name.
SAVE_SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def save_case(path: Path, case: Case, template: Path | None = None) -> None:
    """Write ``case`` to ``path``, never half written.

    YAML is laid over the document of ``template`` (the file the case was opened from), so its
    comments, key order and number forms stay and an unchanged ``70`` is still ``70``
    (:mod:`careligible.readers.roundtrip`); a new case is written plainly. A ``.json`` name
    gets JSON.
    """
    if path.suffix.lower() == ".json":
        plain = case.model_dump(by_alias=True, exclude_none=True, mode="json")
        text = json.dumps(roundtrip.fresh_document(plain), indent=2, ensure_ascii=False) + "\n"
    else:
        data = case.model_dump(by_alias=True, exclude_none=True)
        document = roundtrip.load_document(template) if template is not None else None
        if document is None:
            document = roundtrip.fresh_document(data)
        else:
            roundtrip.merge(document, data)
        text = roundtrip.dump(document)
    write_atomic(path, text.encode("utf-8"))


def report_paths(base: Path, formats: tuple[str, ...]) -> list[Path]:
    """``base`` with each format's extension *added* (``demo.v1`` gives ``demo.v1.md``), so two
    cases' reports never share a name; an extension typed with the name counts once."""
    name = base.name
    for fmt in formats:
        name = name.removesuffix(f".{fmt}")
    return [base.with_name(f"{name}.{fmt}") for fmt in formats]


def export_report(
    base: Path,
    case: Case,
    result: CaseResult,
    catalog: Catalog,
    formats: tuple[str, ...],
    compare: tuple[str, ...] = (),
) -> list[Path]:
    """Write the report of ``case`` in each format next to ``base``; return the paths."""
    referral = report.build(case, result, catalog, on=date.today(), compare=compare)
    written = []
    for path, fmt in zip(report_paths(base, formats), formats, strict=True):
        write_atomic(path, report.render(referral, fmt))
        written.append(path)
    return written
