"""The map of the HTML report: units coloured by a per-unit KPI, offline (layer 8).

The map is drawn from the unit polygons of a GeoJSON file (``code`` property = unit id)
as filled shapes in plain x/y axes — no geo traces and no tiles, which would be fetched
from the internet.  Units without a polygon are drawn as points at their coordinates;
units far from all the others (an offshore island such as Côn Đảo) go to an inset.  When
there are few units their names are written on the map; otherwise hovering shows them.
Names are data: every name placed in the figure is HTML-escaped (plotly renders tags).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.kpi_display import format_value
from optimizer.store import StoredRun, StoredRunHead

#: A unit whose nearest neighbour is farther than this (km) is drawn in the inset.
INSET_GAP_KM = 50.0
#: Colour scale of the map (low → high).
COLORSCALE = "Viridis"
NO_DATA_COLOR = "#d9d9d9"
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQUATOR = 111.320
#: Largest GeoJSON file read, in bytes.
MAX_GEOJSON_BYTES = 256 << 20
#: Units are named on the map when there are at most this many (else on hover only).
MAX_NAMED_UNITS = 60
#: Axes of the inset.
INSET_AXES = {"xaxis": "x2", "yaxis": "y2"}


def _l(key: str, **kwargs: object) -> str:
    """A map label: always Vietnamese."""
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


def geojson_of_run(run: StoredRun | StoredRunHead) -> Path | None:
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


def finite_range(values: Sequence[float]) -> tuple[float, float]:
    """The smallest and largest finite value (``(0, 1)`` when there is none)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


@dataclass(frozen=True)
class _Colours:
    """The colour of a value on the map's scale."""

    vmin: float
    vmax: float

    def __call__(self, v: float | None) -> str:
        if v is None or not np.isfinite(v):
            return NO_DATA_COLOR
        return str(sample_colorscale(COLORSCALE, [(v - self.vmin) / (self.vmax - self.vmin)])[0])


def _polygon_trace(s: Shape, lat0: float, fill: str, hover: str, axes: dict[str, str]) -> go.Scatter:
    """One unit's polygons, filled, with its hover text."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for ring in s.rings:
        arr = np.array(ring)
        x, y = _project(arr[:, 0], arr[:, 1], lat0)
        xs.extend([*np.round(x, 3).tolist(), None])
        ys.extend([*np.round(y, 3).tolist(), None])
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        fill="toself",
        fillcolor=fill,
        line={"color": "#ffffff", "width": 0.6},
        hoveron="fills",
        hoverinfo="text",
        text=hover,
        name=html.escape(s.name),
        showlegend=False,
        **axes,
    )


def _point_trace(group: Sequence[Shape], lat0: float, colours: list[str], hovers: list[str], named: bool,
                 axes: dict[str, str]) -> go.Scatter:  # fmt: skip
    """Units without a polygon: points, named beside them when ``named``."""
    x, y = _project(np.array([s.lon for s in group]), np.array([s.lat for s in group]), lat0)
    return go.Scatter(
        x=x,
        y=y,
        mode="markers+text" if named else "markers",
        hoverinfo="text",
        hovertext=hovers,
        text=[html.escape(s.name) for s in group] if named else None,
        textposition="top center",
        textfont={"size": 11},
        marker={"size": 11, "color": colours, "line": {"color": "#333", "width": 1}},
        showlegend=False,
        **axes,
    )


def _name_trace(group: Sequence[Shape], lat0: float, axes: dict[str, str]) -> go.Scatter:
    """The names of units drawn as polygons, written at their centres."""
    x, y = _project(np.array([s.lon for s in group]), np.array([s.lat for s in group]), lat0)
    return go.Scatter(
        x=x,
        y=y,
        mode="text",
        text=[html.escape(s.name) for s in group],
        textfont={"size": 10, "color": "#111"},
        hoverinfo="skip",
        showlegend=False,
        **axes,
    )


def _colour_bar(colours: _Colours, label: str, kind: str) -> go.Scatter:
    """An invisible trace that carries the colour bar."""
    tick_format = ""
    if kind == "rate":  # a narrow range of rates (97–100 %) needs a decimal, or its ticks repeat
        tick_format = ".0%" if colours.vmax - colours.vmin >= 0.1 else ".1%"
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        hoverinfo="skip",
        showlegend=False,
        marker={
            "colorscale": COLORSCALE,
            "cmin": colours.vmin,
            "cmax": colours.vmax,
            "color": [colours.vmin],
            "showscale": True,
            "colorbar": {
                "title": {"text": label},
                "thickness": 14,
                "tickformat": tick_format,
            },
        },
    )


def _layout(fig: go.Figure, title: str, with_inset: bool) -> None:
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
    if not with_inset:
        return
    frame = {**hidden, "showline": True, "mirror": True, "linecolor": "#666"}
    fig.update_layout(
        xaxis2={**frame, "domain": [0.0, 0.22], "anchor": "y2"},
        yaxis2={**frame, "domain": [0.0, 0.25], "anchor": "x2", "scaleanchor": "x2", "scaleratio": 1},
    )
    fig.add_annotation(
        text=_l("report.inset"), xref="paper", yref="paper", x=0.0, y=0.255, showarrow=False,
        xanchor="left", yanchor="bottom", font={"size": 11},
    )  # fmt: skip


def map_figure(
    shapes: Sequence[Shape],
    values: dict[str, float],
    label: str,
    kind: str,
    title: str,
    value_range: tuple[float, float] | None = None,
) -> go.Figure:
    """A choropleth of ``values`` (by unit id) drawn as filled polygons in x/y axes.

    Units without a polygon are points; with at most :data:`MAX_NAMED_UNITS` units every
    unit is named on the map.  ``value_range`` fixes the ends of the colour scale (so that
    the maps of several runs compare); by default it spans ``values``.
    """
    inset = inset_units(shapes)
    lat0 = float(np.mean([s.lat for s in shapes])) if shapes else 0.0
    vmin, vmax = value_range or finite_range(list(values.values()))
    colours = _Colours(vmin, vmax if vmax != vmin else vmin + 1.0)
    named = len(shapes) <= MAX_NAMED_UNITS

    def hover(s: Shape) -> str:
        v = values.get(s.unit_id)
        shown = format_value(v, kind, "vi") if v is not None else _l("report.no_data")
        return f"{html.escape(s.name)} ({html.escape(s.unit_id)})<br>{html.escape(label)}: {shown}"

    fig = go.Figure()
    for in_inset in (False, True):
        axes = INSET_AXES if in_inset else {}
        here = [s for s in shapes if (s.unit_id in inset) == in_inset]
        polygons = [s for s in here if s.rings]
        for s in polygons:
            fig.add_trace(_polygon_trace(s, lat0, colours(values.get(s.unit_id)), hover(s), axes))
        if named and polygons:
            fig.add_trace(_name_trace(polygons, lat0, axes))
        points = [s for s in here if not s.rings]
        if points:
            fill = [colours(values.get(s.unit_id)) for s in points]
            fig.add_trace(_point_trace(points, lat0, fill, [hover(s) for s in points], named, axes))
    fig.add_trace(_colour_bar(colours, label, kind))
    _layout(fig, title, bool(inset))
    return fig
