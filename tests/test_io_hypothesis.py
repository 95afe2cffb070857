"""Malformed input never produces a traceback: always an InputError or a clean Problem.

Two properties, with Hypothesis:

* whole scenarios: the clean fixture with one to three random defects (wrong types,
  missing, extra or renamed columns, repeated rows, dangling references, NaN, negative
  and huge numbers, empty files, BOM, trailing spaces, decomposed Unicode), written as
  CSV or as one workbook, loaded end to end;
* single tables: random headers and cells read, parsed and checked.

The number of cases run and their outcomes are printed (``pytest -s`` or ``-rP``).
"""

from __future__ import annotations

import csv
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_formats import write_rows_sheet
from test_io_tiny import CLEAN, TABLE_NAMES, read_rows

from optimizer.data import Problem
from optimizer.errors import InputError
from optimizer.io import load_problem, load_scenario
from optimizer.io.tables import RawTable, TableSource, read_table
from optimizer.io.validate import check_table
from optimizer.io.vocab import TABLES

SCENARIO_CASES = 50
TABLE_CASES = 150

HEADERS = {name: list(read_rows(CLEAN / f"{name}.csv")[0]) for name in TABLE_NAMES}

SPECIAL = [
    "",
    " ",
    "  x  ",
    "\ufeffU1",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "-1",
    "-0.5",
    "1e308",
    "1e400",
    "99999999999999999999",
    "=1+1",
    "x",
    "Nữ",
    "31/02/1980",
    "1980-13-45",
    "0",
    "true",
    "có",
    "U1",
    "U9",
    "S01",
    "S99",
    "finance;;",
    ";",
    "10,5",
    "1 000",
    "Phường Sài Gòn ",
]
NFD_TEXT = st.text(alphabet="aăâeêioôơuưyđAĂÂĐ ", max_size=10).map(lambda s: unicodedata.normalize("NFD", s))
CELL = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=12),
    st.integers(-(10**15), 10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    NFD_TEXT,
)
TABLE = st.sampled_from(TABLE_NAMES)


@st.composite
def defects(draw: st.DrawFn) -> tuple[Any, ...]:
    table = draw(TABLE)
    kind = draw(
        st.sampled_from(
            [
                "cell",
                "cell",
                "cell",
                "drop_column",
                "extra_column",
                "rename_column",
                "duplicate_row",
                "clear_rows",
                "empty_file",
                "nfd",
                "bom",
                "spaces",
            ]
        )
    )
    column = draw(st.sampled_from(HEADERS[table]))
    return (kind, table, column, draw(st.integers(0, 30)), draw(CELL))


def _apply(
    tables: dict[str, list[dict[str, str]]], headers: dict[str, list[str]], defect: tuple[Any, ...]
) -> set[str]:
    """Apply one defect in place; return the tables to write specially (empty, nfd, bom…)."""
    kind, table, column, k, value = defect
    rows = tables[table]
    special: set[str] = set()
    if kind == "cell" and rows:
        rows[k % len(rows)][column] = value
    elif kind == "drop_column" and column in headers[table]:
        headers[table].remove(column)
    elif kind == "extra_column":
        headers[table].append(f"extra {value}"[:20])
        for row in rows:
            row[headers[table][-1]] = value
    elif kind == "rename_column" and column in headers[table]:
        new = f"{value}"[:15] or "x"
        headers[table][headers[table].index(column)] = new
        for row in rows:
            row[new] = row.pop(column, "")
    elif kind == "duplicate_row" and rows:
        rows.append(dict(rows[k % len(rows)]))
    elif kind == "clear_rows":
        rows.clear()
    else:
        special.add(f"{kind}:{table}")
    return special


def _write_csv(
    path: Path, header: list[str], rows: list[dict[str, str]], special: set[str], table: str
) -> None:
    if f"empty_file:{table}" in special:
        path.write_bytes(b"")
        return
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            cells = [row.get(h, "") for h in header]
            if f"spaces:{table}" in special:
                cells = [f"  {c} \t" for c in cells]
            writer.writerow(cells)
    text = path.read_text(encoding="utf-8")
    if f"nfd:{table}" in special:
        text = unicodedata.normalize("NFD", text)
    data = text.encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + data if f"bom:{table}" in special else data)


def _write_scenario(
    folder: Path,
    tables: dict[str, list[dict[str, str]]],
    headers: dict[str, list[str]],
    special: set[str],
    workbook: bool,
) -> Path:
    if workbook:
        book = xlsxwriter.Workbook(folder / "book.xlsx", {"strings_to_formulas": False})
        for name in TABLE_NAMES:
            rows = [{h: r.get(h, "") for h in headers[name]} for r in tables[name]]
            if rows and headers[name]:
                write_rows_sheet(book, name, rows)
            else:
                book.add_worksheet(name).write_row(0, 0, headers[name])
        book.close()
        data = {name: f"book.xlsx#{name}" for name in TABLE_NAMES}
    else:
        for name in TABLE_NAMES:
            _write_csv(folder / f"{name}.csv", headers[name], tables[name], special, name)
        data = {name: f"{name}.csv" for name in TABLE_NAMES}
    lines = ['name = "fuzz"', "[data]"] + [f'{k} = "{v}"' for k, v in data.items()]
    (folder / "s.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "s.toml"


def _assert_consistent(problem: Problem) -> None:
    n = problem.num_staff
    assert len(problem.staff.full_name) == n == len(problem.staff.home_lat) == len(problem.staff.local_idx)
    assert problem.posts.unit_idx.max(initial=0) < problem.num_units
    assert (problem.posts.min <= problem.posts.max).all() and (problem.posts.min >= 0).all()
    assert np.isfinite(problem.units.lat).all() and np.isfinite(problem.staff.home_lon).all()
    assert all(unicodedata.is_normalized("NFC", name) for name in problem.staff.full_name)
    assert all(0 <= u < problem.num_units for local in problem.staff.local_idx for u in local)


OUTCOMES: Counter[str] = Counter()


@settings(
    max_examples=SCENARIO_CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(defects(), min_size=1, max_size=3), st.booleans())
def _scenario_property(found: list[tuple[Any, ...]], workbook: bool) -> None:
    tables = {name: read_rows(CLEAN / f"{name}.csv") for name in TABLE_NAMES}
    headers = {name: list(h) for name, h in HEADERS.items()}
    special: set[str] = set()
    for defect in found:
        special |= _apply(tables, headers, defect)
    with tempfile.TemporaryDirectory() as tmp:
        scenario = _write_scenario(Path(tmp), tables, headers, special, workbook)
        try:
            problem, warnings = load_problem(load_scenario(scenario))
        except InputError as exc:
            assert exc.errors, "an InputError always holds at least one error"
            assert all(i.message and i.hint and i.file for i in exc.issues)
            OUTCOMES["scenario: input error"] += 1
        else:
            _assert_consistent(problem)
            assert all(w.severity == "warning" for w in warnings)
            OUTCOMES["scenario: problem"] += 1


@settings(
    max_examples=TABLE_CASES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    TABLE,
    st.lists(
        st.one_of(st.sampled_from(sorted({h for hs in HEADERS.values() for h in hs})), CELL),
        min_size=0,
        max_size=8,
    ),
    st.lists(st.lists(CELL, min_size=0, max_size=9), min_size=0, max_size=6),
)
def _table_property(table: str, header: list[str], body: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header, *body])
        raw: RawTable = read_table(TABLES[table], TableSource(path), {})
        issues = raw.issues + check_table(raw, load_scenario(CLEAN / "scenario.toml").rules)
    assert all(i.message and i.code for i in issues)
    if raw.values is not None:
        assert list(raw.values.index) == sorted(raw.values.index)
        assert all(r >= 2 for r in raw.values.index)
    OUTCOMES["table: with issues" if issues else "table: clean"] += 1


def test_malformed_scenarios_never_raise_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    before = sum(v for k, v in OUTCOMES.items() if k.startswith("scenario"))
    _scenario_property()
    ran = sum(v for k, v in OUTCOMES.items() if k.startswith("scenario")) - before
    with capsys.disabled():
        print(f"\n[hypothesis] {ran} malformed scenarios: {dict(OUTCOMES)}")
    assert ran >= SCENARIO_CASES // 2
    assert OUTCOMES["scenario: input error"] > 0 and OUTCOMES["scenario: problem"] > 0


def test_random_tables_never_raise_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    before = sum(v for k, v in OUTCOMES.items() if k.startswith("table"))
    _table_property()
    ran = sum(v for k, v in OUTCOMES.items() if k.startswith("table")) - before
    with capsys.disabled():
        print(f"\n[hypothesis] {ran} random tables: {dict(OUTCOMES)}")
    assert ran >= TABLE_CASES // 2
