"""``staffplan run`` as a planner uses it: stored runs, exit codes, Ctrl-C, determinism.

The interrupt and determinism tests drive real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny" / "scenario.toml"


def staffplan(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "optimizer.cli", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,  # type: ignore[call-overload]
    )


def test_run_stores_the_run_and_prints_its_id(tmp_path: Path) -> None:
    store = tmp_path / "runs.db"
    out = tmp_path / "tables"
    res = CliRunner().invoke(
        main, ["--lang", "en", "run", str(TINY), "--store", str(store), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    runs = RunStore(store).list()
    assert len(runs) == 1
    stored = RunStore(store).get("latest")
    assert stored.run_id in res.output
    assert stored.status == "optimal" and stored.proven
    timings = stored.meta["timings"]  # loading counts in the total
    assert {"load", "candidates", "flow", "total"} <= set(timings)
    assert timings["total"] >= timings["load"] + timings["candidates"] > 0
    placements = pd.read_csv(out / "placements.csv", encoding="utf-8-sig", dtype=str)
    assert list(placements["staff_id"]) == list(stored.tables.placements["staff_id"])


def two_people_one_seat(folder: Path) -> Path:
    """Two qualified people, one seat, everyone must be placed: valid input, no solution."""
    (folder / "units.csv").write_text(
        "unit_id,name,kind,lat,lon\nU1,Phường Một,ward,10.0,106.7\n", encoding="utf-8"
    )
    (folder / "posts.csv").write_text(
        "unit_id,bloc,department,position,category,min,max,leadership,non_local\n"
        "U1,government,dept_office,office_admin,civil_servant,0,1,false,false\n",
        encoding="utf-8",
    )
    (folder / "staff.csv").write_text(
        "staff_id,full_name,birth_date,gender,category,bloc,positions,former_unit,"
        "origin_unit,home_lat,home_lon,island_ok\n"
        "A1,Nguyễn Văn An,1980-01-01,M,civil_servant,government,office_admin,Xã cũ,U1,10.0,106.7,false\n"
        "A2,Trần Thị Bình,1981-02-02,F,civil_servant,government,office_admin,Xã cũ,U1,10.0,106.7,false\n",
        encoding="utf-8",
    )
    scenario = folder / "s.toml"
    scenario.write_text(
        'name = "two-one"\n[data]\nunits = "units.csv"\nposts = "posts.csv"\n'
        'staff = "staff.csv"\n[rules]\nrequire_all_placed = true\n',
        encoding="utf-8",
    )
    return scenario


def test_infeasible_scenario_says_so_and_points_to_diagnose(tmp_path: Path) -> None:
    scenario = two_people_one_seat(tmp_path)
    res = CliRunner().invoke(main, ["--lang", "en", "run", str(scenario), "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 1, res.output
    assert "staffplan diagnose" in res.output
    assert RunStore(tmp_path / "s.db").get("latest").status == "infeasible"


def test_bad_override_is_exit_2_without_traceback(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        ["run", str(TINY), "--store", str(tmp_path / "s.db"), "--set", "rules.max_comute_km=5"],
    )
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert not (tmp_path / "s.db").exists()


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_placement_marked_not_proven(full_city: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    proc = staffplan("--lang", "en", "run", str(full_city), "--store", str(store))
    assert proc.stderr is not None
    deadline = time.time() + 120
    for line in proc.stderr:  # wait until the first stage has a placement
        if "shortfall (leadership ×10) + unplaced:" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "NOT proven" in err
    run = RunStore(store).get("latest")
    assert not run.proven
    assert run.status == "feasible"
    assert len(run.tables.placements) > 15_000


@pytest.mark.slow
def test_second_ctrl_c_aborts_cleanly_and_stores_nothing(full_city: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    proc = staffplan("--lang", "en", "run", str(full_city), "--store", str(store))
    assert proc.stderr is not None
    for line in proc.stderr:
        if "candidate (person, post) pairs" in line:
            break
    proc.send_signal(signal.SIGINT)
    for line in proc.stderr:
        if "Stopping" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert RunStore(store).list() == []


@pytest.mark.slow
def test_same_seed_one_worker_identical_placements_across_processes(small_city: Path, tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        out = tmp_path / f"out{k}"
        proc = staffplan(
            "run",
            str(small_city),
            "--workers",
            "1",
            "--seed",
            "7",
            "--store",
            str(tmp_path / f"s{k}.db"),
            "--out",
            str(out),
        )
        proc.communicate(timeout=300)
        assert proc.returncode == 0
        outs.append((out / "placements.csv").read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.slow
def test_time_limit_keeps_the_best_placement_marked_not_proven(full_city: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    proc = staffplan("--lang", "en", "run", str(full_city), "--store", str(store), "--time-limit", "2")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    run = RunStore(store).get("latest")
    assert not run.proven
    assert run.status == "feasible"
    assert len(run.tables.placements) > 15_000
    assert run.kpis["relatives_conflicts"] == 0


BLOCK_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access attempted")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def test_nothing_is_sent_over_a_network(tmp_path: Path) -> None:
    """validate, run, show and export csv work with every socket call refused."""
    (tmp_path / "sitecustomize.py").write_text(BLOCK_NETWORK, encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path), "STAFFPLAN_STORE": str(tmp_path / "s.db")}
    for args in (
        ("validate", str(TINY)),
        ("run", str(TINY)),
        ("show", "latest"),
        ("export", "latest", "--format", "csv", "--out", str(tmp_path / "csv")),
    ):
        proc = staffplan("--lang", "en", *args, env=env)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (args, err)
        assert "network access attempted" not in out + err
