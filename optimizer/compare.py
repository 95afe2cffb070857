"""Comparing stored runs: KPIs side by side, per-unit deltas, people placed differently.

Pure functions over :class:`~optimizer.store.StoredRun` values (layer 8); the runs may
come from different scenarios (other post lines, other rosters).  Deltas are always
against the **first** run given.  Also here: how personal columns are redacted.  How a
KPI is named, formatted and judged is in :mod:`optimizer.kpi_display`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.io.outputs import check_replaceable, make_out_dir, write_csv_frame
from optimizer.kpi_display import delta_column, flatten_kpis
from optimizer.kpis import unit_kpis
from optimizer.store import StoredRun

#: Per-unit KPIs compared run by run (columns of :func:`optimizer.kpis.unit_kpis`).
UNIT_COMPARE_METRICS = (
    "filled",
    "shortfall",
    "vacant",
    "fill_rate",
    "moves",
    "commute_mean_km",
    "long_commute",
    "unplaced_origin",
)
#: Columns describing one placement in :attr:`Comparison.people`, per run.
PERSON_FIELDS = ("status", "unit_id", "unit_name", "bloc", "department", "position")
#: Personal columns, shown as initials / birth year with ``redact``.
NAME_COLUMNS = ("full_name",)
BIRTH_COLUMNS = ("birth_date",)


@dataclass(frozen=True)
class Comparison:
    """The comparison of two or more runs.

    Attributes
    ----------
    run_ids
        The runs, in the order given; deltas are against the first.
    runs
        One row per run: id, scenario, creation time, status, proof, manifest hash.
    kpis
        One row per KPI (nested KPIs flattened as ``parent.code``); a column per run
        (its id) and a ``Δ <id>`` column per later run.
    units
        One row per unit × bloc present in any run; for each metric of
        :data:`UNIT_COMPARE_METRICS` a ``metric@<id>`` column per run and a
        ``Δmetric@<id>`` column per later run; ``changed`` is true where any delta is
        non-zero or the unit × bloc is missing from a run.
    people
        One row per person placed differently in at least one run (another unit or post,
        placed in one and unplaced in another, or absent from a run's roster): staff id,
        name, birth date, ``change`` (``status`` / ``unit`` / ``post``), and for each run
        the columns ``<field>@<id>`` for the fields of :data:`PERSON_FIELDS`.
    """

    run_ids: tuple[str, ...]
    runs: pd.DataFrame
    kpis: pd.DataFrame
    units: pd.DataFrame
    people: pd.DataFrame


def _kpi_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    flat = [flatten_kpis(r.kpis) for r in runs]
    names: list[str] = []
    for f in flat:
        names.extend(k for k in f if k not in names)
    # nested KPIs missing from a run (e.g. no unplaced cadre) are zero counts there
    data = {
        r.run_id: [f.get(n, 0 if "." in n else None) for n in names] for r, f in zip(runs, flat, strict=True)
    }
    frame = pd.DataFrame(data, index=pd.Index(names, name="kpi"), dtype=object)
    base = pd.to_numeric(frame[runs[0].run_id], errors="coerce").astype(float)
    for r in runs[1:]:
        frame[delta_column(r.run_id)] = pd.to_numeric(frame[r.run_id], errors="coerce").astype(float) - base
    return frame


def _unit_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    key = ["unit_id", "bloc"]
    frames = []
    for r in runs:
        uk = unit_kpis(r.tables, r.rules)[[*key, "unit_name", *UNIT_COMPARE_METRICS]]
        uk = uk.rename(columns={m: f"{m}@{r.run_id}" for m in UNIT_COMPARE_METRICS})
        frames.append(uk.rename(columns={"unit_name": f"unit_name@{r.run_id}"}))
    merged = frames[0]
    for uk in frames[1:]:
        merged = merged.merge(uk, on=key, how="outer")
    # rows in the order units and blocs first appear in the runs (outer joins sort keys)
    first_seen = pd.concat([f[key] for f in frames]).drop_duplicates().reset_index(drop=True)
    merged = first_seen.merge(merged, on=key, how="left")
    name_cols = [f"unit_name@{r.run_id}" for r in runs]
    names = merged[name_cols].bfill(axis=1).iloc[:, 0]
    out = merged[key].assign(unit_name=names)
    changed = np.zeros(len(merged), dtype=bool)
    for m in UNIT_COMPARE_METRICS:
        base = merged[f"{m}@{runs[0].run_id}"].astype(float)
        for r in runs:
            out[f"{m}@{r.run_id}"] = merged[f"{m}@{r.run_id}"]
        for r in runs[1:]:
            delta = merged[f"{m}@{r.run_id}"].astype(float) - base
            out[f"Δ{m}@{r.run_id}"] = delta
            changed |= delta.fillna(1.0).to_numpy() != 0
    out["changed"] = changed
    return out.reset_index(drop=True)


def _people_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    per_run: list[pd.DataFrame] = []
    ident: list[pd.DataFrame] = []
    for r in runs:
        pl = r.tables.placements.assign(status="placed")
        un = r.tables.unplaced.assign(status="unplaced", unit_id="", unit_name="", department="", position="")
        both = pd.concat(
            [pl[["staff_id", *PERSON_FIELDS]], un[["staff_id", *PERSON_FIELDS]]], ignore_index=True
        )
        per_run.append(both.set_index("staff_id").add_suffix(f"@{r.run_id}"))
        ident.append(
            pd.concat(
                [
                    pl[["staff_id", "full_name", "birth_date"]],
                    un[["staff_id", "full_name", "birth_date"]],
                ]
            )
        )
    who = pd.concat(ident).drop_duplicates("staff_id").set_index("staff_id")
    wide = pd.concat(per_run, axis=1, join="outer", sort=True)
    for r in runs:
        col = f"status@{r.run_id}"
        wide[col] = wide[col].fillna("absent")
        for f in PERSON_FIELDS[1:]:
            wide[f"{f}@{r.run_id}"] = wide[f"{f}@{r.run_id}"].fillna("")

    def field_values(f: str) -> pd.DataFrame:
        return wide[[f"{f}@{r.run_id}" for r in runs]]

    def differs(frame: pd.DataFrame) -> pd.Series:
        return frame.nunique(axis=1, dropna=False) > 1

    status_diff = differs(field_values("status"))
    unit_diff = differs(field_values("unit_id"))
    post_diff = differs(
        pd.concat(
            {
                r.run_id: wide[f"bloc@{r.run_id}"]
                + "|"
                + wide[f"department@{r.run_id}"]
                + "|"
                + wide[f"position@{r.run_id}"]
                for r in runs
            },
            axis=1,
        )
    )
    change = np.select([status_diff, unit_diff, post_diff], ["status", "unit", "post"], "")
    wide = wide.assign(change=change)[change != ""]
    out = who.loc[wide.index, ["full_name", "birth_date"]].join(wide)
    cols = ["full_name", "birth_date", "change"] + [f"{f}@{r.run_id}" for r in runs for f in PERSON_FIELDS]
    return out[cols].rename_axis("staff_id").reset_index()


def _run_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": [r.run_id for r in runs],
            "scenario_name": [r.scenario_name for r in runs],
            "created_at": [r.created_at for r in runs],
            "status": [r.status for r in runs],
            "proven": [r.proven for r in runs],
            "manifest_hash": [r.manifest_hash for r in runs],
            "total_time_s": [r.meta.get("timings", {}).get("total") for r in runs],
        }
    )


def compare_runs(runs: Sequence[StoredRun]) -> Comparison:
    """Compare two or more stored runs (deltas against the first).

    Parameters
    ----------
    runs
        The runs, possibly of different scenarios; at least two.

    Returns
    -------
    Comparison
        KPIs side by side, per-unit deltas and the people placed differently.
    """
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    if len({r.run_id for r in runs}) != len(runs):
        raise ValueError("compare needs distinct runs")
    return Comparison(
        run_ids=tuple(r.run_id for r in runs),
        runs=_run_frame(runs),
        kpis=_kpi_frame(runs),
        units=_unit_frame(runs),
        people=_people_frame(runs),
    )


def initials(name: str) -> str:
    """``"Nguyễn Thị Lan"`` → ``"N.T.L."``: the first letter of each word, capitalised."""
    words = unicodedata.normalize("NFC", str(name)).split()
    return "".join(w[0].upper() + "." for w in words)


def redact(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace names by initials and birth dates by birth years in any such column."""
    out = frame.copy()
    for col in out.columns:
        base = str(col).split("@", 1)[0]
        if base in NAME_COLUMNS:
            out[col] = out[col].map(lambda v: initials(v) if isinstance(v, str) else v)
        elif base in BIRTH_COLUMNS:
            out[col] = out[col].map(lambda v: str(v)[:4] if isinstance(v, str) else v)
    return out


def write_csv(comparison: Comparison, folder: str | Path, *, redacted: bool = False) -> list[Path]:
    """Write ``runs.csv``, ``kpis.csv``, ``units.csv`` and ``people.csv`` (UTF-8 with BOM,
    for Excel) into ``folder`` (mode 0700 when created), each readable by its owner only,
    written atomically with formulas neutralised (:func:`~optimizer.io.outputs.write_csv_frame`).

    Parameters
    ----------
    comparison
        The comparison to write.
    folder
        Created if missing.
    redacted
        Write initials and birth years instead of names and birth dates.

    Returns
    -------
    list of Path
        The files written.
    """
    folder = make_out_dir(Path(folder))
    people = redact(comparison.people) if redacted else comparison.people
    frames = {
        "runs.csv": comparison.runs,
        "kpis.csv": comparison.kpis.reset_index(),
        "units.csv": comparison.units,
        "people.csv": people,
    }
    for name, frame in frames.items():  # every file checked before any is written
        check_replaceable(folder / name, [str(c) for c in frame.columns])
    return [write_csv_frame(frame, folder / name) for name, frame in frames.items()]
