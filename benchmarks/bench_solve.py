"""Solver benchmark: staffplan against greedy, naive CP-SAT and HiGHS MIP.

Protocol (see benchmarks/README.md): synthetic rosters on the real HCMC units, seed 0:
1/4× (the first 42 units, 4,000 people), 1× (168 units, 15,997) and 4× (168 units,
63,988); the transition scenario's rules
(30 km cap, leadership relatives, lexicographic default objective).  On each instance,
staffplan and then each baseline run in a fresh subprocess (so peak memory is each
one's own): staffplan with its time limit raised to 900 s, the baselines on the same
candidate set with the same limit each (``--baseline-limit``).  The parent watches each
subprocess's resident memory and kills it above ``--memory-cap-gb`` (recorded as
``killed_memory_cap``), so a baseline that does not fit cannot take the machine down.
Writes ``benchmarks/results/solve.json``.

staffplan's run is profiled per stage (``profile`` in the JSON; :class:`StageProfile`):
for each stage, its wall and CPU time (every thread of the process; the better guide
on a loaded machine), the min-cost flow solves (LEMON, or OR-Tools: ``flow_backend``
in the JSON), the node potentials by Bellman–Ford (OR-Tools back-end only), the pricing
masks (``cheapest``), the stage linear programs built (``exact.stage_program``) and the
warm bases (``exact.warm_basis``), each with its wall and CPU time, and every HiGHS
run (stage relaxation, exact finish) with its wall and CPU time and simplex / interior
point / crossover iterations, summed and one by one (``highs_each``: each pricing round
of a relaxation, with its columns and rows); the whole-model MIP, if any, under
``whole_model``.  The load average before and after the solve is recorded with it.
The profile wraps those functions from outside the solver (a few microseconds per
call): the next profile is this one command.

``--baselines`` may also name ``cold``: staffplan again, every stage relaxation started
cold (``EngineParams.warm_basis`` off), for a same-run comparison of the warm basis;
and ``unsettled``: staffplan again with every first flow priced to the end
(``EngineParams.settle`` off), for a same-run comparison of the settled first flows.

Usage::

    python benchmarks/bench_solve.py [--scales 0.25,1,4] [--baseline-limit 120]
        [--baselines greedy,cpsat,highs,cold,unsettled] [--memory-cap-gb 20]
        [--out benchmarks/results/solve.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        [
            sys.executable,
            "-m",
            "optimizer.cli",
            "synth",
            "--out",
            str(data),
            "--seed",
            "0",
            "--units",
            str(units),
            "--party",
            str(party),
            "--government",
            str(government),
            "--format",
            "csv",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
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


class StageProfile:
    """Per-stage figures of one solve, gathered by wrapping the solver's steps.

    Wraps ``engine._run_stage`` (which stage runs), ``FlowModel._min_cost_flow`` (the
    min-cost flow solves, their potentials included), ``mincostflow.potentials``
    (Bellman–Ford, only with the OR-Tools back-end), ``FlowModel.cheapest`` (the
    pricing masks), ``exact.stage_program`` and ``exact.warm_basis`` (building a stage's
    linear program and its warm basis) and the ``run_highs`` of ``exact`` and
    ``baselines`` (every HiGHS run, with its iteration counts read from ``getInfo()``
    after the run).  Use as a
    context manager around ``solve``; :attr:`stages` then holds one dict per stage run
    (a stage merged into the next after a gap shows twice, under each name).
    """

    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self._current: dict[str, Any] | None = None
        self._saved: list[tuple[object, str, object]] = []

    def _stage(self) -> dict[str, Any]:
        if self._current is None:  # before the first stage (greedy floor) or after the last
            self._current = self._new("outside stages")
            self.stages.append(self._current)
        return self._current

    @staticmethod
    def _new(name: str) -> dict[str, Any]:
        return {
            "stage": name,
            "wall_s": 0.0,
            "cpu_s": 0.0,
            "flow_solves": 0,
            "flow_s": 0.0,
            "flow_cpu_s": 0.0,
            "potentials_calls": 0,
            "potentials_s": 0.0,
            "potentials_cpu_s": 0.0,
            "cheapest_calls": 0,
            "cheapest_s": 0.0,
            "cheapest_cpu_s": 0.0,
            "lp_builds": 0,
            "lp_build_s": 0.0,
            "lp_build_cpu_s": 0.0,
            "warm_bases": 0,
            "warm_basis_s": 0.0,
            "warm_basis_cpu_s": 0.0,
            "highs_runs": 0,
            "highs_s": 0.0,
            "highs_cpu_s": 0.0,
            "simplex_iterations": 0,
            "ipm_iterations": 0,
            "crossover_iterations": 0,
            "highs_each": [],
        }

    def _patch(self, owner: object, name: str, wrapper: Callable[..., Any]) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrapper)

    def _timed(self, owner: object, name: str, count: str, seconds: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                stage = self._stage()
                stage[count] += 1
                stage[seconds] += time.perf_counter() - t
                stage[seconds.removesuffix("_s") + "_cpu_s"] += time.process_time() - cpu

        self._patch(owner, name, wrapper)

    def __enter__(self) -> StageProfile:
        from optimizer.solve import engine, exact, flow, highs, mincostflow

        run_stage = engine._run_stage

        def stage_wrapper(run: Any, k: int) -> Any:
            self._current = self._new("+".join(run.plan[k][0]))
            self.stages.append(self._current)
            t, cpu = time.perf_counter(), time.process_time()
            try:
                return run_stage(run, k)
            finally:
                self._current["wall_s"] += time.perf_counter() - t
                self._current["cpu_s"] += time.process_time() - cpu
                self._current = None

        self._patch(engine, "_run_stage", stage_wrapper)
        self._timed(flow.FlowModel, "_min_cost_flow", "flow_solves", "flow_s")
        self._timed(mincostflow, "potentials", "potentials_calls", "potentials_s")
        self._timed(flow.FlowModel, "cheapest", "cheapest_calls", "cheapest_s")
        self._timed(exact, "stage_program", "lp_builds", "lp_build_s")
        self._timed(exact, "warm_basis", "warm_bases", "warm_basis_s")
        self._highs(exact, whole_model=False)
        # the MIPs run in this process (killable.solve_mip calls highs.run_highs): the
        # whole model's outside the stages, an exact finish's inside its stage
        self._highs(highs, whole_model=None)
        return self

    def _highs(self, module: object, whole_model: bool | None) -> None:
        inner = module.run_highs  # type: ignore[attr-defined]

        def wrapper(h: Any, threads: int) -> None:
            t, cpu = time.perf_counter(), time.process_time()
            try:
                inner(h, threads)
            finally:
                outside = self._current is None if whole_model is None else whole_model
                stage = self._whole() if outside else self._stage()
                info = h.getInfo()
                run = {
                    "wall_s": round(time.perf_counter() - t, 3),
                    "cpu_s": round(time.process_time() - cpu, 3),
                    "columns": int(h.getNumCol()),
                    "rows": int(h.getNumRow()),
                    "simplex_iterations": max(0, int(info.simplex_iteration_count)),
                    "ipm_iterations": max(0, int(info.ipm_iteration_count)),
                    "crossover_iterations": max(0, int(info.crossover_iteration_count)),
                }
                stage["highs_runs"] += 1
                stage["highs_s"] += run["wall_s"]
                stage["highs_cpu_s"] += run["cpu_s"]
                for key in ("simplex_iterations", "ipm_iterations", "crossover_iterations"):
                    stage[key] += run[key]
                stage["highs_each"].append(run)

        self._patch(module, "run_highs", wrapper)

    def _whole(self) -> dict[str, Any]:
        whole = self._new("whole_model")
        self.stages.append(whole)
        return whole

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def rounded(self) -> list[dict[str, Any]]:
        """The stages with their times rounded to the millisecond."""
        return [{k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()} for s in self.stages]


def measure_staffplan(scenario: str, warm_basis: bool = True, settle: bool = True) -> dict[str, object]:
    """Load and solve the scenario with staffplan, profiled per stage; return the figures.

    ``warm_basis`` false starts every stage relaxation cold (``EngineParams.warm_basis``);
    ``settle`` false prices every first flow to the end (``EngineParams.settle``).
    """
    from optimizer.io import load_problem, load_scenario
    from optimizer.solve import solve
    from optimizer.solve.engine import EngineParams
    from optimizer.solve.mincostflow import backend

    load_before = os.getloadavg()
    t0, cpu0 = time.perf_counter(), time.process_time()
    # staffplan's own time limit is set high so that the figure is the time to finish; the
    # heap warmed during the load, as `staffplan solve` and the web's jobs do
    problem, _ = load_problem(load_scenario(scenario, ["solver.time_limit_s=900"]), warm_heap=True)
    load_s = time.perf_counter() - t0
    with StageProfile() as profile:
        result = solve(problem, params=EngineParams(warm_basis=warm_basis, settle=settle)).with_load(load_s)
    wall = time.perf_counter() - t0
    return {
        "load_average_before_staffplan": load_before,
        "load_average_after_staffplan": os.getloadavg(),
        "people": problem.num_staff,
        "units": problem.num_units,
        "post_lines": problem.num_posts,
        "relations": len(problem.relations),
        "pins": len(problem.pins),
        "staffplan": {
            "status": result.status,
            "proven": result.proven,
            "flow_backend": backend().name,
            "wall_s_including_load": wall,
            "cpu_s_including_load": time.process_time() - cpu0,
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
            "profile": profile.rounded(),
        },
    }


def measure_baseline(scenario: str, name: str, limit: float) -> dict[str, object]:
    """Load the scenario, build its candidates and run one baseline on them."""
    from optimizer.check import check_placement, objective_terms
    from optimizer.io import load_problem, load_scenario
    from optimizer.solve.baselines import greedy, highs_mip, naive_cpsat
    from optimizer.solve.candidates import build_candidates

    problem, _ = load_problem(load_scenario(scenario, []))
    cand = build_candidates(problem)
    runners = {
        "greedy": lambda: greedy(problem, cand),
        "cpsat": lambda: naive_cpsat(problem, limit, workers=2, seed=0, cand=cand),
        "highs": lambda: highs_mip(problem, limit, cand, threads=2),
    }
    b = runners[name]()
    values = objective_terms(problem, b.assignment) if b.status in ("optimal", "feasible") else None
    return {
        "status": b.status,
        "time_s": b.time_s,
        "values": values,
        "bounds": b.bounds,
        "violations": len(check_placement(problem, b.assignment)) if values else None,
        "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_measure(args: list[str], memory_cap_mb: float) -> dict[str, object]:
    """Run this script with ``--measure`` ``args`` in a fresh process and return its JSON.

    The parent watches the child's resident memory: above ``memory_cap_mb`` the child
    is killed (so a baseline that does not fit cannot take the machine down) and the
    figure says so.
    """
    import psutil

    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--measure", *args], cwd=ROOT, stdout=out, stderr=err, text=True
        )
        watched = psutil.Process(proc.pid)
        peak_mb, killed = 0.0, False
        while proc.poll() is None:
            try:
                rss_mb = watched.memory_info().rss / 2**20
            except psutil.NoSuchProcess:
                break
            peak_mb = max(peak_mb, rss_mb)
            if rss_mb > memory_cap_mb:
                proc.kill()
                killed = True
            time.sleep(0.2)
        proc.wait()
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        if killed:
            return {
                "status": "killed_memory_cap",
                "time_s": wall,
                "peak_memory_mb": peak_mb,
                "note": f"killed by the benchmark above {memory_cap_mb:.0f} MB resident",
            }
        if proc.returncode != 0 or not lines:
            return {
                "status": "crashed",
                "time_s": wall,
                "peak_memory_mb": peak_mb,
                "exit_code": proc.returncode,
                "stderr_tail": err.read()[-2000:],
            }
        return dict(json.loads(lines[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.25,1,4")
    parser.add_argument("--baselines", default="greedy,cpsat,highs")
    parser.add_argument("--baseline-limit", type=float, default=120.0)
    parser.add_argument("--memory-cap-gb", type=float, default=20.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "solve.json"))
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    baselines = [b for b in args.baselines.split(",") if b]
    if args.measure:
        scenario, runner = args.measure
        if runner == "staffplan":
            print(json.dumps(measure_staffplan(scenario)))
        elif runner in ("cold", "unsettled"):
            figures = measure_staffplan(scenario, warm_basis=runner != "cold", settle=runner != "unsettled")
            other = figures.pop("staffplan")
            assert isinstance(other, dict)
            print(json.dumps({**figures, **other, "time_s": other["wall_s_including_load"]}))
        else:
            print(json.dumps(measure_baseline(scenario, runner, args.baseline_limit)))
        return
    cap_mb = args.memory_cap_gb * 1024
    instances: dict[str, dict[str, object]] = {}
    report: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "baseline_limit_s": args.baseline_limit,
        "memory_cap_mb": cap_mb,
        "instances": instances,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (float(x) for x in args.scales.split(",")):
            scenario = str(make_instance(scale, Path(tmp)))
            print(f"scale {scale:g}: staffplan…", file=sys.stderr, flush=True)
            figures = run_measure([scenario, "staffplan"], cap_mb)
            instances[f"x{scale:g}"] = figures
            print(json.dumps(figures.get("staffplan", figures), indent=1)[:2000], file=sys.stderr)
            measured = figures.get("staffplan")
            for stage in measured.get("profile", []) if isinstance(measured, dict) else []:
                print("  " + json.dumps(stage), file=sys.stderr)
            staffplan = figures.get("staffplan")
            for name in baselines:
                print(f"scale {scale:g}: {name}…", file=sys.stderr, flush=True)
                b = run_measure([scenario, name, "--baseline-limit", str(args.baseline_limit)], cap_mb)
                if isinstance(staffplan, dict):
                    wall = float(staffplan["wall_s_including_load"])
                    b["time_ratio_vs_staffplan"] = float(b["time_s"]) / wall  # type: ignore[arg-type]
                figures[name] = b
                print(
                    f"  {name}: {b['status']}, {b['time_s']:.1f} s, {b['peak_memory_mb']:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
