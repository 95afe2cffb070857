"""Key performance indicators of a placement, recomputed from its tables (layer 3).

Every KPI has exactly one definition, here, and is computed from the three tables of
:mod:`optimizer.placement_tables` alone, so that a stored run (which keeps those tables) yields the
same numbers as the solve that produced it.  The run store, ``staffplan run``,
``show``, ``compare`` and the HTML report all call these functions.

Definitions (city-wide, :func:`compute_kpis`; the same ones per unit × bloc in
:func:`unit_kpis`):

``placed`` / ``unplaced``
    People with / without a post; ``unplaced_by_category`` and ``unplaced_by_position``
    split the unplaced by category and by *current* position (the first code of their
    ``positions`` list).
``quota`` / ``min_total``
    Σ ``max`` and Σ ``min`` over post lines (the headcount quota, biên chế).
``shortfall``
    Σ max(0, min − filled) over post lines; ``shortfall_by_position`` splits it by
    position (non-zero entries only); ``terms.shortfall`` weighs leadership lines
    :data:`~optimizer.data.LEADERSHIP_SHORTFALL_WEIGHT` times, as the objective does.
``fill_rate``
    placed ÷ quota (``None`` without any quota).
``commute_*_km``
    Mean, median, 95th percentile (linear interpolation) and maximum of the placed
    people's distance home → unit, in km (``None`` when nobody is placed).
``long_commute``
    Placed people whose distance exceeds ``rules.long_commute_km``.
``moves`` / ``bloc_changes``
    Placed people outside their origin unit / in the other bloc than their current one.
``preference_listed`` / ``preference_first`` / ``preference_top3``
    Placed people with a preference list / who got their first choice / one of their
    first three choices.
``units`` / ``units_with_leadership`` / ``units_with_woman_leader``
    Units with post lines / with a leadership line / where a woman holds a leadership post;
    ``woman_leader_rate`` is the last divided by the second.
``non_local_filled`` / ``non_local_compliant`` / ``non_local_compliance``
    People on ``non_local`` post lines / those of them who are not local to the unit /
    the ratio (``None`` when no such post is filled).
``relatives_conflicts``
    Pairs of relatives that share a unit where the scenario's ``relatives_scope`` forbids
    it (each pair counts once); must be 0.
``surplus`` / ``shortage``
    Σ over job positions of :func:`position_balance`'s surplus (dôi dư: unplaced people
    whose current position it is) and shortage (thiếu: posts of that position left
    vacant under the quota); ``*_by_position`` list the non-zero entries.
``terms``
    The objective terms of DESIGN §5 recomputed from the tables (``commute`` is
    Σ round(distance × 10), in units of 100 m, rounded per person).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from optimizer.data import BLOCS, LEADERSHIP_SHORTFALL_WEIGHT, TERMS, Rules
from optimizer.placement_tables import RunTables

#: Columns of :func:`position_balance`, in order.
BALANCE_COLUMNS = (
    "position",
    "quota",
    "min",
    "placed",
    "shortfall",
    "shortage",
    "unplaced_current",
    "unplaced_qualified",
    "surplus",
    "net",
)

#: Columns of :func:`unit_kpis`, in order.
UNIT_KPI_COLUMNS = (
    "unit_id",
    "unit_name",
    "bloc",
    "lines",
    "quota",
    "min",
    "filled",
    "shortfall",
    "vacant",
    "fill_rate",
    "leadership_filled",
    "woman_leader",
    "moves",
    "bloc_changes",
    "commute_mean_km",
    "commute_p95_km",
    "commute_max_km",
    "long_commute",
    "preference_first",
    "non_local_filled",
    "non_local_compliant",
    "relatives_conflicts",
    "unplaced_origin",
    "lat",
    "lon",
)

#: Per-unit KPIs a map can be coloured by (columns of :func:`unit_kpis`).
MAP_KPIS = (
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


#: The per-unit columns shown to planners (``staffplan show`` and the HTML report),
#: after the unit's id.
UNIT_SUMMARY_COLUMNS = (
    "unit_name",
    "bloc",
    "quota",
    "filled",
    "shortfall",
    "vacant",
    "fill_rate",
    "moves",
    "commute_mean_km",
    "long_commute",
    "unplaced_origin",
    "woman_leader",
)


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _stats(values: np.ndarray) -> dict[str, float | None]:
    """Mean, median, p95 and max of distances; ``None`` each when empty."""
    if len(values) == 0:
        return {"mean": None, "median": None, "p95": None, "max": None}
    return {
        "mean": float(np.mean(values)),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(np.max(values)),
    }


def _count_by(series: pd.Series) -> dict[str, int]:
    """Non-zero counts of a series of codes, as a JSON-able dict sorted by key."""
    counts = series.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items()) if v}


def current_positions(unplaced: pd.DataFrame) -> pd.Series:
    """The current position of each unplaced person: the first code of ``positions``."""
    return unplaced["positions"].astype(str).str.split(";").str[0].fillna("")


def objective_terms(tables: RunTables, rules: Rules) -> dict[str, int]:
    """The objective terms of DESIGN §5, recomputed from a placement's tables.

    Parameters
    ----------
    tables
        The placement's tables.
    rules
        The scenario's rules (``bloc_change`` and ``long_commute_km`` matter).

    Returns
    -------
    dict
        One integer per name of :data:`~optimizer.data.TERMS`.
    """
    pl, lines = tables.placements, tables.units
    weight = np.where(lines["leadership"].to_numpy(bool), LEADERSHIP_SHORTFALL_WEIGHT, 1)
    moves = int(pl["moved"].sum())
    if rules.bloc_change == "penalize":
        moves += int(pl["bloc_changed"].sum())
    dist = pl["distance_km"].to_numpy(float)
    ranks = pl["preference_rank"].to_numpy(np.int64)
    terms = {
        "shortfall": int((lines["shortfall"].to_numpy(np.int64) * weight).sum()),
        "unplaced": len(tables.unplaced),
        "moves": moves,
        "long_commute": int((dist > rules.long_commute_km).sum()),
        "commute": int(np.rint(dist * 10.0).sum()),
        "preference": int(np.maximum(ranks - 1, 0).sum()),
    }
    return {name: terms[name] for name in TERMS}


def position_balance(tables: RunTables) -> pd.DataFrame:
    """Surplus (dôi dư) and shortage (thiếu) per job position: the table planners report.

    Parameters
    ----------
    tables
        The placement's tables.

    Returns
    -------
    pandas.DataFrame
        One row per position code (post lines' positions and the unplaced people's
        current positions), sorted by code, with columns :data:`BALANCE_COLUMNS`:
        ``quota`` (Σ max), ``min`` (Σ min), ``placed`` (people holding it),
        ``shortfall`` (Σ max(0, min − filled)), ``shortage`` (quota − placed: posts left
        vacant), ``unplaced_current`` (unplaced people whose current position it is),
        ``unplaced_qualified`` (unplaced people who list it at all), ``surplus``
        (= ``unplaced_current``) and ``net`` (surplus − shortage).
    """
    lines = tables.units
    by_pos = lines.groupby("position", sort=True)[["max", "min", "filled", "shortfall"]].sum()
    current = current_positions(tables.unplaced)
    listed = tables.unplaced["positions"].astype(str).str.split(";").explode()
    listed = listed[listed != ""]
    codes = sorted(set(by_pos.index) | set(current[current != ""]) | set(listed))
    out = pd.DataFrame({"position": codes})
    by_pos = by_pos.reindex(codes, fill_value=0)
    out["quota"] = by_pos["max"].to_numpy(np.int64)
    out["min"] = by_pos["min"].to_numpy(np.int64)
    out["placed"] = by_pos["filled"].to_numpy(np.int64)
    out["shortfall"] = by_pos["shortfall"].to_numpy(np.int64)
    out["shortage"] = out["quota"] - out["placed"]
    out["unplaced_current"] = current.value_counts().reindex(codes, fill_value=0).to_numpy(np.int64)
    out["unplaced_qualified"] = listed.value_counts().reindex(codes, fill_value=0).to_numpy(np.int64)
    out["surplus"] = out["unplaced_current"]
    out["net"] = out["surplus"] - out["shortage"]
    return out[list(BALANCE_COLUMNS)]


def compute_kpis(tables: RunTables, rules: Rules) -> dict[str, Any]:
    """City-wide KPIs of a placement (definitions in the module docstring).

    Parameters
    ----------
    tables
        The placement's tables (from :func:`optimizer.placement_tables.run_tables` or a stored run).
    rules
        The scenario's rules (``long_commute_km`` and ``bloc_change`` matter).

    Returns
    -------
    dict
        Every value is JSON-able: ints, floats, ``None``, or dicts of those keyed by code.
    """
    pl, un, lines = tables.placements, tables.unplaced, tables.units
    dist = pl["distance_km"].to_numpy(float)
    ranks = pl["preference_rank"].to_numpy(np.int64)
    quota = int(lines["max"].sum())
    stats = _stats(dist)
    lead_units = lines.loc[lines["leadership"].astype(bool), "unit_id"].unique()
    women = pl.loc[pl["leadership"].astype(bool) & (pl["gender"] == "F"), "unit_id"].unique()
    on_non_local = _non_local_flags(tables)
    balance = position_balance(tables)
    shortfall_pos = lines.groupby("position", sort=True)["shortfall"].sum()
    return {
        "placed": len(pl),
        "unplaced": len(un),
        "unplaced_by_category": _count_by(un["category"]),
        "unplaced_by_position": _count_by(current_positions(un)),
        "quota": quota,
        "min_total": int(lines["min"].sum()),
        "shortfall": int(lines["shortfall"].sum()),
        "shortfall_by_position": {str(k): int(v) for k, v in shortfall_pos.items() if v},
        "fill_rate": _ratio(len(pl), quota),
        "commute_mean_km": stats["mean"],
        "commute_median_km": stats["median"],
        "commute_p95_km": stats["p95"],
        "commute_max_km": stats["max"],
        "long_commute": int((dist > rules.long_commute_km).sum()),
        "moves": int(pl["moved"].sum()),
        "bloc_changes": int(pl["bloc_changed"].sum()),
        "preference_listed": int((ranks > 0).sum()),
        "preference_first": int((ranks == 1).sum()),
        "preference_top3": int(((ranks >= 1) & (ranks <= 3)).sum()),
        "units": int(lines["unit_id"].nunique()),
        "units_with_leadership": len(lead_units),
        "units_with_woman_leader": len(women),
        "woman_leader_rate": _ratio(len(women), len(lead_units)),
        "non_local_filled": int(on_non_local.sum()),
        "non_local_compliant": int((on_non_local & ~pl["local"].to_numpy(bool)).sum()),
        "non_local_compliance": _ratio(
            int((on_non_local & ~pl["local"].to_numpy(bool)).sum()), int(on_non_local.sum())
        ),
        "relatives_conflicts": int(pl["relatives_conflict"].sum()) // 2,
        "surplus": int(balance["surplus"].sum()),
        "shortage": int(balance["shortage"].sum()),
        "surplus_by_position": _nonzero(balance, "surplus"),
        "shortage_by_position": _nonzero(balance, "shortage"),
        "terms": objective_terms(tables, rules),
    }


def _nonzero(balance: pd.DataFrame, column: str) -> dict[str, int]:
    sel = balance[balance[column] != 0]
    return {str(p): int(v) for p, v in zip(sel["position"], sel[column], strict=True)}


_LINE_KEY = ["unit_id", "bloc", "department", "position", "category"]


def _non_local_flags(tables: RunTables) -> np.ndarray:
    """For each placement row, whether its post line is ``non_local``."""
    lines = tables.units[[*_LINE_KEY, "non_local"]]
    joined = tables.placements[_LINE_KEY].merge(lines, on=_LINE_KEY, how="left", validate="m:1")
    return joined["non_local"].fillna(False).to_numpy(bool)


def unit_kpis(tables: RunTables, rules: Rules, *, by_bloc: bool = True) -> pd.DataFrame:
    """The city-wide KPIs per unit × bloc (or per unit with ``by_bloc=False``).

    Parameters
    ----------
    tables
        The placement's tables.
    rules
        The scenario's rules (``long_commute_km`` matters).
    by_bloc
        One row per unit and bloc (default); ``False`` gives one row per unit with
        ``bloc`` set to ``"all"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`UNIT_KPI_COLUMNS`, rows in the units' input order (then bloc in
        :data:`~optimizer.data.BLOCS` order).  ``vacant`` is quota − filled;
        ``woman_leader`` says whether a woman holds a leadership post there;
        ``unplaced_origin`` counts unplaced people whose origin unit (and current bloc) it
        is; ``lat`` / ``lon`` are the unit's coordinates.
    """
    pl, un, lines = tables.placements, tables.unplaced, tables.units
    key = ["unit_id", "bloc"] if by_bloc else ["unit_id"]
    lines = lines.assign(_vac=lines["max"] - lines["filled"])
    dist = pl["distance_km"].astype(float)
    on_non_local = _non_local_flags(tables)
    placed = pl.assign(
        _long=(dist > rules.long_commute_km).astype(np.int64),
        _lead=pl["leadership"].astype(bool).astype(np.int64),
        _woman=(pl["leadership"].astype(bool) & (pl["gender"] == "F")).astype(np.int64),
        _first=(pl["preference_rank"] == 1).astype(np.int64),
        _nl=on_non_local.astype(np.int64),
        _nlok=(on_non_local & ~pl["local"].to_numpy(bool)).astype(np.int64),
        _moved=pl["moved"].astype(np.int64),
        _bc=pl["bloc_changed"].astype(np.int64),
    )
    agg_lines = lines.groupby(key, sort=False).agg(
        unit_name=("unit_name", "first"),
        lines=("max", "size"),
        quota=("max", "sum"),
        min=("min", "sum"),
        filled=("filled", "sum"),
        shortfall=("shortfall", "sum"),
        vacant=("_vac", "sum"),
        lat=("unit_lat", "first"),
        lon=("unit_lon", "first"),
    )
    agg_pl = placed.groupby(key, sort=False).agg(
        leadership_filled=("_lead", "sum"),
        woman_leader=("_woman", "sum"),
        moves=("_moved", "sum"),
        bloc_changes=("_bc", "sum"),
        commute_mean_km=("distance_km", "mean"),
        commute_p95_km=("distance_km", lambda s: float(np.percentile(s, 95))),
        commute_max_km=("distance_km", "max"),
        long_commute=("_long", "sum"),
        preference_first=("_first", "sum"),
        non_local_filled=("_nl", "sum"),
        non_local_compliant=("_nlok", "sum"),
        relatives_conflicts=("relatives_conflict", "sum"),
    )
    origin = un.rename(columns={"origin_unit": "unit_id"})
    agg_un = origin.groupby(key, sort=False).size().rename("unplaced_origin")
    out = agg_lines.join(agg_pl, how="left").join(agg_un, how="outer")
    count_cols = [
        "lines",
        "quota",
        "min",
        "filled",
        "shortfall",
        "vacant",
        "leadership_filled",
        "moves",
        "bloc_changes",
        "long_commute",
        "preference_first",
        "non_local_filled",
        "non_local_compliant",
        "relatives_conflicts",
        "unplaced_origin",
    ]
    out[count_cols] = out[count_cols].fillna(0).astype(np.int64)
    out["woman_leader"] = out["woman_leader"].fillna(0) > 0
    out["fill_rate"] = out["filled"] / out["quota"].where(out["quota"] > 0)
    out = out.reset_index()
    if not by_bloc:
        out["bloc"] = "all"
    names = dict(zip(lines["unit_id"], lines["unit_name"], strict=True))
    out["unit_name"] = out["unit_name"].fillna(out["unit_id"].map(names)).fillna(out["unit_id"])
    order = {u: i for i, u in enumerate(pd.unique(pd.concat([lines["unit_id"], un["origin_unit"]])))}
    bloc_order = {b: i for i, b in enumerate(BLOCS)}
    out = out.assign(
        _u=out["unit_id"].map(order), _b=out["bloc"].map(bloc_order).fillna(len(BLOCS))
    ).sort_values(["_u", "_b"], kind="stable")
    return out[list(UNIT_KPI_COLUMNS)].reset_index(drop=True)
