"""The SQLite run store: round trip, ids, listing, deletion, schema, crash and concurrency.

:func:`random_problem`, :func:`random_assignment` and :func:`new_run` are also used by
the compare and report tests and by the helper processes started here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_kpis import tiny_assignment, tiny_problem

from optimizer.data import (
    CATEGORIES,
    Int32Array,
    Posts,
    Problem,
    Relations,
    Staff,
    Units,
)
from optimizer.errors import InputError
from optimizer.kpis import compute_kpis, objective_terms
from optimizer.placement_tables import (
    PLACEMENT_COLUMNS,
    UNIT_COLUMNS,
    UNPLACED_COLUMNS,
    RunTables,
    run_tables,
)
from optimizer.rules.reason import Reason
from optimizer.solution import SolveResult, StageResult
from optimizer.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    TABLE_SCHEMAS,
    NewRun,
    RunSource,
    RunStore,
    manifest_hash,
    run_manifest,
)

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent

POSITIONS = ("office_admin", "finance", "health", "construction", "committee_chair", "culture")


def random_problem(num_staff: int, num_units: int = 12, seed: int = 0, name: str = "random") -> Problem:
    """A random but valid problem around HCMC: a few post lines per unit, random people."""
    rng = np.random.default_rng(seed)
    lat = 10.6 + rng.random(num_units) * 0.5
    lon = 106.4 + rng.random(num_units) * 0.5
    units = Units(
        ids=tuple(f"{26000 + 7 * u}" for u in range(num_units)),
        names=tuple(f"Phường Số {u + 1}" for u in range(num_units)),
        kinds=tuple("ward" if u % 3 else "commune" for u in range(num_units)),
        lat=lat,
        lon=lon,
        population=rng.integers(10_000, 200_000, num_units).astype(float),
        area_km2=rng.random(num_units) * 50,
        island=np.zeros(num_units, dtype=bool),
    )
    rows = [
        (u, bloc, pos, cat)
        for u in range(num_units)
        for bloc in ("party", "government")
        for pos in POSITIONS
        for cat in ("civil_servant", "cadre")
        if (pos == "committee_chair") == (cat == "cadre")
    ]
    per_line = max(1, num_staff // len(rows))
    maxes = rng.integers(max(1, per_line // 2), per_line + 2, len(rows))
    posts = Posts(
        unit_idx=np.array([r[0] for r in rows], dtype=np.int32),
        bloc=tuple(r[1] for r in rows),
        department=tuple("dept_office" if r[1] == "government" else "party_office" for r in rows),
        position=tuple(r[2] for r in rows),
        category=tuple(r[3] for r in rows),
        min=np.minimum(maxes, rng.integers(0, per_line + 1, len(rows))),
        max=maxes,
        leadership=np.array([r[2] == "committee_chair" for r in rows]),
        non_local=np.array([r[2] == "committee_chair" for r in rows]),
    )
    origin = rng.integers(0, num_units, num_staff).astype(np.int32)
    is_chair = rng.random(num_staff) < 0.05
    first = rng.integers(0, len(POSITIONS) - 1, num_staff)
    second = rng.integers(0, len(POSITIONS) - 1, num_staff)
    non_chair = [p for p in POSITIONS if p != "committee_chair"]
    positions = tuple(
        ("committee_chair",) if c else tuple(dict.fromkeys((non_chair[a], non_chair[b])))
        for c, a, b in zip(is_chair, first, second, strict=True)
    )
    births = np.datetime64("1965-01-01") + rng.integers(0, 365 * 35, num_staff).astype("timedelta64[D]")
    prefs = tuple(
        tuple(int(x) for x in rng.choice(num_units, 3, replace=False)) if i % 4 == 0 else ()
        for i in range(num_staff)
    )
    staff = Staff(
        ids=tuple(f"S{i:07d}" for i in range(num_staff)),
        full_name=tuple(f"Nguyễn Văn Người {i}" for i in range(num_staff)),
        birth_date=births,
        gender=tuple("F" if g else "M" for g in rng.random(num_staff) < 0.45),
        category=tuple("cadre" if c else "civil_servant" for c in is_chair),
        bloc=tuple("party" if b else "government" for b in rng.random(num_staff) < 0.25),
        positions=positions,
        grade=("chuyên viên",) * num_staff,
        former_unit=tuple(f"Phường Cũ {o}" for o in origin),
        origin_idx=origin,
        home_lat=lat[origin] + rng.normal(0, 0.05, num_staff),
        home_lon=lon[origin] + rng.normal(0, 0.05, num_staff),
        local_idx=tuple((int(o),) for o in origin),
        island_ok=np.zeros(num_staff, dtype=bool),
        preferences=prefs,
    )
    pairs = (
        rng.choice(num_staff, (max(1, num_staff // 50), 2), replace=False)
        if num_staff > 2
        else np.zeros((0, 2), int)
    )
    relations = Relations(
        pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32), ("sibling",) * len(pairs)
    )
    assert set(staff.category) <= set(CATEGORIES)
    return Problem(name=name, units=units, posts=posts, staff=staff, relations=relations)


def random_assignment(problem: Problem, seed: int = 0) -> Int32Array:
    """A placement that respects post maxima and qualifications (not optimal)."""
    rng = np.random.default_rng(seed)
    posts = problem.posts
    free = posts.max.copy()
    by_key: dict[tuple[str, str], list[int]] = {}
    for p in range(len(posts)):
        by_key.setdefault((posts.position[p], posts.category[p]), []).append(p)
    out = np.full(problem.num_staff, -1, dtype=np.int32)
    for i in rng.permutation(problem.num_staff):
        cands = by_key.get((problem.staff.positions[i][0], problem.staff.category[i]), [])
        open_ = [p for p in cands if free[p] > 0]
        if open_:
            p = open_[rng.integers(0, len(open_))]
            out[i] = p
            free[p] -= 1
    return out


def new_run(
    problem: Problem,
    assignment: Int32Array,
    scenario_name: str | None = None,
    **extra: object,
) -> NewRun:
    """A :class:`NewRun` as ``staffplan run`` would build it; ``extra`` replaces fields of
    the run or of its :class:`RunSource`."""
    tables = run_tables(problem, assignment, {int(i): Reason("room") for i in np.flatnonzero(assignment < 0)})
    terms = objective_terms(tables, problem.rules)
    stage = StageResult("all", tuple(terms), "optimal", 7, 7, 0.25)
    result = SolveResult(
        status="optimal",
        assignment=assignment,
        stages=(stage,),
        values=terms,
        bounds=terms,
        timings={"load": 0.1, "solve": 0.25, "total": 0.4},
        peak_memory_mb=123.0,
    )
    source_fields = {f.name for f in dataclasses.fields(RunSource)}
    source = RunSource(
        scenario_name=scenario_name or problem.name,
        scenario_path=f"scenarios/{problem.name}.toml",
        scenario_hash="ab" * 32,
        resolved_scenario={
            "name": problem.name,
            "rules": {"max_commute_km": 30.0, "reference_date": dt.date(2025, 7, 1)},
            "data": {"units": "units.csv"},
        },
        overrides=("rules.max_commute_km=30",),
        input_hashes={"units": "11" * 32, "posts": "22" * 32, "staff": "33" * 32},
        solver_params={"time_limit_s": 60.0, "workers": 2, "seed": 7},
    )
    source = dataclasses.replace(source, **{k: v for k, v in extra.items() if k in source_fields})  # type: ignore[arg-type]
    kwargs: dict[str, object] = {
        "source": source,
        "package_version": "0.1.0",
        "result": result,
        "tables": tables,
        "rules": problem.rules,
    }
    kwargs.update({k: v for k, v in extra.items() if k not in source_fields})
    return NewRun(**kwargs)  # type: ignore[arg-type]


def tiny_run(**extra: object) -> NewRun:
    """The hand-made run of ``test_kpis``."""
    problem = tiny_problem()
    return new_run(problem, tiny_assignment(), **extra)


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_stored_run_round_trips_and_reproduces_its_kpis(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    run = tiny_run()
    run_id = store.save(run)
    got = store.get(run_id)
    for name in ("placements", "unplaced", "units"):
        pd.testing.assert_frame_equal(getattr(got.tables, name), getattr(run.tables, name))
    # the stored KPIs are those of the run, and are recomputed from the stored rows alone
    assert got.kpis == compute_kpis(run.tables, run.rules)
    assert compute_kpis(got.tables, got.rules) == got.kpis
    assert got.rules == run.rules
    assert got.kpis["relatives_conflicts"] == 1 and got.kpis["placed"] == 6
    assert got.status == "optimal" and got.proven is True
    assert got.scenario_name == "tiny"
    assert run_id.startswith("r0001-") and run_id.endswith(got.manifest_hash[:6])
    assert dt.datetime.fromisoformat(got.created_at).tzinfo is not None
    meta = got.meta
    assert meta["input_hashes"] == run.source.input_hashes
    assert meta["resolved_scenario"]["rules"]["reference_date"] == "2025-07-01"
    assert meta["overrides"] == ["rules.max_commute_km=30"]
    assert meta["solver_params"]["seed"] == 7 and meta["seed"] == 7
    assert meta["package_version"] == "0.1.0"
    assert meta["stages"][0]["name"] == "all" and meta["stages"][0]["time_s"] == 0.25
    assert meta["values"] == run.result.values and meta["bounds"] == run.result.bounds
    assert meta["timings"]["total"] == 0.4
    assert meta["scenario_hash"] == "ab" * 32
    assert manifest_hash(run_manifest(got)) == got.manifest_hash


def test_placements_keep_the_annex_order(tmp_path: Path) -> None:
    problem = random_problem(400, num_units=5, seed=3)
    run = new_run(problem, random_assignment(problem))
    got = RunStore(tmp_path / "s.db").get(RunStore(tmp_path / "s.db").save(run))
    pl = got.tables.placements
    unit_order = {u: i for i, u in enumerate(problem.units.ids)}
    keys = list(zip(pl["unit_id"].map(unit_order), pl["staff_id"], strict=True))
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    pd.testing.assert_frame_equal(pl, run.tables.placements)
    assert compute_kpis(got.tables, got.rules) == got.kpis


def test_manifest_hash_depends_on_inputs_and_placement_only(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    a = store.get(store.save(tiny_run()))
    slower = dataclasses.replace(
        tiny_run(), result=SolveResult("feasible", tiny_assignment(), timings={"total": 9.0})
    )
    b = store.get(store.save(slower))
    assert a.manifest_hash == b.manifest_hash
    assert a.run_id != b.run_id
    other = tiny_assignment()
    other[5] = 4  # s6 takes U2's chair
    c = store.get(store.save(new_run(tiny_problem(), other)))
    d = store.get(store.save(tiny_run(input_hashes={"units": "ff" * 32})))
    assert len({a.manifest_hash, c.manifest_hash, d.manifest_hash}) == 3


def test_refs_latest_prefix_unknown_and_ambiguous(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    with pytest.raises(InputError) as empty:
        store.get("latest")
    assert empty.value.issues[0].code == "store.empty"
    ids = [store.save(tiny_run()) for _ in range(3)]
    assert [i[:5] for i in ids] == ["r0001", "r0002", "r0003"]
    assert store.get("latest").run_id == ids[2]
    assert store.resolve("r0002") == ids[1]
    assert store.resolve(ids[0]) == ids[0]
    with pytest.raises(InputError) as unknown:
        store.get("r9999")
    assert unknown.value.issues[0].code == "store.unknown_run"
    assert "r9999" in unknown.value.issues[0].message
    with pytest.raises(InputError) as ambiguous:
        store.resolve("r000")
    assert ambiguous.value.issues[0].code == "store.ambiguous_run"
    assert ids[0] in ambiguous.value.issues[0].message


def test_list_newest_first_with_filters(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    a = store.save(tiny_run(scenario_name="base"))
    b = store.save(tiny_run(scenario_name="tight", sweep_id="sw1"))
    c = store.save(tiny_run(scenario_name="base", sweep_id="sw1", base_run=a))
    assert [r.run_id for r in store.list()] == [c, b, a]
    assert [r.run_id for r in store.list(scenario="base")] == [c, a]
    assert [r.run_id for r in store.list(sweep="sw1")] == [c, b]
    assert [r.run_id for r in store.list(scenario="base", sweep="sw1")] == [c]
    top = store.list()[0]
    assert (top.placed, top.unplaced, top.shortfall, top.base_run) == (6, 2, 1, a)
    assert top.fill_rate == pytest.approx(0.75) and top.total_time_s == 0.4


def test_delete_removes_every_row(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = RunStore(path)
    a = store.save(tiny_run())
    b = store.save(tiny_run())
    store.delete(a)
    assert [r.run_id for r in store.list()] == [b]
    assert count_rows(path, "run_placements") == 6
    assert count_rows(path, "run_unplaced") == 2
    assert count_rows(path, "run_lines") == 6
    with pytest.raises(InputError):
        store.get(a)
    with pytest.raises(InputError):
        store.delete(a)
    c = store.save(tiny_run())
    assert c.startswith("r0003-")  # sequence numbers are never reused


def test_store_file_is_private_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.db"
    RunStore(path).save(tiny_run())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for extra in ("-wal", "-shm"):
        side = Path(str(path) + extra)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    RunStore(path)  # opening again migrates nothing and keeps the run
    assert len(RunStore(path).list()) == 1


def test_default_path_from_env_and_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STAFFPLAN_STORE", raising=False)
    assert RunStore().path == Path("staffplan.db")
    assert (tmp_path / "staffplan.db").exists()
    monkeypatch.setenv("STAFFPLAN_STORE", str(tmp_path / "elsewhere.db"))
    assert RunStore().path == tmp_path / "elsewhere.db"
    assert (tmp_path / "elsewhere.db").exists()


def test_bad_store_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError) as missing:
        RunStore(tmp_path / "none.db", create=False)
    assert missing.value.issues[0].code == "store.missing"
    assert not (tmp_path / "none.db").exists()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all, just text " * 100)
    with pytest.raises(InputError) as bad:
        RunStore(junk)
    assert bad.value.issues[0].code == "store.not_a_store"
    with pytest.raises(InputError) as folder:
        RunStore(tmp_path)  # a folder, not a file
    assert folder.value.issues[0].code == "store.cannot_open"
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:  # a newer staffplan's store carries its application id
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    with pytest.raises(InputError) as too_new:
        RunStore(newer)
    assert too_new.value.issues[0].code == "store.too_new"


def test_schema_covers_every_table_column(tmp_path: Path) -> None:
    expected = {
        "placements": PLACEMENT_COLUMNS,
        "unplaced": UNPLACED_COLUMNS,
        "units": UNIT_COLUMNS,
    }
    path = tmp_path / "s.db"
    RunStore(path)
    with sqlite3.connect(path) as conn:
        for name, (sql_table, kinds) in TABLE_SCHEMAS.items():
            assert tuple(kinds) == expected[name]
            sql_cols = [r[1] for r in conn.execute(f"PRAGMA table_info({sql_table})")]
            assert sql_cols == ["run_seq", "row", *kinds]


def test_save_refuses_tables_with_other_columns(tmp_path: Path) -> None:
    run = tiny_run()
    tables = RunTables(run.tables.placements.drop(columns=["local"]), run.tables.unplaced, run.tables.units)
    broken = dataclasses.replace(run, tables=tables)
    store = RunStore(tmp_path / "s.db")
    with pytest.raises(ValueError, match="placements"):
        store.save(broken)
    assert store.list() == []


HELPER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from pathlib import Path
    from test_store import random_problem, random_assignment, new_run
    from optimizer.store import RunStore

    num_staff, seed, barrier = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    problem = random_problem(num_staff, num_units=20, seed=seed, name="proc" + str(seed))
    run = new_run(problem, random_assignment(problem, seed))
    store = RunStore(sys.argv[1])
    print("ready", flush=True)
    if barrier != "-":
        while not Path(barrier).exists():
            time.sleep(0.005)
    run_id = store.save(run)
    print("saved", run_id, len(run.tables.placements), flush=True)
    """
)


def _helper(tmp_path: Path) -> Path:
    script = tmp_path / "save_run.py"
    script.write_text(HELPER.format(tests=str(TESTS_DIR)), encoding="utf-8")
    return script


def _spawn(script: Path, store: Path, num_staff: int, seed: int, barrier: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    return subprocess.Popen(
        [sys.executable, str(script), str(store), str(num_staff), str(seed), barrier],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_sigkill_while_saving_leaves_no_partial_run(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = RunStore(path)
    kept = store.save(tiny_run())
    proc = _spawn(_helper(tmp_path), path, 150_000, 1, "-")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    wal = Path(str(path) + "-wal")
    deadline = time.monotonic() + 60
    # The transaction spills pages into the WAL as it writes: kill it half-way.
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 4_000_000:
            break
        time.sleep(0.002)
    assert proc.poll() is None, "the helper finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert "saved" not in out
    reopened = RunStore(path)
    assert [r.run_id for r in reopened.list()] == [kept]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(DISTINCT run_seq) FROM run_placements").fetchone()[0] == 1
    assert count_rows(path, "run_placements") == 6
    got = reopened.get("latest")
    assert compute_kpis(got.tables, got.rules) == got.kpis
    assert reopened.save(tiny_run()).startswith("r0002-")  # the killed run took no number


@pytest.mark.slow
def test_two_processes_store_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    RunStore(path)
    script = _helper(tmp_path)
    barrier = tmp_path / "go"
    procs = [_spawn(script, path, 30_000, seed, str(barrier)) for seed in (11, 12)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    barrier.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    saved = {
        line.split()[1]: int(line.split()[2])
        for o, _ in outs
        for line in o.splitlines()
        if line.startswith("saved")
    }
    assert len(saved) == 2
    store = RunStore(path)
    assert {r.run_id for r in store.list()} == set(saved)
    assert {r.scenario_name for r in store.list()} == {"proc11", "proc12"}
    for run_id, n in saved.items():
        got = store.get(run_id)
        assert len(got.tables.placements) == n
        assert compute_kpis(got.tables, got.rules) == got.kpis
