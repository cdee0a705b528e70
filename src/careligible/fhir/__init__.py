"""Cases from FHIR R4 Bundles: the mapping (data, in ``rules/vocabulary/fhir.yaml``) and the import.

The command line (``careligible import-fhir``), the JSON reader behind ``careligible screen`` and
the terminal UI all import through :func:`import_bundle`, so a Bundle means the same case
everywhere. Loading this package does not load ``fhir.resources``; validating a Bundle does.
"""

from __future__ import annotations

from .importer import ImportedCase, default_vocabulary, import_bundle
from .mapping import FhirMapping, default_mapping_path, load_mapping, mapping_of
from .notes import Note
from .validate import BundleError

__all__ = [
    "BundleError",
    "FhirMapping",
    "ImportedCase",
    "Note",
    "default_mapping_path",
    "default_vocabulary",
    "import_bundle",
    "load_mapping",
    "mapping_of",
]
