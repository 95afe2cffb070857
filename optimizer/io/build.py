"""Build a :class:`~optimizer.data.Problem` from a scenario's validated tables."""

from __future__ import annotations

import functools
import gc
import logging
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.data import (
    Pins,
    Posts,
    Problem,
    Relations,
    Staff,
    Units,
    empty_pins,
    empty_relations,
)
from optimizer.errors import InputError, Issue
from optimizer.heap import start_warming, warm_bytes_for
from optimizer.io.resolve import HOME_APPROX, resolve_references
from optimizer.io.scenario import Scenario
from optimizer.io.tables import RawTable, read_table
from optimizer.io.validate import SourceRows, check_capacity, check_references, check_table
from optimizer.io.vocab import TABLES

logger = logging.getLogger(__name__)


def read_tables(scenario: Scenario) -> tuple[dict[str, RawTable], list[Issue]]:
    """Read, parse and check each table the scenario names (passes 1 and 2).

    Returns
    -------
    tables, issues
        The read tables by name, and every problem found (errors and warnings).
    """
    books: dict[Path, pd.ExcelFile] = {}
    tables: dict[str, RawTable] = {}
    issues: list[Issue] = []
    for name, spec in TABLES.items():
        source = scenario.source(name)
        if source is None:
            continue
        raw = read_table(spec, source, books)
        issues.extend(raw.issues)
        issues.extend(check_table(raw, scenario.rules))
        tables[name] = raw
    for book in books.values():
        book.close()
    issues.extend(resolve_references(tables))
    issues.extend(check_references(tables, scenario.rules))
    return tables, in_reading_order(issues, tables)


def in_reading_order(issues: list[Issue], tables: dict[str, RawTable]) -> list[Issue]:
    """Issues sorted by table (in reading order), then row, keeping the order of equals."""
    order = {(raw.file, raw.sheet): k for k, raw in enumerate(tables.values())}
    return sorted(issues, key=lambda i: (order.get((i.file, i.sheet), -1), i.row or 0))


def load_problem(scenario: Scenario, *, warm_heap: bool = False) -> tuple[Problem, list[Issue]]:
    """Read, validate and build the scenario's problem.

    Parameters
    ----------
    scenario
        A scenario from :func:`optimizer.io.load_scenario`.
    warm_heap
        The caller solves the problem next (in any thread): the memory the solve will use
        is touched on the idle core while the tables are read
        (:func:`optimizer.heap.start_warming`, handed over when the solve starts).

    Returns
    -------
    problem, warnings
        The validated problem, and the issues of severity ``warning`` (input that is
        legal but suspicious), in table and row order.

    Raises
    ------
    InputError
        Holding every error (and every warning) found, when any error is found.
    """
    start = time.perf_counter()
    staff = scenario.source("staff")
    if warm_heap and staff is not None:
        start_warming(warm_bytes_for(staff.path))
    _freeze_once()
    tables, issues = read_tables(scenario)
    if any(i.severity == "error" for i in issues):
        raise InputError(issues)
    problem, rows = build_problem(scenario, tables)
    issues.extend(check_capacity(problem, tables["posts"], tables["staff"], tables.get("pins"), rows))
    issues = in_reading_order(issues, tables)
    if any(i.severity == "error" for i in issues):
        raise InputError(issues)
    logger.info(
        "loaded %s: %d units, %d post lines, %d people in %.2f s",
        scenario.name,
        problem.num_units,
        problem.num_posts,
        problem.num_staff,
        time.perf_counter() - start,
    )
    return problem, issues


@functools.cache
def _freeze_once() -> None:
    """Once per process, before the first load: every object alive (the modules, their
    functions and constants) moves out of the garbage collector's sight (``gc.freeze``).

    They live as long as the process, yet each full collection walked them all: on the
    city the first one, triggered during the solve, took 0.045-0.05 s for nothing (20
    objects freed). Objects freed by their reference counts are freed as before.
    """
    gc.freeze()


def _text(values: pd.Series) -> tuple[str, ...]:
    cells = values.tolist()
    if set(map(type, cells)) <= {str}:  # the usual column: text in every cell, kept as it is
        return tuple(cells)
    return tuple(["" if v is None else str(v) for v in cells])


def _floats(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _unit_lists(lists: list[tuple[str, ...] | None], unit_idx: dict[str, int]) -> list[tuple[int, ...]]:
    """Each list of unit ids as unit indices without repeats, first kept (``()`` for a
    blank cell): once per distinct list."""
    once = {p: tuple(dict.fromkeys(unit_idx[u] for u in p)) for p in set(lists) if p}
    return [once[p] if p else () for p in lists]


def _dedup_each(lists: list[tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    """Each tuple without its repeats, first kept: once per distinct tuple (few: people
    share their position lists)."""
    once = {p: tuple(dict.fromkeys(p)) for p in set(lists)}
    return tuple(once[p] for p in lists)


def build_problem(scenario: Scenario, tables: dict[str, RawTable]) -> tuple[Problem, SourceRows]:
    """Turn validated tables into problem data (no checks: call after passes 1 and 2).

    ``local_units`` defaults to the origin unit and the unit nearest home (DESIGN §3).
    Repeated relatives pairs and repeated pins are kept once.

    Returns
    -------
    problem, rows
        The problem and the Excel row of each post line, person and pin.
    """
    uv = _values(tables["units"])
    units = Units(
        ids=_text(uv["unit_id"]),
        names=_text(uv["name"]),
        kinds=_text(uv["kind"]),
        lat=_floats(uv["lat"]),
        lon=_floats(uv["lon"]),
        population=_floats(uv["population"]),
        area_km2=_floats(uv["area_km2"]),
        island=uv["island"].astype(bool).to_numpy(),
    )
    unit_idx = units.id2idx
    pv = _values(tables["posts"])
    posts = Posts(
        unit_idx=np.array([unit_idx[u] for u in pv["unit_id"].tolist()], dtype=np.int32),
        bloc=_text(pv["bloc"]),
        department=_text(pv["department"]),
        position=_text(pv["position"]),
        category=_text(pv["category"]),
        min=_floats(pv["min"]).astype(np.int64),
        max=_floats(pv["max"]).astype(np.int64),
        leadership=pv["leadership"].astype(bool).to_numpy(),
        non_local=pv["non_local"].astype(bool).to_numpy(),
    )
    staff = _build_staff(_values(tables["staff"]), units)
    relations = _build_relations(tables.get("relations"), staff)
    pins, pin_rows = _build_pins(tables.get("pins"), staff, units)
    problem = Problem(
        name=unicodedata.normalize("NFC", scenario.name),
        units=units,
        posts=posts,
        staff=staff,
        relations=relations,
        pins=pins,
        rules=scenario.rules,
        objective=scenario.objective,
        solver=scenario.solver,
    )
    rows = SourceRows(
        posts=pv.index.to_numpy(dtype=np.int64),
        staff=_values(tables["staff"]).index.to_numpy(dtype=np.int64),
        pins=pin_rows,
    )
    return problem, rows


def _values(raw: RawTable) -> pd.DataFrame:
    if raw.values is None:
        raise InputError(raw.issues)
    return raw.values


def _build_staff(sv: pd.DataFrame, units: Units) -> Staff:
    unit_idx = units.id2idx
    origin = np.array([unit_idx[u] for u in sv["origin_unit"].tolist()], dtype=np.int32)
    home_lat, home_lon = _floats(sv["home_lat"]), _floats(sv["home_lon"])
    nearest = nearest_unit(home_lat, home_lon, units)
    local = [
        given or ((o,) if o == n else (o, n))
        for given, o, n in zip(
            _unit_lists(sv["local_units"].tolist(), unit_idx), origin.tolist(), nearest.tolist(), strict=True
        )
    ]
    preferences = tuple(_unit_lists(sv["preferences"].tolist(), unit_idx))
    birth = pd.to_datetime(sv["birth_date"]).to_numpy().astype("datetime64[D]")
    return Staff(
        ids=_text(sv["staff_id"]),
        full_name=_text(sv["full_name"]),
        birth_date=birth,
        gender=_text(sv["gender"]),
        category=_text(sv["category"]),
        bloc=_text(sv["bloc"]),
        positions=_dedup_each(sv["positions"].tolist()),
        grade=_text(sv["grade"]),
        former_unit=_text(sv["former_unit"]),
        origin_idx=origin,
        home_lat=home_lat,
        home_lon=home_lon,
        local_idx=tuple(local),
        island_ok=sv["island_ok"].astype(bool).to_numpy(),
        preferences=preferences,
        home_approx=sv[HOME_APPROX].astype(bool).to_numpy() if HOME_APPROX in sv else None,
    )


#: Multiply-adds of one matrix product that a BLAS library does on the calling thread
#: (OpenBLAS hands a product to its threads above 262,144).
BLAS_ONE_THREAD = 1 << 16


def nearest_unit(lat: np.ndarray, lon: np.ndarray, units: Units) -> np.ndarray:
    """Index of the unit nearest (great-circle) to each point, without a trigonometric
    call per pair: the chord length is computed from unit vectors with one product.

    The product goes by blocks of points of at most :data:`BLAS_ONE_THREAD` multiply-adds
    each, which BLAS does on this thread (each dot product the same, bit for bit): as one
    product of the city's 15,997 homes × 168 units, OpenBLAS split it over its threads,
    whose start and waits for a core cost 12-98 ms of CPU and 24-101 ms of wall on a busy
    machine (the first load) against 3-7 ms by blocks.
    """

    def xyz(phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
        p, q = np.radians(phi), np.radians(lam)
        return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=1)

    points, places = xyz(lat, lon), xyz(units.lat, units.lon).T
    step = max(1, BLAS_ONE_THREAD // (3 * max(1, places.shape[1])))
    nearest = np.empty(len(points), dtype=np.int64)
    for lo in range(0, len(points), step):
        # The largest dot product of unit vectors is the smallest great-circle distance.
        nearest[lo : lo + step] = np.argmax(points[lo : lo + step] @ places, axis=1)
    return nearest


def _build_relations(raw: RawTable | None, staff: Staff) -> Relations:
    if raw is None or raw.values is None or raw.values.empty:
        return empty_relations()
    rv = raw.values
    staff_idx = staff.id2idx
    seen: set[tuple[int, int]] = set()
    a_idx, b_idx, kinds = [], [], []
    for a, b, kind in zip(rv["staff_id"], rv["relative_id"], rv["relation"], strict=True):
        i, j = staff_idx[a], staff_idx[b]
        key = (min(i, j), max(i, j))
        if key in seen:
            continue
        seen.add(key)
        a_idx.append(i)
        b_idx.append(j)
        kinds.append(str(kind))
    return Relations(np.array(a_idx, dtype=np.int32), np.array(b_idx, dtype=np.int32), tuple(kinds))


def _build_pins(raw: RawTable | None, staff: Staff, units: Units) -> tuple[Pins, np.ndarray]:
    if raw is None or raw.values is None or raw.values.empty:
        return empty_pins(), np.zeros(0, dtype=np.int64)
    pv = raw.values
    seen: set[tuple[int, int, str | None, str]] = set()
    s_idx, u_idx, positions, modes, notes, rows = [], [], [], [], [], []
    for row, sid, uid, pos, mode, note in zip(
        pv.index, pv["staff_id"], pv["unit_id"], pv["position"], pv["mode"], pv["note"], strict=True
    ):
        key = (staff.id2idx[sid], units.id2idx[uid], pos, str(mode))
        if key in seen:
            continue
        seen.add(key)
        s_idx.append(key[0])
        u_idx.append(key[1])
        positions.append(pos)
        modes.append(key[3])
        notes.append("" if note is None else str(note))
        rows.append(int(row))
    pins = Pins(
        np.array(s_idx, dtype=np.int32),
        np.array(u_idx, dtype=np.int32),
        tuple(positions),
        tuple(modes),
        tuple(notes),
    )
    return pins, np.array(rows, dtype=np.int64)
