"""``staffplan run``: solve a scenario with live progress, store the run, print its KPIs."""

from __future__ import annotations

import contextlib
import logging
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click

from optimizer.cli.common import EXIT_INFEASIBLE, bad_input_exits, set_option, store_option
from optimizer.i18n import t
from optimizer.labels import gap_percent, label, number, terms_label, yes_no

if TYPE_CHECKING:
    from optimizer.solve.engine import Progress

log = logging.getLogger("staffplan")

#: Exit code after a second Ctrl-C (the shell's convention for SIGINT).
EXIT_ABORTED = 130


@contextlib.contextmanager
def progress_display() -> Iterator[Callable[[Progress], None]]:
    """A progress callback: a live status line on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(t("run.solving")) as status:

            def on_progress(event: Progress) -> None:
                status.update(event.describe())
                log.info(event.describe())

            yield on_progress
        return

    def plain(event: Progress) -> None:
        click.echo(event.describe(), err=True)

    yield plain


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
@click.option(
    "--label",
    "run_label",
    default="",
    metavar="TEXT",
    help="A few words that tell this run apart, stored with it and shown by runs, show, compare "
    "and the report.",
)
@store_option
@bad_input_exits
def run(
    scenario: Path,
    overrides: tuple[str, ...],
    out_dir: Path | None,
    time_limit: float | None,
    workers: int | None,
    seed: int | None,
    run_label: str,
    store_path: Path | None,
) -> None:
    """Solve SCENARIO, store the run and print its id and KPI table.

    Shows a live progress line (stage, objective, bound, gap, elapsed).  Ctrl-C or the
    time limit keeps the best placement found, stored as not proven; a second Ctrl-C
    aborts without storing.  Exit 0 when solved, 1 when infeasible (see
    `staffplan diagnose`), 2 on bad input.
    """
    from optimizer import service
    from optimizer.cli.runs import kpi_table

    loaded = service.load(
        scenario, overrides, time_limit=time_limit, workers=workers, seed=seed, warm_heap=True
    )
    if loaded.warnings:  # listed in full by `staffplan validate`
        click.echo(t("run.warnings", count=len(loaded.warnings), scenario=str(scenario)), err=True)
    store = service.open_store(store_path, create=True)  # created (0600) when missing
    store.check_writable()  # a store that cannot take the run is refused before solving
    sc = loaded.scenario
    folders = [out_dir] if out_dir is not None else []
    with service.guard_outputs(
        store, inputs=sc.input_files(), tables=sc.data.values(), table_folders=folders
    ):
        if out_dir is not None:
            service.make_out_dir(out_dir)  # a bad --out is refused before solving too
    try:
        with (
            service.StopOnSignal(lambda: click.echo(t("run.stopping"), err=True)) as interrupts,
            progress_display() as progress,
        ):
            tags = (
                {"label": " ".join(unicodedata.normalize("NFC", run_label).split())}
                if run_label.strip()
                else {}
            )
            recorded = service.solve_and_record(
                loaded, store, progress=progress, stop=interrupts.stop, tags=tags
            )
    except KeyboardInterrupt:
        click.echo(t("run.aborted"), err=True)
        sys.exit(EXIT_ABORTED)
    result, stored, run_id = recorded.result, recorded.run, recorded.run_id
    if out_dir is not None:
        with service.guard_outputs(store, [stored], table_folders=folders):
            service.write_tables(stored, out_dir)
    from rich.console import Console

    console = Console()
    status, proven = label(result.status, "status"), yes_no(result.proven)
    click.echo(t("run.stored", run_id=run_id, status=status, proven=proven))
    for stage in result.stages:
        click.echo(t("run.stage", name=terms_label(stage.name), status=label(stage.status, "status")))
        for term in stage.terms:
            value, bound = result.values[term], result.bounds.get(term)
            gap = "-" if bound is None else gap_percent(value, bound) + " %"
            shown = dict(value=number(value), bound=number(bound), gap=gap)
            click.echo(t("run.term", term=label(term, "term"), **shown))
    for line in service.run_notes(stored):
        click.echo(line)
    if result.status == "infeasible":
        click.echo(t("run.infeasible", scenario=str(scenario)), err=True)
        sys.exit(EXIT_INFEASIBLE)
    console.print(kpi_table({run_id: stored.kpis}))
    timings = ", ".join(f"{label(k, 'timing')} {number(v, 2)} s" for k, v in result.timings.items())
    click.echo(t("run.timings", timings=timings, memory=number(result.peak_memory_mb)))
    if result.interrupted:
        click.echo(t("run.not_proven"), err=True)


COMMANDS: list[click.Command] = [run]
