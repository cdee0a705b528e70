"""Small readers of FHIR data types that every stage of the import shares.

A CodeableConcept is read as its (system, code) pairs and its texts; a Quantity as a number and
the unit to convert from; a resource as the label a note names it by.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.quantity import Quantity
    from fhir.resources.R4B.resource import Resource

UCUM = "http://unitsofmeasure.org"


class Refused(Exception):
    """A value that cannot be mapped; the message says why."""


def codes(concept: CodeableConcept | None) -> list[tuple[str | None, str]]:
    if concept is None:
        return []
    return [(c.system, c.code) for c in concept.coding or [] if c.code]


def texts(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    found = [concept.text] + [c.display for c in concept.coding or []]
    return [t for t in found if t]


def status_code(concept: CodeableConcept | None) -> str | None:
    found = codes(concept)
    return found[0][1] if found else None


def unit_of(quantity: Quantity) -> str:
    """The unit to convert from: the UCUM code when there is one, else the human-readable unit."""
    if quantity.code and (quantity.system in (None, UCUM)):
        return str(quantity.code)
    return str(quantity.unit or quantity.code or "")


def number(value: Decimal | int | float) -> float:
    return float(value)


def label(resource: Resource, index: int) -> str:
    """How a note names a resource: ``Observation/obs-1``, else its kind and entry number."""
    kind = resource.get_resource_type()
    return f"{kind}/{resource.id}" if resource.id else f"{kind} (entry {index})"


def keys(resource: Resource, url: Any) -> list[str]:
    """Every reference that may point at ``resource``: ``Kind/id`` and its fullUrl."""
    found = [f"{resource.get_resource_type()}/{resource.id}"] if resource.id else []
    return [*found, str(url)] if url else found
