"""Cards from screening results: which trials a card names, in what order, and when there is none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from careligible.case import Case
from careligible.catalog import Catalog
from careligible.screening import Screener
from careligible.service.cards import RULED_OUT, VERDICTS, cards_for

REPO = Path(__file__).resolve().parents[1]


def sle_case(**changes: Any) -> Case:
    data = yaml.safe_load((REPO / "cases" / "sle-nephritis.yaml").read_text())
    data.update(changes)
    return Case.model_validate(data)


def carded(cards: list[dict[str, Any]]) -> list[str]:
    return [t["nct_id"] for c in cards for t in c["extension"]["careligible"]["trials"]]


def test_every_open_trial_is_on_exactly_one_card(screener: Screener, catalog: Catalog) -> None:
    result = screener.screen(sle_case())
    cards, issued = cards_for(result, catalog, "https://x.test/e")
    open_ids = [t.nct_id for t in result.trials if t.verdict != RULED_OUT]
    assert sorted(carded(cards)) == sorted(open_ids)
    assert [c.card for c in issued] == [c["uuid"] for c in cards]
    assert all(c["links"][0]["url"] == "https://x.test/e" for c in cards)


def test_no_card_when_no_trial_enrols_the_disease(screener: Screener, catalog: Catalog) -> None:
    result = screener.screen(sle_case(disease="sjogren", lupus_nephritis=None))
    assert all(t.verdict == RULED_OUT for t in result.trials)
    assert cards_for(result, catalog, "u") == ([], [])


def test_ruled_out_of_every_trial_of_the_disease_is_one_card(
    screener: Screener, catalog: Catalog
) -> None:
    result = screener.screen(sle_case())
    sle = [t for t in result.trials if t.blocked_by != ["disease"]]
    near, *others = sle
    closed = [
        near.model_copy(
            update={"verdict": RULED_OUT, "blocked_by": ["age"], "only_blocker": "Age"}
        ),
        *(
            t.model_copy(
                update={"verdict": RULED_OUT, "blocked_by": ["a", "b"], "only_blocker": None}
            )
            for t in others
        ),
        *(t for t in result.trials if t.blocked_by == ["disease"]),
    ]
    cards, _ = cards_for(result.model_copy(update={"trials": closed[::-1]}), catalog, "u")
    (card,) = cards
    assert card["extension"]["careligible"]["verdict"] == RULED_OUT
    assert set(carded(cards)) == {t.nct_id for t in sle}  # not the trials of other diseases
    assert carded(cards)[0] == near.nct_id  # the near miss first
    assert "ruled out by one criterion only: Age" in card["detail"]


def test_a_verdict_without_a_label_still_gets_a_card_ranked_last(
    screener: Screener, catalog: Catalog
) -> None:
    result = screener.screen(sle_case())
    first = result.trials[0]
    changed = first.model_copy(update={"verdict": "some_new_verdict"})
    result = result.model_copy(update={"trials": [changed, *result.trials[1:]]})
    cards, _ = cards_for(result, catalog, "u")
    assert cards[-1]["extension"]["careligible"]["verdict"] == "some_new_verdict"
    assert "some new verdict" in cards[-1]["summary"]
    ranks = [VERDICTS[c["extension"]["careligible"]["verdict"]][0] for c in cards[:-1]]
    assert ranks == sorted(ranks)


def test_the_example_hook_call_carries_the_committed_bundle() -> None:
    """The README's example call must stay the fixture's patient-view call."""
    import json

    from servicekit import full_prefetch

    call = json.loads((REPO / "docs" / "examples" / "patient-view-sle.json").read_text())
    assert call["hook"] == "patient-view"
    assert call["prefetch"] == full_prefetch()
    assert call["context"]["patientId"] == call["prefetch"]["patient"]["id"]
