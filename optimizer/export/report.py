"""The offline HTML report of one run or of a comparison of runs (layer 8).

One self-contained file: plotly.js is embedded once in the page head and every chart is
drawn from data inside the page, so it opens with no network at all.  It reads top down
as a leader would: a one-page summary (:mod:`~optimizer.export.report_summary`: the key
figures, changes coloured good or bad by each KPI's direction), the runs (local time,
short hash), the full KPI table folded, charts that inform
(:mod:`~optimizer.export.report_charts`: commute clipped with the islands apart, the 20
worst units, surplus and shortage by job position), the map
(:mod:`~optimizer.export.report_map`), then the per-unit detail and the people.  Labels
are in Vietnamese; every name is escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from optimizer import __version__
from optimizer.compare import Comparison, compare_runs, redact
from optimizer.export.labels import placed_label
from optimizer.export.report_charts import WORST_UNITS, balance_figure, commute_figure, worst_units_figure
from optimizer.export.report_map import (
    MAX_NAMED_UNITS,
    finite_range,
    geojson_of_run,
    load_geojson,
    map_figure,
    map_shapes,
)
from optimizer.export.report_summary import (
    kpi_details,
    runs_section,
    summary_section,
    table,
    text_cell,
)
from optimizer.i18n import t
from optimizer.io.outputs import HTML_GENERATOR_TAG, atomic_text, make_out_dir
from optimizer.kpi_display import delta_quality, format_value, kpi_kind
from optimizer.kpis import MAP_KPIS, UNIT_SUMMARY_COLUMNS, unit_kpis
from optimizer.labels import day, label, labels
from optimizer.localtime import local_time, zone_name
from optimizer.placement_tables import reason_texts
from optimizer.store import StoredRun

__all__ = ["build_report", "write_report"]

logger = logging.getLogger(__name__)

#: At most this many people placed differently are listed in the report.
MAX_PEOPLE_ROWS = 1000

_CSS = """
body{font-family:"Liberation Sans",Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f0f0f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.good{color:#1a7f37;background:#e8f5ec;font-weight:bold}td.bad{color:#b42318;background:#fdecea;font-weight:bold}
p.note{color:#555;font-size:13px}td.mono,abbr{font-family:"Liberation Mono",monospace}
table.summary{font-size:17px}table.summary td{padding:6px 14px}
details{margin:12px 0}summary{cursor:pointer;color:#0b5cad;font-size:15px}
"""


def _l(key: str, **kwargs: object) -> str:
    """A report label: always Vietnamese."""
    return t(key, "vi", **kwargs)


def _units_section(run: StoredRun) -> str:
    uk = unit_kpis(run.tables, run.rules)
    cols = list(UNIT_SUMMARY_COLUMNS)
    header = [t(f"kpi.unit.{c}", "vi") for c in cols]
    rows = []
    for rec in uk[cols].to_dict("records"):
        cells = [(str(rec["unit_name"]), ""), (_l(f"report.bloc.{rec['bloc']}"), "")]
        for c in cols[2:-1]:
            cells.append((format_value(rec[c], kpi_kind(c), "vi"), "n"))
        cells.append((_l("report.yes") if rec["woman_leader"] else _l("report.no"), ""))
        rows.append(cells)
    return table(header, [[text_cell(v, c) for v, c in row] for row in rows])


def _unit_delta_section(comparison: Comparison) -> str:
    changed = comparison.units[comparison.units["changed"]]
    ids = comparison.run_ids
    metrics = ("filled", "shortfall", "fill_rate", "moves", "commute_mean_km")
    header = [t("kpi.unit.unit_name", "vi"), t("kpi.unit.bloc", "vi")]
    header += [f"{t(f'kpi.unit.{m}', 'vi')} · {i}" for m in metrics for i in ids]
    header += [f"Δ {t(f'kpi.unit.{m}', 'vi')} · {i}" for m in metrics for i in ids[1:]]
    rows = []
    for rec in changed.to_dict("records"):
        cells = [(str(rec["unit_name"]), ""), (_l(f"report.bloc.{rec['bloc']}"), "")]
        cells += [(format_value(rec[f"{m}@{i}"], kpi_kind(m), "vi"), "n") for m in metrics for i in ids]
        cells += [
            (
                format_value(rec[f"Δ{m}@{i}"], kpi_kind(m), "vi", signed=True),
                f"n {delta_quality(m, rec[f'Δ{m}@{i}'])}".strip(),
            )
            for m in metrics
            for i in ids[1:]
        ]
        rows.append(cells)
    if not rows:
        return _note(_l("report.no_unit_change"))
    body = table(header, [[text_cell(v, c) for v, c in row] for row in rows])
    fold = html.escape(_l("report.unit_deltas_fold", n=len(rows)))
    return f"<details><summary>{fold}</summary>{body}</details>"


def _people_section(comparison: Comparison, redacted: bool) -> str:
    people = redact(comparison.people) if redacted else comparison.people
    total = len(people)
    shown = people.head(MAX_PEOPLE_ROWS)
    ids = comparison.run_ids

    def where(rec: dict[Hashable, Any], i: str) -> str:
        status = rec[f"status@{i}"]
        if status != "placed":
            return _l(f"compare.status.{status}")
        bloc = _l(f"report.bloc.{rec[f'bloc@{i}']}")
        post = placed_label(str(rec[f"position@{i}"]), str(rec[f"department@{i}"]), False)
        return f"{rec[f'unit_name@{i}']} · {post} · {bloc}"

    header = [
        _l("report.col_staff_id"),
        _l("report.col_name"),
        _l("report.col_birth"),
        _l("report.col_change"),
        *ids,
    ]
    rows = [
        [
            (str(rec["staff_id"]), ""),
            (str(rec["full_name"]), ""),
            (day(str(rec["birth_date"]), "vi"), ""),
            (_l(f"compare.change.{rec['change']}"), ""),
        ]
        + [(where(rec, i), "") for i in ids]
        for rec in shown.to_dict("records")
    ]
    note = ""
    if total > len(shown):
        text = _l("report.people_truncated", shown=len(shown), total=total)
        note = _note(text)
    if not rows:
        return _note(_l("report.no_people_change"))
    return note + table(header, [[text_cell(v, c) for v, c in row] for row in rows])


def _unplaced_section(run: StoredRun, redacted: bool) -> str:
    unplaced = redact(run.tables.unplaced) if redacted else run.tables.unplaced
    if unplaced.empty:
        return _note(_l("report.no_unplaced"))
    shown = unplaced.head(MAX_PEOPLE_ROWS)
    reasons = reason_texts(shown, "vi")
    header = [
        _l("report.col_staff_id"),
        _l("report.col_name"),
        _l("report.col_birth"),
        _l("report.col_category"),
        _l("report.col_positions"),
        _l("report.col_origin"),
        _l("report.col_reason"),
    ]
    rows = [
        [
            (str(rec["staff_id"]), ""),
            (str(rec["full_name"]), ""),
            (day(str(rec["birth_date"]), "vi"), ""),
            (label(rec["category"], "category", "vi"), ""),
            (labels(str(rec["positions"]).split(";"), "position", "vi"), ""),
            (str(rec["origin_unit"]), ""),
            (reason, ""),
        ]
        for rec, reason in zip(shown.to_dict("records"), reasons, strict=True)
    ]
    note = ""
    if len(unplaced) > len(shown):
        text = _l("report.unplaced_truncated", shown=len(shown), total=len(unplaced))
        note = _note(text)
    return note + table(header, [[text_cell(v, c) for v, c in row] for row in rows])


def _figure_html(fig: go.Figure) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def _h2(key: str, **kwargs: object) -> str:
    return f"<h2>{html.escape(_l(key, **kwargs))}</h2>"


def _map_part(runs: Sequence[StoredRun], geojson: str | Path | None, map_kpi: str) -> list[str]:
    """The map of each run (one colour scale for all), after a note when no polygons."""
    geo_path = Path(geojson) if geojson is not None else geojson_of_run(runs[-1])
    polygons = None
    parts = []
    if geo_path is not None and geo_path.exists():
        polygons = load_geojson(geo_path)
    else:
        if geo_path is not None:
            logger.warning("GeoJSON %s not found; units drawn as points", geo_path)
        parts.append(_note(_l("report.no_geojson", n=MAX_NAMED_UNITS)))
    kpi_text = t(f"kpi.unit.{map_kpi}", "vi")
    per_run = [unit_kpis(r.tables, r.rules, by_bloc=False) for r in runs]
    shared = finite_range([v for uk in per_run for v in uk[map_kpi].astype(float)])
    for r, uk in zip(runs, per_run, strict=True):
        values = dict(zip(uk["unit_id"].astype(str), uk[map_kpi].astype(float), strict=True))
        title = _l("report.map_title", kpi=kpi_text, run=r.run_id)
        fig = map_figure(
            map_shapes(uk, polygons), values, kpi_text, kpi_kind(map_kpi), title, value_range=shared
        )
        parts.append(_figure_html(fig))
    return parts


def _chart_part(runs: Sequence[StoredRun]) -> list[str]:
    """Commute (clipped, islands apart), the worst units, surplus and shortage."""
    commute, notes = commute_figure(runs)
    worst = worst_units_figure(runs)
    return [
        _h2("report.section_commute"),
        _figure_html(commute),
        *(_note(n) for n in notes),
        _h2("report.section_worst", n=WORST_UNITS),
        _figure_html(worst) if worst is not None else _note(_l("report.no_worst_units")),
        _h2("report.section_balance"),
        _figure_html(balance_figure(runs)),
    ]


def build_report(
    runs: Sequence[StoredRun],
    *,
    geojson: str | Path | None = None,
    map_kpi: str = "fill_rate",
    redacted: bool = False,
) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    if not runs:
        raise ValueError("a report needs at least one run")
    if map_kpi not in MAP_KPIS:
        raise ValueError(f"map_kpi must be one of {MAP_KPIS}")
    comparison = compare_runs(runs) if len(runs) > 1 else None
    if len(runs) == 1:
        title = _l("report.title_show", run=runs[0].run_id)
    else:
        title = _l("report.title_compare", runs=", ".join(r.run_id for r in runs))
    now = local_time(dt.datetime.now(dt.UTC).isoformat(), "vi")
    redaction = [_note(_l("report.redacted"))] if redacted else []
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        _note(_l("report.generated", time=f"{now} ({zone_name()})", version=__version__)),
        _h2("report.section_summary"),
        summary_section(runs, comparison),
        runs_section(runs),
        kpi_details(runs, comparison),
        *_chart_part(runs),
        _h2("report.section_map", kpi=t(f"kpi.unit.{map_kpi}", "vi")),
        *_map_part(runs, geojson, map_kpi),
    ]
    if comparison is None:
        sections += [
            _h2("report.section_units"),
            _units_section(runs[0]),
            _h2("report.section_unplaced"),
            *redaction,
            _unplaced_section(runs[0], redacted),
        ]
    else:
        sections += [
            _h2("report.section_unit_deltas"),
            _unit_delta_section(comparison),
            _h2("report.section_people"),
            *redaction,
            _people_section(comparison, redacted),
        ]
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
        f"{HTML_GENERATOR_TAG}"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body>{''.join(sections)}</body></html>\n"
    )


def write_report(
    path: str | Path,
    runs: Sequence[StoredRun],
    *,
    geojson: str | Path | None = None,
    map_kpi: str = "fill_rate",
    redacted: bool = False,
) -> Path:
    """Write the self-contained HTML report of one run, or of a comparison of runs.

    Parameters
    ----------
    path
        The HTML file to write (created readable by its owner only).
    runs
        One run (``staffplan show --html``) or several (``staffplan compare --html``;
        deltas against the first).
    geojson
        Unit polygons; default: the ``data.geojson`` of the last run's resolved scenario.
        Without polygons every unit is drawn as a point.
    map_kpi
        The per-unit KPI the map is coloured by (one of :data:`~optimizer.kpis.MAP_KPIS`).
    redacted
        Show initials and birth years instead of names and birth dates.

    Returns
    -------
    Path
        The file written.
    """
    text = build_report(runs, geojson=geojson, map_kpi=map_kpi, redacted=redacted)
    path = Path(path)
    make_out_dir(path.parent)
    with atomic_text(path) as fh:
        fh.write(text)
    return path
