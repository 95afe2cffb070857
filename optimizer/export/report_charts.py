"""Charts of the HTML report that inform (layer 8).

- **Commute**: a histogram of the mainland placements clipped at the 99th percentile (the
  long-commute line drawn), the people beyond it counted in a note, and the placements
  on islands (special zones, e.g. Côn Đảo, where a "commute" of 180 km is the ferry, not a
  daily trip) summed up apart — so one island does not stretch the axis to 333 km.
- **Worst units**: the 20 units with the most shortfall (then the lowest fill rate), one
  bar per run — instead of 168 × 2 bars all near 100 %.
- **Balance**: surplus (up) and shortage (down) per job position, per run.

Names are data: every unit or position name placed in a figure is HTML-escaped, because
plotly renders tags in labels and hover texts.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from optimizer.i18n import t
from optimizer.kpi_display import format_value
from optimizer.kpis import position_balance, unit_kpis
from optimizer.labels import label
from optimizer.store import StoredRun

#: Unit kind whose placements are shown apart from the commute histogram (islands).
ISLAND_KIND = "special_zone"
#: Share of the mainland placements the commute histogram shows (the rest are counted).
COMMUTE_QUANTILE = 0.99
#: How many units the "worst units" chart shows.
WORST_UNITS = 20


def _l(key: str, **kwargs: object) -> str:
    return t(key, "vi", **kwargs)


def _km(value: float) -> str:
    return format_value(value, "km", "vi")


def commute_clip(runs: Sequence[StoredRun]) -> float:
    """Where the commute axis ends (km): the mainland distances' 99th percentile over the
    runs, rounded up, and never before the long-commute threshold plus 5 km."""
    mainland = [
        r.tables.placements.loc[r.tables.placements["unit_kind"] != ISLAND_KIND, "distance_km"] for r in runs
    ]
    values = pd.concat(mainland, ignore_index=True).dropna() if mainland else pd.Series(dtype=float)
    floor = max(r.rules.long_commute_km for r in runs) + 5.0
    if values.empty:
        return floor
    return float(max(floor, math.ceil(float(values.quantile(COMMUTE_QUANTILE)))))


def commute_figure(runs: Sequence[StoredRun]) -> tuple[go.Figure, list[str]]:
    """Histogram of the mainland commutes (1 km bins, clipped), one series per run, and the
    notes that say what is not drawn: people beyond the clip, and the island placements."""
    clip = commute_clip(runs)
    fig = go.Figure()
    notes = []
    for r in runs:
        pl = r.tables.placements
        island = pl["unit_kind"] == ISLAND_KIND
        mainland = pl.loc[~island, "distance_km"].dropna()
        fig.add_trace(
            go.Histogram(
                x=mainland[mainland <= clip],
                name=r.run_id,
                xbins={"start": 0.0, "end": clip, "size": 1.0},
                opacity=0.65 if len(runs) > 1 else 1.0,
            )
        )
        prefix = f"{r.run_id}: " if len(runs) > 1 else ""
        beyond = mainland[mainland > clip]
        if len(beyond):
            notes.append(
                prefix
                + _l("report.commute_beyond", n=len(beyond), clip=_km(clip), max=_km(float(beyond.max())))
            )
        for name, part in pl[island].groupby("unit_name", sort=False)["distance_km"]:
            notes.append(
                prefix
                + _l(
                    "report.commute_island",
                    unit=str(name),
                    n=len(part),
                    median=_km(float(part.median())),
                    max=_km(float(part.max())),
                )
            )
    for km in sorted({r.rules.long_commute_km for r in runs}):
        fig.add_vline(
            x=km,
            line_dash="dash",
            line_color="#b42318",
            annotation_text=_l("report.long_commute_line", km=_km(km)),
        )
    fig.update_layout(
        barmode="overlay",
        height=380,
        margin={"t": 30},
        xaxis={"title": _l("report.axis_distance"), "range": [0, clip]},
        yaxis_title=_l("report.axis_people"),
        legend_title_text=_l("report.col_run_id"),
    )
    return fig, notes


def worst_units(runs: Sequence[StoredRun], count: int = WORST_UNITS) -> pd.DataFrame:
    """The units with the most shortfall in any run (then the lowest fill rate), at most
    ``count``, worst first; units with no shortfall and a full quota are never listed.

    Returns
    -------
    pandas.DataFrame
        ``unit_id``, ``unit_name`` and, per run, ``fill_rate@<id>``, ``filled@<id>``,
        ``quota@<id>``, ``shortfall@<id>``.
    """
    frames = []
    for r in runs:
        uk = unit_kpis(r.tables, r.rules, by_bloc=False)
        cols = ["fill_rate", "filled", "quota", "shortfall"]
        frames.append(
            uk.set_index("unit_id")[["unit_name", *cols]].rename(columns={c: f"{c}@{r.run_id}" for c in cols})
        )
    wide = frames[0]
    for f in frames[1:]:
        wide = wide.join(f.drop(columns="unit_name"), how="outer")
        wide["unit_name"] = wide["unit_name"].fillna(f["unit_name"])
    ids = [r.run_id for r in runs]
    shortfall = wide[[f"shortfall@{i}" for i in ids]].max(axis=1).fillna(0)
    fill = wide[[f"fill_rate@{i}" for i in ids]].min(axis=1).fillna(1.0)
    wide = wide.assign(_short=shortfall, _fill=fill)
    wide = wide[(wide["_short"] > 0) | (wide["_fill"] < 1.0)]
    wide = wide.sort_values(["_short", "_fill"], ascending=[False, True], kind="stable").head(count)
    return wide.drop(columns=["_short", "_fill"]).reset_index()


def worst_units_figure(runs: Sequence[StoredRun]) -> go.Figure | None:
    """Fill rate of the :func:`worst_units`, one bar per run (``None`` when every unit is
    full and has no shortfall)."""
    worst = worst_units(runs)
    if worst.empty:
        return None
    names = [html.escape(str(n)) for n in worst["unit_name"]]
    fig = go.Figure()
    for r in runs:
        i = r.run_id
        filled, quota, short = (
            worst[f"{c}@{i}"].fillna(0).astype(int) for c in ("filled", "quota", "shortfall")
        )
        fig.add_trace(
            go.Bar(
                y=names,
                x=worst[f"fill_rate@{i}"] * 100,
                orientation="h",
                name=i,
                text=[
                    _l("report.worst_bar", filled=f, quota=q, short=s)
                    for f, q, s in zip(filled, quota, short, strict=True)
                ],
                textposition="auto",
                hovertemplate="%{y}<br>%{x:.1f} % · %{text}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=max(300, 26 * len(worst) * len(runs) + 80),
        margin={"t": 30, "l": 10},
        xaxis={"title": _l("report.axis_fill"), "range": [0, 105]},
        yaxis={"autorange": "reversed", "automargin": True},
        legend_title_text=_l("report.col_run_id"),
    )
    return fig


def balance_figure(runs: Sequence[StoredRun]) -> go.Figure:
    """Surplus (up) and shortage (down) per job position, per run."""
    fig = go.Figure()
    for r in runs:
        bal = position_balance(r.tables)
        suffix = f" · {r.run_id}" if len(runs) > 1 else ""
        names = [html.escape(label(p, "position", "vi")) for p in bal["position"]]
        fig.add_trace(
            go.Bar(x=names, y=bal["surplus"], name=_l("report.surplus") + suffix, offsetgroup=r.run_id)
        )
        fig.add_trace(
            go.Bar(
                x=names,
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
