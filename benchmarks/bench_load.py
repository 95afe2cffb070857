"""Benchmark: load and validate the full-city scenario (target ≤ 3 s, PERFORMANCE.md).

Usage::

    .venv/bin/python benchmarks/bench_load.py [SCENARIO] [--repeats 3] [--out FILE]

Each repeat loads the scenario file and runs :func:`optimizer.io.load_problem` (read
every table, pandera and cross-table checks, capacity checks, build the problem) in this
process; the first repeat also pays the lazy imports of pandas/pandera internals.  The
import of :mod:`optimizer.io` is timed separately.  Peak memory is the process's
maximum resident set size, and, from one extra repeat under :mod:`tracemalloc`, the peak
of Python allocations.  Results go to ``benchmarks/results/load.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "hcmc-2025" / "transition.toml"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "load.json"
TARGET_S = 3.0


def _one_run(scenario_path: Path) -> dict[str, Any]:
    from optimizer.io import load_problem, load_scenario

    start = time.perf_counter()
    scenario = load_scenario(scenario_path)
    loaded = time.perf_counter()
    problem, warnings = load_problem(scenario)
    done = time.perf_counter()
    return {
        "scenario_s": round(loaded - start, 4),
        "tables_s": round(done - loaded, 4),
        "total_s": round(done - start, 4),
        "counts": {
            "units": problem.num_units,
            "post_lines": problem.num_posts,
            "staff": problem.num_staff,
            "relations": len(problem.relations),
            "pins": len(problem.pins),
            "warnings": len(warnings),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit code (2 when the scenario is missing)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", nargs="?", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from optimizer.errors import InputError
    from optimizer.io import load_scenario

    import_s = time.perf_counter() - start
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
    runs: list[dict[str, Any]] = []
    try:
        for _ in range(args.repeats):
            runs.append(_one_run(args.scenario))
        tracemalloc.start()
        _one_run(args.scenario)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    except InputError:
        print(f"{args.scenario}: invalid input; run staffplan validate", file=sys.stderr)
        return 2

    totals = [r["total_s"] for r in runs]
    result = {
        "benchmark": "load_validate",
        "scenario": str(args.scenario),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "repeats": args.repeats,
        "import_s": round(import_s, 4),
        "runs": runs,
        "best_s": min(totals),
        "median_s": statistics.median(totals),
        "first_s": totals[0],
        "target_s": TARGET_S,
        "within_target": max(totals) <= TARGET_S,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
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
        f"load+validate {counts['staff']} people, {counts['post_lines']} post lines: "
        f"best {result['best_s']:.2f} s, median {result['median_s']:.2f} s, "
        f"first {result['first_s']:.2f} s (import {result['import_s']:.2f} s), "
        f"peak RSS {result['peak_rss_mb']} MB -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
