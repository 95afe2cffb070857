"""``staffplan run``: solve a scenario with live progress, store the run, print its KPIs."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import rich_click as click

from optimizer.cli.common import EXIT_BAD_INPUT, EXIT_INFEASIBLE, bad_input_exits, set_option
from optimizer.cli.runs import store_option
from optimizer.i18n import t
from optimizer.solution import ENGINE

if TYPE_CHECKING:
    from optimizer.io import Scenario
    from optimizer.solve.engine import Progress

log = logging.getLogger("staffplan")

#: Exit code after a second Ctrl-C (the shell's convention for SIGINT).
EXIT_ABORTED = 130


class _Interrupts:
    """First Ctrl-C: stop the solve and keep the best placement; second: abort."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> _Interrupts:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        click.echo(t("run.stopping"), err=True)


def _format_progress(event: Progress) -> str:
    gap = "" if event.gap is None else f" gap {100 * event.gap:.3f}%"
    bound = "" if event.bound is None else f" bound {event.bound}"
    value = "" if event.objective is None else f" value {event.objective}"
    note = f" {event.note}" if event.note else ""
    return f"[{event.elapsed_s:7.2f}s] {event.stage}{note}{value}{bound}{gap}"


def solve_with_progress(problem: Any, stop: threading.Event) -> Any:
    """Solve with a live status line on a terminal, plain lines otherwise.

    The solve runs in a worker thread while the main thread waits, so that Ctrl-C is
    handled at once even while the solver is inside native code.
    """
    from optimizer.solve import solve

    if sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(t("run.solving")) as status:

            def on_progress(event: Progress) -> None:
                status.update(_format_progress(event))
                log.info(_format_progress(event))

            return _in_thread(lambda: solve(problem, progress=on_progress, stop=stop))

    def plain(event: Progress) -> None:
        click.echo(_format_progress(event), err=True)

    return _in_thread(lambda: solve(problem, progress=plain, stop=stop))


def _in_thread(work: Callable[[], Any]) -> Any:
    """Run ``work`` in a daemon thread; the main thread stays free for signals."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed back to the main thread below
            box["error"] = exc

    worker = threading.Thread(target=target, name="staffplan-solve", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in box:
        raise box["error"]
    return box["result"]


def apply_cli_solver_options(
    scenario: Scenario, time_limit: float | None, workers: int | None, seed: int | None
) -> Scenario:
    """The scenario with the command line's solver options applied (recorded with the run)."""
    import dataclasses

    solver = scenario.solver
    if time_limit is not None:
        solver = dataclasses.replace(solver, time_limit_s=time_limit)
    if workers is not None:
        solver = dataclasses.replace(solver, workers=workers)
    if seed is not None:
        solver = dataclasses.replace(solver, seed=seed)
    return dataclasses.replace(scenario, solver=solver)


@click.command("run")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write placements.csv, unplaced.csv and units.csv there.",
)
@click.option("--time-limit", type=float, help="Solver time limit in seconds (default: the scenario's).")
@click.option("--workers", type=int, help="Solver threads (default: the scenario's).")
@click.option("--seed", type=int, help="Random seed (default: the scenario's).")
@store_option
@bad_input_exits
def run(
    scenario: Path,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    time_limit: float | None,
    workers: int | None,
    seed: int | None,
    store_path: Path | None,
) -> None:
    """Solve SCENARIO, store the run and print its id and KPI table.

    Shows a live progress line (stage, objective, bound, gap, elapsed).  Ctrl-C or the
    time limit keeps the best placement found, stored as not proven; a second Ctrl-C
    aborts without storing.  Exit 0 when solved, 1 when infeasible (see
    `staffplan diagnose`), 2 on bad input.
    """
    from optimizer import __version__
    from optimizer.cli.runs import kpi_table
    from optimizer.fairness import fairness_kpis
    from optimizer.io import load_problem, load_scenario
    from optimizer.national import is_national
    from optimizer.store import NewRun, RunStore
    from optimizer.tables import run_tables

    if is_national(scenario):  # a list of provinces: solved province by province
        click.echo(t("run.national", scenario=str(scenario)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    started = time.perf_counter()
    sc = apply_cli_solver_options(load_scenario(scenario, overrides), time_limit, workers, seed)
    problem, warnings = load_problem(sc)
    load_s = time.perf_counter() - started
    if warnings:  # listed in full by `staffplan validate`
        click.echo(t("run.warnings", count=len(warnings), scenario=str(scenario)), err=True)
    store = RunStore(store_path)  # created (0600) when missing
    from optimizer.solve.memory import MemoryLimitError

    try:
        with _Interrupts() as interrupts:
            result = solve_with_progress(problem, interrupts.stop).with_load(load_s)
    except KeyboardInterrupt:
        click.echo(t("run.aborted"), err=True)
        sys.exit(EXIT_ABORTED)
    except MemoryLimitError as exc:
        click.echo(
            t("run.memory", needed=f"{exc.needed / 2**30:.1f}", available=f"{exc.available / 2**30:.1f}"),
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    tables = run_tables(problem, result.assignment, result.unplaced_reasons)
    extra = {"fairness": fairness_kpis(problem, result.assignment)} if result.has_placement else {}
    run_id = store.save(
        NewRun(
            scenario_name=sc.name,
            scenario_path=str(sc.path),
            scenario_hash=sc.file_hash(),
            resolved_scenario=sc.resolved(),
            overrides=sc.overrides,
            input_hashes=sc.input_hashes(),
            package_version=__version__,
            solver_params={
                "time_limit_s": sc.solver.time_limit_s,
                "workers": sc.solver.workers,
                "seed": sc.solver.seed,
                "engine": ENGINE,
            },
            result=result,
            tables=tables,
            rules=problem.rules,
            extra_kpis=extra,
        )
    )
    stored = store.get(run_id)
    if out_dir is not None:
        from optimizer.export.annex import write_csv_tables

        write_csv_tables(stored.tables, out_dir)
    from rich.console import Console

    console = Console()
    click.echo(t("run.stored", run_id=run_id, status=result.status, proven=result.proven))
    for stage in result.stages:
        click.echo(t("run.stage", name=stage.name, status=stage.status))
        for term in stage.terms:
            value, bound = result.values[term], result.bounds.get(term)
            gap = "-" if bound is None else f"{100 * (value - bound) / max(1, value):.2f}%"
            shown = "-" if bound is None else bound
            click.echo(t("run.term", term=term, value=value, bound=shown, gap=gap))
    if result.status == "infeasible":
        click.echo(t("run.infeasible", scenario=str(scenario)), err=True)
        sys.exit(EXIT_INFEASIBLE)
    console.print(kpi_table({run_id: stored.kpis}))
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    click.echo(t("run.timings", timings=timings, memory=f"{result.peak_memory_mb:.0f}"))
    if result.interrupted:
        click.echo(t("run.not_proven"), err=True)


COMMANDS: list[click.Command] = [run]
