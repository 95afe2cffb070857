"""Forgiving input, never silent: each test is named after the defect a planner made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_io_tiny import copy_clean, load_issues, read_rows, write_rows

from optimizer.data import haversine_km
from optimizer.errors import Issue
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.places import Gazetteer, shipped_data_dir
from optimizer.record import HOMES_APPROXIMATE, solved_run
from optimizer.solve import solve


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


def edit(folder: Path, table: str, change: object) -> None:
    rows = read_rows(folder / f"{table}.csv")
    change(rows)  # type: ignore[operator]
    write_rows(folder / f"{table}.csv", rows)


def load(scenario: Path) -> tuple[object, list[Issue]]:
    return load_problem(load_scenario(scenario))


def of_code(issues: list[Issue], code: str) -> list[Issue]:
    return [i for i in issues if i.code == code]


def test_island_column_headed_dong_y_ra_dao_is_read_as_island_ok(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    folder = scenario.parent
    rows = read_rows(folder / "staff.csv")
    for r in rows:
        r["Đồng ý ra đảo"] = "có" if r["staff_id"] == "S01" else "không"
    header = [("Đồng ý ra đảo" if h == "island_ok" else h) for h in rows[0] if h != "island_ok"]
    write_rows(folder / "staff.csv", rows, header)
    problem, issues = load(scenario)
    assert of_code(issues, "unknown_column") == [] and of_code(issues, "unknown_column_unmatched") == []
    assert list(problem.staff.island_ok) == [sid == "S01" for sid in problem.staff.ids]  # type: ignore[attr-defined]


def test_a_column_nobody_knows_is_warned_with_the_known_headers(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", lambda rows: [r.update({"Cột lạ": "x"}) for r in rows])
    _, issues = load(scenario)
    [warning] = of_code(issues, "unknown_column_unmatched")
    assert warning.severity == "warning" and warning.column == "Cột lạ"
    assert "Cột lạ" in warning.message and "island_ok" in warning.hint


def test_a_misspelt_column_is_warned_with_the_closest_header(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    folder = scenario.parent
    rows = read_rows(folder / "staff.csv")
    header = [("Nguyen vong xx" if h == "preferences" else h) for h in rows[0]]
    for r in rows:
        r["Nguyen vong xx"] = r.pop("preferences")
    write_rows(folder / "staff.csv", rows, header)
    _, issues = load(scenario)
    [warning] = of_code(issues, "unknown_column")
    assert warning.column == "Nguyen vong xx" and "preferences" in warning.hint


def test_a_unit_name_where_a_code_is_expected_is_resolved_and_warned(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", lambda rows: rows[0].update(unit_id="Phường Sài Gòn"))
    edit(scenario.parent, "staff", lambda rows: rows[0].update(origin_unit="xa binh chanh"))
    problem, issues = load(scenario)
    warnings = of_code(issues, "unit_name_resolved")
    assert [(w.file.rsplit("/", 1)[-1], w.row, w.value) for w in warnings] == [
        ("posts.csv", 2, "Phường Sài Gòn"),
        ("staff.csv", 2, "xa binh chanh"),
    ]
    assert "U1" in warnings[0].message and "U3" in warnings[1].message
    assert problem.units.ids[problem.posts.unit_idx[0]] == "U1"  # type: ignore[attr-defined]
    assert problem.units.ids[problem.staff.origin_idx[0]] == "U3"  # type: ignore[attr-defined]


def test_an_unknown_unit_suggests_the_closest_code_with_its_name(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", lambda rows: rows[0].update(unit_id="Phường Sài Gon Mới"))
    issues = load_issues(scenario)
    [error] = of_code(issues, "unknown_unit")
    assert "U1 (Phường Sài Gòn)" in error.hint


def _numeric_codes(folder: Path, zeros: bool) -> None:
    """Units coded 0100N; references written without the leading zero when ``zeros``."""
    code = {f"U{k}": f"0100{k}" for k in range(1, 6)}
    short = {u: c.lstrip("0") if zeros else c for u, c in code.items()}
    edit(folder, "units", lambda rows: [r.update(unit_id=code[r["unit_id"]]) for r in rows])
    edit(folder, "posts", lambda rows: [r.update(unit_id=short[r["unit_id"]]) for r in rows])
    edit(folder, "pins", lambda rows: [r.update(unit_id=short[r["unit_id"]]) for r in rows])

    def staff(rows: list[dict[str, str]]) -> None:
        for r in rows:
            r["origin_unit"] = short[r["origin_unit"]]
            r["preferences"] = ";".join(short[u] for u in r["preferences"].split(";") if u)
            r["local_units"] = ";".join(short[u] for u in r["local_units"].split(";") if u)

    edit(folder, "staff", staff)


def test_leading_zeros_lost_by_excel_are_explained_once_per_column(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    _numeric_codes(scenario.parent, zeros=True)
    problem, issues = load(scenario)
    lost = of_code(issues, "lost_zeros")
    posts = [w for w in lost if w.file.endswith("posts.csv")]
    assert len(posts) == 1 and str(len(read_rows(scenario.parent / "posts.csv"))) in posts[0].message
    assert "Text" in posts[0].hint or "Văn bản" in posts[0].hint
    assert {w.column for w in lost} >= {"unit_id", "origin_unit"}
    assert set(problem.units.ids) == {f"0100{k}" for k in range(1, 6)}  # type: ignore[attr-defined]
    # the same tables with their zeros: nothing to say
    clean = copy_clean(tmp_path / "again")
    _numeric_codes(clean.parent, zeros=False)
    assert of_code(load(clean)[1], "lost_zeros") == []


def test_staff_ids_in_another_case_are_matched_and_warned(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "relations", lambda rows: rows[0].update(staff_id="s05"))
    edit(scenario.parent, "pins", lambda rows: rows[0].update(staff_id="s08"))
    problem, issues = load(scenario)
    warnings = of_code(issues, "staff_id_case")
    assert {(w.file.rsplit("/", 1)[-1], w.value) for w in warnings} == {
        ("relations.csv", "s05"),
        ("pins.csv", "s08"),
    }
    assert problem.staff.ids[problem.pins.staff_idx[0]] == "S08"  # type: ignore[attr-defined]


def test_staff_ids_differing_only_by_case_are_warned(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", lambda rows: rows[1].update(staff_id="s01"))
    _, issues = load(scenario)
    [warning] = of_code(issues, "staff_id_case_collision")
    assert warning.value == "s01" and "S01" in warning.message and warning.row == 3


def test_a_home_without_coordinates_nor_unit_is_an_error(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", lambda rows: rows[2].update(home_lat="", home_lon=""))
    issues = load_issues(scenario)
    [error] = of_code(issues, "home_missing")
    assert error.row == 4 and error.severity == "error"


def homes_as_units(tmp_path: Path, *written: str) -> Path:
    """The clean scenario whose first people give their home as these units, no coordinates."""
    scenario = copy_clean(tmp_path)

    def homes(rows: list[dict[str, str]]) -> None:
        for row, text in zip(rows, written, strict=False):
            row.update(home_lat="", home_lon="", home_unit=text)
        for row in rows[len(written) :]:
            row["home_unit"] = ""

    edit(scenario.parent, "staff", homes)
    return scenario


def test_a_home_given_as_a_current_unit_takes_its_point_and_is_counted(tmp_path: Path) -> None:
    scenario = homes_as_units(tmp_path, "Phường Bến Thành", "U3")
    problem, issues = load(scenario)
    st, units = problem.staff, problem.units  # type: ignore[attr-defined]
    assert (st.home_lat[0], st.home_lon[0]) == (units.lat[1], units.lon[1])
    assert (st.home_lat[1], st.home_lon[1]) == (units.lat[2], units.lon[2])
    assert list(st.home_approx) == [True, True] + [False] * (len(st.ids) - 2)
    [warning] = of_code(issues, "home_approx")
    assert warning.severity == "warning" and "2" in warning.message
    result = solve(problem)  # type: ignore[arg-type]
    assert solved_run(problem, result).extra_kpis[HOMES_APPROXIMATE] == 2  # type: ignore[arg-type]


@pytest.mark.skipif(shipped_data_dir() is None, reason="the shipped data/hcmc folder is not here")
def test_a_home_given_as_a_former_ward_takes_its_successor_point() -> None:
    places = Gazetteer([], former=True)
    found = places.find("Phường Thắng Tam")  # merged into Phường Vũng Tàu (26506)
    assert found is not None and found.place is not None and found.place.former
    assert float(haversine_km(found.place.lat, found.place.lon, 10.35647, 107.07560)) < 0.01
    ambiguous = places.find("Phường 1")
    assert ambiguous is not None and ambiguous.place is None and len(ambiguous.candidates) > 5
    district = places.find("Phường 1, Thành phố Vũng Tàu")
    assert district is not None and district.place is not None
    assert places.find("25741") is not None  # an old code


def test_an_ambiguous_former_ward_asks_for_its_district(tmp_path: Path) -> None:
    if shipped_data_dir() is None:
        pytest.skip("the shipped data/hcmc folder is not here")
    scenario = homes_as_units(tmp_path, "Phường 1", "Phường Không Có")
    issues = load_issues(scenario)
    [ambiguous] = of_code(issues, "home_unit_ambiguous")
    assert "Quận" in ambiguous.message or "Thành phố" in ambiguous.message
    [unknown] = of_code(issues, "home_unit_unknown")
    assert unknown.row == 3


def test_shipped_successors_have_points() -> None:
    places = Gazetteer([], former=True)
    if places.former is None:
        pytest.skip("the shipped data/hcmc folder is not here")
    assert len(places.former.code) >= 440
    lats = np.array([p.lat for p in places.former.code.values()])
    assert ((lats > 8.5) & (lats < 11.5)).all()


def test_an_unusual_age_names_the_reference_date_day_first(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", lambda rows: rows[0].update(birth_date="15/03/2008"))
    _, issues = load(scenario)
    [warning] = of_code(issues, "age_unusual")
    assert "01/07/2025" in warning.message + warning.hint and "2025-07-01" not in warning.message
