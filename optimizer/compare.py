"""Comparing stored runs: KPIs side by side, per-unit deltas, people placed differently.

Pure functions over :class:`~optimizer.store.StoredRun` values (layer 8); the runs may
come from different scenarios (other post lines, other rosters).  Deltas are always
against the **first** run given.  Also here: how KPI values are formatted for people
(Vietnamese or English number style) and how personal columns are redacted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.io.outputs import check_replaceable, make_out_dir, write_csv_frame
from optimizer.kpis import unit_kpis
from optimizer.labels import number
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

_RATE_SUFFIXES = ("_rate", "_compliance")


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


def flatten_kpis(kpis: Mapping[str, Any]) -> dict[str, float | int | None]:
    """Flatten nested KPI dicts into ``parent.child`` keys, keeping the KPI order."""
    out: dict[str, float | int | None] = {}
    for key, value in kpis.items():
        if isinstance(value, Mapping):
            for sub, v in value.items():
                out[f"{key}.{sub}"] = v
        else:
            out[key] = value
    return out


def delta_column(run_id: str) -> str:
    """Name of the column holding a run's deltas in :attr:`Comparison.kpis`."""
    return f"Δ {run_id}"


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


#: KPIs (flattened names, or their family before the dot) where more is better.
HIGHER_IS_BETTER = frozenset(
    {
        "placed", "fill_rate", "preference_first", "preference_top3", "units_with_woman_leader",
        "woman_leader_rate", "non_local_compliant", "non_local_compliance",
    }
)  # fmt: skip
#: KPIs where less is better; families (``terms``, ``shortfall_by_position``…) by prefix.
LOWER_IS_BETTER = frozenset(
    {
        "unplaced", "unplaced_by_category", "unplaced_by_position", "shortfall",
        "shortfall_by_position", "commute_mean_km", "commute_median_km", "commute_p95_km",
        "commute_max_km", "long_commute", "moves", "bloc_changes", "relatives_conflicts",
        "surplus", "surplus_by_position", "shortage", "shortage_by_position", "terms",
        "fairness.blocking_pairs", "fairness.people_blocked", "fairness.holders_outranked",
        "fairness.units_involved", "fairness.blocked_rate", "vacant", "unplaced_origin",
    }
)  # fmt: skip


def kpi_direction(name: str) -> int:
    """Which way a (flattened) KPI is good: ``+1`` more is better, ``-1`` less is better,
    ``0`` neither (a size such as the quota or the number of units)."""
    family = name.split(".", 1)[0]
    if name in HIGHER_IS_BETTER or family in HIGHER_IS_BETTER:
        return 1
    if name in LOWER_IS_BETTER or family in LOWER_IS_BETTER:
        return -1
    return 0


def delta_quality(name: str, delta: Any) -> str:
    """``"good"``, ``"bad"`` or ``""`` (no change, no direction, or no value) for the change
    ``delta`` of KPI ``name`` — by the KPI's direction, never by the sign alone."""
    if delta is None or (isinstance(delta, float) and not np.isfinite(delta)) or delta == 0:
        return ""
    score = kpi_direction(name) * (1 if delta > 0 else -1)
    return "good" if score > 0 else "bad" if score < 0 else ""


def kpi_kind(name: str) -> str:
    """How a (flattened) KPI is shown: ``"rate"``, ``"km"`` or ``"count"``."""
    base = name.split(".", 1)[0]
    if base.endswith(_RATE_SUFFIXES) or name.endswith(_RATE_SUFFIXES):
        return "rate"
    if base.endswith("_km"):
        return "km"
    return "count"


def format_value(value: Any, kind: str, lang: str, *, signed: bool = False) -> str:
    """Format a KPI value: percentages for rates, two decimals for km, integers otherwise.

    Vietnamese style (``lang="vi"``) uses ``.`` for thousands and ``,`` for decimals.
    Missing values are shown as ``–``.
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    # round to the precision shown first, so that a tiny delta never reads "-0,0"
    scale, digits, suffix = {"rate": (100.0, 1, " %"), "km": (1.0, 2, "")}.get(kind, (1.0, 0, ""))
    return number(float(value) * scale, digits, lang, signed=signed) + suffix
