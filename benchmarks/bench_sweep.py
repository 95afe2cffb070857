"""Sweep benchmark: many full-city runs on one machine, and the national run by province.

Protocol
--------
*City sweep.*  ``scenarios/hcmc-2025/transition.toml`` (the 168 real units, 15,997 synthetic
people, seed 0) swept over ``rules.max_commute_km`` = 20, 25, 30, 35 ×
``rules.bloc_change`` = penalize, forbid: 8 full-city variants, each a stored run, with
a 600 s time limit so that no solve is cut short by a loaded machine.  The
same sweep runs on a local process pool of one process (sequential, 2 threads per
solve), on the default local pool of two processes (one per core, 1 thread per solve),
and on a Dask cluster of two single-thread worker processes started here
(``distributed.LocalCluster``, on 127.0.0.1), each into a fresh store, ``--repeats``
times in alternating order (the machine may be shared: the 1-minute load average before
each sweep is recorded).  Reported: wall time of each (planning, solving, storing), the
speed-up of the pool over sequential per repeat and its median, the per-run solve
times, and whether every store holds the same placements (a hash of who holds which
post; the manifest hashes differ only through the recorded ``solver.workers``).

*National run.*  ``scenarios/national-synthetic/national.toml``: 34 provinces, 3,321
units, 250,000 synthetic people (tables generated with seed 0 if missing), solved
province by province on the local pool of two processes and stored as one merged run.
Reported: wall time, the per-province tasks (worker, wall time, peak memory), the peak
memory of each worker process and of the coordinator, the status and the objective
value and bound per term and per stage.

The provinces keep their scenario's time limit (120 s each).  The machine is whatever
runs the script (recorded in the JSON, with the load averages).  Writes
``benchmarks/results/sweep.json``; a part skipped with ``--skip-city`` or
``--skip-national`` keeps its figures from the previous file.

Usage::

    python benchmarks/bench_sweep.py [--skip-city] [--skip-national] [--no-dask]
        [--repeats 2] [--out benchmarks/results/sweep.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optimizer.national import write_national
from optimizer.store import RunStore, canonical_json, run_manifest
from optimizer.sweep import SweepOutcome, open_executor, plan_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
CITY = ROOT / "scenarios" / "hcmc-2025" / "transition.toml"
#: The swept keys, and a time limit no solve reaches on this machine: a solve stopped by
#: its limit keeps a placement that depends on the machine's speed at the time, and the
#: executors' placements could not be compared.
CITY_GRID = (
    "rules.max_commute_km=20,25,30,35",
    "rules.bloc_change=penalize,forbid",
    "solver.time_limit_s=600",
)
NATIONAL = ROOT / "scenarios" / "national-synthetic" / "national.toml"

CLUSTER_NOTES = (
    "On a real Dask cluster the same command runs unchanged with --executor "
    "dask://SCHEDULER:8786: start `dask scheduler` on one machine and `dask worker "
    "tcp://SCHEDULER:8786 --nworkers N --nthreads 1` on each compute machine (one worker "
    "process per core, so each solve owns a core; staffplan then sets solver.workers = 1). "
    "Every worker needs the same Python environment (staffplan installed) and the scenario "
    "folder at the same absolute path (a shared or synchronised file system); the "
    "coordinator checks the hashes of the files each worker read and refuses a mismatch. "
    "Only the coordinator writes the run store, so no shared database is needed. The "
    "national run is 34 independent province tasks whose sizes range from about 2,800 to "
    "16,000 people; they are submitted largest first, so with W worker cores the wall time "
    "is about max(largest province, total work / W) plus the coordinator's merge and store "
    "(measured below): linear in W until W reaches the total work divided by the largest "
    "province (about 15 workers here), after which the largest province (HCMC) bounds it. "
    "Peak memory is per province, not per nation (see peak_memory_mb_by_worker), so "
    "workers of a few GB suffice. Each result (placements of one province, a few MB) "
    "travels back to the coordinator once."
)


def now() -> str:
    """The local time, ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def ensure_city_data() -> None:
    """Generate the HCMC tables if ``scenarios/hcmc-2025/generated`` is missing."""
    if (CITY.parent / "generated" / "staff.csv").is_file():
        return
    subprocess.run(
        [
            sys.executable,
            "-m",
            "optimizer.cli",
            "synth",
            "--out",
            str(CITY.parent / "generated"),
            "--seed",
            "0",
            "--format",
            "csv",
        ],
        check=True,
        cwd=ROOT,
    )


def ensure_national_data() -> float:
    """Generate the national tables if missing; return the seconds it took (0 if present)."""
    folder = NATIONAL.parent / "generated"
    if (folder / "an-giang" / "scenario.toml").is_file():
        return 0.0
    start = time.perf_counter()
    write_national(folder, NATIONAL.parent / "base.toml", seed=0)
    return time.perf_counter() - start


def timed_sweep(
    scenario: Path, grid: Sequence[str], store_path: Path, executor: str, jobs: int | None
) -> tuple[SweepOutcome, float, int]:
    """Plan and run a sweep into a fresh store; return the outcome, wall time, threads."""
    start = time.perf_counter()
    plan = plan_sweep(scenario, grid)
    store = RunStore(store_path)
    with open_executor(executor, jobs) as (pool, slots):
        threads = max(1, (os.cpu_count() or 1) // slots) if executor == "local" else 1
        outcome = run_sweep(plan, store, pool, threads=threads)
    return outcome, time.perf_counter() - start, threads


def placement_hash(store: RunStore, run_id: str) -> str:
    """SHA-256 of a stored run's placement alone (who holds which post, who is unplaced)."""
    manifest = run_manifest(store.get(run_id))
    payload = {"placements": manifest["placements"], "unplaced": manifest["unplaced"]}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def describe(outcome: SweepOutcome, store_path: Path, wall: float, threads: int) -> dict[str, Any]:
    """The figures of one sweep, read back from its store."""
    store = RunStore(store_path)
    heads = {h.run_id: h for h in store.heads(sweep=outcome.sweep_id)}
    runs = []
    for run in outcome.runs:
        head = heads[run.run_id]
        runs.append(
            {
                "combination": run.combination.key,
                "run_id": run.run_id,
                "status": head.status,
                "proven": head.proven,
                "placement_hash": placement_hash(store, run.run_id),
                "total_s": head.meta["timings"].get("total"),
                "values": head.meta["values"],
            }
        )
    return {
        "wall_s": wall,
        "threads_per_solve": threads,
        "workers": sorted({t.worker for t in outcome.tasks}),
        "sum_of_task_wall_s": sum(t.wall_s for t in outcome.tasks),
        "runs": runs,
    }


def bench_city(tmp: Path, with_dask: bool, repeats: int) -> dict[str, Any]:
    """The 8-variant city sweep: sequential, local pool, (Dask), ``repeats`` times each.

    The order of the setups alternates between repeats, so that a slow spell of a shared
    machine does not always hit the same one; each repeat has its own fresh stores.
    """
    ensure_city_data()
    out: dict[str, Any] = {
        "scenario": str(CITY.relative_to(ROOT)),
        "grid": list(CITY_GRID),
        "repeats": [],
    }
    setups: list[tuple[str, str, int | None]] = [
        ("sequential", "local", 1),
        ("local_pool", "local", None),
    ]
    cluster = None
    if with_dask:
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        )
        setups.append(("dask_local_cluster", "dask://" + cluster.scheduler_address[6:], None))
    try:
        for repeat in range(repeats):
            figures: dict[str, Any] = {}
            for name, executor, jobs in setups if repeat % 2 == 0 else setups[::-1]:
                print(f"city sweep {repeat + 1}/{repeats}: {name}…", file=sys.stderr, flush=True)
                db = tmp / f"city-{name}-{repeat}.db"
                load = os.getloadavg()[0]
                outcome, wall, threads = timed_sweep(CITY, CITY_GRID, db, executor, jobs)
                figures[name] = {
                    **describe(outcome, db, wall, threads),
                    "load_average_1min_before": load,
                }
                print(f"  {wall:.1f} s", file=sys.stderr, flush=True)
            figures["speedup_local_pool_vs_sequential"] = (
                figures["sequential"]["wall_s"] / figures["local_pool"]["wall_s"]
            )
            out["repeats"].append(figures)
    finally:
        if cluster is not None:
            cluster.close()
    speedups = [r["speedup_local_pool_vs_sequential"] for r in out["repeats"]]
    out["speedup_local_pool_vs_sequential_median"] = statistics.median(speedups)
    hashes = {
        tuple(run["placement_hash"] for run in r[name]["runs"])
        for r in out["repeats"]
        for name, _, _ in setups
    }
    out["identical_placements_across_executors_and_repeats"] = len(hashes) == 1
    return out


def bench_national(tmp: Path) -> dict[str, Any]:
    """The national run: 34 provinces on the local pool, merged into one stored run."""
    generated_s = ensure_national_data()
    print("national run…", file=sys.stderr, flush=True)
    db = tmp / "national.db"
    outcome, wall, threads = timed_sweep(NATIONAL, (), db, "local", None)
    stored = RunStore(db).get(outcome.runs[0].run_id)
    by_worker: dict[str, float] = {}
    for task in outcome.tasks:
        by_worker[task.worker] = max(by_worker.get(task.worker, 0.0), task.peak_memory_mb)
    return {
        "scenario": str(NATIONAL.relative_to(ROOT)),
        "generation_s": generated_s,
        "provinces": len(outcome.tasks),
        "units": int(stored.tables.units["unit_id"].nunique()),
        "people": len(stored.tables.placements) + len(stored.tables.unplaced),
        "wall_s": wall,
        "threads_per_solve": threads,
        "sum_of_task_wall_s": sum(t.wall_s for t in outcome.tasks),
        "largest_task_wall_s": max(t.wall_s for t in outcome.tasks),
        "status": stored.status,
        "proven": stored.proven,
        "values": stored.meta["values"],
        "bounds": stored.meta["bounds"],
        "stages": stored.meta["stages"],
        "kpis": {
            k: stored.kpis[k]
            for k in (
                "placed",
                "unplaced",
                "shortfall",
                "fill_rate",
                "moves",
                "long_commute",
                "commute_mean_km",
                "relatives_conflicts",
            )
        },
        "peak_memory_mb_by_worker": by_worker,
        "coordinator_peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tasks": [
            {
                "province": t.province,
                "worker": t.worker,
                "wall_s": t.wall_s,
                "solve_s": t.solve_s,
                "peak_memory_mb": t.peak_memory_mb,
                "status": t.status,
            }
            for t in sorted(outcome.tasks, key=lambda t: -t.wall_s)
        ],
    }


def main() -> None:
    """Run the selected parts and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-national", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="city sweeps per setup (default 2)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "command": "python benchmarks/bench_sweep.py " + " ".join(sys.argv[1:]),
        "generated_at": now(),
        "cluster_notes": CLUSTER_NOTES,
    }
    out = Path(args.out)
    if out.is_file():  # parts skipped this time keep their previous figures
        previous = json.loads(out.read_text(encoding="utf-8"))
        for part in ("city_sweep", "national"):
            if part in previous:
                report[part] = previous[part]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if not args.skip_city:
            report["city_sweep"] = {"measured_at": now(), **bench_city(tmp, not args.no_dask, args.repeats)}
        if not args.skip_national:
            report["national"] = {"measured_at": now(), **bench_national(tmp)}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
