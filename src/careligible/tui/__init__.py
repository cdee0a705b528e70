"""The clinician terminal UI (Textual). Only this package imports textual."""
