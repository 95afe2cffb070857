"""Forgiving references, never silent (between validation passes 1 and 2, layer 2).

What a planner types where a code is expected is resolved when it can mean one thing
only, and each resolution is reported as a warning:

* a unit *name* where a unit id is expected (``"Xã Tân Lập"`` for ``31002``), one warning
  per cell;
* codes whose leading zeros Excel dropped (``1234`` for ``01234``), one warning per column
  with the count and the way to stop Excel from doing it;
* staff ids in another letter case (``nv001`` for ``NV001``), one warning per column;
  ids of the roster that differ only by case are a warning of their own, and references
  to them are left exact;
* a home given as a unit (``home_unit``: a current or former unit, name or code) instead
  of coordinates: the unit's point is used, and a warning says how many homes are
  approximate.

References that cannot be resolved are left for :func:`optimizer.io.validate.check_references`
to report, with the closest unit (code and name) suggested.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from optimizer.errors import Issue
from optimizer.i18n import t
from optimizer.io.places import Gazetteer, Match
from optimizer.io.tables import RawTable

#: Columns holding unit ids, by table.
UNIT_REFS = {
    "posts": ("unit_id",),
    "staff": ("origin_unit", "local_units", "preferences"),
    "pins": ("unit_id",),
}
#: Columns holding staff ids, by table.
STAFF_REFS = {"relations": ("staff_id", "relative_id"), "pins": ("staff_id",)}
#: The column added to the staff values: the home is a unit's point (approximate).
HOME_APPROX = "home_approx"


def gazetteer(units: RawTable | None, former: bool = False) -> Gazetteer | None:
    """The units of a read units table, by code and name (``None`` if it cannot be used)."""
    if units is None or units.values is None:
        return None
    uv = units.values
    if not {"unit_id", "name", "lat", "lon"} <= set(uv.columns):
        return None
    rows = []
    for code, name, lat, lon in zip(uv["unit_id"], uv["name"], uv["lat"], uv["lon"], strict=True):
        if isinstance(code, str) and isinstance(lat, float) and isinstance(lon, float):
            rows.append((code, name if isinstance(name, str) else code, lat, lon))
    return Gazetteer(rows, former=former)


def resolve_references(tables: Mapping[str, RawTable]) -> list[Issue]:
    """Resolve names, lost zeros and letter case in place (see the module docstring).

    Parameters
    ----------
    tables
        The read tables by name; their ``values`` are rewritten where a reference is
        resolved (and the staff values gain :data:`HOME_APPROX`).

    Returns
    -------
    list of Issue
        A warning for each resolution (grouped as the module docstring says), and an
        error for each person whose home cannot be placed.
    """
    issues: list[Issue] = []
    places = gazetteer(tables.get("units"))
    if places is not None:
        for table, columns in UNIT_REFS.items():
            raw = tables.get(table)
            for column in columns:
                issues += _resolve_units(raw, column, places)
    issues += _resolve_staff_ids(tables)
    issues += _resolve_homes(tables.get("staff"), tables.get("units"))
    return issues


def _cells(raw: RawTable | None, column: str) -> pd.Series | None:
    if raw is None or raw.values is None or column not in raw.values.columns:
        return None
    return raw.values[column]


def _rewrite(raw: RawTable, column: str, convert: Mapping[str, str]) -> None:
    """Apply ``convert`` to a column's codes (lists item by item)."""
    assert raw.values is not None

    def one(value: object) -> object:
        if isinstance(value, tuple):
            return tuple(convert.get(v, v) for v in value)
        return convert.get(value, value) if isinstance(value, str) else value

    raw.values[column] = raw.values[column].map(one).astype(object)


def _codes(cells: pd.Series) -> list[tuple[int, str]]:
    """(row, code) of every code in a column, list items included."""
    out: list[tuple[int, str]] = []
    for row, value in zip(cells.index.tolist(), cells.tolist(), strict=True):
        if isinstance(value, str):  # most cells: one code
            out.append((int(row), value))
        elif isinstance(value, tuple):
            out.extend((int(row), v) for v in value if isinstance(v, str))
    return out


def _distinct(cells: pd.Series) -> set[object]:
    """Every distinct value of a column, list items included (one pass over its distinct
    cells)."""
    out: set[object] = set()
    for value in pd.unique(cells.to_numpy(dtype=object)).tolist():
        if isinstance(value, tuple):
            out.update(value)
        else:
            out.add(value)
    return out


def _resolve_units(raw: RawTable | None, column: str, places: Gazetteer) -> list[Issue]:
    cells = _cells(raw, column)
    if raw is None or cells is None:
        return []
    if all(not isinstance(v, str) or v in places.units.code for v in _distinct(cells)):
        return []  # the usual column: every code is a unit's code
    issues: list[Issue] = []
    convert: dict[str, str] = {}
    zeros: list[tuple[int, str, str]] = []
    for row, value in _codes(cells):
        if value in places.units.code:
            continue
        found = places.find(value)
        if found is None or found.place is None or found.place.code is None:
            continue
        code = found.place.code
        convert[value] = code
        if found.how == "zeros":
            zeros.append((row, value, code))
        else:
            issues.append(
                raw.issue("unit_name_resolved", "warning", row=row, column=column, value=value, target=code)
            )
    if zeros:
        row, value, code = zeros[0]
        issues.append(
            raw.issue(
                "lost_zeros", "warning", row=row, column=column, value=value, target=code, count=len(zeros)
            )
        )
    if convert:
        _rewrite(raw, column, convert)
    return issues


def _resolve_staff_ids(tables: Mapping[str, RawTable]) -> list[Issue]:
    staff = tables.get("staff")
    ids = _cells(staff, "staff_id")
    if staff is None or ids is None:
        return []
    issues: list[Issue] = []
    known = {v for v in ids.tolist() if isinstance(v, str)}
    folded: dict[str, list[str]] | None = None  # the ids by their folded case, when made
    if len({v.casefold() for v in known}) < len(known):  # some ids differ by case only: found row by row
        folded = {}
        first_row: dict[str, int] = {}
        for row, value in _codes(ids):
            key = value.casefold()
            if key in folded and value not in folded[key]:
                issues.append(
                    staff.issue(
                        "staff_id_case_collision", "warning", row=row, column="staff_id", value=value,
                        other=folded[key][0], first=first_row[key],
                    )
                )  # fmt: skip
            folded.setdefault(key, []).append(value)
            first_row.setdefault(key, row)
    unique: dict[str, str] | None = None  # folded case -> the one id, made when first needed
    for table, columns in STAFF_REFS.items():
        raw = tables.get(table)
        for column in columns:
            cells = _cells(raw, column)
            if raw is None or cells is None:
                continue
            strays = [(row, v) for row, v in _codes(cells) if v not in known]
            if not strays:
                continue  # the usual column: every id written as on the roster
            if unique is None:
                by_case = folded if folded is not None else {v.casefold(): [v] for v in known}
                unique = {k: v[0] for k, v in by_case.items() if len(set(v)) == 1}
            hits = [(row, v, unique[v.casefold()]) for row, v in strays if v.casefold() in unique]
            if hits:
                row, value, code = hits[0]
                issues.append(
                    raw.issue(
                        "staff_id_case",
                        "warning",
                        row=row,
                        column=column,
                        value=value,
                        target=code,
                        count=len(hits),
                    )
                )
                _rewrite(raw, column, {v: c for _, v, c in hits})
    return issues


def _resolve_homes(staff: RawTable | None, units: RawTable | None) -> list[Issue]:
    """Fill the coordinates of homes given as a unit; an error where a home is missing."""
    if staff is None or staff.values is None:
        return []
    sv = staff.values
    lat, lon = sv.get("home_lat"), sv.get("home_lon")
    written = sv.get("home_unit")
    if lat is None or lon is None:
        return []  # a missing column is reported on its own (below, per row)
    pairs = zip(lat.tolist(), lon.tolist(), strict=True)
    given = [isinstance(a, float) and isinstance(b, float) for a, b in pairs]
    approx = pd.Series(False, index=sv.index)
    issues: list[Issue] = []
    need = sv.index[[not g for g in given]]
    places = gazetteer(units, former=True) if len(need) else None
    new_lat, new_lon = lat.copy(), lon.copy()
    for row in need:
        if isinstance(lat[row], str) or isinstance(lon[row], str):
            continue  # a bad number, already reported by pass 1
        text = written[row] if written is not None else None
        if not isinstance(text, str):
            issues.append(staff.issue("home_missing", row=int(row), column="home_lat"))
            continue
        found = places.find(text) if places is not None else None
        if found is None or found.place is None:
            issues.append(_home_unknown(staff, int(row), text, found, places))
            continue
        new_lat[row], new_lon[row] = found.place.lat, found.place.lon
        approx[row] = True
    sv["home_lat"], sv["home_lon"] = new_lat, new_lon
    sv[HOME_APPROX] = approx
    if approx.any():
        first = int(approx.index[approx.to_numpy()][0])
        count = int(approx.sum())
        issues.append(
            staff.issue(
                "home_approx",
                "warning",
                row=first,
                column="home_unit",
                value="" if written is None else str(written[first]),
                count=count,
            )
        )
    return issues


def _home_unknown(
    staff: RawTable, row: int, text: str, found: Match | None, places: Gazetteer | None
) -> Issue:
    if found is not None and found.candidates:
        names = "; ".join(p.name.replace(" · ", ", ") for p in found.candidates[:6])
        return staff.issue("home_unit_ambiguous", row=row, column="home_unit", value=text, places=names)
    hint = t("io.home_unit_unknown.hint")
    close = places.suggestions(text) if places is not None else []
    if close:
        hint += " " + t("io.did_you_mean", suggestion=f"{close[0].code} ({close[0].name})")
    return staff.issue("home_unit_unknown", row=row, column="home_unit", value=text, hint=hint)


def unit_suggestion(places: Gazetteer | None, text: str) -> str:
    """``"Có phải ý bạn là «31002 (Xã Tân Lập)»?"`` for an unknown unit, or ``""``."""
    close = places.suggestions(text) if places is not None else []
    return t("io.did_you_mean", suggestion=f"{close[0].code} ({close[0].name})") if close else ""
