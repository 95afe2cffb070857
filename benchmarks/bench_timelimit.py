"""Time limit against wall time of a HiGHS MIP that does not stop in time by itself.

The assignment MIP of ``tests/test_solve_timelimit.py`` (30 candidate posts a person,
one conflict row a person; 620,000 columns at 20,000 people), solved once in this
process (HiGHS's own ``time_limit`` and interrupt callback: the code before issue 14's
hard stop) and once through :func:`optimizer.solve.killable.solve_mip` (a child process
killed at the limit), for each limit asked::

    nice -n 15 .venv/bin/python benchmarks/bench_timelimit.py --people 20000 --limits 2 5 10

With ``--shape``, a generated province of ``--people`` people is solved instead, sent to
the exact finish of its open part (``EngineParams(relaxation=False)``: the route of the
16,000-person ``short-commute`` run that took 253.8 s on a 180 s limit), once per limit::

    nice -n 15 .venv/bin/python benchmarks/bench_timelimit.py \
        --shape short-commute --people 16000 --limits 100

Prints one line per run and writes the JSON of ``--out`` when given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    """Run the MIP at each limit, in this process and in a child, and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--limits", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    parser.add_argument("--shape", help="solve this generated province instead")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = (
        province_runs(args.shape, args.people, args.limits)
        if args.shape
        else mip_runs(args.people, args.limits)
    )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def mip_runs(people: int, limits: list[float]) -> list[dict[str, object]]:
    """The assignment MIP at each limit, in this process and in a child."""
    from test_solve_timelimit import assignment_mip

    from optimizer.solve.killable import solve_mip

    job = assignment_mip(people)
    rows = []
    for limit in limits:
        for where in ("in-process", "child"):
            t0 = time.perf_counter()
            stop_at = t0 + limit
            stage = solve_mip(
                job,
                limit,
                stop=lambda stop_at=stop_at: time.perf_counter() > stop_at,
                in_process=where == "in-process",
            ).last
            wall = time.perf_counter() - t0
            row = {
                "columns": job.num_cols,
                "where": where,
                "limit_s": limit,
                "wall_s": round(wall, 2),
                "over_s": round(wall - limit, 2),
                "status": None if stage is None else stage.status,
                "objective": None if stage is None else stage.objective,
                "load": round(os.getloadavg()[0], 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def province_runs(shape: str, people: int, limits: list[float]) -> list[dict[str, object]]:
    """The province solved to each limit through the exact finish: wall time of the
    solve, its own clock, and whether the placement passes the checker."""
    import dataclasses
    import tempfile

    from optimizer.check import check_placement
    from optimizer.io.build import load_problem
    from optimizer.io.scenario import load_scenario
    from optimizer.shapes import SHAPES, write_province
    from optimizer.solve import engine

    folder = Path(tempfile.mkdtemp(prefix=f"timelimit-{shape}-"))
    write_province(SHAPES[shape], people, folder, 0)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    rows: list[dict[str, object]] = []
    for limit in limits:
        timed = dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, time_limit_s=limit))
        t0 = time.perf_counter()
        result = engine.solve(timed, params=engine.EngineParams(relaxation=False))
        wall = time.perf_counter() - t0
        row = {
            "shape": shape,
            "people": people,
            "limit_s": limit,
            "wall_s": round(wall, 2),
            "over_s": round(wall - limit, 2),
            "solve_clock_s": round(result.timings["total"], 2),
            "exact_s": round(result.timings.get("exact", 0.0), 2),
            "status": result.status,
            "valid": check_placement(problem, result.assignment) == [],
            "load": round(os.getloadavg()[0], 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


if __name__ == "__main__":
    main()
