"""Re-plan a stored run after the plan meets reality, with as few changes as possible (layer 8).

People leave (retired, resigned under Decree 178/2024), arrive, or post lines change.  A
**changes file** (CSV, a sheet of an XLSX workbook, or Parquet, read like every input
table: headers matched case- and accent-insensitively, Vietnamese aliases accepted, text
NFC-normalised) lists them, one row each:

``action`` [Thao tác]
    ``leave`` (nghỉ), ``arrive`` (đến) or ``post_change`` (thay đổi biên chế).
``staff_id`` [Mã cán bộ]
    ``leave``: a person of the base run; ``arrive``: a new, unused id.
``reason`` [Lý do], ``date`` [Ngày] (optional)
    Why and when (e.g. "nghỉ hưu trước tuổi theo NĐ 178"); listed with the changes.
``full_name``, ``birth_date``, ``gender``, ``category``, ``bloc``, ``positions``,
``origin_unit``, ``home_lat``, ``home_lon`` (required for ``arrive``), ``grade``,
``former_unit``, ``local_units``, ``island_ok``, ``preferences`` (optional)
    The new person, with the meaning of the staff table's columns (DESIGN §3).
``unit_id``, ``bloc``, ``department``, ``position``, ``category`` (required for
``post_change``), ``min``, ``max``, ``leadership``, ``non_local``
    The post line, identified by its five key columns (the position may also be given
    in ``positions``, as one code, so that one "Vị trí việc làm" column serves every
    action): an existing line gets the values
    given (a blank cell keeps the old value; ``max = 0`` closes the line), a new key adds
    a line (``max`` required, ``min`` 0 and the flags false unless given).

Every bad cell is reported with file, sheet, Excel row and column, all at once
(:class:`~optimizer.errors.InputError`, exit 2 on the command line).

The re-plan keeps the base run's placement as the ``reference`` and penalises every
change to it that the changes do not force.  Three ways to weigh changes
(:func:`replan_objective`): by default ``changes`` is ranked right after the headcount
terms (shortfall and unplaced) of the scenario's priorities, so vacancies are refilled
and arrivals placed but nobody is moved for comfort; ``changes_first`` ranks it first
(nobody moves unless a hard rule forces it); a move penalty turns the objective into
weights, a change costing ``move_penalty`` units (see :data:`REPLAN_WEIGHTS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from optimizer.data import (
    CHANGES,
    IntArray,
    Objective,
    Pins,
    Posts,
    Problem,
    Relations,
    SolverParams,
    Staff,
)
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.io.tables import RawTable, TableSource, read_table
from optimizer.io.vocab import BOOL_VALUES, POSTS, STAFF, ColumnSpec, TableSpec, fold
from optimizer.solution import ENGINE

if TYPE_CHECKING:
    from optimizer.io import Scenario
    from optimizer.solution import SolveResult
    from optimizer.solve.engine import Progress
    from optimizer.store import RunStore, StoredRun

log = logging.getLogger(__name__)

ACTIONS = ("leave", "arrive", "post_change")
ReplanMode = Literal["default", "changes_first", "penalty"]

#: Weights of the terms when a move penalty is given for a lexicographic scenario, in
#: units of 100 m of commute: a change then costs ``move_penalty`` such units.
REPLAN_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("shortfall", 1_000_000),
    ("unplaced", 100_000),
    ("moves", 1_000),
    ("long_commute", 500),
    ("commute", 1),
    ("preference", 100),
)
#: Flows each stage of a proven re-plan solves with its multipliers raised by what
#: parting the few relatives its flow puts together costs, before its linear relaxation
#: (``EngineParams.parting``): most stages of a re-plan are proven so, without HiGHS.
PARTING_FLOWS = 4
#: Arcs a person may bring into a proven re-plan's flow solve per pricing round: the
#: first two stages' pricing floods (a few thousand people with arcs a change cheaper)
#: take fewer rounds with more arcs each (on the city's four departure sets: 8-9 rounds
#: instead of 10-15 in shortfall+unplaced).
ENTER_PER_PERSON = 25
#: A proven re-plan's stage starts from every free pair arc once at most this many per
#: person are free: the city's long-commute, commute and preference stages (63,596,
#: 41,346 and 22,672 free pair arcs after fixing) in one flow solve each instead of 3-4.
ALL_FREE_PER_PERSON = 6
#: Terms that count heads (the default mode ranks ``changes`` right after them).
HEADCOUNT_TERMS = ("shortfall", "unplaced")

_ACTION_ALIASES = {
    "nghỉ": "leave",
    "nghỉ việc": "leave",
    "thôi việc": "leave",
    "nghỉ hưu": "leave",
    "rời": "leave",
    "đi": "leave",
    "đến": "arrive",
    "tiếp nhận": "arrive",
    "bổ sung": "arrive",
    "mới": "arrive",
    "thay đổi biên chế": "post_change",
    "sửa biên chế": "post_change",
    "biên chế": "post_change",
    "post change": "post_change",
}
_ARRIVE_REQUIRED = (
    "staff_id",
    "full_name",
    "birth_date",
    "gender",
    "category",
    "bloc",
    "positions",
    "origin_unit",
    "home_lat",
    "home_lon",
)
_POST_KEY = ("unit_id", "bloc", "department", "position", "category")
_FLAGS = ("leadership", "non_local")


def _optional(col: ColumnSpec) -> ColumnSpec:
    return dataclasses.replace(col, required=False, nullable=True, unique=False)


def _changes_spec() -> TableSpec:
    """The changes file's columns: the action, then the staff and posts columns it uses."""
    cols: dict[str, ColumnSpec] = {
        "action": ColumnSpec(
            "action",
            "enum",
            choices=ACTIONS,
            value_aliases=_ACTION_ALIASES,
            aliases=("thao tác", "hành động", "loại thay đổi"),
        ),
        "reason": ColumnSpec("reason", "text", required=False, nullable=True, aliases=("lý do", "ghi chú")),
        "date": ColumnSpec("date", "date", required=False, nullable=True, aliases=("ngày", "ngày hiệu lực")),
    }
    for col in STAFF.columns:
        cols.setdefault(col.name, _optional(col))
    for col in POSTS.columns:
        if col.name in _FLAGS:  # blank keeps the old value, so read as text
            cols[col.name] = ColumnSpec(col.name, "text", required=False, nullable=True, aliases=col.aliases)
        else:
            cols.setdefault(col.name, _optional(col))
    return TableSpec("changes", tuple(cols.values()))


#: The column contract of a changes file.
CHANGES_TABLE = _changes_spec()


@dataclass(frozen=True)
class Leave:
    """A person of the base run who leaves (``date``: ISO 8601, or ``""``)."""

    staff_id: str
    reason: str
    date: str
    row: int


@dataclass(frozen=True)
class Arrival:
    """A person who arrives: the staff table's fields, by column name."""

    staff_id: str
    fields: dict[str, Any]
    reason: str
    date: str
    row: int


@dataclass(frozen=True)
class PostChange:
    """A post line changed (or added): its key and the values given (``None``: keep)."""

    key: tuple[str, str, str, str, str]
    min: int | None
    max: int | None
    leadership: bool | None
    non_local: bool | None
    reason: str
    row: int


@dataclass(frozen=True)
class ChangeSet:
    """A validated changes file."""

    path: Path
    digest: str
    leaves: tuple[Leave, ...] = ()
    arrivals: tuple[Arrival, ...] = ()
    post_changes: tuple[PostChange, ...] = ()
    warnings: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class Applied:
    """A problem with the changes applied, and the base placement mapped onto it.

    ``old_index[i]`` is the base index of new person ``i`` (``-1`` for an arrival);
    post lines keep their base index and new lines come last.
    """

    problem: Problem
    reference: IntArray
    old_index: IntArray


@dataclass(frozen=True)
class PlacementChange:
    """One person whose placement differs from the base run.

    ``why`` is a code: ``left``, ``arrived``, ``post_changed`` (their post line changed),
    ``was_unplaced`` (placed in a post the changes freed), ``unplaced`` (lost their post),
    ``chain`` (moved to make or fill room).
    """

    staff_id: str
    full_name: str
    from_unit: str
    from_position: str
    to_unit: str
    to_position: str
    why: str
    note: str


@dataclass(frozen=True)
class Replan:
    """A re-plan: the changed problem, the base placement as reference, the solve and
    the list of changed placements."""

    problem: Problem
    reference: IntArray
    result: SolveResult
    changes: tuple[PlacementChange, ...]
    old_index: IntArray


# --------------------------------------------------------------------------- reading


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _issue(
    raw: RawTable,
    key: str,
    row: int | None,
    column: str,
    value: str,
    severity: str = "error",
    **kwargs: object,
) -> Issue:
    shown = raw.headers.get(column, column)
    return Issue(
        file=raw.file,
        sheet=raw.sheet,
        row=row,
        column=shown,
        value=value,
        message=t(f"replan.{key}", column=shown, value=value, **kwargs),
        hint=t(f"replan.{key}.hint", column=shown, value=value, **kwargs),
        severity="warning" if severity == "warning" else "error",
        code=key,
    )


def _cell_issues(raw: RawTable, values: pd.DataFrame) -> list[Issue]:
    """Cells that did not parse (kept as text), bad choices and out-of-range numbers."""
    issues: list[Issue] = []
    codes = {"float": "number", "int": "integer", "date": "date"}
    for col in CHANGES_TABLE.columns:
        if col.name not in values.columns:
            continue
        cells = values[col.name]
        for row, value in zip(cells.index.tolist(), cells.tolist(), strict=True):
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            text = raw.value_at(int(row), col.name)
            if col.kind in codes and isinstance(value, str):
                issues.append(raw.issue(codes[col.kind], row=int(row), column=col.name, value=text))
            elif col.kind == "enum" and value not in col.choices:
                hint = t("io.choice.hint", choices=", ".join(col.choices))
                issues.append(raw.issue("choice", row=int(row), column=col.name, value=text, hint=hint))
            elif col.kind in ("float", "int") and not isinstance(value, str):
                lo = -np.inf if col.lo is None else col.lo
                hi = np.inf if col.hi is None else col.hi
                if not lo <= float(value) <= hi:
                    issues.append(
                        raw.issue(
                            "range", row=int(row), column=col.name, value=text, lo=f"{lo:g}", hi=f"{hi:g}"
                        )
                    )
            elif col.name in _FLAGS and fold(str(value)) not in BOOL_VALUES:
                issues.append(raw.issue("bool", row=int(row), column=col.name, value=text))
    return issues


def _flag(value: object) -> bool | None:
    return None if value is None else BOOL_VALUES.get(fold(str(value)))


def _int(value: object) -> int | None:
    return None if value is None else int(float(str(value)))


def read_changes(path: str | Path, problem: Problem) -> ChangeSet:
    """Read and validate a changes file against the base problem.

    Parameters
    ----------
    path
        CSV, XLSX (``book.xlsx#sheet`` for a sheet) or Parquet file.
    problem
        The base run's problem (ids of people, units and post lines are checked on it).

    Raises
    ------
    InputError
        With every problem found, each located by file, sheet, Excel row and column.
    """
    source = TableSource.parse(str(path), Path.cwd())
    raw = read_table(CHANGES_TABLE, source, {})
    issues = list(raw.issues)
    if raw.values is None or any(i.severity == "error" for i in issues):
        raise InputError(issues or [raw.issue("file_unreadable")])
    if "action" not in raw.headers:
        aliases = ", ".join(CHANGES_TABLE.column("action").aliases)
        raise InputError([raw.issue("missing_column", column="action", aliases=aliases)])
    reader = _ChangeReader(raw, problem)
    reader.issues += issues
    reader.read(raw.values)
    if any(i.severity == "error" for i in reader.issues):
        raise InputError(reader.issues)
    return ChangeSet(
        source.path,
        _digest(source.path),
        tuple(reader.leaves),
        tuple(reader.arrivals),
        tuple(reader.post_changes),
        tuple(i for i in reader.issues if i.severity == "warning"),
    )


class _ChangeReader:
    """The rows of a changes file checked one by one against the base problem; every
    problem is collected in :attr:`issues`, the valid rows in the three lists."""

    def __init__(self, raw: RawTable, problem: Problem) -> None:
        self.raw = raw
        self.problem = problem
        self.line_of = {key: k for k, key in enumerate(_line_keys(problem))}
        self.known_positions = set(problem.position_codes)
        self.issues: list[Issue] = []
        self.leaves: list[Leave] = []
        self.arrivals: list[Arrival] = []
        self.post_changes: list[PostChange] = []
        self.seen_staff: dict[str, int] = {}
        self.seen_lines: dict[tuple[str, ...], int] = {}
        self.absent: set[tuple[str, str]] = set()  # (action, column) already reported missing

    def read(self, values: pd.DataFrame) -> None:
        """Check every row; a row with a bad cell is reported once (its other checks
        would mislead)."""
        cell_issues = _cell_issues(self.raw, values)
        self.issues += cell_issues
        bad_rows = {i.row for i in cell_issues}
        for row, rec in values.iterrows():
            r = int(str(row))
            if r not in bad_rows:
                self._row(r, rec)

    def _row(self, r: int, rec: pd.Series) -> None:
        action = rec.get("action")
        if action is None:
            self.issues.append(self.raw.issue("required", row=r, column="action"))
            return
        if action not in ACTIONS:
            return  # reported as a bad choice
        if action == "post_change" and rec.get("position") is None and len(rec.get("positions") or ()) == 1:
            # one "Vị trí việc làm" column serves both: an arrival's list, a line's position
            rec = rec.copy()
            rec["position"] = rec["positions"][0]
        if self._missing(r, rec, action):
            return
        reason = "" if rec.get("reason") is None else str(rec["reason"])
        date = "" if rec.get("date") is None else pd.Timestamp(rec["date"]).date().isoformat()
        if action == "post_change":
            self._post_change(r, rec, reason)
        else:
            self._person(r, rec, action, reason, date)

    def _missing(self, r: int, rec: pd.Series, action: str) -> bool:
        """Report the required cells of ``action`` left blank (a missing column once)."""
        needed = {"leave": ("staff_id",), "arrive": _ARRIVE_REQUIRED, "post_change": _POST_KEY}[action]
        missing = [c for c in needed if rec.get(c) is None]
        for c in missing:
            if c in self.raw.headers:
                self.issues.append(_issue(self.raw, "required", r, c, "", action=action))
            elif (action, c) not in self.absent:
                self.absent.add((action, c))
                self.issues.append(_issue(self.raw, "missing_column", None, c, "", action=action))
        return bool(missing)

    def _person(self, r: int, rec: pd.Series, action: str, reason: str, date: str) -> None:
        raw, staff_ids = self.raw, self.problem.staff.id2idx
        sid = str(rec["staff_id"])
        if sid in self.seen_staff:
            first = self.seen_staff[sid]
            self.issues.append(raw.issue("duplicate", row=r, column="staff_id", value=sid, first=first))
            return
        self.seen_staff[sid] = r
        if action == "leave":
            if sid not in staff_ids:
                self.issues.append(raw.issue("unknown_staff", row=r, column="staff_id", value=sid))
            else:
                self.leaves.append(Leave(sid, reason, date, r))
            return
        if sid in staff_ids:
            self.issues.append(_issue(raw, "arrival_exists", r, "staff_id", sid))
            return
        unit_ids = self.problem.units.id2idx
        bad = _unit_refs(raw, r, rec, ("origin_unit", "local_units", "preferences"), unit_ids)
        self.issues += bad
        unknown = [p for p in (rec["positions"] or ()) if p not in self.known_positions]
        self.issues += [
            _issue(raw, "unknown_position", r, "positions", p, severity="warning") for p in unknown
        ]
        if not bad:
            fields = {c.name: rec.get(c.name) for c in STAFF.columns}
            self.arrivals.append(Arrival(sid, fields, reason, date, r))

    def _post_change(self, r: int, rec: pd.Series, reason: str) -> None:
        raw, posts = self.raw, self.problem.posts
        unit, bloc, department, position, category = (str(rec[c]) for c in _POST_KEY)
        key = (unit, bloc, department, position, category)
        if key in self.seen_lines:
            first = self.seen_lines[key]
            self.issues.append(raw.issue("duplicate_post", row=r, column="unit_id", first=first))
            return
        self.seen_lines[key] = r
        bad = _unit_refs(raw, r, rec, ("unit_id",), self.problem.units.id2idx)
        if bad:
            self.issues += bad
            return
        new_min, new_max = _int(rec.get("min")), _int(rec.get("max"))
        line = self.line_of.get(key)
        if line is None and new_max is None:
            self.issues.append(_issue(raw, "new_line_max", r, "max", ""))
            return
        lo = (int(posts.min[line]) if line is not None else 0) if new_min is None else new_min
        hi = (int(posts.max[line]) if line is not None else 0) if new_max is None else new_max
        if lo > hi:
            self.issues.append(raw.issue("min_gt_max", row=r, column="min", value=str(lo), min=lo, max=hi))
            return
        lead, non_local = _flag(rec.get("leadership")), _flag(rec.get("non_local"))
        self.post_changes.append(PostChange(key, new_min, new_max, lead, non_local, reason, r))


def _unit_refs(
    raw: RawTable, row: int, rec: pd.Series, columns: tuple[str, ...], known: dict[str, int]
) -> list[Issue]:
    out = []
    for c in columns:
        value = rec.get(c)
        if value is None:
            continue
        for v in value if isinstance(value, tuple) else (value,):
            if str(v) not in known:
                out.append(raw.issue("unknown_unit", row=row, column=c, value=str(v)))
    return out


def _line_keys(problem: Problem) -> list[tuple[str, str, str, str, str]]:
    posts = problem.posts
    ids = problem.units.ids
    return [
        (ids[u], b, d, p, c)
        for u, b, d, p, c in zip(
            posts.unit_idx, posts.bloc, posts.department, posts.position, posts.category, strict=True
        )
    ]


# --------------------------------------------------------------------------- applying


def apply_changes(problem: Problem, assignment: IntArray, changes: ChangeSet) -> Applied:
    """The problem after the changes, and the base placement as its reference.

    Leavers are removed with their relations and pins; arrivals are appended (their
    ``local_units`` default to the origin unit and the unit nearest home, as on input);
    changed post lines keep their index and new ones are appended.
    """
    from optimizer.io.build import nearest_unit

    units = problem.units
    leaving = np.zeros(problem.num_staff, dtype=bool)
    for leave in changes.leaves:
        leaving[problem.staff.id2idx[leave.staff_id]] = True
    keep = np.flatnonzero(~leaving)
    staff = _subset_staff(problem.staff, keep)
    if changes.arrivals:
        staff = _concat_staff(staff, _arrival_staff(changes.arrivals, units, nearest_unit))
    new_index = np.full(problem.num_staff, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    rel = problem.relations
    ok = (new_index[rel.a_idx] >= 0) & (new_index[rel.b_idx] >= 0)
    relations = Relations(
        new_index[rel.a_idx][ok].astype(np.int32),
        new_index[rel.b_idx][ok].astype(np.int32),
        tuple(r for r, k in zip(rel.relation, ok, strict=True) if k),
    )
    pins = problem.pins
    ok = new_index[pins.staff_idx] >= 0
    new_pins = Pins(
        new_index[pins.staff_idx][ok].astype(np.int32),
        pins.unit_idx[ok],
        tuple(v for v, k in zip(pins.position, ok, strict=True) if k),
        tuple(v for v, k in zip(pins.mode, ok, strict=True) if k),
        tuple(v for v, k in zip(pins.note, ok, strict=True) if k),
    )
    posts = _changed_posts(problem, changes.post_changes)
    new_problem = dataclasses.replace(problem, staff=staff, relations=relations, pins=new_pins, posts=posts)
    old_index = np.concatenate([keep, np.full(len(changes.arrivals), -1)]).astype(np.int64)
    x = np.asarray(assignment, dtype=np.int64)
    reference = np.where(old_index >= 0, x[np.maximum(old_index, 0)], -1).astype(np.int64)
    return Applied(new_problem, reference, old_index)


def _subset_staff(st: Staff, keep: IntArray) -> Staff:
    def pick(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[i] for i in keep)

    return Staff(
        pick(st.ids),
        pick(st.full_name),
        st.birth_date[keep],
        pick(st.gender),
        pick(st.category),
        pick(st.bloc),
        pick(st.positions),
        pick(st.grade),
        pick(st.former_unit),
        st.origin_idx[keep],
        st.home_lat[keep],
        st.home_lon[keep],
        pick(st.local_idx),
        st.island_ok[keep],
        pick(st.preferences),
        None if st.home_approx is None else st.home_approx[keep],
    )


def _concat_staff(a: Staff, b: Staff) -> Staff:
    return Staff(
        ids=a.ids + b.ids,
        full_name=a.full_name + b.full_name,
        birth_date=np.concatenate([a.birth_date, b.birth_date]),
        gender=a.gender + b.gender,
        category=a.category + b.category,
        bloc=a.bloc + b.bloc,
        positions=a.positions + b.positions,
        grade=a.grade + b.grade,
        former_unit=a.former_unit + b.former_unit,
        origin_idx=np.concatenate([a.origin_idx, b.origin_idx]),
        home_lat=np.concatenate([a.home_lat, b.home_lat]),
        home_lon=np.concatenate([a.home_lon, b.home_lon]),
        local_idx=a.local_idx + b.local_idx,
        island_ok=np.concatenate([a.island_ok, b.island_ok]),
        preferences=a.preferences + b.preferences,
        home_approx=_arrivals_exact(a.home_approx, len(b)),
    )


def _arrivals_exact(approx: np.ndarray | None, arrivals: int) -> np.ndarray | None:
    """Approximate homes after arrivals, who always come with coordinates."""
    return None if approx is None else np.concatenate([approx, np.zeros(arrivals, dtype=bool)])


def _arrival_staff(arrivals: tuple[Arrival, ...], units: Any, nearest: Callable[..., np.ndarray]) -> Staff:
    idx = units.id2idx
    f = [a.fields for a in arrivals]
    lat = np.array([float(x["home_lat"]) for x in f])
    lon = np.array([float(x["home_lon"]) for x in f])
    near = nearest(lat, lon, units)
    origin = np.array([idx[str(x["origin_unit"])] for x in f], dtype=np.int32)
    local = tuple(
        tuple(dict.fromkeys(idx[u] for u in x["local_units"]))
        if x["local_units"]
        else tuple(dict.fromkeys((int(o), int(n))))
        for x, o, n in zip(f, origin, near, strict=True)
    )
    return Staff(
        ids=tuple(a.staff_id for a in arrivals),
        full_name=tuple(str(x["full_name"]) for x in f),
        birth_date=np.array([pd.Timestamp(x["birth_date"]).date() for x in f], dtype="datetime64[D]"),
        gender=tuple(str(x["gender"]) for x in f),
        category=tuple(str(x["category"]) for x in f),
        bloc=tuple(str(x["bloc"]) for x in f),
        positions=tuple(tuple(dict.fromkeys(x["positions"])) for x in f),
        grade=tuple("" if x["grade"] is None else str(x["grade"]) for x in f),
        former_unit=tuple("" if x["former_unit"] is None else str(x["former_unit"]) for x in f),
        origin_idx=origin,
        home_lat=lat,
        home_lon=lon,
        local_idx=local,
        island_ok=np.array([bool(x["island_ok"]) for x in f], dtype=bool),
        preferences=tuple(tuple(dict.fromkeys(idx[u] for u in x["preferences"] or ())) for x in f),
    )


def _changed_posts(problem: Problem, changes: tuple[PostChange, ...]) -> Posts:
    posts = problem.posts
    lo, hi = posts.min.copy(), posts.max.copy()
    lead, non_local = posts.leadership.copy(), posts.non_local.copy()
    line_of = {key: k for k, key in enumerate(_line_keys(problem))}
    added: list[PostChange] = []
    for ch in changes:
        k = line_of.get(ch.key)
        if k is None:
            added.append(ch)
            continue
        lo[k] = lo[k] if ch.min is None else ch.min
        hi[k] = hi[k] if ch.max is None else ch.max
        lead[k] = lead[k] if ch.leadership is None else ch.leadership
        non_local[k] = non_local[k] if ch.non_local is None else ch.non_local
    uid = problem.units.id2idx
    return Posts(
        np.concatenate([posts.unit_idx, np.array([uid[c.key[0]] for c in added], dtype=np.int32)]),
        posts.bloc + tuple(c.key[1] for c in added),
        posts.department + tuple(c.key[2] for c in added),
        posts.position + tuple(c.key[3] for c in added),
        posts.category + tuple(c.key[4] for c in added),
        np.concatenate([lo, np.array([c.min or 0 for c in added], dtype=np.int64)]),
        np.concatenate([hi, np.array([c.max or 0 for c in added], dtype=np.int64)]),
        np.concatenate([lead, np.array([bool(c.leadership) for c in added], dtype=bool)]),
        np.concatenate([non_local, np.array([bool(c.non_local) for c in added], dtype=bool)]),
    )


# --------------------------------------------------------------------------- solving


def replan_objective(
    objective: Objective, mode: ReplanMode = "default", move_penalty: int | None = None
) -> Objective:
    """The objective of a re-plan: the scenario's, with the ``changes`` term added.

    ``default``: ``changes`` right after the leading headcount terms (shortfall,
    unplaced) of a lexicographic objective; for a weighted one, a change weighs what a
    move weighs (1 when moves have no weight).  ``changes_first``: ``changes`` ranked
    before everything (lexicographic scenarios only).  ``penalty``: weights (the
    scenario's, or :data:`REPLAN_WEIGHTS`) plus ``changes`` weighted ``move_penalty``.
    """
    if mode == "penalty":
        if move_penalty is None or move_penalty < 0:
            raise ValueError("a move penalty must be a whole number ≥ 0")
        base = objective.weights if objective.weights is not None else REPLAN_WEIGHTS
        scale = objective.weights_scale if objective.weights is not None else 1
        kept = tuple((k, w) for k, w in base if k != CHANGES)
        return Objective(weights=(*kept, (CHANGES, move_penalty * scale)), weights_scale=scale)
    if objective.weights is not None:
        if mode == "changes_first":
            raise ValueError("changes_first needs a lexicographic objective (priorities)")
        weights = tuple((k, w) for k, w in objective.weights if k != CHANGES)
        change = dict(weights).get("moves", 1) or objective.weights_scale
        return dataclasses.replace(objective, weights=(*weights, (CHANGES, change)))
    prio = tuple(p for p in objective.priorities if p != CHANGES)
    if mode == "changes_first":
        return Objective(priorities=(CHANGES, *prio))
    head = 0
    while head < len(prio) and prio[head] in HEADCOUNT_TERMS:
        head += 1
    return Objective(priorities=(*prio[:head], CHANGES, *prio[head:]))


def replan(
    problem: Problem,
    assignment: IntArray,
    changes: ChangeSet,
    *,
    mode: ReplanMode = "default",
    move_penalty: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    prove: bool = False,
) -> Replan:
    """Re-solve the base placement after the changes, changing as little as possible.

    Parameters
    ----------
    problem, assignment
        The base run's problem and placement.
    changes
        From :func:`read_changes`.
    mode, move_penalty
        How changes are weighed (:func:`replan_objective`).
    progress, stop, prove
        As for :func:`optimizer.solve.solve`; a re-plan is a quick placement unless
        ``prove``.
    """
    from optimizer.solve import solve
    from optimizer.solve.engine import EngineParams

    applied = apply_changes(problem, assignment, changes)
    new_problem = dataclasses.replace(
        applied.problem, objective=replan_objective(problem.objective, mode, move_penalty)
    )
    result = solve(
        new_problem,
        progress=progress,
        stop=stop,
        reference=applied.reference,
        prove=prove,
        params=EngineParams(
            parting=PARTING_FLOWS,
            carry_priced=True,
            enter_per_person=ENTER_PER_PERSON,
            all_free_per_person=ALL_FREE_PER_PERSON,
        ),
    )
    listed = (
        change_list(problem, assignment, applied, result.assignment, changes) if result.has_placement else ()
    )
    return Replan(new_problem, applied.reference, result, tuple(listed), applied.old_index)


def change_list(
    base: Problem, base_x: IntArray, applied: Applied, new_x: IntArray, changes: ChangeSet
) -> list[PlacementChange]:
    """Who is placed differently from the base run: from, to and why.

    Leavers come first, then arrivals, then everyone else whose post changed.
    """
    new = applied.problem
    changed_lines = {
        k for k, key in enumerate(_line_keys(base)) if key in {c.key for c in changes.post_changes}
    }
    notes = {a.staff_id: " ".join(x for x in (a.reason, a.date) if x) for a in changes.arrivals}

    def where(p: Problem, post: int) -> tuple[str, str]:
        if post < 0:
            return "", ""
        return p.units.ids[p.posts.unit_idx[post]], p.posts.position[post]

    out: list[PlacementChange] = []
    for lv in changes.leaves:
        gone = base.staff.id2idx[lv.staff_id]
        fu, fp = where(base, int(base_x[gone]))
        note = " ".join(x for x in (lv.reason, lv.date) if x)
        out.append(PlacementChange(lv.staff_id, base.staff.full_name[gone], fu, fp, "", "", "left", note))
    for came in np.flatnonzero(applied.old_index < 0):
        tu, tp = where(new, int(new_x[came]))
        sid = new.staff.ids[came]
        out.append(
            PlacementChange(sid, new.staff.full_name[came], "", "", tu, tp, "arrived", notes.get(sid, ""))
        )
    ref = applied.reference
    for i in np.flatnonzero((applied.old_index >= 0) & (np.asarray(new_x) != ref)):
        old, now = int(ref[i]), int(new_x[i])
        if old in changed_lines:
            why = "post_changed"
        elif old < 0:
            why = "was_unplaced"
        elif now < 0:
            why = "unplaced"
        else:
            why = "chain"
        fu, fp = where(new, old)
        tu, tp = where(new, now)
        out.append(PlacementChange(new.staff.ids[i], new.staff.full_name[i], fu, fp, tu, tp, why, ""))
    return out


def changes_frame(changes: tuple[PlacementChange, ...] | list[PlacementChange]) -> pd.DataFrame:
    """The changed placements as a table (``why`` also in words, current language)."""
    rows = [dataclasses.asdict(c) | {"why_text": t(f"replan.why.{c.why}")} for c in changes]
    columns = [f.name for f in dataclasses.fields(PlacementChange)] + ["why_text"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- stored runs


@dataclass(frozen=True)
class RunContext:
    """A stored run with its problem rebuilt from its inputs and its placement.

    ``reference`` is the base placement of a re-plan (``None`` for a plain run).
    """

    run: StoredRun
    problem: Problem
    assignment: IntArray
    reference: IntArray | None = None
    scenario: Scenario | None = None


def _store_error(store: RunStore, key: str, **kwargs: object) -> InputError:
    return InputError(
        [
            Issue(
                file=str(store.path),
                message=t(f"replan.{key}", **kwargs),
                hint=t(f"replan.{key}.hint", **kwargs),
                code=key,
            )
        ]
    )


def load_run(store: RunStore, ref: str) -> RunContext:
    """Rebuild a stored run: its scenario reloaded with its recorded overrides (the
    inputs must hash as recorded), its solver parameters, and its placement.

    A re-plan is rebuilt from its base run and its recorded changes file.

    Raises
    ------
    InputError
        When the run is unknown, an input file changed since the run, or the placement
        no longer matches the inputs.
    """
    from optimizer.io import load_problem, load_scenario

    run = store.get(ref)
    meta = run.meta
    tags = meta.get("tags") or {}
    if tags.get("provinces"):  # one merged run of many province problems
        raise _store_error(store, "national_run", run=run.run_id, scenario=meta["scenario_path"])
    scenario = None
    reference = None
    if tags.get("changes_file"):
        base = load_run(store, str(meta["base_run"]))
        path = Path(tags["changes_file"])
        if not path.is_file() or _digest(path) != tags.get("changes_hash"):
            raise _store_error(store, "input_changed", run=run.run_id, file=str(path))
        changes = read_changes(path, base.problem)
        applied = apply_changes(base.problem, base.assignment, changes)
        penalty = int(tags["move_penalty"]) if tags.get("move_penalty") else None
        mode = cast(ReplanMode, tags.get("replan_mode", "default"))
        problem = dataclasses.replace(
            applied.problem, objective=replan_objective(base.problem.objective, mode, penalty)
        )
        reference = applied.reference
    else:
        scenario = load_scenario(meta["scenario_path"], tuple(meta.get("overrides") or ()))
        changed = [
            name
            for name, digest in scenario.input_hashes().items()
            if meta["input_hashes"].get(name) != digest
        ]
        if scenario.file_hash() != meta["scenario_hash"]:
            changed.insert(0, str(scenario.path))
        if changed:
            raise _store_error(store, "input_changed", run=run.run_id, file=", ".join(changed))
        problem, _ = load_problem(scenario)
        params = meta.get("solver_params") or {}
        problem = dataclasses.replace(
            problem,
            solver=SolverParams(
                float(params.get("time_limit_s", problem.solver.time_limit_s)),
                int(params.get("workers", problem.solver.workers)),
                int(params.get("seed", problem.solver.seed)),
            ),
        )
    return RunContext(run, problem, assignment_of(run, problem, store), reference, scenario)


def assignment_of(run: StoredRun, problem: Problem, store: RunStore) -> IntArray:
    """The post line of every person of ``problem`` in the run's placements table."""
    pl = run.tables.placements
    line_of = {key: k for k, key in enumerate(_line_keys(problem))}
    x = np.full(problem.num_staff, -1, dtype=np.int64)
    for rec in pl[["staff_id", *_POST_KEY]].itertuples(index=False):
        i = problem.staff.id2idx.get(rec[0])
        k = line_of.get(tuple(rec[1:]))
        if i is None or k is None:
            raise _store_error(store, "run_mismatch", run=run.run_id, staff=rec[0])
        x[i] = k
    return x


def store_replan(
    store: RunStore,
    base: RunContext,
    plan: Replan,
    changes: ChangeSet,
    mode: ReplanMode,
    move_penalty: int | None,
) -> str:
    """Save a re-plan as a new run linked to its base; returns its id."""
    from optimizer.record import record_run, solved_run
    from optimizer.store import RunSource

    meta = base.run.meta
    resolved = dict(meta["resolved_scenario"])
    resolved["replan"] = {
        "base_run": base.run.run_id,
        "changes_file": str(changes.path),
        "changes_hash": changes.digest,
        "mode": mode,
        "move_penalty": move_penalty,
        "objective": dataclasses.asdict(plan.problem.objective),
    }
    tags = {
        "replan": "1",
        "changes_file": str(changes.path),
        "changes_hash": changes.digest,
        "replan_mode": mode,
        "move_penalty": "" if move_penalty is None else str(move_penalty),
        "changes": str(sum(c.why not in ("left",) for c in plan.changes)),
    }
    source = RunSource(
        scenario_name=base.run.scenario_name,
        scenario_path=meta["scenario_path"],
        scenario_hash=meta["scenario_hash"],
        resolved_scenario=resolved,
        overrides=tuple(meta.get("overrides") or ()),
        input_hashes={**meta["input_hashes"], "changes": changes.digest},
        solver_params={
            **(meta.get("solver_params") or {}),
            **dataclasses.asdict(plan.problem.solver),
            "engine": ENGINE,
            "replan": mode,
        },
    )
    solved = solved_run(plan.problem, plan.result)
    return record_run(store, source, solved, plan.problem.rules, base_run=base.run.run_id, tags=tags)
