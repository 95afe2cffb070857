"""The fast paths of loading give what the slow ones gave (issue 19: the city's load).

Each fast path is checked against the way it replaced: pandera's verdict on every table
of every defect of ``test_io_validate``, NFC cell by cell, the pin rows one by one.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_tiny import copy_clean
from test_io_validate import ERRORS, WARNINGS
from test_solve_properties import instances

from optimizer.data import Pins, Problem
from optimizer.io import load_scenario, tables
from optimizer.io.build import nearest_unit
from optimizer.io.tables import (
    TableSource,
    _clean_text,
    _clean_texts,
    _text_column,
    cell_text,
    parse_column,
    parse_table,
    read_table,
    split_list,
)
from optimizer.io.validate import passes_schema, table_schema
from optimizer.io.vocab import BOOL_VALUES, TABLES, fold
from optimizer.rules import pair as pair_rules
from optimizer.rules.pair import CAPACITY_RULES, PINS, allowed_pairs, qualified_pairs
from optimizer.solve.candidates import build_candidates

ROOT = Path(__file__).resolve().parent.parent


def _pandera_passes(values: pd.DataFrame, table: str, scenario_path: Path) -> bool:
    import pandera.pandas as pa

    rules = load_scenario(scenario_path).rules
    try:
        table_schema(TABLES[table], rules).validate(values, lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


@pytest.mark.parametrize("defect", ["clean", *ERRORS, *WARNINGS])
def test_passes_schema_never_passes_what_pandera_fails(tmp_path: Path, defect: str) -> None:
    """On the clean tables and on each defect, a table passes the fast check exactly when
    pandera passes it (so the errors are pandera's, named as before)."""
    scenario_path = copy_clean(tmp_path)
    if defect != "clean":
        (ERRORS | WARNINGS)[defect].edit(scenario_path.parent)
    scenario = load_scenario(scenario_path)
    verdicts = []
    for name, spec in TABLES.items():
        source = scenario.source(name)
        if source is None:
            continue
        raw = read_table(spec, source, {})
        if raw.values is None:
            continue
        fast = passes_schema(raw.values, spec, scenario.rules)
        assert fast == _pandera_passes(raw.values, name, scenario_path), (defect, name)
        verdicts.append(fast)
    assert verdicts and (defect != "clean" or all(verdicts))


def test_passes_schema_refuses_blank_repeated_and_unreadable_cells() -> None:
    """Each kind of cell pandera refuses makes the fast check send the table to pandera."""
    scenario = load_scenario(ROOT / "scenarios" / "tiny" / "scenario.toml")
    raw = read_table(TABLES["units"], scenario.source("units"), {})
    assert raw.values is not None
    good = raw.values
    assert passes_schema(good, TABLES["units"], scenario.rules)
    for column, value in (
        ("unit_id", None),
        ("unit_id", good.iloc[1]["unit_id"]),
        ("lat", "bắc"),
        ("lat", 95.0),
    ):
        bad = good.copy()
        bad.iloc[0, bad.columns.get_loc(column)] = value
        assert not passes_schema(bad, TABLES["units"], scenario.rules), (column, value)
    assert not passes_schema(good.drop(columns=["lat"]), TABLES["units"], scenario.rules)


_PIECES = [
    "a",
    " ",
    "\u200b",
    "\ufeff",
    "e\u0301",
    "\u0301",
    "\u0323\u0302",
    "ế",
    "\u00a0",
    "\x00",
    "Đ",
    "\t",
    "\n",
    "\u2028",
    "\u037e",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_PIECES), max_size=5).map("".join), min_size=1, max_size=8),
    st.booleans(),
)
def test_text_column_is_cell_text_of_each_cell(texts: list[str], with_number: bool) -> None:
    """A column normalised at once equals each cell normalised alone: marks that would
    compose across cells, NULs inside cells, zero-width marks, numbers among texts."""
    cells: list[object] = [*texts, 3.0] if with_number else list(texts)
    column = pd.Series(cells, dtype=object, index=range(2, 2 + len(cells)))
    assert _text_column(column)[0].tolist() == [cell_text(v) for v in cells]
    assert [cell_text(t) for t in texts] == [_clean_text(t) for t in texts]


@pytest.mark.parametrize("edges", [False, True])
def test_a_column_s_cells_come_out_as_strings_of_their_own(edges: bool) -> None:
    """An ASCII column's cells come out equal but made anew from the joined column (so
    they lie together in memory, not among the other columns' cells as read), with or
    without spaces to strip; a column with a NUL inside a cell keeps its cells."""
    rows = [[f"S{k:05d}", f"{k % 7}", "x" if k % 3 else (" y " if edges else "y")] for k in range(300)]
    for column in zip(*rows, strict=True):
        cells, _ = _clean_texts(list(column))
        assert cells == [c.strip() for c in column]
        assert not any(out is cell for out, cell in zip(cells, column, strict=True) if len(cell) > 1)
    held = ["a\x00b", "c"]
    assert all(out is cell for out, cell in zip(_clean_texts(held)[0], held, strict=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(0, 2**32 - 1))
def test_pins_removes_is_every_pin_row_at_once(problem: Problem, seed: int) -> None:
    """PINS.removes equals the pin rows one by one (row_removes) ORed, on random fix and
    forbid pins with and without positions, several per person."""
    rng = random.Random(seed)
    n = rng.randint(1, 8)
    positions = [*problem.posts.position, "no_such_position"]
    pins = Pins(
        np.array([rng.randrange(problem.num_staff) for _ in range(n)], dtype=np.int32),
        np.array([rng.randrange(problem.num_units) for _ in range(n)], dtype=np.int32),
        tuple(rng.choice([None, rng.choice(positions)]) for _ in range(n)),
        tuple(rng.choice(["fix", "forbid"]) for _ in range(n)),
        ("",) * n,
    )
    pinned = dataclasses.replace(problem, pins=pins)
    person, post = qualified_pairs(pinned)
    unit = pinned.posts.unit_idx[post].astype(np.int64)
    expected = np.zeros(len(person), dtype=bool)
    for k in range(n):
        expected |= PINS.row_removes(pinned, k, person, post, unit)
    assert PINS.removes(pinned, person, post, unit).tolist() == expected.tolist()
    matrix = PINS.removes(pinned, person[:, None], post[:, None], unit[:, None])
    assert matrix[:, 0].tolist() == expected.tolist()


def test_a_valid_scenario_loads_without_pandera() -> None:
    """pandera (and its backends' imports) is for naming failures only."""
    code = (
        "import sys; from optimizer.io import load_problem, load_scenario; "
        f"load_problem(load_scenario({str(ROOT / 'scenarios' / 'tiny' / 'scenario.toml')!r})); "
        "print('pandera' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_the_first_load_freezes_what_lives_then_and_later_loads_nothing() -> None:
    """In a fresh process the first load moves the objects alive before it (the modules)
    out of the collector's sight, once: a second load freezes nothing more."""
    scenario = str(ROOT / "scenarios" / "tiny" / "scenario.toml")
    code = (
        "import gc; from optimizer.io import load_problem, load_scenario; "
        "counts = [gc.get_freeze_count()]; "
        f"load_problem(load_scenario({scenario!r})); counts.append(gc.get_freeze_count()); "
        f"load_problem(load_scenario({scenario!r})); counts.append(gc.get_freeze_count()); "
        "print(*counts)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, first, second = map(int, out.stdout.split())
    assert before == 0
    assert first > 10_000  # every module's objects
    assert second == first


@pytest.mark.parametrize("holed", [False, True])
def test_blank_records_are_dropped_and_the_others_keep_their_rows(tmp_path: Path, holed: bool) -> None:
    """Blank lines between records are dropped, whether a column is complete (the quick
    path) or every column has a blank somewhere (``holed``: each record lacks one cell)."""
    rows = [
        "unit_id,name,kind,lat,lon",
        "T01,An,ward,10.0,106.7",
        ",,,,",
        "T02,Binh,commune,10.1,106.7",
        ",,,,",
        ",,,,",
        "T03,Cau,ward,10.2,106.8",
    ]
    if holed:
        rows[1], rows[3], rows[6] = ",An,ward,10.0,106.7", "T02,,commune,10.1,106.7", "T03,Cau,,10.2,106.8"
    path = tmp_path / "units.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    raw = read_table(TABLES["units"], TableSource(path), {})
    assert raw.cells is not None
    assert raw.cells.index.tolist() == [2, 4, 7]
    assert raw.cells["lat"].tolist() == ["10.0", "10.1", "10.2"]


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_a_table_runs_no_collection_and_leaves_the_collector_as_it_was(
    tmp_path: Path, enabled: bool
) -> None:
    """A roster of 3,000 rows (thousands of containers: rows, lists of items) is read up
    to its parsed values without one run of the garbage collector, which is enabled
    after if it was before."""
    path = tmp_path / "staff.csv"
    rows = [f"S{k},Người {k},1980-01-01,M,civil_servant,government,a;b" for k in range(3000)]
    path.write_text("staff_id,full_name,birth_date,gender,category,bloc,positions\n" + "\n".join(rows) + "\n")
    runs: list[int] = []
    parsed: list[int] = []  # the runs so far once the table is parsed, its last step

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    def parse(raw: tables.RawTable) -> pd.DataFrame:
        values = parse_table(raw)
        parsed.append(len(runs))
        return values

    was = gc.isenabled()
    gc.enable() if enabled else gc.disable()
    gc.callbacks.append(count)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tables, "parse_table", parse)
            raw = read_table(TABLES["staff"], TableSource(path), {})
        assert gc.isenabled() == enabled
    finally:
        gc.callbacks.remove(count)
        gc.enable() if was else gc.disable()
    assert raw.values is not None and len(raw.values) == 3000
    assert parsed == [0]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["Có", "x", "nam", "F", "true", "a; b", " ; "]), st.text()))
)
def test_enum_bool_and_list_cells_are_each_cells_own(cells: list[str | None]) -> None:
    """Enumerations, booleans and lists parsed from the column's distinct cells are each
    cell parsed alone: the code (or the text itself), the boolean (blank: False), the
    items (blank or no item: None); pandas' distinct cells when a cell is not text."""
    text = pd.Series(cells, index=range(2, 2 + len(cells)), dtype=object)
    gender = TABLES["staff"].column("gender")
    enum = [None if v is None else gender.lookup.get(fold(v), v) for v in cells]
    boolean = [False if v is None else BOOL_VALUES.get(fold(v), v) for v in cells]
    lists = [None if v is None else split_list(v) or None for v in cells]
    assert parse_column(text, gender).tolist() == enum
    assert parse_column(text, TABLES["staff"].column("island_ok")).tolist() == boolean
    assert parse_column(text, TABLES["staff"].column("positions")).tolist() == lists
    mixed = pd.Series([*cells, float("nan"), 3.5], dtype=object)
    assert sorted(map(repr, tables._distinct(mixed, mixed.tolist()))) == sorted(
        map(repr, [*set(cells) - {None}, 3.5])
    )


@given(st.lists(st.text(st.characters(blacklist_characters="\x00")), min_size=1))
def test_longest_part_is_the_longest_cell(parts: list[str]) -> None:
    """The longest of the NUL-joined cells told from the joined text (through its code
    points, even short text), and never less than the longest cell."""
    joined = "\x00".join(parts)
    assert tables._longest_part(joined) >= max(map(len, parts))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tables, "MAX_CELL_CHARS", 0)
        assert tables._longest_part(joined) == max(map(len, parts))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["allow", "penalize", "forbid"]), st.sampled_from([1, 3, 1 << 19]))
def test_allowed_pairs_are_the_qualified_pairs_each_rule_keeps(
    problem: Problem, bloc_change: str, piece: int
) -> None:
    """allowed_pairs (people × lines matrices, group by group and piece by piece, put
    back by person) is the qualified pair list filtered by each capacity rule in turn,
    pair by pair, in the same order and with the same count per rule; the candidates are
    those less the pins.  Small pieces split each group into many (one person each at 1)."""
    problem = dataclasses.replace(problem, rules=dataclasses.replace(problem.rules, bloc_change=bloc_change))
    person, post = qualified_pairs(problem)
    unit = problem.posts.unit_idx[post]
    expected = {"qualification": problem.num_staff * problem.num_posts - len(person)}
    keep = np.ones(len(person), dtype=bool)
    for rule in CAPACITY_RULES:
        bad = rule.removes(problem, person, post, unit) & keep
        expected[rule.id] = int(bad.sum())
        keep &= ~bad
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pair_rules, "PIECE", piece)
        found = allowed_pairs(problem)
    assert found.person.tolist() == person[keep].tolist()
    assert found.post.tolist() == post[keep].tolist()
    assert found.removed == expected
    assert found.per_line.tolist() == np.bincount(post[keep], minlength=problem.num_posts).tolist()
    assert found.per_person.tolist() == np.bincount(person[keep], minlength=problem.num_staff).tolist()
    cand = build_candidates(problem)
    gone = PINS.removes(problem, person[keep], post[keep], unit[keep])
    assert cand.post.tolist() == post[keep][~gone].tolist()
    assert cand.removed == {**expected, "pins": int(gone.sum())}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 200), st.integers(0, 2**32 - 1))
def test_nearest_unit_by_blocks_is_the_whole_product_s(points: int, places: int, seed: int) -> None:
    """The nearest unit of each point, worked out by blocks of points, is the one of the
    whole product (several blocks when points × units is large)."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(8, 24, points), rng.uniform(102, 118, points)
    ulat, ulon = rng.uniform(8, 24, places), rng.uniform(102, 118, places)
    units = SimpleNamespace(lat=ulat, lon=ulon)

    def xyz(phi: np.ndarray, lam: np.ndarray) -> np.ndarray:
        p, q = np.radians(phi), np.radians(lam)
        return np.stack([np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)], axis=1)

    whole = np.argmax(xyz(lat, lon) @ xyz(ulat, ulon).T, axis=1)
    assert nearest_unit(lat, lon, units).tolist() == whole.tolist()  # type: ignore[arg-type]
