"""``staffplan sweep``: many runs at once on a local process pool or a Dask cluster.

A thin layer over :func:`optimizer.service.plan_sweep`, :func:`~optimizer.service.sweep`
and :func:`~optimizer.service.sweep_table`.  Also exported for ``staffplan compare
--sweep``: :func:`print_sweep`, the one-row-per-run table of a sweep.  The service (and
with it the sweep machinery, pandas and Dask) is imported inside the functions so that
``staffplan --help`` stays instant.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from optimizer.cli.common import EXIT_INFEASIBLE, bad_input_exits, store_option
from optimizer.cli.common import console as wide_console
from optimizer.i18n import get_lang, t
from optimizer.labels import number

if TYPE_CHECKING:
    from optimizer.errors import Issue
    from optimizer.service import SweepSlots
    from optimizer.store import RunStore
    from optimizer.sweep import SweepProgress

#: KPIs of the printed sweep table (short headers; ``compare --sweep`` shows them all).
PRINTED_KPIS = ("placed", "unplaced", "shortfall", "moves", "long_commute", "commute_mean_km")


def print_sweep(store: RunStore, sweep_id: str, console: Console | None = None) -> list[str]:
    """Print the table of a sweep's runs (swept values, status, KPIs) and return their ids.

    One row per run in grid order; an optimal status marked ``*`` is not proven (the
    solve was interrupted).  The run ids are returned in the same order, ready for
    ``staffplan compare``.

    Raises
    ------
    InputError
        When the store holds no run of that sweep.
    """
    from optimizer import service
    from optimizer.kpi_display import format_value, kpi_kind

    lang = get_lang()
    swept = service.sweep_table(store, sweep_id)
    frame, keys = swept.frame, swept.keys
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    if len(set(leaves)) < len(leaves):
        leaves = list(keys)
    table = Table(
        title=t("sweep.table_title", sweep=sweep_id),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_footer=True,
    )
    table.add_column(t("sweep.col.run_id"), footer=t("sweep.col.total"), no_wrap=True)
    for leaf in leaves:
        table.add_column(escape(leaf))
    table.add_column(t("sweep.col.status"))
    for name in PRINTED_KPIS:
        table.add_column(t(f"sweep.col.{name}"), justify="right")
    total = format_value(frame["time_s"].fillna(0).sum(), "km", lang)
    table.add_column(t("sweep.col.time_s"), footer=total, justify="right")
    for rec in frame.to_dict("records"):
        status = t(f"store.status.{rec['status']}")
        table.add_row(
            str(rec["run_id"]),
            *(escape(str(rec[k])) for k in keys),
            f"{status} *" if rec["status"] == "optimal" and not rec["proven"] else status,
            *(format_value(rec[name], kpi_kind(name), lang) for name in PRINTED_KPIS),
            format_value(rec["time_s"], "km", lang),
        )
    (console or wide_console()).print(table)
    return [str(r) for r in frame["run_id"]]


def summarise_warnings(warnings: Sequence[Issue]) -> list[tuple[int, Issue]]:
    """The warnings of a sweep once each kind: ``(count, first example)`` per issue code
    (or message when it has none), most frequent first, in first-seen order for ties."""
    groups: dict[str, list[Issue]] = {}
    for issue in warnings:
        groups.setdefault(issue.code or issue.message, []).append(issue)
    ordered = sorted(groups.values(), key=lambda g: -len(g))
    return [(len(g), g[0]) for g in ordered]


def _print_warnings(warnings: Sequence[Issue], scenario: Path) -> None:
    """The sweep's input warnings summed up once, one line per kind, and where to read
    them all (``staffplan validate``)."""
    if not warnings:
        return
    groups = summarise_warnings(warnings)
    click.echo(t("sweep.warnings_summary", n=len(warnings), kinds=len(groups)), err=True)
    for count, issue in groups:
        value = f" [{issue.value}]" if issue.value != "" else ""
        click.echo(f"  {count} × {issue.location()}{value}: {issue.message}", err=True)
    click.echo(t("sweep.warnings_hint", scenario=str(scenario)), err=True)


def print_times(store: RunStore, sweep_id: str, wall_s: float, slots: int) -> None:
    """Say how the run times of the table add up to the time the sweep took."""
    from optimizer import service

    total = float(service.sweep_table(store, sweep_id).frame["time_s"].fillna(0).sum())
    lang = get_lang()
    click.echo(
        t(
            "sweep.times",
            total=number(total, 1, lang),
            wall=number(wall_s, 1, lang),
            slots=slots,
            busy=number(wall_s * slots, 1, lang),
        )
    )


class _ProgressReport:
    """A rich progress bar on a terminal, one plain line per finished task otherwise."""

    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True, highlight=False)
        self.bar: Progress | None = None
        if self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.task = self.bar.add_task(t("sweep.progress"), total=total)

    def __enter__(self) -> _ProgressReport:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: SweepProgress) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=event.done, description=event.label)
        else:
            self.console.print(t("sweep.task_done", done=event.done, total=event.total, label=event.label))
        if event.run_id is not None:
            self.console.print(
                t(
                    "sweep.run_stored",
                    run_id=event.run_id,
                    status=t(f"store.status.{event.status}"),
                    label=event.label,
                )
            )


@click.command("sweep")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=V1,V2,…",
    help="Values of a scenario key to sweep, comma-separated (repeatable; the runs "
    "are the cartesian product). Quote or bracket a value that holds a comma.",
)
@click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="local|dask://HOST:PORT",
    help="Where the solves run: local processes, or a Dask cluster's scheduler.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Local processes (default: the number of cores). Ignored with Dask.",
)
@click.option(
    "--threads-per-solve",
    type=click.IntRange(min=1),
    default=None,
    help="solver.workers of each solve (default: cores / parallel solves locally, "
    "1 on Dask), so that parallel solves do not fight for the cores.",
)
@store_option
@bad_input_exits
def sweep(
    scenario: Path,
    settings: tuple[str, ...],
    executor: str,
    jobs: int | None,
    threads_per_solve: int | None,
    store_path: Path | None,
) -> None:
    """Solve every combination of --set values of SCENARIO and store each as a run.

    SCENARIO is a scenario file, or a multi-province file (a 'provinces' list of
    scenario files): then each province is solved independently, in parallel, and the
    provinces of each combination are merged into one run with one KPI table.

    Runs are tagged with a sweep id computed from the scenario, its data and the
    --set grid: running the same command again skips the combinations already stored
    (an interrupted sweep resumes). Only this process writes to the store. Exit 0 when
    every combination is solved, 1 when some have no solution, 2 on bad input.

    \b
    Examples:
      staffplan sweep scenarios/hcmc-2025/transition.toml \\
          --set rules.max_commute_km=20,25,30 \\
          --set rules.bloc_change=penalize,forbid
      staffplan sweep scenarios/national-synthetic/national.toml --jobs 2
      staffplan sweep scenarios/tiny/scenario.toml --set solver.seed=0,1,2 \\
          --executor dask://10.0.0.5:8786
    """
    from optimizer import service

    store = service.open_store(store_path, create=True)
    planned = service.plan_sweep(store, scenario, settings, executor=executor)
    plan = planned.plan
    click.echo(
        t(
            "sweep.plan",
            sweep=plan.sweep_id,
            scenario=plan.name,
            combinations=len(plan.combinations),
            provinces=plan.num_provinces,
            reused=len(planned.finished),
            tasks=planned.num_tasks,
        )
    )
    swept = None
    if planned.num_tasks:
        try:
            with _ProgressReport(planned.num_tasks) as report:
                swept = service.sweep(
                    store,
                    planned,
                    jobs=jobs,
                    threads_per_solve=threads_per_solve,
                    on_start=_print_slots,
                    progress=report,
                )
        except KeyboardInterrupt:
            click.echo(t("sweep.interrupted", sweep=plan.sweep_id), err=True)
            sys.exit(EXIT_INFEASIBLE)
        outcome = swept.outcome
        _print_warnings(outcome.warnings, scenario)
        stored = sum(not r.reused for r in outcome.runs)
        click.echo(
            t(
                "sweep.done",
                sweep=plan.sweep_id,
                stored=stored,
                reused=len(outcome.runs) - stored,
                time=number(outcome.wall_s, 1, get_lang()),
            )
        )
        statuses = [r.status for r in outcome.runs]
    else:
        statuses = [h.status for h in planned.finished.values()]
    print_sweep(store, plan.sweep_id)
    if swept is not None:
        print_times(store, plan.sweep_id, swept.outcome.wall_s, swept.slots.slots)
    click.echo(t("sweep.compare_hint", sweep=plan.sweep_id))
    not_solved = sum(s in ("infeasible", "no_solution") for s in statuses)
    if not_solved:
        click.echo(t("sweep.not_solved", n=not_solved), err=True)
        sys.exit(EXIT_INFEASIBLE)


def _print_slots(where: SweepSlots) -> None:
    """Say where the solves run, how many at once, with how many threads each."""
    click.echo(
        t("sweep.executor_local", slots=where.slots, threads=where.threads)
        if where.address is None
        else t("sweep.executor_dask", address=where.address, slots=where.slots, threads=where.threads)
    )


COMMANDS: list[click.Command] = [sweep]
