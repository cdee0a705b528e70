"""How ``careligible serve`` starts: no trusted issuer refuses every call; ``--no-auth`` is loud."""

from __future__ import annotations

from pathlib import Path

import httpx

from servicekit import Keys, full_prefetch, hook_call, running

HOOK = "/cds-services/careligible-car-t-trials"


def test_without_a_trusted_issuer_every_hook_call_is_refused(tmp_path: Path) -> None:
    with running(tmp_path, "--workers", "1") as server:
        token = Keys().token(server.url + HOOK)
        response = httpx.post(
            server.url + HOOK,
            json=hook_call(full_prefetch()),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert response.status_code == 401
        assert "no trusted issuer" in response.json()["error"]
        assert httpx.get(server.url + "/cds-services", timeout=10).status_code == 200
        assert "every hook and API call will be refused" in server.logs()


def test_no_auth_is_announced_and_lets_calls_in(tmp_path: Path) -> None:
    with running(tmp_path, "--workers", "1", "--no-auth") as server:
        assert "WARNING: --no-auth" in server.logs()
        response = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["cards"]
        health = httpx.get(server.url + "/healthz", timeout=10).json()
        assert health["auth"].startswith("off")


def test_invalid_rules_stop_the_service_before_it_starts(tmp_path: Path) -> None:
    import subprocess
    import sys

    rules = tmp_path / "rules"
    (rules / "trials").mkdir(parents=True)
    (rules / "trials" / "NCT00000001.yaml").write_text("nct_id: [broken\n")
    done = subprocess.run(
        [sys.executable, "-m", "careligible", "serve", "--rules", str(rules), "--no-auth"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the service was not started" in done.stderr


def test_a_screening_past_the_time_limit_is_503_and_cors_is_offered(tmp_path: Path) -> None:
    origin = "https://sandbox.test"
    flags = ("--workers", "1", "--no-auth", "--timeout", "0.001", "--cors-origin", origin)
    with running(tmp_path, *flags) as server:
        response = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert response.status_code == 503
        assert "longer than" in response.json()["error"]
        assert response.headers["retry-after"]
        preflight = httpx.options(
            server.url + HOOK,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
            timeout=10,
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        # the worker is still usable after a call it was too slow for
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200


def _worker_pids(parent: int) -> list[int]:
    """The screening workers of a server: its children started by multiprocessing's spawn."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent) and b"spawn_main" in command:
            pids.append(int(status.parent.name))
    return pids


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    import os
    import signal
    import time

    with running(tmp_path, "--workers", "1", "--no-auth") as server:
        workers = _worker_pids(server.process.pid)
        assert len(workers) == 1
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(0.5)
        first = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert first.status_code == 503
        assert "restarted" in first.json()["error"]
        second = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert second.status_code == 200, second.text
        assert second.json()["cards"]


def test_a_replaced_worker_screens_with_the_rules_the_service_started_with(tmp_path: Path) -> None:
    """Workers get the catalog from the service, never from the rules directory: one removed
    after the start leaves a replacement worker screening with the same rules."""
    import os
    import shutil
    import signal
    import time

    from careligible.catalog import default_rules_dir

    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    with running(tmp_path, "--workers", "1", "--no-auth", "--rules", str(rules)) as server:
        before = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert before.status_code == 200, before.text
        shutil.rmtree(rules)
        [worker] = _worker_pids(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.5)
        lost = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert lost.status_code == 503
        after = httpx.post(server.url + HOOK, json=hook_call(full_prefetch()), timeout=60)
        assert after.status_code == 200, after.text
        titles = [card["summary"] for card in after.json()["cards"]]
        assert titles == [card["summary"] for card in before.json()["cards"]]
