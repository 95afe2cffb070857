"""Promises about processes, kept with real ``staffplan`` processes on one store:
an export killed with SIGKILL leaves no file under a final name, and several runs and
exports at once all succeed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optimizer.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny" / "scenario.toml"


def staffplan(*args: str, store: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "optimizer.cli", "--lang", "en", *args, "--store", str(store)],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def visible_files(folder: Path) -> list[Path]:
    """Files a planner would see: none of the path's parts below ``folder`` is hidden
    (the export stages its work in a hidden folder and renames when complete)."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]


def finished(proc: subprocess.Popen[str], timeout: float = 600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
def test_sigkill_during_an_export_leaves_no_file_under_a_final_name(small_city: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    finished(staffplan("run", str(small_city), store=store))
    out = tmp_path / "annex"
    proc = staffplan("export", "latest", "--format", "pdf", "--out", str(out), store=store)
    time.sleep(3.0)  # inside the Word rendering or the LibreOffice conversion
    assert proc.poll() is None, "the export ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    final = [p for p in visible_files(out)] if out.exists() else []
    assert final == [], f"half-written files under final names: {final}"
    # and a second export, not killed, writes complete files
    finished(staffplan("export", "latest", "--format", "xlsx", "--out", str(out), store=store))
    written = [p for p in visible_files(out) if p.suffix == ".xlsx"]
    assert written and all(p.stat().st_size > 0 for p in written)


@pytest.mark.slow
def test_runs_and_exports_at_once_on_one_store(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    finished(staffplan("run", str(TINY), store=store))
    first = RunStore(store).get("latest").run_id
    procs = [staffplan("run", str(TINY), "--seed", str(k), store=store) for k in range(3)]
    procs += [
        staffplan("export", first, "--format", fmt, "--out", str(tmp_path / fmt), store=store)
        for fmt in ("xlsx", "csv")
    ]
    for proc in procs:
        finished(proc)
    runs = RunStore(store).list()
    assert len(runs) == 4
    assert len({r.run_id for r in runs}) == 4
    assert any((tmp_path / "xlsx").rglob("*.xlsx"))
    assert (tmp_path / "csv" / "placements.csv").exists() or any((tmp_path / "csv").rglob("placements*.csv"))
