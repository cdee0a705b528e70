"""``careligible serve`` over real HTTP: a uvicorn server on 127.0.0.1, a stub EHR, signed tokens.

The central check: a ``patient-view`` call carrying the committed SLE bundle returns cards whose
trials and verdicts are exactly those ``careligible screen`` gives the same bundle, minus the
trials it rules out.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from careligible.audit import chain_break, read_log
from careligible.service.privacy import Pseudonymizer
from servicekit import (
    BUNDLE,
    FHIR_TOKEN,
    ISSUER,
    REPO,
    Keys,
    Served,
    StubEhr,
    full_prefetch,
    hook_call,
    running,
)

HOOK = "/cds-services/careligible-car-t-trials"
PATIENT = "pseudo-sle-01"  # the Patient id in the committed bundle: an EHR identifier here


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="module")
def ehr(keys: Keys) -> Iterator[StubEhr]:
    stub = StubEhr(keys)
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ehr: StubEhr) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    flags = ["--workers", "2", "--max-body", "400000", "--fhir-server", f"{ehr.url}/fhir"]
    with running(tmp, *flags, "--trust-issuer", f"{ISSUER}={ehr.url}/jwks.json") as served:
        yield served


def post(server: Served, path: str, body: Any, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(server.url + path, json=body, headers=headers, timeout=60)


def signed(keys: Keys, server: Served, path: str = HOOK) -> str:
    return keys.token(audience=server.url + path)


def screen_command(path: Path) -> list[dict[str, Any]]:
    """What ``careligible screen --format json`` writes for ``path``."""
    done = subprocess.run(
        [sys.executable, "-m", "careligible", "screen", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records: list[dict[str, Any]] = json.loads(done.stdout)
    return records


def card_verdicts(cards: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for card in cards:
        for trial in card["extension"]["careligible"]["trials"]:
            assert trial["nct_id"] not in out, "a trial is on two cards"
            out[trial["nct_id"]] = trial["verdict"]
    return out


def open_verdicts(record: dict[str, Any]) -> dict[str, str]:
    return {t["nct_id"]: t["verdict"] for t in record["trials"] if t["verdict"] != "ineligible"}


def test_discovery_needs_no_token_and_asks_for_the_prefetch(server: Served) -> None:
    response = httpx.get(server.url + "/cds-services", timeout=10)
    assert response.status_code == 200
    (service,) = response.json()["services"]
    assert service["hook"] == "patient-view"
    assert service["id"] == "careligible-car-t-trials"
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert set(service["prefetch"]) >= {"conditions", "observations", "medicationRequests"}


def test_hook_cards_give_the_verdicts_of_screen(server: Served, keys: Keys) -> None:
    response = post(server, HOOK, hook_call(full_prefetch()), signed(keys, server))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    (expected,) = screen_command(BUNDLE)
    assert open_verdicts(expected), "the SLE bundle must leave some trial open"
    assert card_verdicts(cards) == open_verdicts(expected)
    assert len(cards) == len(set(open_verdicts(expected).values()))  # one card per verdict
    ranks = {"eligible": 0, "possibly_eligible": 1, "needs_info": 2, "cannot_screen": 3}
    order = [ranks[c["extension"]["careligible"]["verdict"]] for c in cards]
    assert order == sorted(order)
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["source"]["label"].startswith("careligible")
        assert card["links"][0]["url"].startswith(server.url + "/explanations/")
    needs = [c for c in cards if c["extension"]["careligible"]["verdict"] == "needs_info"]
    assert needs and "missing:" in needs[0]["detail"] and "Ask next" in needs[0]["detail"]


def test_card_link_shows_the_full_explanation(server: Served, keys: Keys) -> None:
    cards = post(server, HOOK, hook_call(full_prefetch()), signed(keys, server)).json()["cards"]
    link = cards[0]["links"][0]["url"]
    text = httpx.get(link, timeout=10)
    assert text.status_code == 200
    first = cards[0]["extension"]["careligible"]["trials"][0]["nct_id"]
    assert first in text.text and "source" in text.text
    as_json = httpx.get(link, params={"format": "json"}, timeout=10).json()
    assert as_json["case_id"] == Pseudonymizer(server.secret)(PATIENT)
    assert httpx.get(server.url + "/explanations/not-a-token", timeout=10).status_code == 404
    token = link.rsplit("/", 1)[1]
    assert token not in server.logs() and "/explanations/<token>" in server.logs()


def test_missing_prefetch_is_read_from_the_fhir_server(
    server: Served, keys: Keys, ehr: StubEhr
) -> None:
    prefetch = {"patient": full_prefetch()["patient"]}  # the EHR sent the patient only
    call = hook_call(
        prefetch,
        fhirServer=f"{ehr.url}/fhir",
        fhirAuthorization={"access_token": FHIR_TOKEN, "token_type": "Bearer", "scope": "x"},
    )
    before = len(ehr.requests)
    response = post(server, HOOK, call, signed(keys, server))
    assert response.status_code == 200, response.text
    (expected,) = screen_command(BUNDLE)
    assert card_verdicts(response.json()["cards"]) == open_verdicts(expected)
    fetched = ehr.requests[before:]
    assert all(auth == f"Bearer {FHIR_TOKEN}" for _, auth in fetched)
    assert any("page=1" in path for path, _ in fetched)  # observations span several pages
    assert not any(path.startswith("/fhir/Patient") for path, _ in fetched)


def test_missing_prefetch_without_a_fhir_server_is_412(server: Served, keys: Keys) -> None:
    call = hook_call({"patient": full_prefetch()["patient"]})
    response = post(server, HOOK, call, signed(keys, server))
    assert response.status_code == 412
    assert "conditions" in response.json()["error"]


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("http://127.0.0.1:9/fhir", id="another server"),
        pytest.param("{ehr}/fhirevil", id="a sibling path"),
        pytest.param("file:///etc/fhir", id="not http"),
    ],
)
def test_a_fhir_server_not_configured_is_never_read(
    server: Served, keys: Keys, ehr: StubEhr, where: str
) -> None:
    """The hook names its own fhirServer: only the site's configured bases are read, so a
    caller cannot make the service send the EHR's token elsewhere."""
    call = hook_call(
        {"patient": full_prefetch()["patient"]},
        fhirServer=where.format(ehr=ehr.url),
        fhirAuthorization={"access_token": FHIR_TOKEN, "token_type": "Bearer"},
    )
    before = len(ehr.requests)
    response = post(server, HOOK, call, signed(keys, server))
    assert response.status_code == 412
    assert "--fhir-server" in response.json()["error"]
    assert len(ehr.requests) == before


def test_fhir_server_refusing_the_token_is_412(server: Served, keys: Keys, ehr: StubEhr) -> None:
    call = hook_call(
        {"patient": full_prefetch()["patient"]},
        fhirServer=f"{ehr.url}/fhir",
        fhirAuthorization={"access_token": "wrong", "token_type": "Bearer"},
    )
    response = post(server, HOOK, call, signed(keys, server))
    assert response.status_code == 412
    assert "401" in response.json()["error"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda keys, url: None, id="no token"),
        pytest.param(lambda keys, url: "not-a-jwt", id="not a JWT"),
        pytest.param(lambda keys, url: Keys(kid=keys.kid).token(url), id="other key, same kid"),
        pytest.param(lambda keys, url: keys.token(url, lifetime=-120), id="expired"),
        pytest.param(lambda keys, url: keys.token(url, issuer="https://evil.test"), id="issuer"),
        pytest.param(lambda keys, url: keys.token("https://elsewhere.test/x"), id="audience"),
    ],
)
def test_a_bad_token_is_refused(server: Served, keys: Keys, make: Any) -> None:
    token = make(keys, server.url + HOOK)
    response = post(server, HOOK, hook_call(full_prefetch()), token)
    assert response.status_code == 401
    assert "cards" not in response.json()
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_is_good_for_one_call(server: Served, keys: Keys) -> None:
    token = signed(keys, server)
    assert post(server, HOOK, hook_call(full_prefetch()), token).status_code == 200
    again = post(server, HOOK, hook_call(full_prefetch()), token)
    assert again.status_code == 401
    assert "used before" in again.json()["error"]


def test_an_oversized_body_is_refused(server: Served, keys: Keys) -> None:
    prefetch = full_prefetch()
    prefetch["padding"] = "x" * 500_000
    response = post(server, HOOK, hook_call(prefetch), signed(keys, server))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


def test_a_malformed_prefetch_names_the_field(server: Served, keys: Keys) -> None:
    prefetch = full_prefetch()
    prefetch["conditions"] = {"resourceType": "Patient"}
    response = post(server, HOOK, hook_call(prefetch), signed(keys, server))
    assert response.status_code == 400
    assert response.json()["error"][0]["field"] == "prefetch.conditions"

    prefetch = full_prefetch()
    prefetch["observations"]["entry"][2]["resource"]["status"] = 17
    response = post(server, HOOK, hook_call(prefetch), signed(keys, server))
    # One invalid entry is left out and the rest screened, as `screen` treats a Bundle file.
    assert response.status_code == 200, response.text
    assert response.json()["cards"]


def test_a_hook_call_naming_a_key_twice_is_refused(server: Served, keys: Keys) -> None:
    """JSON libraries keep a repeated key's last value: a prefetch or context naming one twice
    would be screened on one of two conflicting records. The call is refused, the key named."""
    call = json.dumps(hook_call(full_prefetch()))
    patient = '"patientId": '
    twice = call.replace(patient, f'{patient}"someone-else", {patient}', 1)
    assert twice != call
    response = httpx.post(
        server.url + HOOK,
        content=twice.encode(),
        headers={
            "Authorization": f"Bearer {signed(keys, server)}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    assert response.status_code == 400, response.text
    (problem,) = response.json()["error"]
    assert problem["field"] == "context"
    assert "duplicate key 'patientId'" in problem["message"]
    missing = hook_call(full_prefetch())
    del missing["context"]["patientId"]
    refused = post(server, HOOK, missing, signed(keys, server))
    assert refused.status_code == 400
    assert refused.json()["error"][0]["field"] == "context.patientId"


def test_a_prefetch_of_another_patient_is_refused(server: Served, keys: Keys) -> None:
    call = hook_call(full_prefetch())
    call["context"]["patientId"] = "someone-else"
    response = post(server, HOOK, call, signed(keys, server))
    assert response.status_code == 400
    assert response.json()["error"][0]["field"] == "prefetch.patient.id"


def test_a_case_of_no_enrolled_disease_gets_no_card(server: Served, keys: Keys) -> None:
    prefetch = full_prefetch()
    condition = prefetch["conditions"]["entry"][0]["resource"]
    # Sjögren syndrome: a disease of the case contract that no trial in the catalog enrols
    condition["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": "83901003"}]}
    for key in ("observations", "medicationRequests", "medicationStatements"):
        prefetch[key]["entry"] = []
    prefetch["conditions"]["entry"] = prefetch["conditions"]["entry"][:1]
    response = post(server, HOOK, hook_call(prefetch), signed(keys, server))
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


def test_screen_api_returns_the_record_of_screen(server: Served, keys: Keys) -> None:
    path = REPO / "cases" / "sle-nephritis.yaml"
    (expected,) = screen_command(path)
    import yaml

    case = yaml.safe_load(path.read_text())
    response = post(server, "/screen", case, signed(keys, server, "/screen"))
    assert response.status_code == 200, response.text
    got = response.json()
    assert got.pop("source") == "request:1"
    expected.pop("source")
    assert got == expected


def test_screen_api_gives_an_invalid_case_its_error_record(server: Served, keys: Keys) -> None:
    body = {"id": "bad-1", "age": "old"}
    response = post(server, "/screen", body, signed(keys, server, "/screen"))
    assert response.status_code == 422
    record = response.json()
    assert record["case_id"] == "bad-1" and "age" in record["error"]
    broken = httpx.post(
        server.url + "/screen",
        content=b'{"id": ',
        headers={"Authorization": f"Bearer {signed(keys, server, '/screen')}"},
        timeout=10,
    )
    assert broken.status_code == 400 and "line 1" in broken.json()["error"]
    assert post(server, "/screen", body, None).status_code == 401


def test_screen_api_is_as_strict_as_screen(server: Served, keys: Keys) -> None:
    """The body is read as a case file is: a key written twice and a boolean where a number
    belongs are each that case's located error, never a last-wins or 0/1 reading."""
    twice = httpx.post(
        server.url + "/screen",
        content=b'{"id": "dup-1", "disease": "sle", "age": 40, "age": 71}',
        headers={
            "Authorization": f"Bearer {signed(keys, server, '/screen')}",
            "Content-Type": "application/json",
        },
        timeout=60,
    )
    assert twice.status_code == 422, twice.text
    assert twice.json()["case_id"] == "dup-1"
    assert "duplicate key 'age'" in twice.json()["error"]
    body = {"id": "bool-1", "disease": "sle", "age": 40, "labs": {"creatinine_mg_dl": False}}
    boolean = post(server, "/screen", body, signed(keys, server, "/screen"))
    assert boolean.status_code == 422, boolean.text
    assert "labs.creatinine_mg_dl" in boolean.json()["error"]


def test_explain_trials_health_and_openapi(server: Served, keys: Keys) -> None:
    import yaml

    case = yaml.safe_load((REPO / "cases" / "sle-nephritis.yaml").read_text())
    token = signed(keys, server, "/explain")
    response = httpx.post(
        server.url + "/explain",
        json=case,
        params={"trial": "NCT06121297"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    (trial,) = response.json()["trials"]
    assert trial["nct_id"] == "NCT06121297" and trial["criteria"][0]["source"]
    trials = httpx.get(server.url + "/trials", timeout=10).json()
    assert "NCT06121297" in {t["nct_id"] for t in trials}
    health = httpx.get(server.url + "/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2
    assert health["auth"].startswith("JWT")
    paths = httpx.get(server.url + "/openapi.json", timeout=10).json()["paths"]
    assert {"/screen", "/explain", "/trials", "/healthz", "/cds-services"} <= set(paths)


def test_feedback_is_chained_and_keeps_no_comment(server: Served, keys: Keys) -> None:
    cards = post(server, HOOK, hook_call(full_prefetch()), signed(keys, server)).json()["cards"]
    reason = cards[0]["overrideReasons"][0]
    body = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": reason, "userComment": "spoke to the patient"},
                "outcomeTimestamp": "2026-12-01T10:00:00Z",
            },
            {
                "card": cards[-1]["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-12-01T10:01:00Z",
            },
        ]
    }
    path = HOOK + "/feedback"
    assert post(server, path, body, signed(keys, server, path)).status_code == 200
    lines = read_log(server.feedback_log)
    assert chain_break(lines) is None
    records = [line.record for line in lines if line.record][-2:]
    assert records[0]["outcome"] == "overridden"
    assert records[0]["override_reason"]["code"] == reason["code"]
    assert records[0]["comment_given"] is True
    assert records[0]["trials"] == [
        t["nct_id"] for t in cards[0]["extension"]["careligible"]["trials"]
    ]
    assert records[0]["case_id"] == Pseudonymizer(server.secret)(PATIENT)
    assert "spoke to the patient" not in server.feedback_log.read_text()
    bad = post(server, path, {"feedback": [{"outcome": "maybe"}]}, signed(keys, server, path))
    assert bad.status_code == 400
    assert {p["field"] for p in bad.json()["error"]} >= {"feedback[0].card", "feedback[0].outcome"}


def test_decisions_are_audited_under_a_pseudonym_only(server: Served, keys: Keys) -> None:
    assert post(server, HOOK, hook_call(full_prefetch()), signed(keys, server)).status_code == 200
    lines = read_log(server.audit_log)
    assert chain_break(lines) is None
    pseudonym = Pseudonymizer(server.secret)(PATIENT)
    hooked = [line.record for line in lines if line.record and line.record["case_id"] == pseudonym]
    assert hooked and hooked[-1]["verdicts"]
    for text in (server.audit_log.read_text(), server.feedback_log.read_text(), server.logs()):
        assert PATIENT not in text


def test_a_deceased_patient_gets_no_card_and_a_deceased_record(server: Served, keys: Keys) -> None:
    """No trial card for a patient the record says has died; /screen says deceased, no trials."""
    prefetch = full_prefetch()
    prefetch["patient"]["deceasedDateTime"] = "2013-04-02"
    response = post(server, HOOK, hook_call(prefetch), signed(keys, server))
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}
    body = {"id": "dead-1", "disease": "sle", "age": 40, "deceased_date": "2013-04-02"}
    record = post(server, "/screen", body, signed(keys, server, "/screen")).json()
    assert (record["deceased"], record["deceased_date"], record["trials"]) == (
        True,
        "2013-04-02",
        [],
    )
