"""A broken rule file never produces verdicts: the tool refuses, naming file, line and field.

Each test copies the shipped rules, breaks one thing, and runs both ``careligible rules check``
(exit 1, the problem on stderr as ``file:line: field: problem``) and ``careligible screen`` (exit 2,
the same line on stderr, nothing on stdout). Most breaks are made in one trial file,
``NCT06193889.yaml``; the directories hold only that trial beside the shipped vocabulary,
definitions and considerations, so each of the many catalogs loads quickly. One test breaks
several files of a full copy at once, to show that every problem is reported in one run.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from careligible.catalog import default_rules_dir
from careligible.cli import ExitCode
from careligible.conditions import OPERATORS
from conftest import run_cli as run

RULES = default_rules_dir()
CASE = Path(__file__).resolve().parents[1] / "cases" / "myasthenia-gravis.yaml"
TRIAL = "NCT06193889"  # KYSA-6: the lines below are its anchors
QMG = "{field: scores.qmg, at_least: 11}"
ANTI_CD20 = "classes: [anti_cd20_mab, anti_cd19_mab], stopped_within_weeks: 12}"


def _criterion_index(criterion_id: str) -> int:
    """Where a criterion of the trial's first cohort stands, as messages number it."""
    data = yaml.safe_load((RULES / "trials" / f"{TRIAL}.yaml").read_text(encoding="utf-8"))
    ids = [c["id"] for c in data["cohorts"][0]["criteria"]]
    return ids.index(criterion_id)


Q = _criterion_index("qmg_ge_11")
A = _criterion_index("no_recent_anti_cd20_cd19_mab")


@dataclass
class Where:
    """The file and line a problem must be reported at, and values its message quotes."""

    file: Path
    line: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Break:
    """One way to break a rules directory, and the problem both commands must report."""

    name: str
    mutate: Callable[[Path], Where]
    problem: str  # what follows "file:line: ", with {names} from Where.values


def line_of(path: Path, text: str, occurrence: int = 1) -> int:
    """The number of the ``occurrence``-th line of ``path`` holding ``text``."""
    found = [n for n, ln in enumerate(path.read_bytes().splitlines(), 1) if text.encode() in ln]
    assert len(found) >= occurrence, (path, text)
    return found[occurrence - 1]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def trial_file(root: Path) -> Path:
    return root / "trials" / f"{TRIAL}.yaml"


def replace(old: str, new: str, marker: str | None = None, offset: int = 0) -> Callable[..., Where]:
    """Replace ``old`` in the trial; the problem is on the line of ``marker`` (default: ``new``)."""

    def mutate(root: Path) -> Where:
        path = trial_file(root)
        edit(path, old, new)
        return Where(path, line_of(path, marker or new) + offset)

    return mutate


def in_criterion(criterion_id: str, old: str, new: str) -> Callable[..., Where]:
    """Replace a line of one criterion; the problem is on that line, or the criterion's first."""

    def mutate(root: Path) -> Where:
        path = trial_file(root)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        start = next(i for i, ln in enumerate(lines) if ln.strip() == f"- id: {criterion_id}")
        at = next(i for i in range(start, len(lines)) if lines[i].strip() == old)
        lines[at] = lines[at].replace(old, new) if new else ""
        path.write_text("".join(lines), encoding="utf-8")
        return Where(path, (at if new else start) + 1)

    return mutate


def duplicate_criterion_id(root: Path) -> Where:
    path = trial_file(root)
    edit(path, "- id: qmg_ge_11", "- id: mg_adl_ge_6")
    return Where(
        path, line_of(path, "- id: mg_adl_ge_6", 2), {"first": line_of(path, "- id: mg_adl_ge_6")}
    )


def duplicate_trial(root: Path) -> Where:
    copy = root / "trials" / "NCT09999999.yaml"
    shutil.copy(trial_file(root), copy)
    return Where(copy, line_of(copy, "nct_id:"), {"original": trial_file(root)})


def undefined_definition(root: Path) -> Where:
    (root / "definitions.yaml").write_text(
        "sources:\n"
        '  consensus: {what: "test definitions", checked: 2026-11-24}\n'
        "definitions:\n"
        "  refractory_mg:\n"
        '    text: "failed two immunosuppressants"\n'
        "    when: {therapies: {classes: [immunosuppressant], outcome: [inadequate_response]},"
        " at_least: 2}\n"
        "    source: consensus\n",
        encoding="utf-8",
    )
    return replace(QMG, "{use: refractory_mgg}")(root)


def write_trial(text: str) -> Callable[..., Where]:
    def mutate(root: Path) -> Where:
        trial_file(root).write_text(text, encoding="utf-8")
        return Where(trial_file(root), 1)

    return mutate


def latin1(path_of: Callable[[Path], Path], old: str, new: str) -> Callable[..., Where]:
    """Write ``new`` over ``old`` in Latin-1 bytes: the first byte UTF-8 cannot read is named."""

    def mutate(root: Path) -> Where:
        path = path_of(root)
        data = path.read_bytes()
        assert old.encode() in data
        path.write_bytes(data.replace(old.encode(), new.encode("latin-1"), 1))
        lines = path.read_bytes().splitlines()
        line = next(n for n, ln in enumerate(lines, 1) if new.encode("latin-1") in ln)
        with pytest.raises(UnicodeDecodeError) as bad:
            lines[line - 1].decode("utf-8")
        byte = bad.value.start
        return Where(path, line, {"byte": byte + 1, "value": f"0x{lines[line - 1][byte]:02x}"})

    return mutate


def bad_status_date(root: Path) -> Where:
    path = trial_file(root)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        re.sub(r"^status_as_of: .*$", "status_as_of: 2026-13-29", text, count=1, flags=re.M),
        encoding="utf-8",
    )
    return Where(path, line_of(path, "status_as_of: 2026-13-29"))


def vocabulary(pattern: str, line: str) -> Callable[..., Where]:
    """Replace the first line of the vocabulary matching ``pattern``; the problem is there."""

    def mutate(root: Path) -> Where:
        path = root / "vocabulary" / "drugs.yaml"
        text = path.read_text(encoding="utf-8")
        found = re.search(pattern, text, flags=re.M)
        assert found is not None, pattern
        path.write_text(text[: found.start()] + line + text[found.end() :], encoding="utf-8")
        return Where(path, text.count("\n", 0, found.start()) + 1)

    return mutate


def consideration_axis(root: Path) -> Where:
    path = root / "considerations.yaml"
    text = path.read_text(encoding="utf-8")
    first = re.search(r"^(\s+axis: )(\S+)$", text, flags=re.M)
    assert first is not None
    path.write_text(text[: first.start(2)] + "nonsense" + text[first.end(2) :], encoding="utf-8")
    return Where(path, line_of(path, "axis: nonsense"))


HUGE = "1" + "0" * 5000
C = f"cohorts[0].criteria[{Q}]"
T = f"cohorts[0].criteria[{A}].when.therapies"

BREAKS = [
    Break(
        "yaml-syntax-error",
        replace(QMG, QMG[:-1], offset=1),
        "invalid YAML: expected ',' or '}', but got ':'",
    ),
    Break(
        "unknown-operator",
        replace(QMG, "{field: scores.qmg, at_lest: 11}"),
        f"{C}.when: a field test needs exactly one operator of {', '.join(OPERATORS)}; "
        "did you mean 'at_least'?",
    ),
    Break(
        "unknown-field-path",
        replace(QMG, "{field: scores.qgm, at_least: 11}"),
        f"{C}.when.field: unknown case field 'scores.qgm'; did you mean 'scores.qmg'?",
    ),
    Break(
        "threshold-is-text",
        replace(QMG, "{field: scores.qmg, at_least: eleven}"),
        f"{C}.when.at_least: must be a finite number (got 'eleven')",
    ),
    Break(
        "threshold-is-a-list",
        replace(QMG, "{field: scores.qmg, at_least: [11]}"),
        f"{C}.when.at_least: must be a finite number (got [11])",
    ),
    Break(
        "threshold-is-nan",
        replace(QMG, "{field: scores.qmg, at_least: .nan}"),
        f"{C}.when.at_least: must be a finite number (got nan)",
    ),
    Break(
        "threshold-has-5000-digits",
        replace(QMG, f"{{field: scores.qmg, at_least: {HUGE}}}", marker="at_least: 1000"),
        f"{C}.when.at_least: must be a finite number (got {repr(HUGE)[:37]}...)",
    ),
    Break(
        "therapy-months-is-text",
        replace(ANTI_CD20, ANTI_CD20.replace("weeks: 12", "weeks: twelve")),
        f"{T}.stopped_within_weeks: must be a number of weeks from 0 to 5200 (got 'twelve')",
    ),
    Break(
        "therapy-stopped-within-zero-months",
        replace(ANTI_CD20, ANTI_CD20.replace("weeks: 12", "weeks: 0")),
        f"{T}.stopped_within_weeks: must be above 0 (nothing stops within 0)",
    ),
    Break(
        "unknown-drug-class",
        replace(ANTI_CD20, ANTI_CD20.replace("anti_cd19_mab]", "anti_cd19_mabs]")),
        f"{T}: 'anti_cd19_mabs' is not a drug, class or group of the vocabulary; "
        "did you mean 'anti_cd19_mab'?",
    ),
    Break(
        "unknown-drug",
        replace(
            ANTI_CD20,
            ANTI_CD20.replace("classes: [anti_cd20_mab,", "drugs: [ritoximab], classes: ["),
        ),
        f"{T}: 'ritoximab' is not a drug, class or group of the vocabulary; "
        "did you mean 'rituximab'?",
    ),
    Break(
        "classes-not-a-list",
        replace(ANTI_CD20, ANTI_CD20.replace("[anti_cd20_mab, anti_cd19_mab]", "anti_cd20_mab")),
        f"{T}.classes: must be a list, such as [anti_cd20_mab]",
    ),
    Break(
        "duplicate-criterion-id",
        duplicate_criterion_id,
        f"{C}.id: criterion id 'mg_adl_ge_6' is used twice (first on line {{first}})",
    ),
    Break(
        "criterion-id-of-the-disease-gate",
        replace("- id: qmg_ge_11", "- id: disease"),
        f"{C}.id: criterion id 'disease' is reserved for the cohort's disease gate",
    ),
    Break(
        "duplicate-trial-id",
        duplicate_trial,
        f"nct_id: {TRIAL} is also defined in {{original}}",
    ),
    Break(
        "missing-source",
        in_criterion("qmg_ge_11", "source: registry", ""),
        f"{C}.source: is required",
    ),
    Break(
        "unknown-source",
        in_criterion("qmg_ge_11", "source: registry", "source: registri"),
        f"{C}.source: unknown source 'registri'; this file's sources are registry",
    ),
    Break(
        "use-of-an-undefined-definition",
        undefined_definition,
        f"{C}.when.use: unknown definition 'refractory_mgg'; did you mean 'refractory_mg'?",
    ),
    Break(
        "duplicate-key",
        replace(
            f"when: {QMG}\n", f"when: {QMG}\n        when: {QMG}\n", marker=f"when: {QMG}", offset=1
        ),
        "duplicate key 'when'",
    ),
    Break(
        "nested-too-deeply",
        replace(QMG, "{not: " * 150 + QMG + "}" * 150, marker="{not: {not:"),
        "invalid YAML: nested more than 100 levels deep",
    ),
    Break(
        "impossible-date",
        bad_status_date,
        "status_as_of: must be a date written YYYY-MM-DD (got '2026-13-29')",
    ),
    Break(
        "empty-trial-file", write_trial(""), "the file is empty; a trial file describes one trial"
    ),
    Break(
        "document-marker-only",
        write_trial("---\n"),
        "the file is empty; a trial file describes one trial",
    ),
    Break(
        "comments-only",
        write_trial("# to be encoded\n"),
        "the file is empty; a trial file describes one trial",
    ),
    Break(
        "a-list-not-a-trial",
        write_trial("- nct_id: NCT06193889\n"),
        "must be a mapping of fields (got [{'nct_id': 'NCT06193889'}])",
    ),
    Break(
        "trial-not-utf8",
        latin1(trial_file, "Aged 18 to 75 years.", "Ag\u00e9 18 \u00e0 75 ans."),
        "not UTF-8 text (byte {byte} of the line is {value}); save the file as UTF-8",
    ),
    Break(
        "vocabulary-not-utf8",
        latin1(lambda root: root / "vocabulary" / "drugs.yaml", "classes:", "classes: # \u00e9"),
        "not UTF-8 text (byte {byte} of the line is {value}); save the file as UTF-8",
    ),
    Break(
        "vocabulary-unknown-class",
        vocabulary(r"(?<=^  rituximab:\n)    class: anti_cd20_mab$", "    class: anti_cd20_mabs"),
        "drugs.rituximab.class: unknown class 'anti_cd20_mabs'",
    ),
    Break(
        "vocabulary-aliases-not-a-list",
        vocabulary(r"^    aliases: \[RTX,.*$", "    aliases: RTX"),
        "drugs.rituximab.aliases: must be a list",
    ),
    Break(
        "consideration-unknown-axis",
        consideration_axis,
        "considerations[0].axis: must be one of 'disease', 'refractoriness', 'organ_damage', "
        "'safety' or 'construct' (got 'nonsense')",
    ),
]


def rules_with_one_trial(tmp_path: Path) -> Path:
    """A copy of the shipped rules holding the one trial the breaks are made in."""
    root = tmp_path / "rules"
    shutil.copytree(RULES / "vocabulary", root / "vocabulary")
    for name in ("definitions.yaml", "considerations.yaml"):
        shutil.copy(RULES / name, root / name)
    (root / "trials").mkdir()
    shutil.copy(RULES / "trials" / f"{TRIAL}.yaml", root / "trials")
    return root


def test_the_unbroken_copy_passes(tmp_path: Path) -> None:
    root = rules_with_one_trial(tmp_path)
    check = run("rules", "check", "--rules", root)
    assert check.exit_code == ExitCode.OK and check.stdout.startswith("ok: 1 trials")
    assert run("screen", "--rules", root, CASE).exit_code == ExitCode.OK


@pytest.mark.parametrize("broken", BREAKS, ids=[b.name for b in BREAKS])
def test_a_broken_rule_is_refused_with_its_location(tmp_path: Path, broken: Break) -> None:
    root = rules_with_one_trial(tmp_path)
    where = broken.mutate(root)
    problem = broken.problem.format(**where.values) if where.values else broken.problem
    expected = f"{where.file}:{where.line}: {problem}"

    check = run("rules", "check", "--rules", root)
    assert check.exit_code == ExitCode.RECORD_ERRORS
    assert expected in check.stderr.splitlines(), check.stderr
    assert check.stdout == "" and check.stderr.endswith("problem(s) found\n")

    screen = run("screen", "--rules", root, "--format", "jsonl", CASE)
    assert screen.exit_code == ExitCode.CANNOT_RUN
    assert screen.stdout == ""  # no verdict, not even a partial one
    assert expected in screen.stderr.splitlines(), screen.stderr
    assert "nothing was screened" in screen.stderr


def test_every_problem_of_a_full_catalog_is_reported_in_one_run(tmp_path: Path) -> None:
    """Breaks in several files of a full copy: each is listed, and nothing is screened."""
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    trials = sorted((root / "trials").glob("*.yaml"))
    assert len(trials) >= 4
    trials[0].write_text("", encoding="utf-8")
    with trials[1].open("ab") as out:
        out.write("# r\u00e9vis\u00e9\n".encode("latin-1"))
    with trials[2].open("a", encoding="utf-8") as out:
        out.write("oops: [\n")
    where = replace(QMG, "{field: scores.qgm, at_least: 11}")(root)
    last = {path: len(path.read_bytes().splitlines()) for path in trials[1:3]}
    expected = [
        f"{trials[0]}:1: the file is empty; a trial file describes one trial",
        f"{trials[1]}:{last[trials[1]]}: not UTF-8 text (byte 4 of the line is 0xe9); "
        "save the file as UTF-8",
        f"{trials[2]}:{last[trials[2]] + 1}: invalid YAML: expected the node content, "
        "but found '<stream end>'",
        f"{where.file}:{where.line}: {C}.when.field: unknown case field 'scores.qgm'; "
        "did you mean 'scores.qmg'?",
    ]
    check = run("rules", "check", "--rules", root)
    assert check.exit_code == ExitCode.RECORD_ERRORS
    assert check.stderr.splitlines() == [*expected, "4 problem(s) found"]
    screen = run("screen", "--rules", root, CASE)
    assert screen.exit_code == ExitCode.CANNOT_RUN and screen.stdout == ""
    assert screen.stderr.splitlines() == [
        *expected,
        "careligible: the rule catalog has 4 problem(s); nothing was screened",
    ]
