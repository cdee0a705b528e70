"""The registry commands against a real HTTP server on 127.0.0.1, and screen --near/--country."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from careligible.cli import main
from careligible.registry.client import RegistryClient, RegistryError
from conftest import criterion_yaml

FIXTURES = Path(__file__).parent / "fixtures" / "registry"
AGE = criterion_yaml("age_18_65", "{field: age, between: [18, 65]}")


class Registry(ThreadingHTTPServer):
    """A stand-in registry: serves the fixtures, after ``failures`` answers of ``fail_with``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.records = {
            "NCT00000001": FIXTURES / "NCT00000001-v1.json",
            "NCT09990002": FIXTURES / "NCT09990002.json",
        }
        self.failures = 0
        self.fail_with = 503
        self.retry_after: str | None = None
        self.delay = 0.0
        self.requests: list[str] = []

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v2"


class _Handler(BaseHTTPRequestHandler):
    server: Registry

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        time.sleep(self.server.delay)
        if self.server.failures:
            self.server.failures -= 1
            self.send_response(self.server.fail_with)
            if self.server.retry_after:
                self.send_header("Retry-After", self.server.retry_after)
            self.end_headers()
            return
        nct = self.path.split("?")[0].rsplit("/", 1)[-1]
        path = self.server.records.get(nct)
        body = path.read_bytes() if path else b'{"message": "not found"}'
        self.send_response(200 if path else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def registry() -> Iterator[Registry]:
    server = Registry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client(api: str, sleeps: list[float], **kwargs: float) -> RegistryClient:
    return RegistryClient(api, min_interval=0.0, sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


# --- the client ------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_back_off(registry: Registry) -> None:
    registry.failures = 2
    sleeps: list[float] = []
    with client(registry.api, sleeps) as c:
        record = c.study("NCT00000001")
    assert record["protocolSection"]["identificationModule"]["nctId"] == "NCT00000001"
    assert len(registry.requests) == 3 and sleeps == [2.0, 4.0]
    assert registry.requests[0] == "/api/v2/studies/NCT00000001?format=json"


def test_the_servers_retry_after_is_honoured(registry: Registry) -> None:
    registry.failures, registry.fail_with, registry.retry_after = 1, 429, "7"
    sleeps: list[float] = []
    with client(registry.api, sleeps) as c:
        c.study("NCT00000001")
    assert sleeps == [7.0]


def test_a_failing_registry_gives_up_after_the_last_attempt(registry: Registry) -> None:
    registry.failures, registry.fail_with = 10, 500
    with client(registry.api, []) as c, pytest.raises(RegistryError, match="HTTP 500 after 4"):
        c.study("NCT00000001")
    assert len(registry.requests) == 4


def test_an_unknown_trial_is_not_retried(registry: Registry) -> None:
    with client(registry.api, []) as c, pytest.raises(RegistryError, match="not found"):
        c.study("NCT09999999")
    assert len(registry.requests) == 1


def test_a_slow_registry_times_out(registry: Registry) -> None:
    registry.delay = 1.0
    slow = client(registry.api, [], timeout=0.2, attempts=2)
    with slow as c, pytest.raises(RegistryError, match="timed out after 2"):
        c.study("NCT00000001")


def test_no_server_at_all_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nobody = client(f"http://127.0.0.1:{port}/api/v2", [], attempts=2)
    with nobody as c, pytest.raises(RegistryError, match="cannot connect"):
        c.study("NCT00000001")


def test_requests_are_paced(registry: Registry) -> None:
    sleeps: list[float] = []
    with RegistryClient(registry.api, min_interval=30.0, sleep=sleeps.append) as c:
        c.study("NCT00000001")
        c.study("NCT09990002")
    assert len(sleeps) == 1 and 29.0 < sleeps[0] <= 30.0


# --- registry pull / load / check ------------------------------------------------------------


def test_pull_stores_what_it_got_and_names_what_it_could_not(
    registry: Registry, make_rules: Callable[..., Path]
) -> None:
    rules = make_rules(AGE)
    result = run(
        "registry",
        "pull",
        "NCT00000001",
        "NCT09999999",
        "--rules",
        str(rules),
        "--api",
        registry.api,
    )
    assert result.exit_code == 1, result.output
    assert "NCT09999999: not found in the registry" in result.output
    assert "NCT00000001:" in result.output and ", new)" in result.output
    stored = json.loads((rules / "registry" / "NCT00000001.json").read_text())
    assert stored["source"] == f"{registry.api}/studies/NCT00000001"
    assert stored["last_update_post_date"] == "2026-10-01" and len(stored["sha256"]) == 64


def test_pull_refuses_what_is_not_an_nct_id(make_rules: Callable[..., Path]) -> None:
    result = run("registry", "pull", "NCT123", "--rules", str(make_rules(AGE)))
    assert result.exit_code == 2 and "not an NCT id" in result.output


def test_load_and_check_name_a_changed_status_and_an_edited_criterion(
    make_rules: Callable[..., Path],
) -> None:
    rules = make_rules(AGE)
    rule_file = rules / "trials" / "NCT00000001.yaml"
    written = rule_file.read_bytes()
    for name in ("NCT00000001-v1.json", "NCT00000001-v2.json"):
        loaded = run("registry", "load", str(FIXTURES / name), "--rules", str(rules))
        assert loaded.exit_code == 0, loaded.output
    check = run("registry", "check", "--rules", str(rules))
    assert check.exit_code == 1, check.output
    assert (
        "status: rule file says recruiting as of 2026-11-01; registry says suspended as of "
        "2026-11-20" in check.output
    )
    assert "\n    +  * with a SLEDAI-2K score \\>= 8 at screening\n" in check.output
    assert "1 of 1 trial(s) with a snapshot differ from it" in check.output
    rules_check = run("rules", "check", "--rules", str(rules))
    assert rules_check.exit_code == 0
    assert "differs from its registry snapshot (status, phase, conditions" in rules_check.output
    assert rule_file.read_bytes() == written  # nothing rewrote the rule file


def test_load_reports_each_bad_record_and_stores_the_rest(
    tmp_path: Path, make_rules: Callable[..., Path]
) -> None:
    rules = make_rules(AGE)
    page = tmp_path / "page.json"
    good = json.loads((FIXTURES / "NCT09990003.json").read_text())
    page.write_text(json.dumps({"studies": [{"protocolSection": {}}, good]}))
    result = run(
        "registry", "load", str(page), str(tmp_path / "absent.json"), "--rules", str(rules)
    )
    assert result.exit_code == 1
    assert (
        f"{page}: studies[0]: protocolSection.identificationModule.nctId is missing"
        in result.output
    )
    assert "absent.json: cannot read" in result.output
    assert (rules / "registry" / "NCT09990003.json").exists()


# --- rules draft -----------------------------------------------------------------------------


def test_a_draft_of_a_new_trial_passes_rules_check_and_is_not_screened(
    tmp_path: Path, make_rules: Callable[..., Path]
) -> None:
    rules = make_rules(AGE)
    target = rules / "trials" / "NCT09990002.yaml"
    source = FIXTURES / "NCT09990002.json"
    result = run("rules", "draft", str(source), "--output", str(target), "--rules", str(rules))
    assert result.exit_code == 0, result.output
    assert target.read_text().startswith("# DRAFT from ClinicalTrials.gov record NCT09990002")
    check = run("rules", "check", "--rules", str(rules))
    assert check.exit_code == 0, check.output
    assert "ok: 1 trials" in check.output and "1 draft(s) left out of screening" in check.output
    again = run("rules", "draft", str(source), "--output", str(target), "--rules", str(rules))
    assert again.exit_code == 2 and "a draft never replaces a file" in again.output
    case = tmp_path / "case.yaml"
    case.write_text("id: pseudo-7\nage: 40\nsex: female\ndisease: ssc\n")
    screened = run("screen", str(case), "--format", "json", "--rules", str(rules))
    assert [t["nct_id"] for t in json.loads(screened.output)[0]["trials"]] == ["NCT00000001"]


def test_a_draft_from_a_stored_snapshot_cites_it(make_rules: Callable[..., Path]) -> None:
    rules = make_rules(AGE)
    run("registry", "load", str(FIXTURES / "NCT09990003.json"), "--rules", str(rules))
    snapshot = rules / "registry" / "NCT09990003.json"
    result = run("rules", "draft", str(snapshot), "--rules", str(rules))
    assert result.exit_code == 0
    sha = json.loads(snapshot.read_text())["sha256"]
    assert f"snapshot NCT09990003.json (sha256 {sha[:12]}" in result.output
    assert "status: withdrawn" in result.output and "draft: true" in result.output


# --- screen --near / --country ---------------------------------------------------------------


@pytest.fixture
def two_trials(make_rules: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    """Two trials, only the first with a snapshot (sites in Berlin, Erlangen, Paris)."""
    rules = make_rules(AGE)
    first = (rules / "trials" / "NCT00000001.yaml").read_text()
    (rules / "trials" / "NCT00000002.yaml").write_text(first.replace("NCT00000001", "NCT00000002"))
    run("registry", "load", str(FIXTURES / "NCT00000001-v1.json"), "--rules", str(rules))
    case = tmp_path / "case.yaml"
    case.write_text("id: pseudo-3\nage: 40\ndisease: sle\n")
    return rules, case


def screen(rules: Path, case: Path, *options: str) -> Result:
    return run("screen", str(case), "--rules", str(rules), *options)


def test_near_keeps_only_trials_with_a_recruiting_site_in_range(
    two_trials: tuple[Path, Path],
) -> None:
    rules, case = two_trials
    berlin = screen(rules, case, "--format", "json", "--near", "52.52,13.40", "--within", "25")
    assert berlin.exit_code == 0, berlin.output
    (trial,) = json.loads(berlin.output)[0]["trials"]
    assert trial["nct_id"] == "NCT00000001"
    assert trial["nearest_site"]["city"] == "Berlin" and trial["nearest_site"]["distance_km"] < 2
    erlangen = screen(rules, case, "--format", "json", "--near", "49.59,11.0", "--within", "50")
    assert json.loads(erlangen.output)[0]["trials"] == []  # its site there is not yet recruiting


def test_country_keeps_trials_recruiting_there_and_every_format_names_the_site(
    two_trials: tuple[Path, Path],
) -> None:
    rules, case = two_trials
    csv = screen(rules, case, "--format", "csv", "--country", "FR")
    assert csv.exit_code == 0, csv.output
    header, row = csv.output.splitlines()[:2]
    assert header.endswith(",nearest_sites")
    assert row.endswith(',"NCT00000001: Test Hospital Paris, Paris, France"')
    wide = ["--country", "France", "--near", "48.85,2.35", "--within", "10"]
    table = CliRunner().invoke(
        main, ["screen", str(case), "--rules", str(rules), *wide], env={"COLUMNS": "300"}
    )
    assert "nearest recruiting site: Test Hospital Paris, Paris, France (0." in table.output
    assert "NCT00000002" not in table.output


@pytest.mark.parametrize(
    ("options", "message"),
    [(("--within", "5"), "--within needs --near"), (("--country", "Atlantis"), "no country")],
)
def test_area_options_that_do_not_fit_cannot_run(
    two_trials: tuple[Path, Path], options: tuple[str, ...], message: str
) -> None:
    result = screen(*two_trials, *options)
    assert result.exit_code == 2 and message in result.output
