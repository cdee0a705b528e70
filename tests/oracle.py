"""A differential oracle: the rule files read and evaluated in plain Python, apart from the engine.

The engine compiles every condition into durable_rules match expressions and feeds the rule
engine a flattened fact with derived counters; a mistake anywhere in that chain (a compiled
operator, a fact key, a tally, a ruleset split) would silently change a verdict. This module reads
the same YAML files with ``yaml.safe_load`` and evaluates each condition directly over the case, in
Kleene three-valued logic, so the property tests can demand that both readings agree on every
criterion of every cohort. It deliberately imports none of careligible's condition, compiler,
engine, facts or catalog code: only :class:`careligible.case.Case`, the validated input both sides
share. Semantics follow ``docs/rule-format.md`` and ``docs/case-format.md``.

The result has the shape of ``RuleEngine.evaluate``: ``{(nct_id, cohort_id, criterion_id): status}``
for every criterion with a condition (each cohort's automatic ``disease`` criterion included), and
``("considerations", "all", rule_id)`` for the article's considerations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from careligible.case import Case

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"

Status = Literal["met", "not_met", "unknown"]
Verdict = Literal["eligible", "possibly_eligible", "needs_info", "cannot_screen", "ineligible"]
Key = tuple[str, str, str]

#: A Kleene truth value: True is met, False is not met, None is unknown.
Truth = bool | None

#: Where considerations live in the result, as in the engine's result.
CONSIDERATIONS = ("considerations", "all")


def status_of(truth: Truth) -> Status:
    return "unknown" if truth is None else "met" if truth else "not_met"


def kleene_all(values: Iterable[Truth]) -> Truth:
    """False wins, then unknown; true only when every part is true (vacuously for none)."""
    seen_unknown = False
    for value in values:
        if value is False:
            return False
        if value is None:
            seen_unknown = True
    return None if seen_unknown else True


def kleene_any(values: Iterable[Truth]) -> Truth:
    """True wins, then unknown; false only when every part is false."""
    seen_unknown = False
    for value in values:
        if value is True:
            return True
        if value is None:
            seen_unknown = True
    return None if seen_unknown else False


def kleene_not(value: Truth) -> Truth:
    return None if value is None else not value


# --- the drug vocabulary ------------------------------------------------------------------------


def drug_name_key(name: str) -> str:
    """A typed drug name made comparable: case, and runs of spaces, hyphens and underscores,
    do not matter (``Mycophenolate-Mofetil`` is ``mycophenolate mofetil``)."""
    text = name.strip().lower()
    out: list[str] = []
    in_gap = False
    for char in text:
        if char.isspace() or char in "-_":
            if not in_gap:
                out.append(" ")
            in_gap = True
        else:
            out.append(char)
            in_gap = False
    return "".join(out)


@dataclass(frozen=True)
class VocabularyDrug:
    """A drug of the vocabulary and every name a therapy count may select it by."""

    key: str
    drug_class: str
    selectors: frozenset[str]  # its key, its agent, its class and its class's groups
    agent: str = ""  # the ingredient counted: one for every glucocorticoid, one for salts/forms


# --- loading the rules --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleItem:
    """One computable criterion or consideration: its result key, its kind and its condition."""

    key: Key
    kind: str  # inclusion | exclusion | consideration
    when: Any


@dataclass(repr=False)
class OracleRules:
    """Everything the oracle read from a rules directory."""

    items: tuple[RuleItem, ...]
    cohorts: dict[str, dict[str, tuple[RuleItem, ...]]]  # nct_id -> cohort id -> its items
    definitions: dict[str, Any]
    drugs_by_name: dict[str, VocabularyDrug]
    drugs: dict[str, VocabularyDrug] = field(default_factory=dict)
    directory: Path = RULES_DIR
    completeness: dict[str, str] = field(default_factory=dict)  # nct_id -> criteria_complete
    confirm_defines: dict[str, dict[str, bool]] = field(default_factory=dict)

    def __repr__(self) -> str:  # short: Hypothesis prints it beside every falsifying example
        return f"OracleRules({self.directory}, {len(self.items)} items)"

    def lookup(self, typed: str) -> VocabularyDrug | None:
        return self.drugs_by_name.get(drug_name_key(typed))

    def item(self, key: Key) -> RuleItem:
        return next(item for item in self.items if item.key == key)


def _read_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_rules(directory: Path | None = None) -> OracleRules:
    """Read a rules directory the way ``docs/rule-format.md`` describes it."""
    root = Path(directory) if directory is not None else RULES_DIR
    vocab = _read_yaml(root / "vocabulary" / "drugs.yaml") or {}
    class_groups = {
        name: frozenset((spec or {}).get("groups") or [])
        for name, spec in (vocab.get("classes") or {}).items()
    }
    drugs: dict[str, VocabularyDrug] = {}
    by_name: dict[str, VocabularyDrug] = {}
    one_agent = {
        name for name, spec in (vocab.get("classes") or {}).items() if (spec or {}).get("one_agent")
    }
    for key, spec in (vocab.get("drugs") or {}).items():
        drug_class = spec["class"]
        agent = drug_class if drug_class in one_agent else spec.get("agent") or key
        drug = VocabularyDrug(
            key,
            drug_class,
            frozenset({key, agent, drug_class}) | class_groups[drug_class],
            agent,
        )
        drugs[key] = drug
        for name in [key, *(spec.get("aliases") or [])]:
            by_name[drug_name_key(str(name))] = drug

    definitions_path = root / "definitions.yaml"
    definitions: dict[str, Any] = {}
    if definitions_path.exists():
        raw = _read_yaml(definitions_path) or {}
        definitions = {name: spec["when"] for name, spec in (raw.get("definitions") or {}).items()}

    items: list[RuleItem] = []
    cohorts: dict[str, dict[str, tuple[RuleItem, ...]]] = {}
    completeness: dict[str, str] = {}
    defining: dict[str, dict[str, bool]] = {}
    for path in sorted((root / "trials").glob("*.yaml")):
        trial = _read_yaml(path)
        nct = trial["nct_id"]
        completeness[nct] = trial["criteria_complete"]
        general = trial.get("criteria") or []
        cohorts[nct] = {}
        for cohort in trial["cohorts"]:
            cid = cohort["id"]
            # Each cohort opens with an implicit inclusion: the case has one of its diseases.
            own = [
                RuleItem(
                    (nct, cid, "disease"),
                    "inclusion",
                    {"field": "disease", "in": cohort["diseases"]},
                )
            ]
            raws = [*general, *(cohort.get("criteria") or [])]
            # Whether an item only to confirm defines the population: then at best "possibly".
            defining.setdefault(nct, {})[cid] = trial["criteria_complete"] == "partial" or any(
                c.get("when") is None and c.get("defines_population") for c in raws
            )
            for raw_criterion in raws:
                when = raw_criterion.get("when")
                if when is None:
                    continue  # an item to confirm at screening: never evaluated
                own.append(RuleItem((nct, cid, raw_criterion["id"]), raw_criterion["kind"], when))
            cohorts[nct][cid] = tuple(own)
            items.extend(own)

    considerations_path = root / "considerations.yaml"
    if considerations_path.exists():
        raw = _read_yaml(considerations_path) or {}
        for item in raw.get("considerations") or []:
            items.append(RuleItem((*CONSIDERATIONS, item["id"]), "consideration", item["when"]))

    return OracleRules(
        tuple(items), cohorts, definitions, by_name, drugs, root, completeness, defining
    )


@cache
def default_rules() -> OracleRules:
    return load_rules()


# --- evaluating one case ------------------------------------------------------------------------


class CaseView:
    """A case as the oracle reads it: values by dotted path, None when unknown."""

    def __init__(self, case: Case) -> None:
        self.data: dict[str, Any] = case.model_dump(by_alias=True)
        self.therapies: list[dict[str, Any]] | None = self.data.get("therapies")
        # false: treatments not listed may have been given, so no count is ruled out by the list
        self.history_open = self.data.get("therapies_complete") is False

    def value(self, path: str) -> Any:
        if path == "therapies.recorded":
            return self.therapies is not None  # derived, never unknown
        found = self._recorded(path)
        if found is None and path in ("pregnant", "breastfeeding") and self.data["sex"] == "male":
            return False  # cannot apply to a man: decided, not asked
        no_nephritis = (self.data.get("lupus_nephritis") or {}).get("present") is False
        if found is None and no_nephritis:
            return {"lupus_nephritis.class": "none", "lupus_nephritis.active": False}.get(path)
        return found

    def _recorded(self, path: str) -> Any:
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, Mapping) or node.get(part) is None:
                return None
            node = node[part]
        return node


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def field_truth(cond: Mapping[str, Any], view: CaseView) -> Truth:
    """One field test: unknown whenever the fact is absent."""
    ops = [key for key in cond if key != "field"]
    if len(ops) != 1:
        raise ValueError(f"oracle: a field test needs one operator: {dict(cond)}")
    op = ops[0]
    wanted = cond[op]
    fact = view.value(cond["field"])
    if fact is None:
        return None
    if op == "is":
        return bool(fact == wanted)
    if op == "equals":
        return bool(fact == wanted)
    if op == "in":
        return any(fact == option for option in wanted)
    if op == "contains":
        return any(str(item) == str(wanted) for item in fact)
    if op == "count_at_least":
        return bool(len(fact) >= wanted)
    if not _number(fact):
        raise ValueError(f"oracle: {cond['field']} holds {fact!r}, not a number")
    if op == "at_least":
        return bool(fact >= wanted)
    if op == "at_most":
        return bool(fact <= wanted)
    if op == "above":
        return bool(fact > wanted)
    if op == "below":
        return bool(fact < wanted)
    if op == "between":
        low, high = wanted
        return bool(low <= fact <= high)
    raise ValueError(f"oracle: unknown operator {op!r}")


def _outcome_filter(spec: Mapping[str, Any], therapy: Mapping[str, Any]) -> Truth:
    wanted = spec.get("outcome")
    if not wanted:
        return True
    outcome = therapy.get("outcome")
    if outcome in wanted:
        return True
    # Unrecorded, unknown or still running: the treatment may yet turn out to qualify.
    if outcome in (None, "unknown", "ongoing"):
        return None
    return False


DAYS_PER_MONTH = 365.25 / 12


def _months(spec: Mapping[str, Any], name: str) -> float | None:
    """A bound written in months or in weeks (``name`` is its stem), as months."""
    if spec.get(f"{name}_months") is not None:
        return float(spec[f"{name}_months"])
    if spec.get(f"{name}_weeks") is not None:
        return float(spec[f"{name}_weeks"]) * 7 / DAYS_PER_MONTH
    return None


def _duration_filter(spec: Mapping[str, Any], therapy: Mapping[str, Any]) -> Truth:
    at_least, more_than = _months(spec, "min"), _months(spec, "more_than")
    if at_least is None and more_than is None:
        return True
    months = therapy.get("months")
    if months is None:
        return None
    return bool(months >= at_least) if at_least is not None else bool(months > more_than)


def _recency_filter(spec: Mapping[str, Any], therapy: Mapping[str, Any]) -> Truth:
    """Taken within the last N months: stopped strictly less than N months ago.

    A treatment whose outcome is ``ongoing`` and whose stop is unrecorded is still being taken.
    """
    window = _months(spec, "stopped_within")
    if window is None:
        return True
    stopped = therapy.get("stopped_months_ago")
    if stopped is None and therapy.get("outcome") == "ongoing":
        stopped = 0
    return None if stopped is None else bool(stopped < window)


def therapy_count_truth(cond: Mapping[str, Any], view: CaseView, rules: OracleRules) -> Truth:
    """At least K distinct treatments qualify: true when K surely do, false when fewer than K
    even possibly do. Drugs of one ``count_as_one`` group are one treatment."""
    if set(cond) != {"therapies", "at_least"}:
        raise ValueError(f"oracle: a therapy count takes therapies and at_least: {dict(cond)}")
    if view.therapies is None:
        return None
    spec = cond["therapies"]
    needed: int = cond["at_least"]
    selectors = {*(spec.get("drugs") or []), *(spec.get("classes") or [])}
    groups: list[list[str]] = spec.get("count_as_one") or []
    per_treatment: dict[str, Truth] = {}
    for therapy in view.therapies:
        drug = rules.lookup(therapy["drug"])
        if drug is None or not (drug.selectors & selectors):
            continue  # unknown drugs belong to no class
        qualifies = kleene_all(
            [
                _outcome_filter(spec, therapy),
                _duration_filter(spec, therapy),
                _recency_filter(spec, therapy),
            ]
        )
        by_class = spec.get("count") == "classes"
        treatment = next(
            (f"group{index}" for index, group in enumerate(groups) if drug.selectors & set(group)),
            f"class:{drug.drug_class}" if by_class else f"agent:{drug.agent}",
        )
        per_treatment[treatment] = kleene_any([per_treatment.get(treatment, False), qualifies])
    surely = sum(1 for truth in per_treatment.values() if truth is True)
    possibly = sum(1 for truth in per_treatment.values() if truth is not False)
    if surely >= needed:
        return True
    if possibly < needed and not view.history_open:
        return False
    return None


def truth_of(cond: Any, view: CaseView, rules: OracleRules) -> Truth:
    """A condition of the rule format, evaluated in Kleene logic."""
    if not isinstance(cond, Mapping):
        raise ValueError(f"oracle: a condition must be a mapping: {cond!r}")
    if "use" in cond:
        return truth_of(rules.definitions[cond["use"]], view, rules)
    if "decide" in cond:  # one-sided: met if, else not met if, else unknown
        sides = cond["decide"]
        if "met_if" in sides and truth_of(sides["met_if"], view, rules) is True:
            return True
        if "not_met_if" in sides and truth_of(sides["not_met_if"], view, rules) is True:
            return False
        return None
    if "all" in cond:
        return kleene_all(truth_of(part, view, rules) for part in cond["all"])
    if "any" in cond:
        return kleene_any(truth_of(part, view, rules) for part in cond["any"])
    if "not" in cond:
        return kleene_not(truth_of(cond["not"], view, rules))
    if "therapies" in cond:
        return therapy_count_truth(cond, view, rules)
    if "field" in cond:
        return field_truth(cond, view)
    raise ValueError(f"oracle: unknown condition form {dict(cond)}")


def contradicts(cond: Any, case: Case, rules: OracleRules) -> bool:
    """True when, somewhere in ``cond``, both sides of a ``decide:`` hold for ``case``: facts
    that contradict the bound, where the rule format lets *met* win."""
    view = CaseView(case)
    for node in _nodes(cond, rules):
        sides = node.get("decide")
        if sides and all(
            truth_of(sides[side], view, rules) is True for side in ("met_if", "not_met_if")
        ):
            return True
    return False


def _nodes(cond: Any, rules: OracleRules) -> Iterator[Mapping[str, Any]]:
    """Every node of a condition tree, definitions followed."""
    if not isinstance(cond, Mapping):
        return
    yield cond
    if "use" in cond:
        yield from _nodes(rules.definitions[cond["use"]], rules)
    for key in ("all", "any"):
        for part in cond.get(key) or []:
            yield from _nodes(part, rules)
    if "not" in cond:
        yield from _nodes(cond["not"], rules)
    for side in (cond.get("decide") or {}).values():
        yield from _nodes(side, rules)


def evaluate_case(case: Case, rules: OracleRules | None = None) -> dict[Key, Status]:
    """The status of every computable criterion and consideration for one case."""
    rules = rules or default_rules()
    view = CaseView(case)
    return {item.key: status_of(truth_of(item.when, view, rules)) for item in rules.items}


def evaluate_catalog(
    cases: Iterable[Case], rules: OracleRules | None = None
) -> list[dict[Key, Status]]:
    """:func:`evaluate_case` over many cases; also what the benchmark times."""
    rules = rules or default_rules()
    return [evaluate_case(case, rules) for case in cases]


# --- verdicts, for checking the engine's aggregation --------------------------------------------

_RANK: dict[Verdict, int] = {
    "eligible": 0,
    "possibly_eligible": 1,
    "needs_info": 2,
    "cannot_screen": 3,
    "ineligible": 4,
}


def cohort_verdict(
    items: Sequence[RuleItem],
    statuses: Mapping[Key, Status],
    complete: str = "full",
    confirm_defines: bool = False,
) -> Verdict:
    """Ineligible when an inclusion fails or an exclusion holds; cannot screen when the catalog
    has no criteria text; needs information while a computable criterion is unknown; possibly
    eligible while a population-defining item is only to confirm; else eligible."""
    blocking = {"inclusion": "not_met", "exclusion": "met"}
    settled = {"inclusion": "met", "exclusion": "not_met"}
    if any(statuses[item.key] == blocking[item.kind] for item in items):
        return "ineligible"
    if complete == "none":
        return "cannot_screen"
    if not all(statuses[item.key] == settled[item.kind] for item in items):
        return "needs_info"
    return "possibly_eligible" if confirm_defines else "eligible"


def trial_verdicts(
    statuses: Mapping[Key, Status], rules: OracleRules | None = None
) -> dict[str, Verdict]:
    """Each trial's verdict: that of its most favourable cohort."""
    rules = rules or default_rules()
    return {
        nct: min(
            (
                cohort_verdict(
                    items, statuses, rules.completeness[nct], rules.confirm_defines[nct][cid]
                )
                for cid, items in cohorts.items()
            ),
            key=_RANK.__getitem__,
        )
        for nct, cohorts in rules.cohorts.items()
    }


def met_considerations(statuses: Mapping[Key, Status]) -> list[str]:
    """The ids of the considerations shown for a case, in file order."""
    return [
        key[2] for key, status in statuses.items() if key[:2] == CONSIDERATIONS and status == "met"
    ]


# --- what the rules read, for the case generators -----------------------------------------------


def _conditions(cond: Any, rules: OracleRules) -> Iterator[Mapping[str, Any]]:
    """Every leaf condition (field test or therapy count) of a condition tree."""
    if "use" in cond:
        yield from _conditions(rules.definitions[cond["use"]], rules)
    elif "all" in cond or "any" in cond:
        for part in cond.get("all") or cond.get("any"):
            yield from _conditions(part, rules)
    elif "not" in cond:
        yield from _conditions(cond["not"], rules)
    elif "decide" in cond:
        for side in cond["decide"].values():
            yield from _conditions(side, rules)
    else:
        yield cond


def facts_read(cond: Any, case: Case, rules: OracleRules | None = None) -> dict[str, Any]:
    """The facts a condition reads and their values (None = unknown), to explain a failure."""
    rules = rules or default_rules()
    view = CaseView(case)
    out: dict[str, Any] = {}
    for leaf in _conditions(cond, rules):
        if "therapies" in leaf:
            out["therapies"] = view.therapies
        else:
            out[leaf["field"]] = view.value(leaf["field"])
    return out


def thresholds(rules: OracleRules | None = None) -> dict[str, set[float]]:
    """The numbers the rules compare each fact against, by dotted path.

    Therapy filters are reported under ``therapies.months``, ``therapies.stopped_months_ago`` and,
    for the counts themselves, ``therapies.count``; ``count_at_least`` under the list's path.
    """
    rules = rules or default_rules()
    found: dict[str, set[float]] = {}
    for item in rules.items:
        for leaf in _conditions(item.when, rules):
            if "therapies" in leaf:
                spec = leaf["therapies"]
                found.setdefault("therapies.count", set()).add(leaf["at_least"])
                for stem in ("min", "more_than"):
                    if (months := _months(spec, stem)) is not None:
                        found.setdefault("therapies.months", set()).add(months)
                if (window := _months(spec, "stopped_within")) is not None:
                    found.setdefault("therapies.stopped_months_ago", set()).add(window)
                continue
            for op, value in leaf.items():
                if op == "field":
                    continue
                values = value if isinstance(value, list) else [value]
                numbers = {v for v in values if _number(v)}
                if numbers:
                    found.setdefault(leaf["field"], set()).update(numbers)
    return found


def contained_items(rules: OracleRules | None = None) -> dict[str, set[str]]:
    """The items rules look for in each list fact (``contains``), by dotted path."""
    rules = rules or default_rules()
    found: dict[str, set[str]] = {}
    for item in rules.items:
        for leaf in _conditions(item.when, rules):
            if "contains" in leaf:
                found.setdefault(leaf["field"], set()).add(str(leaf["contains"]))
    return found


def text_values(rules: OracleRules | None = None) -> dict[str, set[str]]:
    """The strings rules compare each fact with (``equals`` / ``in``), by dotted path."""
    rules = rules or default_rules()
    found: dict[str, set[str]] = {}
    for item in rules.items:
        for leaf in _conditions(item.when, rules):
            for op in ("equals", "in"):
                if op in leaf:
                    values = leaf[op] if isinstance(leaf[op], list) else [leaf[op]]
                    found.setdefault(leaf["field"], set()).update(
                        v for v in values if isinstance(v, str)
                    )
    return found
