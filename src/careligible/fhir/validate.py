"""Is this a FHIR R4 Bundle? Checked by ``fhir.resources`` before anything is read.

``fhir.resources`` (its R4B models, wire-compatible with R4 for the resources read here) gives
one error per element; this module turns them into problems that name the entry and the field,
in the project's words, and never quote the offending resource itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import InputError, Problem, dotted

if TYPE_CHECKING:
    from fhir.resources.R4B.bundle import Bundle

#: Validation problems listed for one bundle; the rest are counted.
MAX_PROBLEMS = 20


class BundleError(InputError):
    """The input is not a valid FHIR R4 Bundle of one patient; ``problems`` say where."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def validate_bundle(data: Any) -> Bundle:
    """The Bundle as ``fhir.resources`` models, or :class:`BundleError` naming entry and field."""
    if not isinstance(data, dict):
        raise BundleError([Problem("a FHIR Bundle must be a JSON object")])
    kind = data.get("resourceType")
    if kind != "Bundle":
        found = f"resourceType is {kind!r}" if kind is not None else "no resourceType"
        raise BundleError([Problem(f"not a FHIR Bundle ({found})", "resourceType")])
    problems = list(_entry_shape_problems(data.get("entry")))
    if problems:
        raise BundleError(problems)
    from fhir.resources.R4B.bundle import Bundle

    try:
        return Bundle.model_validate(data)
    except ValidationError as exc:
        raise BundleError(_validation_problems(exc, data)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # fhir.resources raises these for shapes its validators do not anticipate.
        message = f"not a valid FHIR R4 Bundle ({type(exc).__name__})"
        raise BundleError([Problem(message)]) from None


def _entry_shape_problems(entries: Any) -> Iterator[Problem]:
    """Entries the FHIR library would reject with a crash rather than a message."""
    if entries is None:
        return
    if not isinstance(entries, list):
        yield Problem("must be a list of entries", "entry")
        return
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, dict):
            yield Problem("must be an object", where)
            continue
        resource = entry.get("resource")
        if resource is None:
            continue
        if not isinstance(resource, dict):
            yield Problem("must be an object", f"{where}.resource")
            continue
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not kind:
            yield Problem("is required", f"{where}.resource.resourceType")
        elif not _is_resource_type(kind):
            yield Problem(
                f"'{kind[:40]}' is not a FHIR R4 resource type", f"{where}.resource.resourceType"
            )


@functools.lru_cache(maxsize=256)
def _is_resource_type(name: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    try:
        model = get_fhir_model_class(name)
    except ValueError:
        return False
    return isinstance(model, type) and issubclass(model, Resource)


def _validation_problems(exc: ValidationError, data: dict[str, Any]) -> list[Problem]:
    errors = exc.errors(include_url=False)
    problems = []
    for err in errors[:MAX_PROBLEMS]:
        # 'root' is where pydantic validates a wrapped value, not a FHIR element
        loc = tuple(p for p in err["loc"] if isinstance(p, int | str) and p != "root")
        label = _entry_label(data, loc)
        message = _wording(err)
        problems.append(Problem(f"{label}: {message}" if label else message, dotted(loc)))
    if len(errors) > MAX_PROBLEMS:
        problems.append(Problem(f"and {len(errors) - MAX_PROBLEMS} more problem(s)"))
    return problems


def _entry_label(data: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """``Observation/obs-1`` for a location inside an entry's resource."""
    if len(loc) < 3 or loc[0] != "entry" or not isinstance(loc[1], int) or loc[2] != "resource":
        return ""
    try:
        resource = data["entry"][loc[1]]["resource"]
    except (KeyError, IndexError, TypeError):
        return ""
    kind = str(resource.get("resourceType", "resource"))
    rid = resource.get("id")
    return f"{kind}/{rid}" if isinstance(rid, str) and rid else kind


def _wording(err: Any) -> str:
    """The library's message in the project's words; never the offending resource itself."""
    kind = str(err["type"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing" or kind.endswith(".missing"):
        return "is required"
    if kind == "json_invalid":  # a string where the element needs an object
        return "must be an object"
    message = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
