"""Reading and writing the files the UI handles: case YAML and exported reports. No widgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..case import Case
from ..catalog import Catalog
from ..errors import InputError
from ..results import CaseResult
from . import report
from .form_model import values_from_case


def read_case_values(path: Path) -> dict[str, str]:
    """A YAML case file -> form text. Invalid values are kept, for the form to flag."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError:
        raise InputError(f"{path}: not valid YAML") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a case file must hold one case (a mapping of fields)")
    return values_from_case(data)


def save_case(path: Path, case: Case) -> None:
    data = case.model_dump(by_alias=True, exclude_none=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def export_report(base: Path, result: CaseResult, catalog: Catalog) -> list[Path]:
    """Write ``base.md`` and ``base.html``; return both paths."""
    md = base.with_suffix(".md")
    page = base.with_suffix(".html")
    md.write_text(report.markdown(result, catalog), encoding="utf-8")
    page.write_text(report.html_report(result, catalog), encoding="utf-8")
    return [md, page]
