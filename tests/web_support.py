"""Helpers of the web app tests: a client on a fresh workspace, uploads, waiting for runs."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
#: Final states of a run in ``GET /api/runs/{id}``.
FINAL = {"optimal", "feasible", "infeasible", "no_solution", "failed", "cancelled", "interrupted"}


def tiny_zip(extra: dict[str, str] | None = None, *, skip: tuple[str, ...] = ()) -> bytes:
    """The tiny scenario folder as a zip (members under ``tiny/``), with files replaced
    or added by ``extra`` (name → text) and files in ``skip`` left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(TINY.iterdir()):
            if path.name not in skip and path.name not in (extra or {}):
                archive.write(path, f"tiny/{path.name}")
        for name, text in (extra or {}).items():
            archive.writestr(f"tiny/{name}", text)
    return buffer.getvalue()


def csrf(client: TestClient) -> dict[str, str]:
    """The header carrying the session's CSRF token."""
    return {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}


def upload(client: TestClient, name: str, data: bytes) -> Any:
    """``POST /api/scenarios`` with one file."""
    return client.post("/api/scenarios", files={"file": (name, data)}, headers=csrf(client))


def start(client: TestClient, scenario: str, **body: Any) -> str:
    """Queue a run and return its id."""
    answer = client.post("/api/runs", json={"scenario": scenario, **body}, headers=csrf(client))
    assert answer.status_code == 202, answer.text
    run_id: str = answer.json()["run_id"]
    return run_id


def wait(client: TestClient, run_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll ``GET /api/runs/{run_id}`` until the run reaches a final state."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if body["status"] in FINAL:
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s} s")
