"""The offline HTML report of one run or of a comparison of runs (layer 8).

One self-contained file: plotly.js is embedded once in the page head and every chart is
drawn from data inside the page, so it opens with no network at all.  The map is drawn
from the unit polygons of a GeoJSON file (``code`` property = unit id) as filled shapes in
plain x/y axes — no geo traces and no tiles, which would be fetched from the internet.
Units without a polygon are drawn as points at their coordinates; units far from all the
others (an offshore island such as Côn Đảo) go to an inset.  Labels are in Vietnamese.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.offline import get_plotlyjs

from optimizer import __version__
from optimizer.compare import (
    Comparison,
    compare_runs,
    delta_column,
    flatten_kpis,
    format_value,
    kpi_kind,
    redact,
)
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.io.outputs import atomic_text, make_out_dir
from optimizer.kpis import MAP_KPIS, UNIT_SUMMARY_COLUMNS, position_balance, unit_kpis
from optimizer.labels import day, label, labels
from optimizer.store import StoredRun

logger = logging.getLogger(__name__)

#: A unit whose nearest neighbour is farther than this (km) is drawn in the inset.
INSET_GAP_KM = 50.0
#: At most this many people placed differently are listed in the report.
MAX_PEOPLE_ROWS = 1000
#: Colour scale of the map (low → high).
COLORSCALE = "Viridis"
NO_DATA_COLOR = "#d9d9d9"
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320

_CSS = """
body{font-family:"Liberation Sans",Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 8px}th{background:#f0f0f0;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.pos{color:#1a7f37}td.neg{color:#b42318}p.note{color:#555;font-size:13px}
"""


#: Largest GeoJSON file read, in bytes.
MAX_GEOJSON_BYTES = 256 << 20


def _l(key: str, **kwargs: object) -> str:
    """A report label: always Vietnamese."""
    return t(key, "vi", **kwargs)


@dataclass(frozen=True)
class Shape:
    """One unit on the map: its polygons' exterior rings (lon, lat), or just a point."""

    unit_id: str
    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]
    lon: float
    lat: float


def load_geojson(
    path: str | Path,
) -> dict[str, tuple[str, tuple[tuple[tuple[float, float], ...], ...]]]:
    """Read unit polygons: ``{code: (name, exterior rings)}`` from a GeoJSON file.

    Holes are ignored; features without a ``code`` property or a polygon are skipped.

    Raises
    ------
    InputError
        When the file cannot be read as GeoJSON.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_GEOJSON_BYTES:
            raise ValueError(f"larger than {MAX_GEOJSON_BYTES >> 20} MB")
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data["features"]
        if not isinstance(features, list):
            raise TypeError("'features' is not a list")
        out = {}
        for feat in features:
            props = feat.get("properties") or {}
            geom = feat.get("geometry") or {}
            code = props.get("code")
            if code is None or geom.get("type") not in ("Polygon", "MultiPolygon"):
                continue
            polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
            rings = tuple(tuple((float(x), float(y)) for x, y, *_ in poly[0]) for poly in polys if poly)
            out[str(code)] = (str(props.get("name", code)), rings)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        error = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        issue = Issue(
            file=str(path),
            message=t("report.bad_geojson", error=error),  # the planner's language, not the report's
            hint=t("report.bad_geojson_hint"),
            code="report.bad_geojson",
        )
        raise InputError([issue]) from None
    return out


def geojson_of_run(run: StoredRun) -> Path | None:
    """The GeoJSON named by the run's resolved scenario (``data.geojson``), if any.

    A relative path is taken relative to the scenario file, as scenario paths are.
    """
    data = run.meta.get("resolved_scenario", {}).get("data", {})
    name = data.get("geojson") if isinstance(data, dict) else None
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute():
        path = Path(run.meta.get("scenario_path", ".")).parent / path
    return path


def map_shapes(units: pd.DataFrame, polygons: dict[str, Any] | None) -> list[Shape]:
    """Every unit to draw: the polygons of the GeoJSON, plus the run's units without one.

    ``units`` is a :func:`~optimizer.kpis.unit_kpis` frame (``unit_id``, ``unit_name``,
    ``lat``, ``lon``).
    """
    shapes = []
    polygons = polygons or {}
    for code, (name, rings) in polygons.items():
        pts = np.array([p for ring in rings for p in ring])
        shapes.append(Shape(code, name, rings, float(pts[:, 0].mean()), float(pts[:, 1].mean())))
    for rec in units.drop_duplicates("unit_id").to_dict("records"):
        lat, lon = float(rec["lat"]), float(rec["lon"])
        if str(rec["unit_id"]) not in polygons and np.isfinite(lat) and np.isfinite(lon):
            shapes.append(Shape(str(rec["unit_id"]), str(rec["unit_name"]), (), lon, lat))
    return shapes


def inset_units(shapes: Sequence[Shape], gap_km: float = INSET_GAP_KM) -> set[str]:
    """Units far from every other unit (nearest neighbour beyond ``gap_km``): the inset.

    Never more than a quarter of the units, so a scattered province is not all inset.
    """
    if len(shapes) < 4:
        return set()
    lat = np.radians([s.lat for s in shapes])
    lon = np.radians([s.lon for s in shapes])
    a = (
        np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
        + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2
    )
    dist = 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    np.fill_diagonal(dist, np.inf)
    far = {s.unit_id for s, d in zip(shapes, dist.min(axis=1), strict=True) if d > gap_km}
    return far if len(far) <= len(shapes) // 4 else set()


def _project(lon: np.ndarray, lat: np.ndarray, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular projection to km around latitude ``lat0``."""
    return lon * math.cos(math.radians(lat0)) * KM_PER_DEG_LON_EQUATOR, lat * KM_PER_DEG_LAT


def _value_range(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


def map_figure(
    shapes: Sequence[Shape],
    values: dict[str, float],
    label: str,
    kind: str,
    title: str,
    value_range: tuple[float, float] | None = None,
) -> go.Figure:
    """A choropleth of ``values`` (by unit id) drawn as filled polygons in x/y axes.

    ``value_range`` fixes the ends of the colour scale (so that the maps of several runs
    compare); by default it spans ``values``.
    """
    inset = inset_units(shapes)
    lat0 = float(np.mean([s.lat for s in shapes])) if shapes else 0.0
    vmin, vmax = value_range or _value_range(list(values.values()))
    if vmax == vmin:
        vmax = vmin + 1.0
    fig = go.Figure()

    def color(v: float | None) -> str:
        if v is None or not np.isfinite(v):
            return NO_DATA_COLOR
        return str(sample_colorscale(COLORSCALE, [(v - vmin) / (vmax - vmin)])[0])

    def hover(s: Shape) -> str:
        v = values.get(s.unit_id)
        shown = format_value(v, kind, "vi") if v is not None else _l("report.no_data")
        return f"{html.escape(s.name)} ({s.unit_id})<br>{html.escape(label)}: {shown}"

    points: dict[bool, list[Shape]] = {False: [], True: []}
    for s in shapes:
        axes = {"xaxis": "x2", "yaxis": "y2"} if s.unit_id in inset else {}
        if not s.rings:
            points[s.unit_id in inset].append(s)
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in s.rings:
            arr = np.array(ring)
            x, y = _project(arr[:, 0], arr[:, 1], lat0)
            xs.extend([*np.round(x, 3).tolist(), None])
            ys.extend([*np.round(y, 3).tolist(), None])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                fill="toself",
                fillcolor=color(values.get(s.unit_id)),
                line={"color": "#ffffff", "width": 0.6},
                hoveron="fills",
                hoverinfo="text",
                text=hover(s),
                name=html.escape(s.name),
                showlegend=False,
                **axes,
            )
        )
    for in_inset, group in points.items():
        if not group:
            continue
        x, y = _project(np.array([s.lon for s in group]), np.array([s.lat for s in group]), lat0)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                hoverinfo="text",
                text=[hover(s) for s in group],
                marker={
                    "size": 11,
                    "color": [color(values.get(s.unit_id)) for s in group],
                    "line": {"color": "#333", "width": 1},
                },
                showlegend=False,
                **({"xaxis": "x2", "yaxis": "y2"} if in_inset else {}),
            )
        )
    # an invisible trace that carries the colour bar
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            hoverinfo="skip",
            showlegend=False,
            marker={
                "colorscale": COLORSCALE,
                "cmin": vmin,
                "cmax": vmax,
                "color": [vmin],
                "showscale": True,
                "colorbar": {
                    "title": {"text": label},
                    "thickness": 14,
                    "tickformat": ".0%" if kind == "rate" else "",
                },
            },
        )
    )
    hidden = {
        "showgrid": False,
        "zeroline": False,
        "showticklabels": False,
        "visible": True,
        "showline": False,
    }
    fig.update_layout(
        title={"text": title},
        height=820,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        plot_bgcolor="#eef3f7",
        hoverlabel={"namelength": -1},
        xaxis={**hidden, "domain": [0, 1]},
        yaxis={**hidden, "domain": [0, 1], "scaleanchor": "x", "scaleratio": 1},
    )
    if inset:
        frame = {**hidden, "showline": True, "mirror": True, "linecolor": "#666"}
        fig.update_layout(
            xaxis2={**frame, "domain": [0.0, 0.22], "anchor": "y2"},
            yaxis2={
                **frame,
                "domain": [0.0, 0.25],
                "anchor": "x2",
                "scaleanchor": "x2",
                "scaleratio": 1,
            },
        )
        fig.add_annotation(
            text=_l("report.inset"),
            xref="paper",
            yref="paper",
            x=0.0,
            y=0.255,
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            font={"size": 11},
        )
    return fig


def commute_figure(runs: Sequence[StoredRun]) -> go.Figure:
    """Histogram of the placed people's commute (1 km bins), one series per run."""
    fig = go.Figure()
    for r in runs:
        fig.add_trace(
            go.Histogram(
                x=r.tables.placements["distance_km"],
                name=r.run_id,
                xbins={"size": 1.0},
                opacity=0.65 if len(runs) > 1 else 1.0,
            )
        )
    for km in sorted({r.rules.long_commute_km for r in runs}):
        fig.add_vline(
            x=km,
            line_dash="dash",
            line_color="#b42318",
            annotation_text=_l("report.long_commute_line", km=format_value(km, "km", "vi")),
        )
    fig.update_layout(
        barmode="overlay",
        height=420,
        margin={"t": 30},
        xaxis_title=_l("report.axis_distance"),
        yaxis_title=_l("report.axis_people"),
        legend_title_text=_l("report.col_run_id"),
    )
    return fig


def fill_figure(runs: Sequence[StoredRun]) -> go.Figure:
    """Fill rate (placed ÷ quota, %) of every unit, one series of bars per run."""
    fig = go.Figure()
    for r in runs:
        uk = unit_kpis(r.tables, r.rules, by_bloc=False)
        fig.add_trace(
            go.Bar(
                x=uk["unit_name"].map(html.escape),  # plotly renders tags in labels: never a link
                y=uk["fill_rate"] * 100,
                name=r.run_id,
                customdata=np.stack([uk["filled"], uk["quota"]], axis=1),
                hovertemplate=("%{x}<br>%{y:.1f} % (%{customdata[0]}/%{customdata[1]})<extra></extra>"),
            )
        )
    fig.update_layout(
        barmode="group",
        height=480,
        margin={"t": 30},
        xaxis_title=_l("report.axis_unit"),
        yaxis_title=_l("report.axis_fill"),
        xaxis={"tickangle": -60, "tickfont": {"size": 8}},
        legend_title_text=_l("report.col_run_id"),
    )
    return fig


def balance_figure(runs: Sequence[StoredRun]) -> go.Figure:
    """Surplus (up) and shortage (down) per job position, per run."""
    fig = go.Figure()
    for r in runs:
        bal = position_balance(r.tables)
        suffix = f" · {r.run_id}" if len(runs) > 1 else ""
        fig.add_trace(
            go.Bar(
                x=[html.escape(label(p, "position", "vi")) for p in bal["position"]],
                y=bal["surplus"],
                name=_l("report.surplus") + suffix,
                offsetgroup=r.run_id,
            )
        )
        fig.add_trace(
            go.Bar(
                x=[html.escape(label(p, "position", "vi")) for p in bal["position"]],
                y=-bal["shortage"],
                name=_l("report.shortage") + suffix,
                offsetgroup=r.run_id,
                customdata=bal["shortage"],
                hovertemplate="%{x}: %{customdata}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="relative",
        height=440,
        margin={"t": 30},
        xaxis_title=_l("report.axis_position"),
        yaxis_title=_l("report.axis_count"),
    )
    return fig


def _table(header: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """An HTML table; each cell is ``(text, css class)``; text is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{c}">{html.escape(v)}</td>' for v, c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def kpi_label(name: str, lang: str = "vi") -> str:
    """The label of a (flattened) KPI name, e.g. ``unplaced_by_category.cadre``."""
    if "." not in name:
        return t(f"kpi.{name}", lang)
    parent, code = name.split(".", 1)
    if parent in ("terms", "fairness"):
        return t(f"kpi.{parent}", lang) + ": " + t(f"kpi.{parent}.{code}", lang)
    sub = label(code, "category" if parent == "unplaced_by_category" else "position", lang)
    return t(f"kpi.{parent}", lang) + ": " + sub


def _signed_class(v: Any) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or v == 0:
        return "n"
    return "n pos" if v > 0 else "n neg"


def _kpi_section(runs: Sequence[StoredRun], comparison: Comparison | None) -> str:
    if comparison is not None:
        frame = comparison.kpis
    else:
        flat = flatten_kpis(runs[0].kpis)
        frame = pd.DataFrame({runs[0].run_id: list(flat.values())}, index=list(flat), dtype=object)
    ids = [r.run_id for r in runs]
    deltas = [delta_column(i) for i in ids[1:]]
    header = [_l("report.col_kpi"), *ids, *(f"Δ {i}" for i in ids[1:])]
    rows = []
    for name, row in frame.iterrows():
        kind = kpi_kind(str(name))
        cells = [(kpi_label(str(name)), "")]
        cells += [(format_value(row[i], kind, "vi"), "n") for i in ids]
        cells += [(format_value(row[d], kind, "vi", signed=True), _signed_class(row[d])) for d in deltas]
        rows.append(cells)
    return _table(header, rows)


def _runs_section(runs: Sequence[StoredRun]) -> str:
    header = [
        _l("report.col_run_id"),
        _l("report.col_scenario"),
        _l("report.col_created"),
        _l("report.col_status"),
        _l("report.col_proven"),
        _l("report.col_time"),
        _l("report.col_manifest"),
    ]
    rows = []
    for r in runs:
        total = r.meta.get("timings", {}).get("total")
        rows.append(
            [
                (r.run_id, ""),
                (r.scenario_name, ""),
                (r.created_at, ""),
                (_l(f"store.status.{r.status}"), ""),
                (_l("report.yes") if r.proven else _l("report.no"), ""),
                (format_value(total, "km", "vi"), "n"),
                (r.manifest_hash, ""),
            ]
        )
    return _table(header, rows)


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
    return _table(header, rows)


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
                _signed_class(rec[f"Δ{m}@{i}"]),
            )
            for m in metrics
            for i in ids[1:]
        ]
        rows.append(cells)
    if not rows:
        return f'<p class="note">{html.escape(_l("report.no_unit_change"))}</p>'
    return _table(header, rows)


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
        return f"{rec[f'unit_name@{i}']} · {label(rec[f'position@{i}'], 'position', 'vi')} ({bloc})"

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
        note = f'<p class="note">{html.escape(text)}</p>'
    if not rows:
        return f'<p class="note">{html.escape(_l("report.no_people_change"))}</p>'
    return note + _table(header, rows)


def _unplaced_section(run: StoredRun, redacted: bool) -> str:
    unplaced = redact(run.tables.unplaced) if redacted else run.tables.unplaced
    if unplaced.empty:
        return f'<p class="note">{html.escape(_l("report.no_unplaced"))}</p>'
    shown = unplaced.head(MAX_PEOPLE_ROWS)
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
            (str(rec["reason"]), ""),
        ]
        for rec in shown.to_dict("records")
    ]
    note = ""
    if len(unplaced) > len(shown):
        text = _l("report.unplaced_truncated", shown=len(shown), total=len(unplaced))
        note = f'<p class="note">{html.escape(text)}</p>'
    return note + _table(header, rows)


def _figure_html(fig: go.Figure) -> str:
    return str(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            config={"displaylogo": False, "responsive": True},
        )
    )


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
    geo_path = Path(geojson) if geojson is not None else geojson_of_run(runs[-1])
    polygons = None
    notes = []
    if geo_path is not None and geo_path.exists():
        polygons = load_geojson(geo_path)
    else:
        if geo_path is not None:
            logger.warning("GeoJSON %s not found; units drawn as points", geo_path)
        notes.append(_l("report.no_geojson"))
    kpi_text = t(f"kpi.unit.{map_kpi}", "vi")
    per_run = [unit_kpis(r.tables, r.rules, by_bloc=False) for r in runs]
    shared = _value_range([v for uk in per_run for v in uk[map_kpi].astype(float)])
    parts = []
    for r, uk in zip(runs, per_run, strict=True):
        values = dict(zip(uk["unit_id"].astype(str), uk[map_kpi].astype(float), strict=True))
        fig = map_figure(
            map_shapes(uk, polygons),
            values,
            kpi_text,
            kpi_kind(map_kpi),
            _l("report.map_title", kpi=kpi_text, run=r.run_id),
            value_range=shared,
        )
        parts.append(_figure_html(fig))
    if len(runs) == 1:
        title = _l("report.title_show", run=runs[0].run_id)
    else:
        title = _l("report.title_compare", runs=", ".join(r.run_id for r in runs))
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(_l("report.generated", time=now, version=__version__))}</p>',
        f"<h2>{html.escape(_l('report.section_runs'))}</h2>",
        _runs_section(runs),
        f"<h2>{html.escape(_l('report.section_kpis'))}</h2>",
        _kpi_section(runs, comparison),
        f"<h2>{html.escape(_l('report.section_commute'))}</h2>",
        _figure_html(commute_figure(runs)),
        f"<h2>{html.escape(_l('report.section_fill'))}</h2>",
        _figure_html(fill_figure(runs)),
        f"<h2>{html.escape(_l('report.section_balance'))}</h2>",
        _figure_html(balance_figure(runs)),
        f"<h2>{html.escape(_l('report.section_map', kpi=kpi_text))}</h2>",
        *(f'<p class="note">{html.escape(n)}</p>' for n in notes),
        *parts,
    ]
    if comparison is None:
        sections += [
            f"<h2>{html.escape(_l('report.section_units'))}</h2>",
            _units_section(runs[0]),
            f"<h2>{html.escape(_l('report.section_unplaced'))}</h2>",
            *([f'<p class="note">{html.escape(_l("report.redacted"))}</p>'] if redacted else []),
            _unplaced_section(runs[0], redacted),
        ]
    else:
        sections += [
            f"<h2>{html.escape(_l('report.section_unit_deltas'))}</h2>",
            _unit_delta_section(comparison),
            f"<h2>{html.escape(_l('report.section_people'))}</h2>",
            *([f'<p class="note">{html.escape(_l("report.redacted"))}</p>'] if redacted else []),
            _people_section(comparison, redacted),
        ]
    return (
        '<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
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
