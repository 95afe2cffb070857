"""Solver benchmark: staffplan against greedy, naive CP-SAT and HiGHS MIP.

Protocol (see benchmarks/README.md): synthetic rosters on the real HCMC units, seed 0:
1/4× (the first 42 units, 4,000 people), 1× (168 units, 15,997) and 4× (168 units,
63,988); the transition scenario's rules
(30 km cap, leadership relatives, lexicographic default objective).  Each instance is
solved in a fresh subprocess (so peak memory is per instance) by staffplan, then by the
baselines on the same candidate set with the same time limit.  Writes
``benchmarks/results/solve.json``.

Usage::

    python benchmarks/bench_solve.py [--scales 0.25,1,4] [--baseline-limit 120]
        [--baselines greedy,cpsat,highs] [--out benchmarks/results/solve.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITY = (3878, 12119)


def make_instance(scale: float, folder: Path) -> Path:
    """Generate the scaled instance and a scenario file pointing at it.

    Below 1×, the first ``168 × scale`` units (the official order) keep the people per
    unit of the city; at 1× and above all 168 units take ``scale`` times the people.
    """
    party, government = round(CITY[0] * scale), round(CITY[1] * scale)
    units = folder / f"units-x{scale:g}.csv"
    lines = (ROOT / "data" / "hcmc" / "units.csv").read_text(encoding="utf-8").splitlines()
    keep = len(lines) - 1 if scale >= 1 else round((len(lines) - 1) * scale)
    units.write_text("\n".join(lines[: keep + 1]) + "\n", encoding="utf-8")
    data = folder / f"x{scale:g}"
    subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "synth", "--out", str(data), "--seed", "0",
         "--units", str(units), "--party", str(party), "--government", str(government),
         "--format", "csv"],
        check=True, cwd=ROOT, capture_output=True,
    )
    scenario = folder / f"x{scale:g}.toml"
    scenario.write_text(
        f'name = "bench-x{scale:g}"\nextends = "{ROOT}/scenarios/hcmc-2025/base.toml"\n'
        f'[data]\nunits = "{data}/units.csv"\nposts = "{data}/posts_transition.csv"\n'
        f'staff = "{data}/staff.csv"\nrelations = "{data}/relations.csv"\n'
        f'pins = "{data}/pins.csv"\n',
        encoding="utf-8",
    )
    return scenario


def measure(scenario: str, baselines: list[str], limit: float) -> dict[str, object]:
    """Run in a subprocess: load, solve, then each baseline; return the figures."""
    from optimizer.check import check_placement, objective_terms
    from optimizer.io import load_problem, load_scenario
    from optimizer.solve import solve
    from optimizer.solve.baselines import greedy, highs_mip, naive_cpsat
    from optimizer.solve.candidates import build_candidates

    t0 = time.perf_counter()
    # staffplan's own time limit is set high so that the figure is the time to finish.
    problem, _ = load_problem(load_scenario(scenario, ["solver.time_limit_s=900"]))
    load_s = time.perf_counter() - t0
    result = solve(problem).with_load(load_s)
    wall = time.perf_counter() - t0
    out: dict[str, object] = {
        "load_average_after_staffplan": __import__("os").getloadavg(),
        "people": problem.num_staff,
        "units": problem.num_units,
        "post_lines": problem.num_posts,
        "relations": len(problem.relations),
        "pins": len(problem.pins),
        "staffplan": {
            "status": result.status,
            "proven": result.proven,
            "wall_s_including_load": wall,
            "load_s": load_s,
            "timings_s": result.timings,
            "exact_finish_used": "exact" in result.timings,
            "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "values": result.values,
            "bounds": result.bounds,
            "stages": [
                {
                    "name": s.name,
                    "status": s.status,
                    "value": s.value,
                    "bound": s.bound,
                    "gap": s.gap,
                }
                for s in result.stages
            ],
            "candidates": result.candidate_counts,
        },
    }
    cand = build_candidates(problem)
    runners = {
        "greedy": lambda: greedy(problem, cand),
        "cpsat": lambda: naive_cpsat(problem, limit, workers=2, seed=0, cand=cand),
        "highs": lambda: highs_mip(problem, limit, cand),
    }
    for name in baselines:
        b = runners[name]()
        values = (
            objective_terms(problem, b.assignment) if b.status in ("optimal", "feasible") else None
        )
        out[name] = {
            "status": b.status,
            "time_s": b.time_s,
            "values": values,
            "bounds": b.bounds,
            "violations": len(check_placement(problem, b.assignment)) if values else None,
            "time_ratio_vs_staffplan": b.time_s / wall,
            "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.25,1,4")
    parser.add_argument("--baselines", default="greedy,cpsat,highs")
    parser.add_argument("--baseline-limit", type=float, default=120.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "solve.json"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    baselines = [b for b in args.baselines.split(",") if b]
    if args.measure:
        print(json.dumps(measure(args.measure, baselines, args.baseline_limit)))
        return
    report: dict[str, object] = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "baseline_limit_s": args.baseline_limit,
        "instances": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (float(x) for x in args.scales.split(",")):
            scenario = make_instance(scale, Path(tmp))
            print(f"scale {scale:g}: solving…", file=sys.stderr, flush=True)
            # Above 1× only greedy: naive CP-SAT and HiGHS already took 4.5 and 4.8 GB on
            # the city and find nothing there; at 4× they would not fit this machine.
            todo = baselines if scale <= 1 else [b for b in baselines if b == "greedy"]
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure",
                    str(scenario),
                    "--baselines",
                    ",".join(todo),
                    "--baseline-limit",
                    str(args.baseline_limit),
                ],
                check=True,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            report["instances"][f"x{scale:g}"] = figures  # type: ignore[index]
            print(json.dumps(figures["staffplan"], indent=1)[:2000], file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
