"""Telling a bundle of an older FHIR version (STU3, DSTU2) from a broken R4 one.

Read as R4, an STU3 or DSTU2 export fails with dozens of field errors that hide the one fact the
user needs: the file is of another version and must be converted. A few markers are decisive:
resource types that exist only before R4, and elements whose type changed in R4 (a Condition's
clinicalStatus became a CodeableConcept; DSTU2 named the subject ``patient``).
"""

from __future__ import annotations

from typing import Any

#: Resource types of DSTU2 (1.0) that R4 no longer has, per the FHIR R4 version history.
DSTU2_ONLY = frozenset({"MedicationOrder", "DiagnosticOrder", "Order", "OrderResponse"})
#: Resource types of STU3 (3.0) that R4 no longer has.
STU3_ONLY = frozenset(
    {
        "ProcedureRequest",
        "ReferralRequest",
        "ProcessRequest",
        "ProcessResponse",
        "EligibilityRequest",
        "EligibilityResponse",
        "BodySite",
        "DataElement",
        "ImagingManifest",
        "Sequence",
        "DeviceComponent",
        "ServiceDefinition",
    }
)
#: Resources whose subject DSTU2 called ``patient`` and R4 calls ``subject``.
DSTU2_PATIENT = frozenset({"Condition", "MedicationStatement", "Observation"})


def other_version(bundle: dict[str, Any]) -> str | None:
    """Why ``bundle`` is STU3 or DSTU2 rather than R4, as a message; None when nothing says so."""
    entries = bundle.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        found = _marker(resource)
        if found is not None:
            version, why = found
            return (
                f"this is a FHIR {version} bundle, not R4 ({why}); "
                f"convert it to FHIR R4 first (careligible reads R4 only)"
            )
    return None


def _marker(resource: dict[str, Any]) -> tuple[str, str] | None:
    kind = resource.get("resourceType")
    if kind in DSTU2_ONLY:
        return "DSTU2", f"{kind} exists only in DSTU2"
    if kind in STU3_ONLY:
        return "STU3", f"{kind} exists only before R4"
    if kind in DSTU2_PATIENT and "patient" in resource and "subject" not in resource:
        return "DSTU2", f"{kind}.patient is DSTU2's name for the subject"
    if kind == "Condition":
        for element in ("clinicalStatus", "verificationStatus"):
            if isinstance(resource.get(element), str):
                older = "DSTU2" if "asserter" in resource or "dateRecorded" in resource else "STU3"
                return older, f"Condition.{element} is a code, not a CodeableConcept"
    return None
