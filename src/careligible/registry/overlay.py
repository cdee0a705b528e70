"""What follows the registry automatically: the snapshot laid over a trial's rule file.

A curator's rule file is never rewritten. When a trial has a snapshot, the loaded trial takes
its sites (with coordinates and per-site status) from it, and, when the snapshot was seen later
than the rule file's ``status_as_of``, its status, status date, phase and countries as well.
Eligibility criteria never follow the registry by themselves: a changed text is reported by the
drift check for a curator to re-encode.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .sites import countries_of
from .snapshot import Snapshot

if TYPE_CHECKING:
    from ..catalog import Trial


def apply_snapshots(trials: list[Trial], snapshots: dict[str, Snapshot]) -> list[Trial]:
    """Every trial with its snapshot laid over it (trials without one are returned as they are)."""
    return [overlay(t, snapshots[t.nct_id]) if t.nct_id in snapshots else t for t in trials]


def overlay(trial: Trial, snapshot: Snapshot) -> Trial:
    """``trial`` with what the snapshot knows better than the rule file."""
    study = snapshot.study
    update: dict[str, Any] = {}
    if trial.meta.status_as_of is None or snapshot.seen > trial.meta.status_as_of:
        update = {"status": study.status, "status_as_of": snapshot.seen}
        if study.phase != "not stated":
            update["phase"] = study.phase
        countries = countries_of(study.sites)
        if countries:
            update["countries"] = countries
    meta = trial.meta.model_copy(update=update) if update else trial.meta
    return replace(trial, meta=meta, sites=study.sites, snapshot=snapshot, written=trial.meta)
