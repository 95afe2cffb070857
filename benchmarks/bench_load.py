"""Benchmark: load and validate a scenario, then the solver's set-up before its first stage.

Usage::

    .venv/bin/python benchmarks/bench_load.py [SCENARIO] [--repeats 5] [--out FILE]

Each repeat runs in a fresh Python process (so every repeat reads and parses the files
anew and pays its own first-call costs, as a planner's command does), with the imports
done before the clock starts:

* ``load``: :func:`optimizer.io.load_scenario` and :func:`optimizer.io.load_problem`
  (read every table, type and cross-table checks, capacity checks, build the problem);
* ``setup``: what :func:`optimizer.solve.solve` does before its first stage — the
  candidates, the flow model, the stage plan and the greedy floor — with NumPy's arrays
  on small pages, as the solve keeps them (:func:`optimizer.solve.memory.small_pages`).

Each phase is timed in CPU seconds (``time.process_time``: the figure that does not
depend on what else runs on the machine) and in wall seconds; the load average is
recorded beside each repeat, and so are the minor page faults of each phase (new
memory touched: on a busy machine each costs microseconds, so they explain much of the
set-up's time).  Peak memory is the largest resident set of a repeat.
Results go to ``benchmarks/results/load.json`` (the issue's target: load and set-up
together about 1 s of CPU on the city).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "hcmc-2025" / "transition.toml"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "load.json"
#: CPU seconds of load and set-up together on the city (issue 19).
TARGET_CPU_S = 1.0
PHASES = ("load", "candidates", "flow_model", "stage_plan", "greedy_floor")


def _one_run(scenario_path: Path) -> dict[str, Any]:
    """Load and set up once in this process; the phases' CPU and wall seconds."""
    from optimizer.io import load_problem, load_scenario
    from optimizer.solve.candidates import build_candidates
    from optimizer.solve.engine import floor_incumbent, stage_plan
    from optimizer.solve.flow import FlowModel
    from optimizer.solve.memory import small_pages

    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    faults: dict[str, float] = {}

    def now() -> tuple[float, float, int]:
        return time.process_time(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def timed(phase: str, start: tuple[float, float, int]) -> tuple[float, float, int]:
        end = now()
        cpu[phase], wall[phase] = round(end[0] - start[0], 4), round(end[1] - start[1], 4)
        faults[phase] = end[2] - start[2]
        return end

    load_avg = os.getloadavg()[0]
    t = now()
    problem, warnings = load_problem(load_scenario(scenario_path))
    t = timed("load", t)
    with small_pages():  # as solve() sets itself up
        cand = build_candidates(problem)
        t = timed("candidates", t)
        model = FlowModel(problem, cand)
        t = timed("flow_model", t)
        stage_plan(problem, model)
        t = timed("stage_plan", t)
        floor = floor_incumbent(model)
        timed("greedy_floor", t)
    cpu["setup"] = round(sum(cpu[p] for p in PHASES[1:]), 4)
    wall["setup"] = round(sum(wall[p] for p in PHASES[1:]), 4)
    cpu["total"] = round(cpu["load"] + cpu["setup"], 4)
    wall["total"] = round(wall["load"] + wall["setup"], 4)
    faults["setup"] = sum(faults[p] for p in PHASES[1:])
    faults["total"] = faults["load"] + faults["setup"]
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "page_faults": faults,
        "load_average": round(load_avg, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "counts": {
            "units": problem.num_units,
            "post_lines": problem.num_posts,
            "staff": problem.num_staff,
            "relations": len(problem.relations),
            "pins": len(problem.pins),
            "warnings": len(warnings),
            "pairs": len(cand),
        },
        "greedy_floor": None if floor is None else floor.values,
    }


def _fresh_run(scenario_path: Path) -> dict[str, Any]:
    """:func:`_one_run` in a new Python process (its imports done before the clock)."""
    command = [sys.executable, __file__, str(scenario_path), "--measure"]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _summary(runs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, float]]:
    keys = runs[0][kind].keys()
    return {
        k: {
            "best": min(r[kind][k] for r in runs),
            "median": round(statistics.median(r[kind][k] for r in runs), 4),
        }
        for k in keys
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code (2 when the scenario is missing or invalid)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_one_run(args.scenario)))
        return 0
    from optimizer.errors import InputError
    from optimizer.io import load_scenario

    how = "Create them with:\n    staffplan synth --out scenarios/hcmc-2025/generated --seed 0"
    if not args.scenario.is_file():
        print(f"{args.scenario} does not exist. {how.replace('them', 'the tables')}", file=sys.stderr)
        return 2
    try:
        load_scenario(args.scenario)
    except InputError as exc:
        if any(i.code == "data_file_missing" for i in exc.issues):
            print(f"The data tables of {args.scenario} are missing. {how}", file=sys.stderr)
        else:
            print(f"{args.scenario}: invalid scenario; run staffplan validate", file=sys.stderr)
        return 2
    try:
        runs = [_fresh_run(args.scenario) for _ in range(args.repeats)]
    except subprocess.CalledProcessError as exc:
        print(f"{args.scenario}: the load failed; run staffplan validate\n{exc.stderr}", file=sys.stderr)
        return 2
    cpu = _summary(runs, "cpu_s")
    result = {
        "benchmark": "load_setup",
        "scenario": str(args.scenario),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/bench_load.py", *(sys.argv[1:] if argv is None else argv)]),
        "repeats": args.repeats,
        "runs": runs,
        "cpu_s": cpu,
        "wall_s": _summary(runs, "wall_s"),
        "page_faults": _summary(runs, "page_faults"),
        "target_cpu_s": TARGET_CPU_S,
        "within_target": cpu["total"]["median"] <= TARGET_CPU_S,
        "load_average": [r["load_average"] for r in runs],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "counts": runs[-1]["counts"],
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    counts = result["counts"]
    print(
        f"{counts['staff']} people, {counts['post_lines']} post lines, {counts['pairs']} pairs; CPU s "
        f"(best / median of {args.repeats} fresh processes): load {cpu['load']['best']:.2f} / "
        f"{cpu['load']['median']:.2f}, set-up {cpu['setup']['best']:.2f} / {cpu['setup']['median']:.2f}, "
        f"together {cpu['total']['best']:.2f} / {cpu['total']['median']:.2f}; load average "
        f"{min(result['load_average'])}-{max(result['load_average'])} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
