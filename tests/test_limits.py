"""Limits: the memory estimate refuses a solve the machine cannot hold, before building
it; the estimate is an upper bound of the real peak; a 250,000-person roster validates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import build
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.solve import solve
from optimizer.solve.candidates import qualified_pairs
from optimizer.solve.memory import MemoryLimitError, check_memory, estimate_bytes, qualified_pair_count

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny" / "scenario.toml"


def test_qualified_pair_count_matches_the_pairs() -> None:
    p = build(
        [0, 10, 20],
        [{"unit": u, "position": pos} for u in range(3) for pos in ("a", "b")],
        [{"origin": 0, "positions": ["a"]}, {"origin": 1, "positions": ["a", "b"]}],
    )
    assert qualified_pair_count(p) == len(qualified_pairs(p)[0]) == 9


def test_check_memory_refuses_when_too_little_is_available() -> None:
    p = build([0], [{"unit": 0, "position": "a"}], [{"origin": 0, "positions": ["a"]}])
    with pytest.raises(MemoryLimitError):
        check_memory(p, available=1024)
    assert check_memory(p, available=2**40) == estimate_bytes(p)


def test_run_refuses_with_a_clear_message_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAFFPLAN_MAX_MEMORY_MB", "1")
    res = CliRunner().invoke(main, ["--lang", "en", "run", str(TINY), "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 2
    assert "needs about" in res.output and "Split by province" in res.output


def test_solve_refuses_before_building(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAFFPLAN_MAX_MEMORY_MB", "1")
    p = build([0], [{"unit": 0, "position": "a"}], [{"origin": 0, "positions": ["a"]}])
    with pytest.raises(MemoryLimitError):
        solve(p)


PEAK = """
import json, resource, sys
from optimizer.io import load_problem, load_scenario
from optimizer.solve import solve
from optimizer.solve.memory import estimate_bytes
problem, _ = load_problem(load_scenario(sys.argv[1]))
estimate = estimate_bytes(problem)
solve(problem)
print(json.dumps({"estimate": estimate, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


@pytest.mark.slow
def test_estimate_is_above_the_measured_peak(small_city: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(small_city)], check=True, capture_output=True, text=True, cwd=ROOT
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["estimate"] >= figures["peak"]


@pytest.mark.slow
def test_a_250k_roster_validates(tmp_path: Path) -> None:
    from conftest import synth_city

    scenario = synth_city(tmp_path, party=60_000, government=190_000)
    proc = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "--lang", "en", "validate", str(scenario)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ},
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "People: 250000" in proc.stdout
