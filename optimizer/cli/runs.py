"""Commands over stored runs: ``runs``, ``show``, ``rm``, ``compare``.

Also exported for the other commands: :data:`store_option` (the ``--store`` option,
envvar ``STAFFPLAN_STORE``) and :func:`print_kpis` (the KPI table ``staffplan run``
prints).  The store, pandas and plotly are imported inside the commands so that
``staffplan --help`` stays instant.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import rich_click as click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from optimizer.cli.common import bad_input_exits, console, store_option
from optimizer.errors import InputError, Issue
from optimizer.i18n import get_lang, t
from optimizer.labels import CodeKind, label, yes_no

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.compare import Comparison
    from optimizer.store import RunStore, StoredRun

F = TypeVar("F", bound=Callable[..., Any])

#: Per-unit KPIs the report's map can be coloured by (kept equal to ``kpis.MAP_KPIS``,
#: which a test checks; repeated here so ``--help`` does not import pandas).
MAP_KPI_CHOICES = (
    "fill_rate",
    "shortfall",
    "vacant",
    "filled",
    "moves",
    "commute_mean_km",
    "long_commute",
    "unplaced_origin",
    "woman_leader",
)
#: How many people placed differently ``compare`` prints (all go to --csv / --html).
PEOPLE_PRINTED = 50


def report_options(func: F) -> F:
    """The options shared by ``show --html`` and ``compare --html``."""
    options = [
        click.option(
            "--html",
            "html_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Also write a self-contained HTML report (opens offline).",
        ),
        click.option(
            "--redact",
            is_flag=True,
            help="Initials and birth year only in the personal columns (terminal, report and --csv).",
        ),
        click.option(
            "--map-kpi",
            type=click.Choice(MAP_KPI_CHOICES),
            default="fill_rate",
            show_default=True,
            help="Per-unit KPI that colours the report's map.",
        ),
        click.option(
            "--geojson",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Unit polygons (GeoJSON, 'code' = unit id). Default: the scenario's data.geojson.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def open_store(store_path: Path | None) -> RunStore:
    """Open an existing store (a missing file is a clear input error, exit 2)."""
    from optimizer import service

    return service.open_store(store_path)


def _console() -> Console:
    return console()


def _fmt(value: Any, kind: str, *, signed: bool = False) -> str:
    from optimizer.kpi_display import format_value

    return format_value(value, kind, get_lang(), signed=signed)


#: Columns of the run tables that hold codes, and what kind of code.
_CODED_COLUMNS: dict[str, CodeKind] = {
    "position": "position",
    "department": "department",
    "category": "category",
    "kind": "kind",
}


def kpi_table(kpis_by_run: Mapping[str, Mapping[str, Any]], title: str | None = None) -> Table:
    """A rich table of KPIs, one column per run, with deltas against the first run.

    Parameters
    ----------
    kpis_by_run
        ``{run_id: kpis}`` with ``kpis`` as :func:`optimizer.kpis.compute_kpis` returns.
    title
        Table title; default: the catalogue's KPI title.
    """
    from optimizer.kpi_display import delta_column, flatten_kpis, kpi_kind, kpi_label

    ids = list(kpis_by_run)
    flat = {i: flatten_kpis(k) for i, k in kpis_by_run.items()}
    names: list[str] = []
    for f in flat.values():
        names.extend(n for n in f if n not in names)
    table = Table(title=title or t("runs.kpis_title"), title_justify="left")
    table.add_column(t("runs.col.kpi"), ratio=None, min_width=24)
    for i in ids:
        table.add_column(i, justify="right")
    for i in ids[1:]:
        table.add_column(delta_column(i), justify="right")
    for name in names:
        kind = kpi_kind(name)
        default = 0 if "." in name else None
        values = [flat[i].get(name, default) for i in ids]
        cells = [_fmt(v, kind) for v in values]
        for v in values[1:]:
            delta = None if v is None or values[0] is None else v - values[0]
            cells.append(_coloured(name, delta, _fmt(delta, kind, signed=True)))
        table.add_row(escape(kpi_label(name, get_lang())), *cells)
    return table


#: Rich styles of a change that is better or worse (by the KPI's direction).
_QUALITY_STYLES = {"good": "green", "bad": "red"}


def _coloured(name: str, delta: Any, text: str) -> str:
    """``text`` in green or red when the change ``delta`` of KPI ``name`` is better or worse."""
    from optimizer.kpi_display import delta_quality

    style = _QUALITY_STYLES.get(delta_quality(name, delta))
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def print_kpis(kpis_by_run: Mapping[str, Mapping[str, Any]], console: Console | None = None) -> None:
    """Print :func:`kpi_table` (what ``staffplan run`` shows after storing a run)."""
    (console or _console()).print(kpi_table(kpis_by_run))


def _frame_table(frame: pd.DataFrame, columns: Sequence[str], title: str, label_prefix: str) -> Table:
    from optimizer.kpi_display import kpi_kind

    table = Table(title=title, title_justify="left")
    for col in columns:
        numeric = str(frame[col].dtype) not in ("object", "str", "string", "bool")
        table.add_column(t(f"{label_prefix}.{col}"), justify="right" if numeric else "left")
    for rec in frame[list(columns)].to_dict("records"):
        cells = []
        for col in columns:
            v = rec[col]
            if isinstance(v, bool):
                cells.append(yes_no(v))
            elif col == "bloc":
                cells.append(t(f"report.bloc.{v}", get_lang()))
            elif col in _CODED_COLUMNS:
                cells.append(label(v, _CODED_COLUMNS[col]))
            elif isinstance(v, str):
                cells.append(v)
            else:
                cells.append(_fmt(v, kpi_kind(col)))
        table.add_row(*(escape(c) for c in cells))  # names are data, never markup
    return table


def _print_header(console: Console, run: StoredRun) -> None:
    from optimizer.localtime import local_time, zone_name

    meta = run.meta
    total = meta.get("timings", {}).get("total")
    created = f"{local_time(run.created_at)} ({zone_name()})"
    console.print(
        escape(t("runs.run_header", run_id=run.run_id, scenario=run.scenario_name, created=created))
    )
    console.print(
        t(
            "runs.status_line",
            status=label(run.status, "status"),
            proven=yes_no(run.proven),
            time=_fmt(total, "km"),
            hash=run.manifest_hash,
        )
    )
    run_label = (meta.get("tags") or {}).get("label")
    if run_label:
        console.print(escape(t("runs.label_line", label=run_label)))
    overrides = meta.get("overrides") or []
    if overrides:
        console.print(escape("--set " + " --set ".join(overrides)))
    description = meta.get("resolved_scenario", {}).get("description", "")
    if description:
        console.print(escape(description))
    from optimizer import service

    for line in service.run_notes(run):
        console.print(escape(line))
    values, bounds = run.meta.get("values", {}), run.meta.get("bounds", {})
    if values:
        table = Table(title=t("runs.terms_title"), title_justify="left")
        for key in ("runs.col.term", "runs.col.value", "runs.col.bound"):
            table.add_column(t(key), justify="left" if key == "runs.col.term" else "right")
        for term, value in values.items():
            table.add_row(label(term, "term"), _fmt(value, "count"), _fmt(bounds.get(term), "count"))
        console.print(table)


@click.command("runs")
@click.option("--scenario", default=None, help="Only the runs of this scenario name.")
@click.option("--sweep", default=None, help="Only the runs of this sweep id.")
@click.option(
    "--import",
    "import_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="First copy into the store the runs of another store (a recovery store).",
)
@store_option
@bad_input_exits
def runs(scenario: str | None, sweep: str | None, import_path: Path | None, store_path: Path | None) -> None:
    """List the stored runs, newest first."""
    from optimizer import service

    store = open_store(store_path)
    console = _console()
    if import_path is not None:
        for old, new in service.import_runs(store, import_path):
            key = "runs.imported" if new is not None else "runs.import_already"
            console.print(escape(t(key, old=old, new=new, source=str(import_path))))
    summaries = service.runs(store, scenario=scenario, sweep=sweep)
    if not summaries:
        console.print(t("runs.none"))
        return
    from optimizer.localtime import local_time, zone_name

    table = Table(title=escape(t("runs.list_title", store=str(store.path))), title_justify="left")
    with_base = any(s.base_run for s in summaries)
    numeric = ("placed", "unplaced", "shortfall", "fill_rate")
    heads = ("run_id", "created", "scenario", "label", "status", *numeric)
    for h in (*heads, "base_run") if with_base else heads:
        table.add_column(
            t(f"runs.col.{h}", zone=zone_name()),
            justify="right" if h in numeric else "left",
            no_wrap=h in ("run_id", "base_run", "created", *numeric),
        )
    for s in summaries:
        cells = [
            s.run_id,
            local_time(s.created_at),
            s.scenario_name,
            " ".join([s.label, *(f"--set {o}" for o in s.overrides)]).strip(),
            label(s.status, "status") + ("" if s.proven or s.status != "optimal" else " *"),
            _fmt(s.placed, "count"),
            _fmt(s.unplaced, "count"),
            _fmt(s.shortfall, "count"),
            _fmt(s.fill_rate, "rate"),
        ]
        table.add_row(*(escape(c) for c in cells), *([s.base_run or ""] if with_base else []))
    console.print(table)


@click.command("show")
@click.argument("run")
@click.option(
    "--unit",
    "unit",
    default=None,
    help="Only this unit (id or exact name): its post lines and people.",
)
@report_options
@store_option
@bad_input_exits
def show(
    run: str,
    unit: str | None,
    html_path: Path | None,
    redact: bool,
    map_kpi: str,
    geojson: Path | None,
    store_path: Path | None,
) -> None:
    """Show one run (RUN: a run id, a unique prefix, or 'latest'): KPIs and per-unit table."""
    from optimizer import service

    store = open_store(store_path)
    stored = service.get_run(store, run)
    console = _console()
    _print_header(console, stored)
    uk = service.unit_kpis(stored)
    if unit is None:
        _print_city(console, stored, uk)
    else:
        _print_unit(console, store, stored, uk, unicodedata.normalize("NFC", unit.strip()), redact)
    if html_path is not None:
        with service.guard_outputs(store, [stored]):
            path = service.write_report([stored], html_path, geojson=geojson, map_kpi=map_kpi, redact=redact)
        console.print(t("runs.html_written", path=str(path)))


def _print_city(console: Console, stored: StoredRun, uk: pd.DataFrame) -> None:
    """``show`` without ``--unit``: the KPIs, the balance per position, the unit table."""
    from optimizer import service

    print_kpis({stored.run_id: stored.kpis}, console)
    balance = ["position", "quota", "placed", "shortfall", "shortage", "surplus", "net"]
    console.print(
        _frame_table(service.position_balance(stored), balance, t("runs.balance_title"), "kpi.balance")
    )
    units = ("unit_id", *service.UNIT_SUMMARY_COLUMNS)
    console.print(_frame_table(uk, units, t("runs.units_title"), "kpi.unit"))


def _print_unit(
    console: Console, store: RunStore, stored: StoredRun, uk: pd.DataFrame, unit: str, redact: bool
) -> None:
    """``show --unit``: the unit's row, its post lines and its people."""
    from optimizer import service

    sel = uk[(uk["unit_id"] == unit) | (uk["unit_name"] == unit)]
    if sel.empty:
        raise InputError(
            [
                Issue(
                    file=str(store.path),
                    message=t("runs.unknown_unit", unit=unit, run_id=stored.run_id),
                    hint=t("runs.unknown_unit_hint"),
                    code="runs.unknown_unit",
                )
            ]
        )
    unit_id = str(sel["unit_id"].iloc[0])
    console.print(
        _frame_table(sel, ("unit_id", *service.UNIT_SUMMARY_COLUMNS), t("runs.units_title"), "kpi.unit")
    )
    lines = stored.tables.units[stored.tables.units["unit_id"] == unit_id]
    line_columns = ["bloc", "department", "position", "category", "min", "max", "filled", "shortfall"]
    console.print(_frame_table(lines, line_columns, t("runs.lines_title"), "runs.col"))
    people = stored.tables.placements[stored.tables.placements["unit_id"] == unit_id]
    if redact:
        people = service.redact(people)
    people_columns = ["staff_id", "full_name", "bloc", "department", "position", "distance_km", "moved"]
    title = t("runs.people_title", unit=str(sel["unit_name"].iloc[0]), n=len(people))
    console.print(_frame_table(people, [*people_columns, "origin_unit"], title, "runs.col"))


@click.command("rm")
@click.argument("run")
@store_option
@bad_input_exits
def rm(run: str, store_path: Path | None) -> None:
    """Delete one run (RUN: a run id, a unique prefix, or 'latest') from the store."""
    from optimizer import service

    run_id = service.delete_run(open_store(store_path), run)
    _console().print(t("runs.deleted", run_id=run_id))


def _unit_delta_table(comparison: Comparison) -> Table:
    """The units × blocs that changed, with the change of each metric, coloured."""
    from optimizer.kpi_display import kpi_kind

    ids = comparison.run_ids
    changed = comparison.units[comparison.units["changed"]]
    metrics = ("filled", "shortfall", "fill_rate", "moves", "commute_mean_km")
    table = Table(title=t("runs.unit_deltas_title", n=len(changed)), title_justify="left")
    table.add_column(t("kpi.unit.unit_name"))
    table.add_column(t("kpi.unit.bloc"))
    for m in metrics:
        for i in ids[1:]:
            table.add_column(f"Δ {t(f'kpi.unit.{m}')} · {i}", justify="right")
    for rec in changed.to_dict("records"):
        deltas = [(m, rec[f"Δ{m}@{i}"]) for m in metrics for i in ids[1:]]
        table.add_row(
            escape(str(rec["unit_name"])),
            t(f"report.bloc.{rec['bloc']}", get_lang()),
            *(_coloured(m, d, _fmt(d, kpi_kind(m), signed=True)) for m, d in deltas),
        )
    return table


def _people_table(people: pd.DataFrame, ids: Sequence[str]) -> Table:
    """The first :data:`PEOPLE_PRINTED` people placed differently: where, in each run."""
    table = Table(title=t("runs.people_changed_title", n=len(people)), title_justify="left")
    for key in ("staff_id", "full_name", "change"):
        table.add_column(t(f"runs.col.{key}"))
    for i in ids:
        table.add_column(i)
    for rec in people.head(PEOPLE_PRINTED).to_dict("records"):
        where = []
        for i in ids:
            status = rec[f"status@{i}"]
            post = (
                f"{label(rec[f'position@{i}'], 'position')} ({label(rec[f'department@{i}'], 'department')})"
            )
            where.append(
                f"{rec[f'unit_name@{i}']} · {post}" if status == "placed" else t(f"compare.status.{status}")
            )
        cells = [str(rec["staff_id"]), str(rec["full_name"]), t(f"compare.change.{rec['change']}"), *where]
        table.add_row(*(escape(c) for c in cells))
    return table


@click.command("compare")
@click.argument("refs", metavar="RUN RUN [RUN]...", nargs=-1, required=False)
@click.option(
    "--sweep",
    "sweep_id",
    default=None,
    help="Tabulate every run of this sweep (staffplan sweep), then compare them.",
)
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write runs.csv, kpis.csv, units.csv and people.csv into this folder.",
)
@report_options
@store_option
@bad_input_exits
def compare(
    refs: tuple[str, ...],
    sweep_id: str | None,
    csv_dir: Path | None,
    html_path: Path | None,
    redact: bool,
    map_kpi: str,
    geojson: Path | None,
    store_path: Path | None,
) -> None:
    """Compare runs: KPIs side by side with deltas (against the first run), per-unit deltas,
    and the people placed differently."""
    from optimizer import service

    store = open_store(store_path)
    if sweep_id is not None:  # `compare --sweep ID`: the sweep's table, then its runs
        from optimizer.cli.sweep import print_sweep

        refs = (*print_sweep(store, sweep_id, _console()), *refs)
        if len(refs) < 2:
            return
    try:
        compared = service.compare(store, refs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    stored, comparison = list(compared.runs), compared.comparison
    console = _console()
    for r in stored:
        _print_header(console, r)
    print_kpis({r.run_id: r.kpis for r in stored}, console)
    console.print(_unit_delta_table(comparison))
    people = service.redact(comparison.people) if redact else comparison.people
    console.print(_people_table(people, comparison.run_ids))
    if len(people) > PEOPLE_PRINTED:
        console.print(t("runs.people_more", n=len(people) - PEOPLE_PRINTED))
    if csv_dir is not None:
        with service.guard_outputs(store, stored, table_folders=[csv_dir]):
            written = service.write_comparison(compared, csv_dir, redact=redact)
        console.print(t("runs.csv_written", n=len(written), folder=str(csv_dir)))
    if html_path is not None:
        with service.guard_outputs(store, stored):
            path = service.write_report(stored, html_path, geojson=geojson, map_kpi=map_kpi, redact=redact)
        console.print(t("runs.html_written", path=str(path)))


COMMANDS: list[click.Command] = [runs, show, rm, compare]
