"""The clean tiny fixture loads into the expected problem; shared helpers for io tests.

The fixture (``tests/data/io/clean``) has five units, eleven post lines, eleven people,
two pairs of relatives and two pins, and is built so that no check warns.  Other io test
modules copy it into ``tmp_path`` with :func:`copy_clean` and break one thing at a time.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from optimizer.data import haversine_km
from optimizer.errors import InputError, Issue
from optimizer.i18n import catalogue, set_lang
from optimizer.io import load_problem, load_scenario

CLEAN = Path(__file__).parent / "data" / "io" / "clean"
TABLE_NAMES = ("units", "posts", "staff", "relations", "pins")


def copy_clean(tmp_path: Path) -> Path:
    """Copy the clean fixture into ``tmp_path/clean`` and return its scenario file."""
    target = tmp_path / "clean"
    shutil.copytree(CLEAN, target)
    return target / "scenario.toml"


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file as dictionaries."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    """Write dictionaries as a UTF-8 CSV file (header from the first row unless given)."""
    names = header if header is not None else list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def edit_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one cell of ``folder/table.csv``; ``row`` is the Excel row (header = 1)."""
    path = folder / f"{table}.csv"
    rows = read_rows(path)
    rows[row - 2][column] = value
    write_rows(path, rows)


def load_issues(scenario: Path, overrides: tuple[str, ...] = ()) -> list[Issue]:
    """Every issue of a scenario expected to fail (asserts that it does fail)."""
    with pytest.raises(InputError) as info:
        load_problem(load_scenario(scenario, overrides))
    return info.value.issues


def codes(issues: list[Issue]) -> list[str]:
    """The issue codes, in order."""
    return [i.code for i in issues]


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


def test_clean_fixture_loads_without_any_issue() -> None:
    problem, warnings = load_problem(load_scenario(CLEAN / "scenario.toml"))
    assert warnings == []
    csv_rows = {name: read_rows(CLEAN / f"{name}.csv") for name in TABLE_NAMES}
    assert problem.num_units == len(csv_rows["units"])
    assert problem.num_posts == len(csv_rows["posts"])
    assert problem.num_staff == len(csv_rows["staff"])
    assert len(problem.relations) == len(csv_rows["relations"])
    assert len(problem.pins) == len(csv_rows["pins"])
    assert problem.name == "io-clean"


def test_values_reach_the_problem_typed_and_in_input_order() -> None:
    problem, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    staff_rows = read_rows(CLEAN / "staff.csv")
    assert problem.staff.ids == tuple(r["staff_id"] for r in staff_rows)
    assert problem.staff.full_name == tuple(r["full_name"] for r in staff_rows)
    assert [str(d) for d in problem.staff.birth_date] == [r["birth_date"] for r in staff_rows]
    assert problem.staff.positions == tuple(tuple(r["positions"].split(";")) for r in staff_rows)
    assert problem.staff.grade == tuple(r["grade"] for r in staff_rows)
    assert list(problem.staff.island_ok) == [r["island_ok"] == "true" for r in staff_rows]
    post_rows = read_rows(CLEAN / "posts.csv")
    assert list(problem.posts.min) == [int(r["min"]) for r in post_rows]
    assert list(problem.posts.max) == [int(r["max"]) for r in post_rows]
    assert list(problem.posts.non_local) == [r["non_local"] == "true" for r in post_rows]
    ids = problem.units.ids
    assert [ids[u] for u in problem.posts.unit_idx] == [r["unit_id"] for r in post_rows]
    unit_rows = read_rows(CLEAN / "units.csv")
    assert np.allclose(problem.units.lat, [float(r["lat"]) for r in unit_rows])
    assert list(problem.units.island) == [r["island"] == "true" for r in unit_rows]


def test_local_units_default_to_origin_and_nearest_unit() -> None:
    problem, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    staff_rows = read_rows(CLEAN / "staff.csv")
    st, units = problem.staff, problem.units
    for i, row in enumerate(staff_rows):
        if row["local_units"]:
            expected = tuple(units.id2idx[u] for u in row["local_units"].split(";"))
        else:
            dist = haversine_km(np.array([st.home_lat[i]]), np.array([st.home_lon[i]]), units.lat, units.lon)
            expected = tuple(dict.fromkeys([int(st.origin_idx[i]), int(np.argmin(dist))]))
        assert st.local_idx[i] == expected, row["staff_id"]


def test_preferences_become_unit_indices_in_order() -> None:
    problem, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    for i, row in enumerate(read_rows(CLEAN / "staff.csv")):
        names = row["preferences"].split(";") if row["preferences"] else []
        assert problem.staff.preferences[i] == tuple(problem.units.id2idx[u] for u in names)


def test_pins_keep_blank_position_as_none_and_notes() -> None:
    problem, _ = load_problem(load_scenario(CLEAN / "scenario.toml"))
    rows = read_rows(CLEAN / "pins.csv")
    assert problem.pins.position == tuple(r["position"] or None for r in rows)
    assert problem.pins.mode == tuple(r["mode"] for r in rows)
    assert problem.pins.note == tuple(r["note"] for r in rows)


def test_every_io_message_has_both_languages_and_a_hint() -> None:
    messages = {k for k in catalogue() if k.startswith("io.")}
    groups = ("io.expect.", "io.xlsx.", "io.label.", "io.summary.")
    plain = {k for k in messages if not k.endswith(".hint") and not k.startswith(groups)}
    plain.discard("io.did_you_mean")
    missing = sorted(k for k in plain if f"{k}.hint" not in messages)
    assert missing == []
    for key in messages:
        assert catalogue()[key]["vi"] != catalogue()[key]["en"] or key == "io.bool.hint"
