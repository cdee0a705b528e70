"""``careligible rules expand`` against a stand-in terminology server on 127.0.0.1.

The server answers ``ValueSet/$expand`` for implicit SNOMED CT is-a value sets, in pages, as a
FHIR terminology server does. Its codes stand for what a site's server might hold; the tests
check what the command does with them: which lists change, which codes move to the more specific
entry, what is reported, that the input is never replaced and that the refreshed file imports.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from click.testing import CliRunner, Result

from careligible.catalog import default_rules_dir
from careligible.cli import ExitCode, main
from careligible.errors import RulesError
from careligible.fhir import import_bundle, load_mapping, terminology
from careligible.fhir.mapping import default_mapping_path, parse_mapping

SCT = "http://snomed.info/sct"
SLE, NEPHRITIS, CANCER = "55464009", "68815009", "363346000"
#: The stand-in server's expansions: concept -> (code, inactive) for the concept and under it.
EXPANSIONS: dict[str, list[tuple[str, bool]]] = {
    SLE: [
        (SLE, False),
        ("239887007", False),
        (NEPHRITIS, False),
        ("36402006", False),
        ("11013005", False),
        ("196138005", False),
    ],
    NEPHRITIS: [(NEPHRITIS, False), ("36402006", False), ("4676006", False)],
    CANCER: [
        (CANCER, False),
        ("254837009", False),
        ("254637007", False),
        ("93761005", False),
        ("372130007", False),
        ("399068003", True),  # inactive on this server: left out
    ],
}


class Terminology(ThreadingHTTPServer):
    """Serves ``GET /fhir/ValueSet/$expand?url=...&offset=&count=``; unknown concepts are 404."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.expansions = dict(EXPANSIONS)
        self.requests: list[dict[str, list[str]]] = []
        self.nested = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/fhir"


class _Handler(BaseHTTPRequestHandler):
    server: Terminology

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append(query)
        url = query.get("url", [""])[0]
        concept = url.removeprefix(f"{SCT}?fhir_vs=isa/")
        if parts.path != "/fhir/ValueSet/$expand" or concept not in self.server.expansions:
            self.reply(404, _outcome(f"Unable to find value set {url}"))
            return
        offset = int(query.get("offset", ["0"])[0])
        count = int(query.get("count", ["1000"])[0])
        codes = self.server.expansions[concept]
        contains = [
            {"system": SCT, "code": code, **({"inactive": True} if inactive else {})}
            for code, inactive in codes[offset : offset + count]
        ]
        if self.server.nested and len(contains) > 1:
            contains = [{**contains[0], "contains": contains[1:]}]
        expansion = {"total": len(codes), "offset": offset, "contains": contains}
        self.reply(200, {"resourceType": "ValueSet", "url": url, "expansion": expansion})

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


def _outcome(text: str) -> dict[str, Any]:
    issue = {"severity": "error", "code": "not-found", "diagnostics": text}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


@pytest.fixture
def server() -> Iterator[Terminology]:
    stub = Terminology()
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    yield stub
    stub.shutdown()
    stub.server_close()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def condition(name: str, mapping_yaml: Path) -> dict[str, Any]:
    data = yaml.safe_load(mapping_yaml.read_text(encoding="utf-8"))
    found: dict[str, Any] = next(c for c in data["conditions"] if c["name"] == name)
    return found


def snomed(name: str, mapping_yaml: Path) -> list[str]:
    return [str(code) for code in condition(name, mapping_yaml)["codes"]["snomed"]]


def test_expand_refreshes_each_curated_list(server: Terminology, tmp_path: Path) -> None:
    out = tmp_path / "fhir.yaml"
    result = run("rules", "expand", "--server", server.base, "-o", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    # The concept and every active code under it, the parent first.
    assert snomed("systemic lupus erythematosus", out) == [
        SLE,
        "11013005",
        "196138005",
        "239887007",
    ]
    # Nephritis codes are SLE codes too, but stay with the more specific entry only.
    assert snomed("lupus nephritis", out) == [NEPHRITIS, "4676006", "36402006"]
    # The curated codes the server does not return (or returns inactive) are removed.
    assert snomed("malignant neoplasm", out) == [
        CANCER,
        "93761005",
        "254637007",
        "254837009",
        "372130007",
    ]
    assert snomed("multiple sclerosis", out) == snomed("multiple sclerosis", default_mapping_path())
    lines = result.stderr.splitlines()
    assert (
        "systemic lupus erythematosus: snomed 55464009: 2 added (11013005, 196138005), 0 removed, "
        "2 left to a more specific entry" in lines
    )
    assert "lupus nephritis: snomed 68815009: 1 added (4676006), 0 removed" in lines
    assert (
        "malignant neoplasm: snomed 363346000: 1 added (372130007), 4 removed "
        "(109838007, 363406005, 254632001, 399068003)" in lines
    )
    asked = sorted(q["url"][0] for q in server.requests)
    assert asked == sorted(f"{SCT}?fhir_vs=isa/{c}" for c in (SLE, NEPHRITIS, CANCER))
    assert all(q["activeOnly"] == ["true"] for q in server.requests)


def test_the_refreshed_file_is_marked_and_imports(server: Terminology, tmp_path: Path) -> None:
    out = tmp_path / "fhir.yaml"
    assert run("rules", "expand", "--server", server.base, "-o", str(out)).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f"# Refreshed by careligible rules expand from {server.base} on ")
    assert "# snomed list expanded (isa/363346000, 5 codes), not curated: review it" in text
    original = default_mapping_path().read_text(encoding="utf-8")
    kept = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert all(line in text for line in kept)  # the reviewer's comments are kept
    # A cancer code only the server knows now sets the malignancy, as an input bundle shows.
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "pseudo-tx", "gender": "female"}},
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "cond-1",
                    "clinicalStatus": {"coding": [{"code": "active"}]},
                    "code": {"coding": [{"system": SCT, "code": "372130007"}]},
                    "subject": {"reference": "Patient/pseudo-tx"},
                }
            },
        ],
    }
    day = dt.date(2026, 11, 24)
    before = import_bundle(bundle, reference_date=day)
    after = import_bundle(bundle, reference_date=day, mapping=load_mapping(out))
    assert "history" not in before.data
    assert after.data["history"] == {"malignancy": "active"}


def test_expansions_are_read_page_by_page_and_nested(
    server: Terminology, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminology, "PAGE", 2)
    server.nested = True
    out = tmp_path / "fhir.yaml"
    assert run("rules", "expand", "--server", server.base, "-o", str(out)).exit_code == 0
    offsets = sorted(
        int(q["offset"][0]) for q in server.requests if q["url"][0].endswith(f"/{CANCER}")
    )
    assert offsets == [0, 2, 4]
    assert snomed("malignant neoplasm", out) == [
        CANCER,
        "93761005",
        "254637007",
        "254837009",
        "372130007",
    ]


def test_a_concept_the_server_refuses_keeps_its_list(server: Terminology, tmp_path: Path) -> None:
    del server.expansions[NEPHRITIS]
    out = tmp_path / "fhir.yaml"
    result = run("rules", "expand", "--server", server.base, "-o", str(out))
    assert result.exit_code == ExitCode.RECORD_ERRORS
    assert (
        "lupus nephritis: snomed 68815009: not expanded, list kept: "
        f"{SCT}?fhir_vs=isa/68815009: the server refused: Unable to find value set "
        f"{SCT}?fhir_vs=isa/68815009"
    ) in result.stderr
    assert snomed("lupus nephritis", out) == ["68815009", "36402006"]
    # Its codes still belong to it, not to the broader SLE entry.
    assert snomed("systemic lupus erythematosus", out) == [
        SLE,
        "11013005",
        "196138005",
        "239887007",
    ]
    assert "1 concept list(s) not expanded" in result.stderr


def test_an_unreachable_server_writes_nothing(tmp_path: Path) -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens there now
    out = tmp_path / "fhir.yaml"
    result = run("rules", "expand", "--server", f"http://127.0.0.1:{port}/fhir", "-o", str(out))
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert f"cannot reach http://127.0.0.1:{port}/fhir (ConnectionError)" in result.stderr
    assert "no concept could be expanded; nothing was written" in result.stderr
    assert not out.exists()


def test_the_mapping_is_never_replaced(server: Terminology, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    mapping = rules / "vocabulary" / "fhir.yaml"
    before = mapping.read_bytes()
    for target in (mapping, rules / "vocabulary" / "fhir-new.yaml", default_mapping_path()):
        result = run(
            "rules", "expand", "--server", server.base, "--rules", str(rules), "-o", str(target)
        )
        assert result.exit_code == ExitCode.CANNOT_RUN, target
        assert "nothing was written" in result.stderr
    assert mapping.read_bytes() == before
    assert not (rules / "vocabulary" / "fhir-new.yaml").exists()
    assert server.requests == []  # refused before asking the server anything


def test_expand_reads_the_mapping_of_rules(server: Terminology, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    mapping = rules / "vocabulary" / "fhir.yaml"
    text = mapping.read_text(encoding="utf-8")
    mapping.write_text(
        text.replace('    descendants_of: {snomed: ["363346000"]}\n', ""), encoding="utf-8"
    )
    result = run("rules", "expand", "--server", server.base, "--rules", str(rules))
    assert result.exit_code == ExitCode.OK, result.output
    assert not any(q["url"][0].endswith(CANCER) for q in server.requests)
    assert "malignant neoplasm" not in result.stderr
    assert result.stdout.startswith("# Refreshed by careligible rules expand")
    kept = [line for line in text.splitlines() if not line.lstrip().startswith("descendants_of:")]
    mapping.write_text("\n".join(kept) + "\n", encoding="utf-8")
    result = run("rules", "expand", "--server", server.base, "--rules", str(rules))
    assert result.exit_code == ExitCode.CANNOT_RUN
    assert "no entry names descendants_of; there is nothing to expand" in result.stderr


def test_descendants_of_must_name_listed_codes() -> None:
    text = default_mapping_path().read_text(encoding="utf-8")
    broken = text.replace(
        'descendants_of: {snomed: ["68815009"]}', 'descendants_of: {snomed: ["1"]}'
    )
    with pytest.raises(RulesError) as raised:
        parse_mapping(broken, "fhir.yaml")
    (problem,) = raised.value.problems
    line = next(n for n, t in enumerate(broken.splitlines(), 1) if 'snomed: ["1"]' in t)
    assert str(problem).startswith(f"fhir.yaml:{line}: ")
    assert "'1' is not among the entry's snomed codes" in str(problem)
