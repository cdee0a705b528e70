"""What the service tests run against: a real ``careligible serve``, a stub EHR, signed tokens.

The stub EHR is a small HTTP server on 127.0.0.1 playing both parts an EHR plays for a CDS
service: it publishes the issuer's public keys (JWKS) and answers FHIR reads and searches for the
committed SLE bundle, paging the observations so that the service must follow ``next`` links.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "tests" / "fixtures" / "fhir" / "sle-lupus-nephritis.json"
ISSUER = "https://ehr.test/issuer"
FHIR_TOKEN = "fhir-access-token-for-tests"
SEARCHES = {
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bundle_resources() -> list[dict[str, Any]]:
    return [entry["resource"] for entry in json.loads(BUNDLE.read_text())["entry"]]


def searchset(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [r for r in resources if r["resourceType"] == kind]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in matches],
    }


def full_prefetch() -> dict[str, Any]:
    """The prefetch an EHR would send for the committed bundle's patient."""
    resources = bundle_resources()
    prefetch: dict[str, Any] = {"patient": resources[0]}
    for kind, key in SEARCHES.items():
        prefetch[key] = searchset(resources, kind)
    return prefetch


def hook_call(prefetch: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    patient = bundle_resources()[0]["id"]
    call: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/test-clinician", "patientId": patient},
        "prefetch": prefetch,
    }
    call.update(extra)
    return call


@dataclass
class Keys:
    """An issuer's signing key and the JWKS that publishes it."""

    kid: str = "test-key-1"
    private: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS384", "use": "sig"})
        return {"keys": [jwk]}

    def token(self, audience: str, issuer: str = ISSUER, lifetime: int = 300, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": issuer,
            "sub": "test-ehr-client",
            "aud": audience,
            "exp": now + lifetime,
            "iat": now,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        return jwt.encode(payload, self.private, algorithm="RS384", headers={"kid": self.kid})


class StubEhr:
    """JWKS at ``/jwks.json``; FHIR reads and searches under ``/fhir``, needing FHIR_TOKEN."""

    def __init__(self, keys: Keys, page_size: int = 8) -> None:
        self.keys = keys
        self.page_size = page_size
        self.requests: list[tuple[str, str | None]] = []
        self.resources = bundle_resources()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/jwks.json":
            return 200, self.keys.jwks()
        kind, _, rid = path.removeprefix("/fhir/").partition("/")
        if kind == "Patient":
            found = [r for r in self.resources if r["resourceType"] == "Patient" and r["id"] == rid]
            return (200, found[0]) if found else (404, {"resourceType": "OperationOutcome"})
        if kind in SEARCHES:
            whole = searchset(self.resources, kind)
            page = int(query.get("page", ["0"])[0])
            entries = whole["entry"][page * self.page_size : (page + 1) * self.page_size]
            out = {**whole, "entry": entries}
            if (page + 1) * self.page_size < len(whole["entry"]):
                patient = query["patient"][0]
                out["link"] = [
                    {
                        "relation": "next",
                        "url": f"{self.url}/fhir/{kind}?patient={patient}&page={page + 1}",
                    }
                ]
            return 200, out
        return 404, {"resourceType": "OperationOutcome"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                auth = self.headers.get("Authorization")
                stub.requests.append((self.path, auth))
                if parts.path.startswith("/fhir/") and auth != f"Bearer {FHIR_TOKEN}":
                    status, body = 401, {"resourceType": "OperationOutcome"}
                else:
                    status, body = stub.answer(parts.path, parse_qs(parts.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@dataclass
class Served:
    """A running ``careligible serve`` and where its files are."""

    url: str
    process: subprocess.Popen[bytes]
    stderr: Path
    audit_log: Path
    feedback_log: Path
    secret: bytes

    def logs(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def start_server(tmp: Path, *args: str, wait: float = 90.0) -> Served:
    """Start ``careligible serve`` on a free port of 127.0.0.1 and wait until it answers."""
    port = free_port()
    secret = os.urandom(32)
    (tmp / "secret").write_bytes(secret)
    served = Served(
        url=f"http://127.0.0.1:{port}",
        process=None,  # type: ignore[arg-type]
        stderr=tmp / "serve.stderr",
        audit_log=tmp / "audit.jsonl",
        feedback_log=tmp / "feedback.jsonl",
        secret=secret,
    )
    command = [
        sys.executable, "-m", "careligible", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--audit-log", str(served.audit_log), "--feedback-log", str(served.feedback_log),
        "--site-secret-file", str(tmp / "secret"), *args,
    ]  # fmt: skip
    with served.stderr.open("wb") as err:
        served.process = subprocess.Popen(command, stdout=err, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"serve exited {served.process.returncode}:\n{served.logs()}")
        try:
            if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(served)
    raise RuntimeError(f"serve did not answer within {wait} s:\n{served.logs()}")


def stop_server(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait()


@contextmanager
def running(tmp: Path, *args: str) -> Iterator[Served]:
    served = start_server(tmp, *args)
    try:
        yield served
    finally:
        stop_server(served)
