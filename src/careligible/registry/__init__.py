"""Keeping the catalog true to ClinicalTrials.gov: snapshots, drift, overlay, drafts, sites.

``client`` fetches API v2 records; ``record`` reads them; ``snapshot`` stores them beside the
rules; ``overlay`` lays what may follow the registry over a loaded trial; ``drift`` reports what
a curator must re-read; ``draft`` writes a rule file for a new trial; ``sites`` finds recruiting
sites near a patient. Nothing here rewrites a curator's rule file.
"""
