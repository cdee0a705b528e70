"""Registry snapshots: reading API v2 records, storing them, the overlay, drift, drafts, sites."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from careligible.catalog import load_catalog
from careligible.registry.criteria import split_criteria
from careligible.registry.diseases import load_condition_map
from careligible.registry.draft import draft_rule
from careligible.registry.drift import check_trial, render
from careligible.registry.record import RecordError, parse_age, parse_record, phase_label
from careligible.registry.sites import Area, country_code, distance_km, parse_area
from careligible.registry.snapshot import (
    SnapshotError,
    make_snapshot,
    read_snapshot,
    record_hash,
    store,
)
from careligible.screening import Screener
from conftest import criterion_yaml

FIXTURES = Path(__file__).parent / "fixtures" / "registry"
AGE = criterion_yaml("age_18_65", "{field: age, between: [18, 65]}")
CONSENT = criterion_yaml("consent", None)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def stored(rules: Path, name: str, seen: date | None = None) -> str:
    """Store a fixture record as a snapshot of ``rules``, seen on its last update by default."""
    record = fixture(name)
    posted = parse_record(record).last_update_posted
    _, state = store(rules / "registry", make_snapshot(record, f"file {name}", NOW, seen or posted))
    return state


# --- reading records -------------------------------------------------------------------------


def test_a_record_reads_into_the_catalogs_words() -> None:
    study = parse_record(fixture("NCT00000001-v2.json"))
    assert (study.nct_id, study.status, study.phase) == ("NCT00000001", "suspended", "Phase 1/2")
    assert study.last_update_posted == date(2026, 11, 20)
    assert study.minimum_age is not None and study.minimum_age.years == 18
    assert study.why_stopped == "Test fixture: manufacturing pause"
    assert [s.status for s in study.sites] == ["recruiting", "not_yet_recruiting", "recruiting"]
    assert study.sites[0].lat == pytest.approx(52.52437)


def test_missing_and_na_ages_mean_no_limit_and_months_are_years() -> None:
    study = parse_record(fixture("NCT09990002.json"))
    assert study.minimum_age is None and study.maximum_age is None
    assert study.sex == "female" and study.phase == "Early Phase 1"
    assert parse_age("6 Months") is not None and parse_age("6 Months").years == 0.5  # type: ignore[union-attr]
    assert parse_age("N/A") is None and parse_age("12 Fortnights") is None


def test_a_withdrawn_record_with_almost_nothing_reads() -> None:
    study = parse_record(fixture("NCT09990003.json"))
    assert (study.status, study.phase, study.sites, study.eligibility_criteria) == (
        "withdrawn",
        "not stated",
        (),
        "",
    )
    assert study.sponsor == "Test Academic Centre"  # no lead sponsor: the organisation


@pytest.mark.parametrize(
    ("phases", "label"),
    [(["PHASE2", "PHASE3"], "Phase 2/3"), (["NA"], "Not Applicable"), ([], "not stated")],
)
def test_phases_read_as_the_catalog_writes_them(phases: list[str], label: str) -> None:
    assert phase_label(phases) == label


@pytest.mark.parametrize("data", [[], {"protocolSection": {}}, {"studies": []}])
def test_what_is_not_a_study_record_is_refused(data: Any) -> None:
    with pytest.raises(RecordError):
        parse_record(data)


# --- splitting criteria ----------------------------------------------------------------------


def test_bulleted_criteria_keep_their_sub_items_and_notes() -> None:
    items = split_criteria(parse_record(fixture("NCT00000001-v1.json")).eligibility_criteria)
    assert [(i.kind, i.text[:20]) for i in items] == [
        ("inclusion", "Aged 18 to 65 years "),
        ("inclusion", "Diagnosis of systemi"),
        ("inclusion", "Adequate organ funct"),
        ("exclusion", "Pregnancy or breastf"),
        ("exclusion", "Active infection req"),
    ]
    assert "(with a SLEDAI-2K score >= 6 at screening)" in items[1].text  # unescaped, nested
    assert items[2].text.endswith("Note: prior rituximab is allowed.")


def test_numbered_criteria_and_text_outside_the_sections_are_kept() -> None:
    items = split_criteria(parse_record(fixture("NCT09990002.json")).eligibility_criteria)
    kinds = [i.kind for i in items]
    assert kinds == [None, "inclusion", "inclusion", "inclusion", "exclusion", "exclusion"]
    assert items[2].text.endswith("continuing on a second line of the same item")
    assert "(mycophenolate) (cyclophosphamide)" in items[3].text
    assert items[4].text == "eGFR < 30 mL/min/1.73 m2"
    assert items[5].text.endswith("Other protocol-defined criteria apply.")


# --- snapshots -------------------------------------------------------------------------------


def test_the_first_snapshot_stays_the_baseline(tmp_path: Path) -> None:
    assert stored(tmp_path, "NCT00000001-v1.json") == "new"
    assert stored(tmp_path, "NCT00000001-v1.json") == "unchanged"
    assert stored(tmp_path, "NCT00000001-v2.json") == "changed"
    snapshot = read_snapshot(tmp_path / "registry" / "NCT00000001.json")
    assert snapshot.study.status == "suspended"
    assert snapshot.baseline.status == "recruiting"
    assert snapshot.baseline.sha256 == record_hash(fixture("NCT00000001-v1.json"))
    assert snapshot.sha256 == record_hash(fixture("NCT00000001-v2.json"))


def test_an_edited_snapshot_is_refused_by_its_hash(tmp_path: Path) -> None:
    stored(tmp_path, "NCT00000001-v1.json")
    path = tmp_path / "registry" / "NCT00000001.json"
    path.write_text(path.read_text().replace("RECRUITING", "COMPLETED", 1))
    with pytest.raises(SnapshotError, match="sha256: does not match the record"):
        read_snapshot(path)


# --- the catalog with its snapshots ----------------------------------------------------------


def test_a_newer_snapshot_gives_status_phase_and_sites_but_never_criteria(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    before = load_catalog(rules)
    stored(rules, "NCT00000001-v1.json")  # seen 2026-10-01: older than the file's 2026-11-01
    older = load_catalog(rules).trials[0]
    assert (older.meta.status, older.meta.phase) == ("recruiting", "Phase 1")
    assert len(older.sites) == 3 and older.snapshot is not None
    stored(rules, "NCT00000001-v2.json")  # seen 2026-11-20: newer
    catalog = load_catalog(rules)
    trial = catalog.trials[0]
    assert (trial.meta.status, trial.meta.phase) == ("suspended", "Phase 1/2")
    assert trial.meta.status_as_of == date(2026, 11, 20)
    assert trial.meta.countries == ["DE", "FR"]
    assert trial.as_written.status == "recruiting"  # the rule file is untouched
    assert trial.cohorts == before.trials[0].cohorts
    assert (
        "sha256 " in trial.record_citation
        and "lastUpdatePostDate 2026-11-20" in trial.record_citation
    )
    assert len({before.version, load_catalog(rules).version}) == 2
    assert catalog.version == load_catalog(rules).version  # same files, same version


def test_an_unreadable_snapshot_stops_the_catalog_naming_the_file(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    (rules / "registry").mkdir()
    (rules / "registry" / "NCT00000001.json").write_text("{not json")
    with pytest.raises(Exception, match=r"registry/NCT00000001.json: not valid JSON"):
        load_catalog(rules)


# --- drift -----------------------------------------------------------------------------------


def test_drift_names_the_changed_status_and_diffs_the_edited_criterion(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    stored(rules, "NCT00000001-v1.json")
    first = check_trial(load_catalog(rules).trials[0], load_condition_map(rules))
    assert first is not None and first.topics() == []
    stored(rules, "NCT00000001-v2.json")
    drift = check_trial(load_catalog(rules).trials[0], load_condition_map(rules))
    assert drift is not None
    assert drift.topics() == [
        "status",
        "phase",
        "conditions",
        "conditions since the baseline",
        "eligibility text",
    ]
    status = drift.changes[0]
    assert (status.rule, status.registry) == (
        "recruiting as of 2026-11-01",
        "suspended as of 2026-11-20; why stopped: Test fixture: manufacturing pause",
    )
    assert "-  * with a SLEDAI-2K score \\>= 6 at screening" in drift.text_diff
    assert "+  * with a SLEDAI-2K score \\>= 8 at screening" in drift.text_diff
    assert "lists 'Rheumatoid Arthritis' (ra)" in render(drift)


def test_drift_reports_age_and_sex_limits_the_criteria_do_not_test(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(CONSENT)  # no age criterion at all
    stored(rules, "NCT00000001-v1.json", seen=date(2026, 10, 1))
    drift = check_trial(load_catalog(rules).trials[0], load_condition_map(rules))
    assert drift is not None
    ages = {c.what: (c.rule, c.registry) for c in drift.changes}
    assert ages == {
        "minimum age": ("no limit", "18 Years"),
        "maximum age": ("no limit", "65 Years"),
    }


# --- drafts ----------------------------------------------------------------------------------


def test_a_draft_loads_is_checked_and_is_never_screened(make_rules: Callable[..., Path]) -> None:
    rules = make_rules(AGE)
    snapshot = make_snapshot(fixture("NCT09990002.json"), "file x", NOW, date(2026, 8, 12))
    text = draft_rule(snapshot, load_condition_map(rules))
    (rules / "trials" / "NCT09990002.yaml").write_text(text)
    assert "targets: [CD19]" in text and "&id" not in text  # written as curators write files
    catalog = load_catalog(rules)
    assert [t.nct_id for t in catalog.trials] == ["NCT00000001"]
    (draft,) = catalog.drafts
    assert draft.meta.draft and draft.meta.cell_source == "allogeneic"
    assert draft.meta.targets == ["CD19"] and draft.meta.phase == "Early Phase 1"
    assert draft.cohorts[0].diseases == ("ssc",)
    ids = [c.id for c in draft.cohorts[0].criteria]
    assert ids == [
        "disease",
        "sex_female",
        "item_01",
        "inc_01",
        "inc_02",
        "inc_03",
        "exc_01",
        "exc_02",
    ]
    assert all(c.to_confirm for c in draft.cohorts[0].criteria[2:])
    assert draft.criterion(draft.cohorts[0].id, "sex_female").condition is not None  # type: ignore[union-attr]
    assert "Scleroderma" in " ".join(draft.meta.not_found)  # unmapped: left for the curator
    result = Screener(catalog).screen(_case())
    assert [t.nct_id for t in result.trials] == ["NCT00000001"]


def test_a_draft_of_a_withdrawn_record_leaves_diseases_to_the_curator(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    snapshot = make_snapshot(fixture("NCT09990003.json"), "file x", NOW, date(2025, 3, 3))
    (rules / "trials" / "NCT09990003.yaml").write_text(draft_rule(snapshot, {}))
    (draft,) = load_catalog(rules).drafts
    assert draft.cohorts[0].diseases == () and draft.meta.status == "withdrawn"
    assert draft.meta.cell_source == "unknown" and draft.meta.targets == ["not stated"]


def test_only_a_draft_may_leave_a_cohort_without_diseases(make_rules: Callable[..., Path]) -> None:
    rules = make_rules(AGE)
    path = rules / "trials" / "NCT00000001.yaml"
    path.write_text(path.read_text().replace("diseases: [sle, mg]", "diseases: []"))
    with pytest.raises(Exception, match=r"NCT00000001.yaml:\d+: cohorts\[0\].diseases: must name"):
        load_catalog(rules)


# --- sites -----------------------------------------------------------------------------------


def test_distances_are_geodesic_and_countries_read_as_codes() -> None:
    site = parse_record(fixture("NCT00000001-v1.json")).sites[2]  # Paris
    assert distance_km(52.52437, 13.41053, site) == pytest.approx(878.0, abs=3.0)
    assert [country_code(n) for n in ("Germany", "de", "Korea, Republic of", "Nowhere")] == [
        "DE",
        "DE",
        "KR",
        None,
    ]


def test_only_recruiting_sites_in_the_area_count(make_rules: Callable[..., Path]) -> None:
    rules = make_rules(AGE)
    stored(rules, "NCT00000001-v1.json")
    trial = load_catalog(rules).trials[0]
    near_erlangen = Area(near=(49.59, 11.0), within_km=50)  # only a not-yet-recruiting site
    assert near_erlangen.nearest(trial) is None
    wide = Area(near=(49.59, 11.0), within_km=500).nearest(trial)
    assert wide is not None and wide.city == "Berlin" and 360 < (wide.distance_km or 0) < 375
    france = Area(country="FR").nearest(trial)
    assert france is not None and (france.city, france.distance_km) == ("Paris", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, None, 5.0), "--within needs --near"),
        ((None, "52.5,13.4", None), "--near needs --within"),
        ((None, "north", 5.0), "expected LAT,LON"),
        ((None, "95,13", 5.0), "is not a place"),
        (("Atlantis", None, None), "no country 'Atlantis'"),
    ],
)
def test_area_options_that_do_not_fit_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_area(*args)


def _case() -> Any:
    from careligible.case import Case

    return Case(id="pseudo-1", age=40, disease="sle")


def test_a_record_updated_after_the_file_was_checked_is_flagged_for_review(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    path = rules / "trials" / "NCT00000001.yaml"
    path.write_text(path.read_text().replace("checked: 2026-11-24", "checked: 2026-10-15"))
    stored(rules, "NCT00000001-v1.json")  # last updated 2026-10-01: before the check
    drift = check_trial(load_catalog(rules).trials[0], load_condition_map(rules))
    assert drift is not None and drift.notes == []
    stored(rules, "NCT00000001-v2.json")  # last updated 2026-11-20: after it
    drift = check_trial(load_catalog(rules).trials[0], load_condition_map(rules))
    assert drift is not None
    assert drift.notes == [
        "the registry record was last updated 2026-11-20, after the rule file was checked "
        "(2026-10-15): review its eligibility text"
    ]


def test_listings_and_explanations_cite_the_snapshot_else_the_first_source(
    make_rules: Callable[..., Path],
) -> None:
    from careligible.explain import trial_explanation
    from careligible.listing import show_rule, trial_rows

    rules = make_rules(AGE)
    assert trial_rows(load_catalog(rules))[0]["record"] == "https://example.org/trial"
    stored(rules, "NCT00000001-v2.json")
    catalog = load_catalog(rules)
    sha = record_hash(fixture("NCT00000001-v2.json"))[:12]
    cited = f"snapshot NCT00000001.json (sha256 {sha}, lastUpdatePostDate 2026-11-20"
    assert cited in trial_rows(catalog)[0]["record"]
    assert cited in (show_rule(catalog, "NCT00000001") or "")
    result = Screener(catalog).screen(_case()).trials[0]
    assert cited in trial_explanation(catalog, result)["record"]
