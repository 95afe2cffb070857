"""The time limit is a hard stop inside HiGHS's MIP (``optimizer/solve/killable.py``).

HiGHS's MIP checks its interrupt callback and its ``time_limit`` only a few times a run:
the assignment MIP below (620,000 columns) asked to stop after 2 s ran 18.5 s in this
process, with 16.9 s between two checks.  A MIP that large runs in a child process
killed at the deadline; what it reported is kept.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.check import check_placement, objective_terms
from optimizer.data import Problem
from optimizer.io.build import load_problem
from optimizer.io.scenario import load_scenario
from optimizer.shapes import SHAPES, write_province
from optimizer.solve import engine, killable
from optimizer.solve.baselines import highs_mip, valid_greedy
from optimizer.solve.candidates import build_candidates
from optimizer.solve.killable import ColumnMatrix, MipJob, solve_mip
from optimizer.solve.memory import MAX_MEMORY_ENV
from optimizer.solve.stages import objective_stages

#: People of the assignment MIP that HiGHS does not stop in time in-process.
OVERRUNNING_PEOPLE = 20_000


def children() -> set[int]:
    """Process ids whose parent is this process."""
    me = str(os.getpid())
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            found.add(int(stat.parent.name))
    return found


def assignment_mip(people: int, seed: int = 0) -> MipJob:
    """People to posts (30 candidate posts each, random costs 1–99, posts of room for
    90 % of the people) with one conflict row per person between two random pairs and
    an unplaced column (cost 1,000) per person; started from everyone unplaced."""
    rng = np.random.default_rng(seed)
    posts, per = people // 10, 30
    pairs = people * per
    person = np.repeat(np.arange(people), per)
    post = rng.integers(0, posts, pairs)
    conflict = rng.integers(0, pairs, (people, 2))
    rows = np.concatenate(
        [person, people + post, np.arange(people), people + posts + np.repeat(np.arange(people), 2)]
    )
    cols = np.concatenate([np.arange(pairs), np.arange(pairs), pairs + np.arange(people), conflict.ravel()])
    a = sp.csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(people + posts + people, pairs + people))
    lower = np.concatenate([np.ones(people), np.full(posts + people, -np.inf)])
    upper = np.concatenate([np.ones(people), np.full(posts, np.ceil(0.9 * people / posts)), np.ones(people)])
    cost = np.concatenate([rng.integers(1, 100, pairs).astype(float), np.full(people, 1000.0)])
    start = np.concatenate([np.zeros(pairs), np.ones(people)])
    integer = np.arange(pairs + people) < pairs
    options = (("presolve", "off"),)
    return MipJob(ColumnMatrix.of(a), np.ones(pairs + people), lower, upper, integer, (cost,), options, start)


def feasible(job: MipJob, x: np.ndarray) -> bool:
    """Whether ``x`` is an integral solution of ``job`` (checked here, not by HiGHS)."""
    a = sp.csc_matrix((job.a.data, job.a.indices, job.a.indptr), shape=job.a.shape)
    ax = a @ x
    integral = np.all(np.abs(x[job.integer] - np.rint(x[job.integer])) <= 1e-6)
    return bool(
        integral
        and np.all(ax >= job.row_lower - 1e-6)
        and np.all(ax <= job.row_upper + 1e-6)
        and np.all((x >= -1e-6) & (x <= job.col_upper + 1e-6))
    )


def test_a_mip_that_would_overrun_is_killed_at_its_limit() -> None:
    """The assignment MIP that ran 16.2 s on a 5 s limit in this process
    (``benchmarks/bench_timelimit.py``): in its child it is stopped within 2 s of that
    limit, proves nothing, and any incumbent it kept (the start, taken at 1.3 s on an
    idle machine) is a solution checked here row by row, no worse than the start, its
    objective recomputed and its bound no higher; no process is left."""
    job = assignment_mip(OVERRUNNING_PEOPLE)
    before = children()
    t0 = time.perf_counter()
    outcome = solve_mip(job, 5.0)
    assert time.perf_counter() - t0 <= 5.0 + 2.0
    assert outcome.cut_short
    stage = outcome.last
    assert stage is not None and stage.status in ("feasible", "no_solution")
    if stage.x is not None:
        assert feasible(job, stage.x)
        value = float(job.costs[0] @ stage.x)
        assert value == stage.objective
        assert value <= float(job.costs[0] @ job.start)  # type: ignore[operator]
        assert not stage.bound > value
    assert children() <= before


def test_a_stop_kills_the_child_at_once_keeping_its_best_incumbent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (the stop callback) during a child's MIP with a minute left, once its first
    incumbent came back: the child is killed within 1.5 s, that incumbent kept, and no
    process is left."""
    job = assignment_mip(OVERRUNNING_PEOPLE)
    came: list[float] = []
    collect = killable._Collector.__call__

    def noted(self: killable._Collector, message: tuple[object, ...]) -> None:
        came.append(time.perf_counter())
        collect(self, message)

    monkeypatch.setattr(killable._Collector, "__call__", noted)
    before = children()
    outcome = solve_mip(job, 60.0, stop=lambda: bool(came))
    assert came and time.perf_counter() - came[0] <= 1.5
    assert outcome.cut_short
    stage = outcome.last
    assert stage is not None and stage.x is not None and feasible(job, stage.x)
    assert children() <= before


def test_an_exception_in_the_parent_kills_the_child() -> None:
    """A second Ctrl-C (``KeyboardInterrupt`` raised in the parent while it waits on the
    child) leaves no process behind: the child is killed and reaped on that way out too."""
    job = assignment_mip(OVERRUNNING_PEOPLE)
    before = children()
    t0 = time.perf_counter()

    def second_ctrl_c() -> bool:
        if time.perf_counter() - t0 > 1.0:
            raise KeyboardInterrupt
        return False

    with pytest.raises(KeyboardInterrupt):
        solve_mip(job, 60.0, stop=second_ctrl_c)
    assert time.perf_counter() - t0 <= 5.0
    assert children() <= before


def test_a_child_past_the_memory_available_dies_and_the_parent_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A child whose MIP needs more memory than was available when it started (here
    ``STAFFPLAN_MAX_MEMORY_MB = 400``, its estimate made to fit) fails its allocation:
    the parent returns at once, proving nothing and trusting no bound, with at most the
    incumbent the child sent before (the start, checked here), and no process left."""
    monkeypatch.setenv(MAX_MEMORY_ENV, "400")
    monkeypatch.setattr(killable, "BYTES_PER_COLUMN", 10)
    job = assignment_mip(OVERRUNNING_PEOPLE)
    assert job.child_bytes() < 400 * 2**20
    before = children()
    t0 = time.perf_counter()
    outcome = solve_mip(job, 60.0)
    assert time.perf_counter() - t0 <= 10.0
    stage = outcome.last
    assert stage is not None and stage.status in ("feasible", "no_solution") and stage.bound == -np.inf
    assert stage.x is None or feasible(job, stage.x)
    assert children() <= before


def test_a_mip_whose_estimate_does_not_fit_is_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory rule of ``optimizer/solve/memory.py``: a child whose estimate exceeds
    the memory available is not started; nothing is solved, nothing is cut short."""
    monkeypatch.setenv(MAX_MEMORY_ENV, "300")
    job = assignment_mip(OVERRUNNING_PEOPLE)
    assert job.child_bytes() > 300 * 2**20
    spawned: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: spawned.append(a))
    outcome = solve_mip(job, 60.0)
    assert outcome.stages == () and not outcome.cut_short and spawned == []


def test_an_incumbent_sent_before_highs_fails_is_kept() -> None:
    """HiGHS that ends without a solution after it sent an incumbent (out of memory:
    the 16,000-person ``short-commute`` province's exact finish under a tight cap) keeps
    that incumbent, not proven, with no bound from the failed run."""
    job = assignment_mip(100)
    collect = killable._Collector(job)
    index, value = np.array([3, job.num_cols - 1]), np.array([1.0, 1.0])
    collect(("incumbent", 0, "feasible", 1001.0, -np.inf, index, value))
    collect(("stage", 0, "no_solution", np.nan, -np.inf, None, None))
    stage = collect.outcome(False).last
    assert stage is not None and stage.status == "feasible" and stage.objective == 1001.0
    assert stage.x is not None and np.flatnonzero(stage.x).tolist() == index.tolist()
    assert stage.bound == -np.inf


def test_a_killed_stage_keeps_the_dual_bound_it_reported() -> None:
    """The dual bound HiGHS reported when its MIP checked its stop (the 16,000-person
    ``short-commute`` province's exact finish: 1,286 against the relaxation's 1,276,
    reported at 50 s of a 60 s limit) stays with the stage when the child is killed,
    with or without an incumbent; a later stage starts without it."""
    job = dataclasses.replace(assignment_mip(100), costs=(np.ones(1100), np.ones(1100)))
    collect = killable._Collector(job)
    collect(("incumbent", 0, "feasible", 1000.0, -np.inf, np.array([0]), np.array([1.0])))
    collect(("bound", 0, "feasible", np.nan, 990.0, None, None))
    collect(("bound", 0, "feasible", np.nan, 980.0, None, None))  # never lowers it
    stage = collect.outcome(True).last
    assert stage is not None and stage.status == "feasible" and stage.bound == 990.0
    collect(("stage", 0, "optimal", 995.0, 995.0, np.array([1]), np.array([1.0])))
    collect(("bound", 1, "feasible", np.nan, 7.0, None, None))
    (first, second) = collect.outcome(True).stages
    assert first.status == "optimal" and first.bound == 995.0
    assert second.status == "no_solution" and second.x is None and second.bound == 7.0


def test_the_child_dies_with_its_parent() -> None:
    """A solve's process killed outright (``SIGKILL``: no ``finally`` runs) leaves no
    MIP behind: the child asked Linux to kill it with its parent."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_solve_timelimit import assignment_mip
        from optimizer.solve.killable import solve_mip
        print("go", flush=True)
        solve_mip(assignment_mip({OVERRUNNING_PEOPLE}), 120.0)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "go"
        child = _wait_for_child(parent.pid, 30.0)
        assert child is not None
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5.0
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _wait_for_child(pid: int, seconds: float) -> int | None:
    """The first child process of ``pid`` seen within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            text = task.read_text().split()
            if text:
                return int(text[0])
        time.sleep(0.05)
    return None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@functools.cache
def province(name: str, people: int) -> Problem:
    """A generated province (cached across this module's tests)."""
    folder = Path(tempfile.mkdtemp(prefix=f"timelimit-{name}-"))
    write_province(SHAPES[name], people, folder, 0)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    return dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, workers=1))


def lex_key(problem: Problem, assignment: np.ndarray) -> tuple[int, ...]:
    """Stage values of a placement, in the order of the objective's stages."""
    values = objective_terms(problem, assignment)
    return tuple(
        sum(w * values[t] for t, w in zip(terms, ws, strict=True)) for terms, ws in objective_stages(problem)
    )


def test_a_mip_that_finishes_in_time_proves_the_same_optimum_in_its_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Differential: the whole-model MIP of a province, in this process and in a child
    process, proves the same optimum on every stage."""
    problem = province("short-commute", 400)
    cand = build_candidates(problem)
    here = highs_mip(problem, 60.0, cand)
    monkeypatch.setattr(killable, "IN_PROCESS_MAX_COLUMNS", 0)
    before = children()
    there = highs_mip(problem, 60.0, cand)
    assert here.status == there.status == "optimal"
    assert check_placement(problem, there.assignment) == []
    assert lex_key(problem, there.assignment) == lex_key(problem, here.assignment)
    assert there.bounds.keys() == here.bounds.keys()
    assert children() <= before


def test_the_exact_finish_in_a_child_proves_the_same_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Differential on the solve: a stage left with a gap after one flow goes to the
    exact finish, whose MIP in a child process proves the same values as in this
    process."""
    problem = province("pinned-relatives-any", 400)
    params = engine.EngineParams(max_iterations=1, relaxation=False, highs_bytes_per_pair=2**62)
    here = engine.solve(problem, params=params)
    monkeypatch.setattr(killable, "IN_PROCESS_MAX_COLUMNS", 0)
    there = engine.solve(problem, params=params)
    assert [(s.name, s.status, s.value, s.bound) for s in there.stages] == [
        (s.name, s.status, s.value, s.bound) for s in here.stages
    ]
    assert check_placement(problem, there.assignment) == []


def test_a_solve_whose_mip_is_killed_stores_a_valid_placement_with_an_honest_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole-model MIP of a solve left unproven, in a child, killed at the solve's
    time limit: the solve returns within two seconds of its limit with a placement the
    checker accepts, never worse than greedy made valid, its stages not proven and
    their bounds no higher than their values; no process is left."""
    problem = province("short-commute", 4000)
    monkeypatch.setattr(killable, "IN_PROCESS_MAX_COLUMNS", 0)
    floor = valid_greedy(problem, build_candidates(problem))
    limit = 3.0
    timed = dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, time_limit_s=limit))
    params = engine.EngineParams(max_iterations=1, relaxation=False, open_part_max_arcs=-1)
    spawned: list[int] = []
    popen = subprocess.Popen

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        child = popen(*args, **kwargs)
        spawned.append(child.pid)
        return child

    monkeypatch.setattr(subprocess, "Popen", counted)
    before = children()
    t0 = time.perf_counter()
    result = engine.solve(timed, params=params)
    assert time.perf_counter() - t0 <= limit + 2.0
    assert spawned  # the whole-model MIP ran in a child
    assert result.interrupted and not result.proven
    assert check_placement(problem, result.assignment) == []
    assert lex_key(problem, result.assignment) <= lex_key(problem, floor.assignment)
    for stage in result.stages:
        assert stage.bound is None or stage.bound <= stage.value
    assert children() <= before


def test_ctrl_c_during_a_childs_mip_stores_the_best_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop event set while the whole-model MIP runs in its child: the solve returns
    at once with a valid placement never worse than greedy made valid, marked
    interrupted, and no process is left."""
    problem = province("short-commute", 4000)
    monkeypatch.setattr(killable, "IN_PROCESS_MAX_COLUMNS", 0)
    floor = valid_greedy(problem, build_candidates(problem))
    params = engine.EngineParams(max_iterations=1, relaxation=False, open_part_max_arcs=-1)
    stop = threading.Event()
    real = killable._in_child
    stopped_at: list[float] = []

    def ctrl_c() -> None:
        stopped_at.append(time.perf_counter())
        stop.set()

    def stopped_soon(*args, **kwargs):  # type: ignore[no-untyped-def]
        threading.Timer(0.8, ctrl_c).start()
        return real(*args, **kwargs)

    monkeypatch.setattr(killable, "_in_child", stopped_soon)
    before = children()
    result = engine.solve(problem, params=params, stop=stop)
    assert stopped_at and time.perf_counter() - stopped_at[0] <= 1.5
    assert result.interrupted
    assert check_placement(problem, result.assignment) == []
    assert lex_key(problem, result.assignment) <= lex_key(problem, floor.assignment)
    assert children() <= before
