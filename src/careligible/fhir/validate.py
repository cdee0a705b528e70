"""Is this a FHIR R4 Bundle, and which of its entries are valid? Checked by ``fhir.resources``.

Each entry is validated on its own, so one malformed Observation in a record of hundreds of
entries is reported and left out while the rest is read; only a bundle that is not one (or is of
another FHIR version) is refused whole. ``fhir.resources`` (its R4B models, wire-compatible with
R4 for the resources read here) gives one error per element; this module turns them into
problems that name the entry and the field, in the project's words, and never quotes the
offending resource itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import InputError, Problem, dotted
from .versions import other_version

if TYPE_CHECKING:
    from fhir.resources.R4B.resource import Resource

#: Validation problems listed for one bundle; the rest are counted.
MAX_PROBLEMS = 20


class BundleError(InputError):
    """The input is not a valid FHIR R4 Bundle of one patient; ``problems`` say where."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Entry:
    """One valid entry: its place in the bundle, its fullUrl and the validated resource."""

    index: int
    url: str | None
    resource: Resource


@dataclass(frozen=True)
class ValidBundle:
    """The entries that passed validation, and a problem for each one that did not."""

    id: str | None
    entries: list[Entry] = field(default_factory=list)
    invalid: list[tuple[int, str, Problem]] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)


def validate_bundle(data: Any) -> ValidBundle:
    """Each entry validated on its own: a bad Observation is reported, the other entries kept.

    :class:`BundleError` when ``data`` is no R4 Bundle at all (another FHIR version included).
    """
    if not isinstance(data, dict):
        raise BundleError([Problem("a FHIR Bundle must be a JSON object")])
    kind = data.get("resourceType")
    if kind != "Bundle":
        found = f"resourceType is {kind!r}" if kind is not None else "no resourceType"
        raise BundleError([Problem(f"not a FHIR Bundle ({found})", "resourceType")])
    version = other_version(data)
    if version is not None:
        raise BundleError([Problem(version, "entry")])
    entries = data.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise BundleError([Problem("must be a list of entries", "entry")])
    _validate_shell(data)
    bundle_id = data.get("id")
    valid = ValidBundle(bundle_id if isinstance(bundle_id, str) else None)
    for index, entry in enumerate(entries or []):
        _validate_entry(valid, index, entry)
    return valid


def _validate_shell(data: dict[str, Any]) -> None:
    """The Bundle's own elements (type, id, meta), without its entries."""
    from fhir.resources.R4B.bundle import Bundle

    shell = {key: value for key, value in data.items() if key != "entry"}
    try:
        Bundle.model_validate(shell)
    except ValidationError as exc:
        raise BundleError(_validation_problems(exc, data)) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # fhir.resources raises these for shapes its validators do not anticipate.
        message = f"not a valid FHIR R4 Bundle ({type(exc).__name__})"
        raise BundleError([Problem(message)]) from None


def _validate_entry(valid: ValidBundle, index: int, entry: Any) -> None:
    where = f"entry[{index}]"
    problems = list(_entry_shape_problems(index, entry))
    if not problems and entry.get("resource") is None:
        valid.empty.append(index)
        return
    label = (_resource_label(entry.get("resource")) if isinstance(entry, dict) else "") or where
    if not problems:
        resource = entry["resource"]
        model = _model_class(resource["resourceType"])
        try:
            parsed = model.model_validate(resource)
        except ValidationError as exc:
            problems = _validation_problems(exc, resource, prefix=(*_ENTRY, index, "resource"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems = [Problem(f"not a valid resource ({type(exc).__name__})", where)]
        else:
            url = entry.get("fullUrl")
            valid.entries.append(Entry(index, url if isinstance(url, str) else None, parsed))
            return
    for problem in problems:
        valid.invalid.append((index, label, problem))


_ENTRY = ("entry",)


def _entry_shape_problems(index: int, entry: Any) -> Iterator[Problem]:
    """What the FHIR library would reject with a crash rather than a message."""
    where = f"entry[{index}]"
    if not isinstance(entry, dict):
        yield Problem("must be an object", where)
        return
    resource = entry.get("resource")
    if resource is None:
        return
    if not isinstance(resource, dict):
        yield Problem("must be an object", f"{where}.resource")
        return
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


def _model_class(name: str) -> type[Resource]:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(name)  # type: ignore[return-value]


def _validation_problems(
    exc: ValidationError, data: dict[str, Any], prefix: tuple[int | str, ...] = ()
) -> list[Problem]:
    errors = exc.errors(include_url=False)
    problems = []
    for err in errors[:MAX_PROBLEMS]:
        # 'root' is where pydantic validates a wrapped value, not a FHIR element
        loc = (*prefix, *(p for p in err["loc"] if isinstance(p, int | str) and p != "root"))
        label = "" if prefix else _entry_label(data, loc)
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
    return _resource_label(resource)


def _resource_label(resource: Any) -> str:
    if not isinstance(resource, dict):
        return ""
    kind = str(resource.get("resourceType", "resource"))[:40]
    rid = resource.get("id")
    return f"{kind}/{rid[:64]}" if isinstance(rid, str) and rid else kind


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
