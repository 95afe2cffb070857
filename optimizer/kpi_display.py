"""How a KPI is shown: its name, its value's format, and whether a change is good or bad.

A presentation module of the lowest layer, beside :mod:`optimizer.labels`: it knows KPIs
only by their (flattened) names, so the command line, the web pages, the reports and the
comparison all name, format and colour a KPI the same way without importing one another.
Nested KPIs are flattened to ``parent.code`` names (``unplaced_by_category.cadre``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optimizer.i18n import t
from optimizer.labels import label, number

_RATE_SUFFIXES = ("_rate", "_compliance")

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
    """Name of the column holding a run's changes against the first run
    (:attr:`optimizer.compare.Comparison.kpis`, the KPI tables of the CLI)."""
    return f"Δ {run_id}"


def kpi_label(name: str, lang: str = "vi") -> str:
    """The label of a (flattened) KPI name, e.g. ``unplaced_by_category.cadre``."""
    if "." not in name:
        return t(f"kpi.{name}", lang)
    parent, code = name.split(".", 1)
    if parent in ("terms", "fairness"):
        return t(f"kpi.{parent}", lang) + ": " + t(f"kpi.{parent}.{code}", lang)
    sub = label(code, "category" if parent == "unplaced_by_category" else "position", lang)
    return t(f"kpi.{parent}", lang) + ": " + sub


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
    if delta is None or (isinstance(delta, float) and not math.isfinite(delta)) or delta == 0:
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

    Parameters
    ----------
    value
        The value (``None`` and non-finite floats are shown as ``–``).
    kind
        ``"rate"``, ``"km"`` or ``"count"`` (:func:`kpi_kind`).
    lang
        ``"vi"`` (``.`` for thousands, ``,`` for decimals) or ``"en"``.
    signed
        Show ``+`` before a positive value (a change).

    Returns
    -------
    str
        e.g. ``"75,5 %"``, ``"+2,50"``, ``"1.234"``.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    # round to the precision shown first, so that a tiny delta never reads "-0,0"
    scale, digits, suffix = {"rate": (100.0, 1, " %"), "km": (1.0, 2, "")}.get(kind, (1.0, 0, ""))
    return number(float(value) * scale, digits, lang, signed=signed) + suffix
