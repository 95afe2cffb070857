"""Validate the input tables and turn every failure into a planner-language issue.

Three passes, each reporting everything it finds:

1. :func:`check_table` — per-table checks with pandera (``lazy=True``): required columns
   and cells, types, enumerations, ranges, uniqueness (including the post-line key),
   ``0 ≤ min ≤ max``, plausible birth dates.  pandera's failure cases are translated
   into :class:`~optimizer.errors.Issue` records; its raw text is never shown.
2. :func:`check_references` — across tables: unknown unit, staff and position ids,
   relatives, pins a person is not qualified for, contradicting pins.
3. :func:`check_capacity` — on a built problem: post lines whose ``min`` nobody can
   fill within the commute cap, positions whose total ``min`` exceeds the people
   qualified for them, and people no post line can take.  Warnings, or errors when the
   scenario makes the matching rule hard.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from optimizer.data import BoolArray, IntArray, Problem, Rules
from optimizer.errors import Issue, Severity
from optimizer.i18n import t
from optimizer.io.encodings import FONT_GLYPHS_PATTERN
from optimizer.io.resolve import gazetteer, unit_suggestion
from optimizer.io.tables import RawTable
from optimizer.io.vocab import TABLES, ColumnSpec, TableSpec, fold
from optimizer.labels import day, label
from optimizer.rules.pair import COMMUTE_CAP, ISLAND, allowed_pairs, qualified_groups

if TYPE_CHECKING:
    import pandera.pandas as pa

#: Ages (years at ``reference_date``) outside which a birth date is impossible (error).
AGE_IMPOSSIBLE = (15, 100)
#: Ages outside which a birth date is suspicious (warning).
AGE_USUAL = (18, 65)
#: Text columns checked for legacy-font glyphs.
FONT_CHECKED = {
    "units": ("name",),
    "staff": ("full_name", "former_unit", "grade"),
    "pins": ("note",),
}


# --------------------------------------------------------------------------- pass 1


#: Kinds of a column (pandas' ``infer_dtype``, blanks skipped) that hold no text at all.
_NO_TEXT = frozenset({"empty", "floating", "integer", "mixed-integer-float", "boolean", "datetime", "date"})


def _not_text(s: pd.Series) -> pd.Series:
    """``True`` where the cell was parsed (a failed cell is kept as its text)."""
    if pd.api.types.infer_dtype(s, skipna=True) in _NO_TEXT:  # the usual column, told in one pass
        return pd.Series(True, index=s.index, dtype=bool)
    return pd.Series([not isinstance(v, str) for v in s.tolist()], index=s.index, dtype=bool)


def _numbers(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.where(_not_text(s)), errors="coerce").astype("float64")


def _within(col: ColumnSpec) -> Callable[[pd.Series], pd.Series]:
    def check(s: pd.Series) -> pd.Series:
        x = _numbers(s)
        bad = pd.Series(False, index=s.index)
        if col.lo is not None:
            bad |= (x <= col.lo) if col.lo_strict else (x < col.lo)
        if col.hi is not None:
            bad |= x > col.hi
        return ~bad

    return check


def _birth_bounds(reference_date: dt.date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Earliest and latest possible birth dates (ages :data:`AGE_IMPOSSIBLE` excluded)."""
    ref = pd.Timestamp(reference_date)
    oldest, youngest = (ref - pd.DateOffset(years=a) for a in reversed(AGE_IMPOSSIBLE))
    return oldest, youngest


def _plausible_birth(reference_date: dt.date) -> Callable[[pd.Series], pd.Series]:
    lo, hi = _birth_bounds(reference_date)

    def check(s: pd.Series) -> pd.Series:
        d = pd.to_datetime(s.where(_not_text(s)), errors="coerce")
        return ~((d < lo) | (d > hi))

    return check


def _in_choices(choices: tuple[str, ...]) -> Callable[[pd.Series], pd.Series]:
    def check(s: pd.Series) -> pd.Series:
        return s.isin(choices)

    return check


def _min_le_max(df: pd.DataFrame) -> pd.Series:
    if "min" not in df.columns or "max" not in df.columns:
        return pd.Series(True, index=df.index)
    return ~(_numbers(df["min"]) > _numbers(df["max"]))


def _not_self(df: pd.DataFrame) -> pd.Series:
    if "staff_id" not in df.columns or "relative_id" not in df.columns:
        return pd.Series(True, index=df.index)
    return df["staff_id"].isna() | (df["staff_id"] != df["relative_id"])


_TYPE_CHECK = {"float": "number", "int": "integer", "bool": "bool", "date": "date"}
#: The column a whole-row check is reported in.
_FRAME_CHECK_COLUMN = {"min_gt_max": "min", "self_relation": "relative_id"}

#: A named check: the issue code it produces and the function of a column (or table)
#: that is ``True`` where the cell (row) passes.
NamedCheck = tuple[str, Callable[[pd.Series], pd.Series]]


@lru_cache(maxsize=64)
def _column_checks(table: str, column: str, reference_date: dt.date) -> tuple[NamedCheck, ...]:
    """The checks of one column of a parsed table, by the issue code each produces."""
    col = TABLES[table].column(column)
    checks: list[NamedCheck] = []
    if col.kind in _TYPE_CHECK:
        checks.append((_TYPE_CHECK[col.kind], _not_text))
    if col.kind in ("float", "int") and (col.lo is not None or col.hi is not None):
        checks.append(("range", _within(col)))
    if col.kind == "enum":
        checks.append(("choice", _in_choices(col.choices)))
    if col.name == "birth_date":
        checks.append(("birth_range", _plausible_birth(reference_date)))
    return tuple(checks)


def _frame_checks(table: str) -> tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...]:
    """The whole-row checks of a parsed table, by the issue code each produces."""
    if table == "posts":
        return (("min_gt_max", _min_le_max),)
    if table == "relations":
        return (("self_relation", _not_self),)
    return ()


def table_schema(spec: TableSpec, rules: Rules) -> pa.DataFrameSchema:
    """The pandera schema of a parsed table (see :func:`optimizer.io.tables.parse_column`).

    Check names are the issue codes they produce (``number``, ``range``, ``choice``…).
    Schemas are built once per table and reference date.
    """
    return _schema(spec.name, rules.reference_date)


@lru_cache(maxsize=32)
def _schema(table: str, reference_date: dt.date) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    spec = TABLES[table]
    columns = {
        col.name: pa.Column(
            None,
            checks=[pa.Check(fn, name=name) for name, fn in _column_checks(table, col.name, reference_date)],
            nullable=col.nullable,
            unique=col.unique,
            required=col.required,
        )
        for col in spec.columns
    }
    return pa.DataFrameSchema(
        columns,
        checks=[pa.Check(fn, name=name) for name, fn in _frame_checks(table)],
        unique=list(spec.key) or None,
        coerce=False,
        strict=False,
    )


def passes_schema(values: pd.DataFrame, spec: TableSpec, rules: Rules) -> bool:
    """Whether a parsed table passes every check of its schema (:func:`table_schema`),
    told on whole columns without pandera: the same check functions, null cells passing
    them as pandera lets them (``ignore_na``), and the same required, not-null and
    uniqueness tests, never laxer.  ``False`` means pandera must run to name the
    failures (a check that raises counts as failing here)."""
    present = values.columns
    if any(col.required and col.name not in present for col in spec.columns):
        return False
    try:
        for col in spec.columns:
            if col.name not in present:
                continue
            cells = values[col.name]
            if col.unique and cells.duplicated().any():
                return False
            checks = _column_checks(spec.name, col.name, rules.reference_date)
            if col.nullable and not checks:
                continue  # blanks allowed and nothing to check: no need to find them
            blank = cells.isna()
            if not col.nullable and blank.any():
                return False
            for _, check in checks:
                if not (check(cells) | blank).all():
                    return False
        if any(not check(values).all() for _, check in _frame_checks(spec.name)):
            return False
        key = list(spec.key)
        return not (key and all(c in present for c in key) and values[key].duplicated().any())
    except Exception:  # any failure to check is pandera's to report
        return False


def _first_rows(values: pd.DataFrame, columns: list[str]) -> dict[int, int]:
    """Row → first row holding the same values in ``columns``, for every repeated row.

    Columns missing from the table (reported on their own) leave nothing repeated.
    """
    if any(c not in values.columns for c in columns):
        return {}
    sub = values[columns].dropna()
    first_of: dict[tuple[object, ...], int] = {}
    out: dict[int, int] = {}
    for row, key in zip(sub.index, map(tuple, sub.to_numpy().tolist()), strict=True):
        first = first_of.setdefault(key, int(row))
        if first != row:
            out[int(row)] = first
    return out


def _did_you_mean(value: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(value, candidates, n=1, cutoff=0.6)
    return t("io.did_you_mean", suggestion=close[0]) if close else ""


def _choice_issue(raw: RawTable, row: int, col: ColumnSpec, value: str) -> Issue:
    lookup = col.lookup
    close = difflib.get_close_matches(fold(value), list(lookup), n=1, cutoff=0.75)
    hint = t("io.choice.hint", choices=", ".join(col.choices))
    if close:
        hint += " " + t("io.did_you_mean", suggestion=lookup[close[0]])
    return raw.issue("choice", row=row, column=col.name, value=value, hint=hint)


#: Columns holding coordinates (their range error explains decimal degrees).
COORDINATE_COLUMNS = ("lat", "lon", "home_lat", "home_lon")


def _range_issue(raw: RawTable, row: int, col: ColumnSpec, value: str) -> Issue:
    lo = "" if col.lo is None else f"{col.lo:g}"
    hi = "" if col.hi is None else f"{col.hi:g}"
    key = "range_gt" if col.lo_strict else "range"
    hint = t("io.range_coordinate.hint", lo=lo, hi=hi) if col.name in COORDINATE_COLUMNS else None
    return raw.issue(key, row=row, column=col.name, value=value, lo=lo, hi=hi, hint=hint)


def check_table(raw: RawTable, rules: Rules) -> list[Issue]:
    """Run the table's pandera schema lazily and translate every failure case.

    Parameters
    ----------
    raw
        A table read by :func:`optimizer.io.tables.read_table` (``values`` set).
    rules
        The scenario's rules (the reference date bounds plausible birth dates).

    Returns
    -------
    list of Issue
        One issue per failing cell (or row, or missing column), in row order.
    """
    if raw.values is None:
        return []
    values = raw.values
    if passes_schema(values, raw.spec, rules):
        return []
    import pandera.pandas as pa

    try:
        table_schema(raw.spec, rules).validate(values, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return []
    spec = raw.spec
    ref = rules.reference_date
    seen: set[tuple[str, object, str]] = set()
    issues: list[Issue] = []
    repeated: dict[str, dict[int, int]] = {}
    for rec in failures.to_dict("records"):
        check = str(rec["check"])
        column = str(rec["column"]) if rec["column"] is not None else ""
        index = rec["index"]
        row = int(index) if index is not None and not pd.isna(index) else None
        if check == "column_in_dataframe":
            name = str(rec["failure_case"])
            col = spec.column(name)
            aliases = ", ".join(col.aliases) if col.aliases else "-"
            issues.append(raw.issue("missing_column", column=name, aliases=aliases))
            continue
        if check in _FRAME_CHECK_COLUMN or check == "multiple_fields_uniqueness":
            column = _FRAME_CHECK_COLUMN.get(check) or spec.key[0]
        key = (check, row, column)
        if key in seen:
            continue
        seen.add(key)
        if row is None:  # a check that could not run on this column: say so, never hide it
            issues.append(raw.issue("invalid", column=column))
            continue
        value = raw.value_at(row, column)
        if check == "not_nullable":
            issues.append(raw.issue("required", row=row, column=column))
        elif check == "field_uniqueness":
            first = repeated.setdefault(column, _first_rows(values, [column])).get(row)
            if first is not None:
                issues.append(raw.issue("duplicate", row=row, column=column, value=value, first=first))
        elif check == "multiple_fields_uniqueness":
            first = repeated.setdefault("__key__", _first_rows(values, list(spec.key))).get(row)
            if first is not None:
                issues.append(raw.issue("duplicate_post", row=row, column=column, first=first))
        elif check == "min_gt_max":
            issues.append(
                raw.issue(
                    "min_gt_max",
                    row=row,
                    column="min",
                    value=value,
                    min=value,
                    max=raw.value_at(row, "max"),
                )
            )
        elif check == "self_relation":
            issues.append(raw.issue("self_relation", row=row, column="relative_id", value=value))
        elif check == "choice":
            issues.append(_choice_issue(raw, row, spec.column(column), value))
        elif check == "range":
            issues.append(_range_issue(raw, row, spec.column(column), value))
        elif check == "birth_range":
            birth = pd.Timestamp(str(values.at[row, column]))
            age = _age_years(birth, pd.Timestamp(ref))
            issues.append(
                raw.issue("birth_range", row=row, column=column, value=value, age=age, ref=day(ref))
            )
        elif check in ("number", "integer", "bool", "date"):
            issues.append(raw.issue(check, row=row, column=column, value=value))
        else:
            issues.append(raw.issue("invalid", row=row, column=column, value=value))
    return sorted(issues, key=lambda i: i.row or 0)


def _age_years(birth: pd.Timestamp, ref: pd.Timestamp) -> int:
    return int(ref.year - birth.year - ((ref.month, ref.day) < (birth.month, birth.day)))


# --------------------------------------------------------------------------- pass 2


def _usable(raw: RawTable | None, *columns: str) -> pd.DataFrame | None:
    """The parsed values of a table when it was read and has every named column."""
    if raw is None or raw.values is None or any(c not in raw.values.columns for c in columns):
        return None
    return raw.values


def _id_set(raw: RawTable | None, column: str) -> set[str] | None:
    values = _usable(raw, column)
    return None if values is None else set(values[column].dropna().tolist())


def _unknown_refs(
    raw: RawTable | None, column: str, known: set[str], code: str, suggest: Callable[[str], str] | None
) -> list[Issue]:
    values = _usable(raw, column)
    if raw is None or values is None:
        return []
    cells = values[column]
    if _named(cells.tolist()) <= known:
        return []  # the usual column: every id known, told from its distinct cells
    if any(isinstance(v, tuple) for v in cells.tolist()):
        cells = cells.dropna().explode()
    bad = cells[cells.notna() & ~cells.isin(known)]
    issues = []
    for row, value in zip(bad.index.tolist(), bad.tolist(), strict=True):
        hint = t(f"io.{code}.hint", column=raw.headers.get(column, column))
        if suggest is not None:
            hint = f"{hint} {suggest(str(value))}".strip()
        issues.append(raw.issue(code, row=int(row), column=column, value=str(value), hint=hint))
    return issues


def _named(cells: list[object]) -> set[object]:
    """Every value the cells name: each cell's items for a list (a tuple), the cell
    itself otherwise, blanks left out (each distinct cell looked at once)."""
    named: set[object] = set()
    for cell in set(cells):
        if isinstance(cell, tuple):
            named.update(cell)
        elif cell is not None:
            named.add(cell)
    return named


def _unused_positions(staff: RawTable | None, positions: set[str]) -> list[Issue]:
    values = _usable(staff, "positions")
    if staff is None or values is None or _named(values["positions"].tolist()) <= positions:
        return []
    codes = values["positions"].dropna().explode()
    codes = codes[[isinstance(v, str) for v in codes.tolist()]]
    unused = codes[~codes.isin(positions)]
    issues = []
    candidates = sorted(positions)
    for code, rows in unused.groupby(unused).groups.items():
        first = int(min(rows))
        hint = f"{t('io.unused_position.hint')} {_did_you_mean(str(code), candidates)}".strip()
        issues.append(
            staff.issue(
                "unused_position",
                "warning",
                row=first,
                column="positions",
                value=str(code),
                count=len(rows),
                hint=hint,
            )
        )
    return issues


def _relation_duplicates(relations: RawTable | None) -> list[Issue]:
    values = _usable(relations, "staff_id", "relative_id")
    if relations is None or values is None:
        return []
    pairs = values[["staff_id", "relative_id"]].dropna()
    first_of: dict[tuple[str, ...], int] = {}
    issues = []
    for row, a, b in zip(pairs.index, pairs["staff_id"], pairs["relative_id"], strict=True):
        key = (a, b) if a <= b else (b, a)
        if key in first_of:
            issues.append(
                relations.issue(
                    "relation_duplicate",
                    "warning",
                    row=int(row),
                    column="relative_id",
                    value=str(values.at[row, "relative_id"]),
                    first=first_of[key],
                )
            )
        else:
            first_of[key] = int(row)
    return issues


@dataclass(frozen=True)
class _Person:
    category: object
    positions: tuple[str, ...]


def _pin_checks(pins: RawTable | None, staff: RawTable | None, posts: RawTable | None) -> list[Issue]:
    """Fixed pins the person is not qualified for; pins that contradict or repeat."""
    values = _usable(pins, "staff_id", "unit_id", "mode")
    if pins is None or values is None:
        return []
    issues: list[Issue] = []
    people: dict[str, _Person] = {}
    staff_values = _usable(staff, "staff_id", "category", "positions")
    if staff_values is not None:
        staff_values = staff_values[staff_values["staff_id"].isin(set(values["staff_id"].dropna()))]
        for sid, cat, pos in zip(
            staff_values["staff_id"],
            staff_values["category"],
            staff_values["positions"],
            strict=True,
        ):
            if isinstance(sid, str) and sid not in people:
                people[sid] = _Person(cat, pos if isinstance(pos, tuple) else ())
    lines: set[tuple[object, object, object]] | None = None
    post_values = _usable(posts, "unit_id", "category", "position")
    if post_values is not None:
        lines = set(
            zip(
                post_values["unit_id"],
                post_values["category"],
                post_values["position"],
                strict=True,
            )
        )
    by_staff: dict[str, list[tuple[int, str, str | None, str]]] = defaultdict(list)
    position_col = values["position"] if "position" in values.columns else pd.Series(None, index=values.index)
    for row, sid, unit, position, mode in zip(
        values.index,
        values["staff_id"],
        values["unit_id"],
        position_col,
        values["mode"],
        strict=True,
    ):
        if not (isinstance(sid, str) and isinstance(unit, str) and mode in ("fix", "forbid")):
            continue
        pos = position if isinstance(position, str) else None
        by_staff[sid].append((int(row), unit, pos, str(mode)))
        person = people.get(sid)
        if mode != "fix" or person is None or lines is None:
            continue
        if pos is not None and pos not in person.positions:
            issues.append(
                pins.issue("pin_position_not_held", row=int(row), column="position", value=pos, staff=sid)
            )
        elif pos is not None and (unit, person.category, pos) not in lines:
            issues.append(
                pins.issue(
                    "pin_position_absent",
                    row=int(row),
                    column="position",
                    value=pos,
                    unit=unit,
                    category=label(person.category, "category"),
                )
            )
        elif pos is None and not any((unit, person.category, p) in lines for p in person.positions):
            issues.append(
                pins.issue(
                    "pin_not_qualified",
                    row=int(row),
                    column="unit_id",
                    value=unit,
                    staff=sid,
                    category=label(person.category, "category"),
                )
            )
    for entries in by_staff.values():
        issues.extend(_pin_conflicts(pins, entries))
    return issues


def _pin_conflicts(pins: RawTable, entries: list[tuple[int, str, str | None, str]]) -> list[Issue]:
    issues = []
    for i, (row, unit, pos, mode) in enumerate(entries):
        for other_row, other_unit, other_pos, other_mode in entries[:i]:
            same_place = unit == other_unit and pos == other_pos
            if same_place and mode == other_mode:
                issues.append(
                    pins.issue("pin_duplicate", "warning", row=row, column="staff_id", first=other_row)
                )
                break
            if mode == "fix" and other_mode == "fix":
                clash = unit != other_unit or (pos is not None and other_pos is not None and pos != other_pos)
                code = "pin_conflict_fix"
            elif mode != other_mode:
                fix_pos, forbid_pos = (pos, other_pos) if mode == "fix" else (other_pos, pos)
                clash = unit == other_unit and (forbid_pos is None or forbid_pos == fix_pos)
                code = "pin_conflict_forbid"
            else:
                clash = False
            if clash:
                issues.append(pins.issue(code, row=row, column="unit_id", value=unit, first=other_row))
                break
    return issues


def _age_warnings(staff: RawTable | None, rules: Rules) -> list[Issue]:
    values = _usable(staff, "birth_date")
    if staff is None or values is None:
        return []
    birth = pd.to_datetime(values["birth_date"].where(_not_text(values["birth_date"])), errors="coerce")
    ref = pd.Timestamp(rules.reference_date)
    lo_i, hi_i = _birth_bounds(rules.reference_date)
    young = ref - pd.DateOffset(years=AGE_USUAL[0])
    old = ref - pd.DateOffset(years=AGE_USUAL[1])
    odd = birth.notna() & (birth >= lo_i) & (birth <= hi_i) & ((birth > young) | (birth < old))
    return [
        staff.issue(
            "age_unusual",
            "warning",
            row=int(row),
            column="birth_date",
            value=staff.value_at(int(row), "birth_date"),
            age=_age_years(birth[row], ref),
            ref=day(rules.reference_date),
        )
        for row in birth.index[odd.to_numpy()]
    ]


#: One glyph of a legacy Vietnamese font (a character class: it never matches across cells).
_FONT_GLYPHS = re.compile(FONT_GLYPHS_PATTERN)


def _font_warnings(raw: RawTable | None) -> list[Issue]:
    if raw is None or raw.cells is None:
        return []
    issues = []
    for column in FONT_CHECKED.get(raw.spec.name, ()):
        if column not in raw.cells.columns:
            continue
        text = raw.cells[column]
        if not _FONT_GLYPHS.search("\x00".join(filter(None, text.tolist()))):
            continue  # the usual column: no glyph in any cell, told by one search
        hit = text.str.contains(FONT_GLYPHS_PATTERN, regex=True, na=False).astype(bool)
        if hit.any():
            first = int(text.index[hit.to_numpy()][0])
            issues.append(
                raw.issue(
                    "legacy_font",
                    "warning",
                    row=first,
                    column=column,
                    value=str(text[first]),
                    count=int(hit.sum()),
                )
            )
    return issues


def check_references(tables: Mapping[str, RawTable], rules: Rules) -> list[Issue]:
    """Cross-table checks on the rows that could be read (see the module docstring).

    Parameters
    ----------
    tables
        Read tables by name (``units``, ``posts``, ``staff``, and optionally
        ``relations`` and ``pins``).
    rules
        The scenario's rules (the reference date for age warnings).
    """
    units, posts, staff = tables.get("units"), tables.get("posts"), tables.get("staff")
    relations, pins = tables.get("relations"), tables.get("pins")
    issues: list[Issue] = []
    for raw in (units, staff, pins):
        issues.extend(_font_warnings(raw))
    unit_ids = _id_set(units, "unit_id")
    if unit_ids is not None:
        places = gazetteer(units)

        def near_unit(value: str) -> str:
            return unit_suggestion(places, value)

        issues += _unknown_refs(posts, "unit_id", unit_ids, "unknown_unit", near_unit)
        for column in ("origin_unit", "local_units", "preferences"):
            issues += _unknown_refs(staff, column, unit_ids, "unknown_unit", near_unit)
        issues += _unknown_refs(pins, "unit_id", unit_ids, "unknown_unit", near_unit)
    staff_ids = _id_set(staff, "staff_id")
    if staff_ids is not None:
        for column in ("staff_id", "relative_id"):
            issues += _unknown_refs(relations, column, staff_ids, "unknown_staff", None)
        issues += _unknown_refs(pins, "staff_id", staff_ids, "unknown_staff", None)
    positions = _id_set(posts, "position")
    if positions is not None:
        known_positions = sorted(positions)

        def near_position(value: str) -> str:
            return _did_you_mean(value, known_positions)

        issues += _unknown_refs(pins, "position", positions, "unknown_position", near_position)
        issues += _unused_positions(staff, positions)
    issues += _relation_duplicates(relations)
    issues += _pin_checks(pins, staff, posts)
    issues += _age_warnings(staff, rules)
    issues += _units_outside_vietnam(units)
    return issues


#: Latitude and longitude bounds of Vietnam with its islands (Trường Sa reaches 117.8° E).
VIETNAM_BOUNDS = ((8.0, 23.5), (102.0, 118.0))


def _units_outside_vietnam(units: RawTable | None) -> list[Issue]:
    """A unit placed outside Vietnam (swapped or mistyped coordinates) is named directly,
    not only through the commute warnings it causes."""
    values = _usable(units, "lat", "lon")
    if units is None or values is None:
        return []
    (lat_lo, lat_hi), (lon_lo, lon_hi) = VIETNAM_BOUNDS
    issues = []
    for row, lat, lon in zip(values.index, values["lat"], values["lon"], strict=True):
        if not (isinstance(lat, float) and isinstance(lon, float)) or abs(lat) > 90 or abs(lon) > 180:
            continue  # unreadable or out of range: already an error
        if not (lat_lo <= lat <= lat_hi and lon_lo <= lon <= lon_hi):
            issues.append(
                units.issue(
                    "unit_outside_vietnam", "warning", row=int(row), column="lat", value=f"{lat:g}, {lon:g}"
                )
            )
    return issues


# --------------------------------------------------------------------------- pass 3


@dataclass(frozen=True)
class SourceRows:
    """Where each record of a built problem came from (Excel rows, in problem order)."""

    posts: np.ndarray
    staff: np.ndarray
    pins: np.ndarray


def line_supply(problem: Problem) -> tuple[IntArray, BoolArray]:
    """How many people could take each post line, and whether each person could take
    any: qualified and allowed by :data:`optimizer.rules.pair.CAPACITY_RULES` (pins are
    decisions, not capacity), counted on :func:`~optimizer.rules.pair.allowed_pairs`
    (which the solver's candidates reuse)."""
    pairs = allowed_pairs(problem)
    return pairs.per_line, pairs.per_person > 0


def check_capacity(
    problem: Problem, posts: RawTable, staff: RawTable, pins: RawTable | None, rows: SourceRows
) -> list[Issue]:
    """Capacity checks of a built problem: unreachable ``min``, over-subscribed positions,
    people no post line can take, and fixed pins that break commute_cap or island.

    A person counts for a post line when qualified (rule qualification) and allowed by
    :data:`optimizer.rules.pair.CAPACITY_RULES` (bloc_change, island, commute_cap,
    non_local, service_left).

    Parameters
    ----------
    problem
        The problem built from the validated tables.
    posts, staff, pins
        The read tables, to locate the issues.
    rows
        Excel row of each post line, person and pin of ``problem``.
    """
    rules = problem.rules
    hard_min: Severity = "error" if rules.min_is_hard else "warning"
    all_placed: Severity = "error" if rules.require_all_placed else "warning"
    st, ps = problem.staff, problem.posts
    count, can_work = line_supply(problem)
    issues: list[Issue] = []
    for cat, k, lines, people in qualified_groups(problem):
        total_min = int(ps.min[lines].sum())
        if total_min > len(people):
            code = problem.position_codes[k]
            issues.append(
                posts.issue(
                    "position_total",
                    hard_min,
                    column="position",
                    value=code,
                    category=label(cat, "category"),
                    total=total_min,
                    count=len(people),
                )
            )
    for p in np.flatnonzero(count < ps.min):
        u = int(ps.unit_idx[p])
        code = "post_min_unreachable" if COMMUTE_CAP.capped(problem, u) else "post_min_island"
        issues.append(
            posts.issue(
                code,
                hard_min,
                row=int(rows.posts[p]),
                column="min",
                value=str(int(ps.min[p])),
                count=int(count[p]),
                cap=f"{COMMUTE_CAP.cap(problem):g}",
                position=label(ps.position[p], "position"),
                unit=problem.units.ids[u],
            )
        )
    for i in np.flatnonzero(~can_work):
        issues.append(
            staff.issue(
                "person_no_post",
                all_placed,
                row=int(rows.staff[i]),
                column="positions",
                value=";".join(st.positions[i]),
            )
        )
    if pins is not None:
        issues += _pin_rule_warnings(problem, pins, rows)
    return issues


def _pin_rule_warnings(problem: Problem, pins: RawTable, rows: SourceRows) -> list[Issue]:
    issues = []
    for j, (s, u, mode) in enumerate(
        zip(problem.pins.staff_idx, problem.pins.unit_idx, problem.pins.mode, strict=True)
    ):
        if mode != "fix":
            continue
        staff_id, unit_id = problem.staff.ids[s], problem.units.ids[u]
        row = int(rows.pins[j])
        if ISLAND.unit_removes(problem, s, u):
            issues.append(
                pins.issue("pin_island", "warning", row=row, column="unit_id", value=unit_id, staff=staff_id)
            )
        elif COMMUTE_CAP.unit_removes(problem, s, u):
            far = COMMUTE_CAP.reason(problem, int(s), int(u)).params
            issues.append(
                pins.issue(
                    "pin_far",
                    "warning",
                    row=row,
                    column="unit_id",
                    value=unit_id,
                    staff=staff_id,
                    km=f"{far['km']:.1f}",
                    cap=f"{far['cap']:g}",
                )
            )
    return issues
