"""Corpus benchmark: staffplan on provinces of every shape, beside HiGHS on the same model.

Protocol (see benchmarks/README.md): each named shape of ``optimizer.shapes.SHAPES`` is
generated at each size (seed 0) into a temporary folder.  For every (shape, size), one
subprocess loads the province, runs staffplan (time limit ``--limit``), then the greedy
baseline made valid and HiGHS's whole-model lexicographic MIP on the same candidates (time
limit ``--highs-limit``), and prints one JSON record: staffplan's wall and CPU time, the
load average when it started, status and every stage's value, bound and status; whether
the placement is lexicographically at least as good as greedy made valid; HiGHS's time,
status and whether its stage values equal staffplan's;
the ratio of the two times (HiGHS / staffplan, when HiGHS ends optimal).  Writes
``benchmarks/results/corpus.json``.

Usage::

    python benchmarks/bench_corpus.py [--sizes 7000,16000] [--shapes a,b] [--limit 300]
        [--highs-limit 300] [--no-highs] [--out benchmarks/results/corpus.json]
    python benchmarks/bench_corpus.py --table benchmarks/results/corpus-*.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(shape: str, people: int, limit: float, highs_limit: float, with_highs: bool) -> dict[str, object]:
    """Generate, solve and compare one province (run in its own process)."""
    import dataclasses

    from optimizer.check import check_placement, objective_terms
    from optimizer.io.build import load_problem
    from optimizer.io.scenario import load_scenario
    from optimizer.shapes import SHAPES, write_province
    from optimizer.solve import solve
    from optimizer.solve.baselines import highs_mip, valid_greedy
    from optimizer.solve.candidates import build_candidates
    from optimizer.solve.stages import objective_stages

    folder = Path(tempfile.mkdtemp(prefix=f"corpus-{shape}-"))
    write_province(SHAPES[shape], people, folder, 0)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    problem = dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, time_limit_s=limit))

    def key(assignment: object) -> list[float]:
        values = objective_terms(problem, assignment)  # type: ignore[arg-type]
        return [
            sum(w * values[t] for t, w in zip(ts, ws, strict=True)) for ts, ws in objective_stages(problem)
        ]

    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    result = solve(problem)
    staffplan_s, staffplan_cpu = time.perf_counter() - t0, time.process_time() - c0
    record: dict[str, object] = {
        "shape": shape,
        "people": problem.num_staff,
        "post_lines": problem.num_posts,
        "relations": len(problem.relations),
        "pins": len(problem.pins),
        "staffplan": {
            "time_s": round(staffplan_s, 2),
            "cpu_s": round(staffplan_cpu, 2),
            "load_average": round(load, 2),
            "status": result.status,
            "proven": result.proven,
            "stages": [
                {"name": st.name, "value": st.value, "bound": st.bound, "status": st.status}
                for st in result.stages
            ],
            "timings": {k: round(v, 2) for k, v in result.timings.items()},
            "peak_memory_mb": round(result.peak_memory_mb),
        },
    }
    if result.status == "infeasible":
        return record
    cand = build_candidates(problem)
    floor = valid_greedy(problem, cand)
    valid = floor.status == "feasible" and not check_placement(problem, floor.assignment)
    record["greedy"] = {
        "valid": valid,
        "not_worse": (key(result.assignment) <= key(floor.assignment)) if valid else None,
    }
    if with_highs:
        t0, c0 = time.perf_counter(), time.process_time()
        highs = highs_mip(problem, highs_limit, cand, threads=problem.solver.workers)
        highs_s, highs_cpu = time.perf_counter() - t0, time.process_time() - c0
        equal = highs.status == "optimal" and key(highs.assignment) == key(result.assignment)
        record["highs"] = {
            "time_s": round(highs_s, 2),
            "cpu_s": round(highs_cpu, 2),
            "status": highs.status,
            "equal_stage_values": equal,
            "ratio": round(highs_s / staffplan_s, 2) if highs.status == "optimal" else None,
        }
    return record


def table(paths: list[Path]) -> str:
    """The records of the given JSON files as the markdown table of benchmarks/README.md."""
    rows = [
        "| shape | people | post lines | staffplan (s) | CPU (s) | load | stages proven "
        "| ≥ greedy made valid | HiGHS (s) | HiGHS | same values | HiGHS / staffplan |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---|---|---:|",
    ]
    for path in paths:
        for r in json.loads(path.read_text(encoding="utf-8"))["records"]:
            sp = r.get("staffplan", {})
            stages = sp.get("stages", [])
            proven = (
                f"{sum(st['status'] == 'optimal' for st in stages)}/{len(stages)}"
                if stages
                else sp.get("status")
            )
            greedy = r.get("greedy") or {}
            floor = (
                "greedy not valid"
                if greedy.get("valid") is False
                else ("yes" if greedy.get("not_worse") else "–")
            )
            highs = r.get("highs")
            hs = (
                [str(highs["time_s"]), highs["status"], "yes" if highs["equal_stage_values"] else "no"]
                if highs
                else ["–"] * 3
            )
            ratio = str(highs["ratio"]) if highs and highs.get("ratio") is not None else "–"
            rows.append(
                f"| {r['shape']} | {r['people']:,} | {r.get('post_lines', '–')} | {sp.get('time_s', '–')} "
                f"| {sp.get('cpu_s', '–')} | {sp.get('load_average', '–')} | {proven} | {floor} "
                f"| {hs[0]} | {hs[1]} | {hs[2]} | {ratio} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="7000,16000")
    parser.add_argument("--shapes", default="")
    parser.add_argument("--limit", type=float, default=300.0)
    parser.add_argument("--highs-limit", type=float, default=300.0)
    parser.add_argument("--no-highs", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "corpus.json")
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "PEOPLE"), help=argparse.SUPPRESS)
    parser.add_argument("--table", nargs="+", type=Path, help="print the README table of these JSON files")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.limit, args.highs_limit, not args.no_highs)))
        return
    from optimizer.shapes import SHAPES

    shapes = [s for s in args.shapes.split(",") if s] or list(SHAPES)
    records = []
    for people in (int(s) for s in args.sizes.split(",")):
        for shape in shapes:
            cmd = [sys.executable, __file__, "--one", shape, str(people), "--limit", str(args.limit)]
            cmd += ["--highs-limit", str(args.highs_limit), *(["--no-highs"] if args.no_highs else [])]
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
            if done.returncode != 0:
                record = {"shape": shape, "people": people, "error": done.stderr.strip().splitlines()[-1:]}
            else:
                record = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(record), flush=True)
            records.append(record)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(
                json.dumps(
                    {
                        "machine": {
                            "cpus": os.cpu_count(),
                            "python": platform.python_version(),
                            "load_average": os.getloadavg(),
                        },
                        "note": "taken on a shared machine (8 engineers on 2 cores): absolute times drift",
                        "args": {k: str(v) for k, v in vars(args).items() if k != "one"},
                        "records": records,
                    },
                    indent=1,
                )
                + "\n",
                encoding="utf-8",
            )


if __name__ == "__main__":
    main()
