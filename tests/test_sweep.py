"""Scenario sweeps: the grid, the sweep id, resuming, bad input, the local process pool.

The coordinator accepts any ``concurrent.futures.Executor``; tests of its bookkeeping use
a one-thread pool (fast, real), and ``test_local_pool_matches_direct_solves`` runs the real
process pool of ``staffplan sweep``.  The Dask cluster is in ``test_sweep_dask.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from optimizer import sweep as sweep_module
from optimizer.cli import main
from optimizer.errors import InputError
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.placement_tables import run_tables
from optimizer.solve import solve
from optimizer.store import RunStore
from optimizer.sweep import (
    Combination,
    SweepProgress,
    combinations,
    open_executor,
    parse_executor,
    parse_grid,
    plan_sweep,
    run_sweep,
    split_values,
    sweep_table,
    with_threads,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
GRID = ("rules.max_commute_km=20,30", "rules.bloc_change=allow,penalize")


@pytest.fixture(autouse=True)
def vietnamese() -> Iterator[None]:
    yield
    set_lang("vi")  # a CLI call with --lang en must not leak into the next test


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "220"})


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A private copy of the tiny scenario (tests may edit its files)."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    return folder / "scenario.toml"


def direct(scenario: Path, overrides: tuple[str, ...], threads: int) -> pd.DataFrame:
    """The placements of a plain in-process solve of the same scenario and overrides."""
    sc = with_threads(load_scenario(scenario, overrides), threads)
    problem, _ = load_problem(sc)
    result = solve(problem)
    return run_tables(problem, result.assignment, result.unplaced_reasons).placements


# --------------------------------------------------------------------------- the grid


def test_split_values_keeps_commas_inside_brackets_and_quotes() -> None:
    text = "20, \"a, b\",[1, 2],{x = 1, y = 2}, 'c,d'"
    assert split_values(text) == ["20", '"a, b"', "[1, 2]", "{x = 1, y = 2}", "'c,d'"]
    assert split_values(r'"x\", y",z') == [r'"x\", y"', "z"]


def test_parse_grid_reports_every_bad_option_at_once() -> None:
    with pytest.raises(InputError) as err:
        parse_grid(["no-equals", "rules.a=1,,2", "solver.seed=1,2,1", "x=1", "x=2", "=3"])
    codes = [i.code for i in err.value.issues]
    assert sorted(codes) == ["bad_set", "bad_set", "duplicate_key", "empty_value", "repeated_value"]
    assert all(i.file == "--set" for i in err.value.issues)


def test_combinations_are_the_cartesian_product_last_key_fastest() -> None:
    grid = (("a", ("1", "2")), ("b", ("x", "y", "z")), ("c", ("k",)))
    combos = combinations(grid)
    assert len(combos) == 6
    assert combos[0].overrides == ("a=1", "b=x", "c=k")
    assert combos[1].overrides == ("a=1", "b=y", "c=k")
    assert combos[5].overrides == ("a=2", "b=z", "c=k")
    assert combos[4].swept == (("a", "2"), ("b", "y"))  # c has one value: not swept
    assert combos[4].tags("s1") == {
        "sweep_id": "s1",
        "sweep_index": "4",
        "combination": "a=2; b=y; c=k",
        "set:a": "2",
        "set:b": "y",
    }
    assert len({c.key for c in combos}) == 6


def test_data_overrides_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    grid = parse_grid(['data.posts=a.csv,"sub/b.csv",book.xlsx#posts'])
    assert grid == (
        (
            "data.posts",
            (str(tmp_path / "a.csv"), str(tmp_path / "sub/b.csv"), f"{tmp_path / 'book.xlsx'}#posts"),
        ),
    )


def test_parse_executor() -> None:
    assert parse_executor("local") is None
    assert parse_executor("dask://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    for bad in ("ray://x:1", "dask://nohost", "dask://h:port", "Local"):
        with pytest.raises(InputError) as err:
            parse_executor(bad)
        assert err.value.issues[0].code == "bad_executor"


# --------------------------------------------------------------------------- the plan


def test_sweep_id_is_deterministic_and_tracks_grid_and_data(tiny: Path) -> None:
    a = plan_sweep(tiny, GRID)
    assert plan_sweep(tiny, GRID).sweep_id == a.sweep_id
    assert len(a.combinations) == 4 and a.num_provinces == 1
    assert plan_sweep(tiny, ["rules.max_commute_km=20,30"]).sweep_id != a.sweep_id
    assert plan_sweep(tiny, [*GRID, "solver.seed=1"]).sweep_id != a.sweep_id
    staff = tiny.parent / "staff.csv"
    staff.write_text(staff.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert plan_sweep(tiny, GRID).sweep_id != a.sweep_id


def test_plan_reports_a_bad_key_once_for_all_combinations(tiny: Path) -> None:
    with pytest.raises(InputError) as err:
        plan_sweep(tiny, ["rules.max_comute_km=20,30", "rules.bloc_change=allow,sometimes"])
    columns = sorted(i.column for i in err.value.issues)
    assert columns == ["rules.bloc_change", "rules.max_comute_km"]


def test_with_threads_respects_a_swept_worker_count(tiny: Path) -> None:
    assert with_threads(load_scenario(tiny), 3).solver.workers == 3
    assert with_threads(load_scenario(tiny, ["solver.workers=5"]), 3).solver.workers == 5
    assert with_threads(load_scenario(tiny), None).solver.workers == load_scenario(tiny).solver.workers


# --------------------------------------------------------------------------- coordinator


def test_sweep_stores_every_combination_and_resumes(tiny: Path, tmp_path: Path) -> None:
    plan = plan_sweep(tiny, GRID)
    store = RunStore(tmp_path / "runs.db")
    events: list[SweepProgress] = []
    with ThreadPoolExecutor(1) as pool:
        first = run_sweep(plan, store, pool, threads=1, progress=events.append)
    assert [r.reused for r in first.runs] == [False] * 4
    assert [e.done for e in events] == [1, 2, 3, 4] and all(e.run_id for e in events)
    heads = {h.run_id: h for h in store.heads(sweep=plan.sweep_id)}
    assert len(heads) == 4
    for run in first.runs:
        meta = heads[run.run_id].meta
        assert tuple(meta["overrides"]) == run.combination.overrides
        assert meta["tags"]["combination"] == run.combination.key
        assert meta["solver_params"]["workers"] == 1
    hashes = {r.combination.key: heads[r.run_id].manifest_hash for r in first.runs}

    with ThreadPoolExecutor(1) as pool:  # nothing left to do
        again = run_sweep(plan, store, pool, threads=1)
    assert again.tasks == () and [r.reused for r in again.runs] == [True] * 4
    assert [r.run_id for r in again.runs] == [r.run_id for r in first.runs]

    lost = first.runs[2]
    store.delete(lost.run_id)  # as if the sweep had stopped before this one
    with ThreadPoolExecutor(1) as pool:
        resumed = run_sweep(plan, store, pool, threads=1)
    assert len(resumed.tasks) == 1 and resumed.tasks[0].combination == lost.combination.index
    redone = resumed.runs[2]
    assert not redone.reused and redone.run_id != lost.run_id
    assert store.get(redone.run_id).manifest_hash == hashes[lost.combination.key]

    table = sweep_table(store, plan.sweep_id)
    assert list(table["run_id"]) == [r.run_id for r in resumed.runs]  # grid order
    assert list(table["rules.max_commute_km"]) == ["20", "20", "30", "30"]
    assert list(table["rules.bloc_change"]) == ["allow", "penalize", "allow", "penalize"]
    assert (table["placed"] + table["unplaced"]).nunique() == 1


def test_bad_tables_store_nothing_and_report_every_problem(tiny: Path, tmp_path: Path) -> None:
    plan = plan_sweep(tiny, ["rules.max_commute_km=20,30"])  # the plan does not read tables
    posts = tiny.parent / "posts.csv"
    lines = posts.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("min")] = "5"  # min above max
    posts.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n", encoding="utf-8")
    store = RunStore(tmp_path / "runs.db")
    with ThreadPoolExecutor(1) as pool, pytest.raises(InputError) as err:
        run_sweep(plan, store, pool, threads=1)
    assert store.heads() == []
    errors = err.value.errors
    assert errors and all(i.file.endswith("posts.csv") for i in errors)
    assert len(errors) == len(set(errors))  # each distinct problem once for both combinations


def test_files_changed_under_the_plan_are_refused(tiny: Path, tmp_path: Path) -> None:
    plan = plan_sweep(tiny, ())
    staff = tiny.parent / "staff.csv"
    staff.write_text(staff.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    store = RunStore(tmp_path / "runs.db")
    with ThreadPoolExecutor(1) as pool, pytest.raises(InputError) as err:
        run_sweep(plan, store, pool)
    assert [i.code for i in err.value.issues] == ["inputs_differ"]
    assert store.heads() == []


# --------------------------------------------------------------------------- process pool


@pytest.mark.slow  # two spawned processes importing the solver: 4–14 s here
def test_local_pool_matches_direct_solves(tiny: Path, tmp_path: Path) -> None:
    plan = plan_sweep(tiny, GRID)
    store = RunStore(tmp_path / "runs.db")
    with open_executor("local", 2) as (pool, slots):
        assert slots == 2
        outcome = run_sweep(plan, store, pool, threads=1)
    assert {t.worker.split(":")[1] for t in outcome.tasks}.isdisjoint({str(os.getpid())})
    for run in outcome.runs:
        stored = store.get(run.run_id).tables.placements
        expected = direct(tiny, run.combination.overrides, threads=1)
        cols = ["staff_id", "unit_id", "department", "position", "distance_km"]
        pd.testing.assert_frame_equal(
            stored[cols].reset_index(drop=True),
            expected[cols].reset_index(drop=True),
            check_dtype=False,
        )


def test_cli_sweep_then_rerun_and_compare(tiny: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    args = (
        "--lang",
        "en",
        "sweep",
        str(tiny),
        "--set",
        "rules.max_commute_km=20,30",
        "--jobs",
        "1",
        "--store",
        db,
    )
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    sweep = plan_sweep(tiny, ["rules.max_commute_km=20,30"]).sweep_id
    assert f"Sweep {sweep}: tiny, 2 combinations × 1 provinces; 0 already stored" in res.output
    assert "2 runs stored, 0 reused" in res.output
    ids = [h.run_id for h in RunStore(db).heads(sweep=sweep)]
    assert len(ids) == 2 and all(i in res.output for i in ids)

    res = invoke(*args)
    assert res.exit_code == 0, res.output
    assert "2 already stored, 0 solves to go" in res.output
    assert len(RunStore(db).heads()) == 2

    res = invoke("--lang", "en", "compare", "--sweep", sweep, "--store", db)
    assert res.exit_code == 0, res.output
    assert f"Runs of sweep {sweep}" in res.output and "Δ" in res.output


def test_cli_rejects_a_bad_executor_and_an_unknown_sweep(tiny: Path, tmp_path: Path) -> None:
    res = invoke(
        "--lang", "en", "sweep", str(tiny), "--executor", "ray://h:1", "--store", str(tmp_path / "x.db")
    )
    assert res.exit_code == 2 and "Unknown --executor" in res.output
    RunStore(tmp_path / "x.db")
    res = invoke("--lang", "en", "compare", "--sweep", "s000", "--store", str(tmp_path / "x.db"))
    assert res.exit_code == 2 and "no run of sweep s000" in res.output


def test_an_unreachable_dask_scheduler_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr(sweep_module, "DASK_TIMEOUT_S", 1)
    with pytest.raises(InputError) as err, open_executor("dask://127.0.0.1:1"):
        pass
    assert [i.code for i in err.value.issues] == ["dask_unreachable"]
    assert "tcp://127.0.0.1:1" in err.value.issues[0].message


def test_combination_label_falls_back_to_the_key() -> None:
    assert Combination(0, ("a=1",), ()).label == "a=1"
    assert Combination(0, (), ()).label == ""
    assert Combination(0, ("a=1", "b=2"), (("b", "2"),)).label == "b=2"
