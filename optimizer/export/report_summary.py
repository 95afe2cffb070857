"""The leaders' summary of the HTML report and its tables (layer 8).

A one-page summary comes first: the few figures a leader reads — people placed and not
placed, shortfall, fill rate, moves, commute, long commutes, fairness — one column per run
and, when runs are compared, the change against the first run coloured **by the KPI's
direction** (fewer unplaced is good, more is bad; a shorter commute is good), never by the
sign alone.  The full KPI table follows, folded (``<details>``), with the same colours.
Times are local (:mod:`optimizer.localtime`); hashes are shown short, whole on hover.
Every text is escaped: unit and scenario names are data.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from optimizer.compare import Comparison
from optimizer.i18n import t
from optimizer.kpi_display import delta_column, delta_quality, flatten_kpis, format_value, kpi_kind, kpi_label
from optimizer.localtime import local_time, zone_name
from optimizer.record import run_notes
from optimizer.store import StoredRun

#: The KPIs of the summary, in reading order.
SUMMARY_KPIS = (
    "placed",
    "unplaced",
    "shortfall",
    "fill_rate",
    "moves",
    "commute_mean_km",
    "long_commute",
    "fairness.blocking_pairs",
)
#: Hex digits of a hash shown (the whole hash is in the tooltip).
SHORT_HASH = 12

Cell = tuple[str, str]
"""A table cell: its HTML (already escaped) and its CSS class."""


def _l(key: str, **kwargs: object) -> str:
    return t(key, "vi", **kwargs)


def text_cell(text: object, css: str = "") -> Cell:
    """A cell showing ``text``, escaped."""
    return html.escape(str(text)), css


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]], css: str = "") -> str:
    """An HTML table: ``header`` texts (escaped) over rows of :data:`Cell`."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="{c}">{v}</td>' for v, c in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def short_hash(full: str) -> Cell:
    """The first :data:`SHORT_HASH` digits of a hash, the whole hash on hover."""
    return f'<abbr title="{html.escape(full)}">{html.escape(full[:SHORT_HASH])}</abbr>', "mono"


def when(stamp: str) -> str:
    """A stored time as local ``dd/mm/yyyy HH:MM``."""
    return local_time(stamp, "vi")


def kpi_frame(runs: Sequence[StoredRun], comparison: Comparison | None) -> pd.DataFrame:
    """KPIs by flattened name, a column per run (and ``Δ <id>`` per later run)."""
    if comparison is not None:
        return comparison.kpis
    flat = flatten_kpis(runs[0].kpis)
    return pd.DataFrame({runs[0].run_id: list(flat.values())}, index=list(flat), dtype=object)


def _kpi_rows(frame: pd.DataFrame, names: Sequence[str], ids: Sequence[str]) -> list[list[Cell]]:
    rows = []
    for name in names:
        kind = kpi_kind(name)
        row = frame.loc[name] if name in frame.index else pd.Series(dtype=object)
        cells = [text_cell(kpi_label(name))]
        cells += [text_cell(format_value(row.get(i), kind, "vi"), "n") for i in ids]
        for i in ids[1:]:
            delta = row.get(delta_column(i))
            quality = delta_quality(name, delta)
            cells.append(text_cell(format_value(delta, kind, "vi", signed=True), f"n {quality}".strip()))
        rows.append(cells)
    return rows


def _header(ids: Sequence[str]) -> list[str]:
    return [_l("report.col_kpi"), *ids, *(f"Δ {i}" for i in ids[1:])]


def summary_section(runs: Sequence[StoredRun], comparison: Comparison | None) -> str:
    """The summary: :data:`SUMMARY_KPIS` per run, changes coloured good or bad."""
    ids = [r.run_id for r in runs]
    frame = kpi_frame(runs, comparison)
    names = [n for n in SUMMARY_KPIS if n in frame.index]
    parts = [table(_header(ids), _kpi_rows(frame, names, ids), "summary")]
    if len(runs) > 1:
        parts.append(f'<p class="note">{html.escape(_l("report.summary_legend", first=ids[0]))}</p>')
    return "".join(parts)


def kpi_details(runs: Sequence[StoredRun], comparison: Comparison | None) -> str:
    """Every KPI, folded under a one-line summary."""
    ids = [r.run_id for r in runs]
    frame = kpi_frame(runs, comparison)
    names = [str(n) for n in frame.index]
    heading = html.escape(_l("report.section_kpis_all", n=len(names)))
    return (
        f"<details><summary>{heading}</summary>{table(_header(ids), _kpi_rows(frame, names, ids))}</details>"
    )


def runs_section(runs: Sequence[StoredRun]) -> str:
    """One row per run: id, scenario, label, local time, status, proof, time, short hash;
    then why a run has no placement or is not proven (:func:`optimizer.record.run_notes`)."""
    header = [
        _l("report.col_run_id"),
        _l("report.col_scenario"),
        _l("report.col_label"),
        _l("report.col_created", zone=zone_name()),
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
                text_cell(r.run_id, "mono"),
                text_cell(r.scenario_name),
                text_cell(run_label(r)),
                text_cell(when(r.created_at)),
                text_cell(_l(f"store.status.{r.status}")),
                text_cell(_l("report.yes") if r.proven else _l("report.no")),
                text_cell(format_value(total, "km", "vi"), "n"),
                short_hash(r.manifest_hash),
            ]
        )
    notes = [(r.run_id, line) for r in runs for line in run_notes(r.run_id, r.meta, "vi")]
    said = "".join(
        f'<p class="note"><span class="mono">{html.escape(run_id)}</span>: {html.escape(line)}</p>'
        for run_id, line in notes
    )
    return table(header, rows) + said


def run_label(run: StoredRun | Any) -> str:
    """What tells a run apart: its ``--label``, else its ``--set`` overrides, else ``""``."""
    meta = run.meta
    label = (meta.get("tags") or {}).get("label") or ""
    if label:
        return str(label)
    return " ".join(str(o) for o in meta.get("overrides") or ())
