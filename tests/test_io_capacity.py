"""Capacity checks across tables: unreachable minimums, over-subscribed positions,
people no post line can take, fixes that break commute_cap or island.

Each case changes the clean fixture so that exactly one such problem appears; where the
outcome rests on a distance, the test first asserts that distance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_io_tiny import CLEAN, copy_clean, load_issues, read_rows, write_rows

from optimizer.data import Problem, haversine_km
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


@pytest.fixture(scope="module")
def clean() -> Problem:
    return load_problem(load_scenario(CLEAN / "scenario.toml"))[0]


def edit(folder: Path, table: str, staff_or_row: str | int, **cells: str) -> None:
    """Change cells of one row, found by staff id (staff) or by Excel row."""
    path = folder / f"{table}.csv"
    rows = read_rows(path)
    if isinstance(staff_or_row, str):
        target = next(r for r in rows if r["staff_id"] == staff_or_row)
    else:
        target = rows[staff_or_row - 2]
    target.update(cells)
    write_rows(path, rows)


def add_pin(folder: Path, **cells: str) -> None:
    rows = read_rows(folder / "pins.csv")
    rows.append({k: cells.get(k, "") for k in rows[0]})
    write_rows(folder / "pins.csv", rows)


def road_km(problem: Problem, staff_id: str, unit_id: str) -> float:
    i, u = problem.staff.id2idx[staff_id], problem.units.id2idx[unit_id]
    return float(problem.dist_km[i, u])


def located(issues: list) -> list[tuple[str, str, int | None, str]]:
    return [(i.code, i.severity, i.row, Path(i.file).stem) for i in issues]


def test_minimum_nobody_else_can_reach_warns(tmp_path: Path, clean: Problem) -> None:
    # U4's finance line (Excel row 10) asks for 2, U3's (row 8) for none: the two finance
    # people suffice in total, but S05 lives too far from U4.
    assert road_km(clean, "S05", "U4") > clean.rules.max_commute_km
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", 8, min="0")
    edit(scenario.parent, "posts", 10, min="2")
    _, warnings = load_problem(load_scenario(scenario))
    assert located(warnings) == [("post_min_unreachable", "warning", 10, "posts")]
    assert "1" in warnings[0].message


def test_minimum_out_of_reach_is_an_error_when_min_is_hard(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", 8, min="0")
    edit(scenario.parent, "posts", 10, min="2")
    issues = load_issues(scenario, ("rules.min_is_hard=true",))
    assert located(issues) == [("post_min_unreachable", "error", 10, "posts")]


def test_island_minimum_counts_only_island_ok_people(tmp_path: Path, clean: Problem) -> None:
    # Côn Đảo's desk (row 12) asks for 2; S04, S06 and S12 hold the position but are not island_ok.
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", 12, min="2", max="2")
    _, warnings = load_problem(load_scenario(scenario))
    assert located(warnings) == [("post_min_island", "warning", 12, "posts")]


def test_total_minimum_of_a_position_above_its_people_warns(tmp_path: Path, clean: Problem) -> None:
    chairs = sum(pos == ("committee_chair",) for pos in clean.staff.positions)
    assert int(clean.posts.min[np.array(clean.posts.position) == "committee_chair"].sum()) == chairs
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "posts", 5, min="2", max="2")  # U2's chair line
    _, warnings = load_problem(load_scenario(scenario))
    assert [(w.code, w.value) for w in warnings] == [("position_total", "committee_chair")]


def test_person_living_far_from_every_post_warns(tmp_path: Path, clean: Problem) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", "S12", home_lat="10.3500", home_lon="107.0800")  # Vũng Tàu
    problem, warnings = load_problem(load_scenario(scenario))
    i = problem.staff.id2idx["S12"]
    assert problem.dist_km[i, ~problem.units.island].min() > problem.rules.max_commute_km
    assert located(warnings) == [("person_no_post", "warning", 12, "staff")]


def test_person_without_a_post_is_an_error_when_all_must_be_placed(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", "S12", home_lat="10.3500", home_lon="107.0800")
    issues = load_issues(scenario, ("rules.require_all_placed=true",))
    assert located(issues) == [("person_no_post", "error", 12, "staff")]


def test_leadership_needs_service_left(tmp_path: Path) -> None:
    # Born June 1966, S01 retires in 2028: 36 months after 2025-07-01, short of 60.
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", "S01", birth_date="1966-06-01")
    problem, warnings = load_problem(load_scenario(scenario))
    assert 0 < problem.months_left[0] < problem.rules.min_service_months
    assert located(warnings) == [("person_no_post", "warning", 2, "staff")]
    relaxed, none = load_problem(load_scenario(scenario, ["rules.min_service_months=12"]))
    assert none == [] and relaxed.rules.min_service_months == 12


def test_non_local_posts_exclude_local_people(tmp_path: Path) -> None:
    # S02 declared local to U1 and U2, whose chair lines are non_local: no post left for S02.
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", "S02", local_units="U1;U2")
    _, warnings = load_problem(load_scenario(scenario))
    assert located(warnings) == [("person_no_post", "warning", 3, "staff")]


def test_bloc_change_forbid_keeps_people_in_their_bloc(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    edit(scenario.parent, "staff", "S10", bloc="government")  # S10's only line is in the party bloc
    assert load_problem(load_scenario(scenario))[1] == []
    _, warnings = load_problem(load_scenario(scenario, ["rules.bloc_change=forbid"]))
    assert located(warnings) == [("person_no_post", "warning", 11, "staff")]


def test_fix_beyond_the_commute_cap_warns(tmp_path: Path, clean: Problem) -> None:
    assert road_km(clean, "S05", "U4") > clean.rules.max_commute_km
    scenario = copy_clean(tmp_path)
    add_pin(scenario.parent, staff_id="S05", unit_id="U4", position="finance", mode="fix")
    _, warnings = load_problem(load_scenario(scenario))
    assert located(warnings) == [("pin_far", "warning", 4, "pins")]
    assert f"{road_km(clean, 'S05', 'U4'):.1f}" in warnings[0].message


def test_fix_on_the_island_for_someone_not_island_ok_warns(tmp_path: Path) -> None:
    scenario = copy_clean(tmp_path)
    add_pin(scenario.parent, staff_id="S04", unit_id="U5", position="public_service_desk", mode="fix")
    _, warnings = load_problem(load_scenario(scenario))
    assert located(warnings) == [("pin_island", "warning", 4, "pins")]


def test_island_units_ignore_the_commute_cap(clean: Problem) -> None:
    from optimizer.rules.pair import reachable

    reach = reachable(clean)
    u = clean.units.id2idx["U5"]
    km = haversine_km(clean.staff.home_lat, clean.staff.home_lon, clean.units.lat[u], clean.units.lon[u])
    assert np.array_equal(reach[:, u], clean.staff.island_ok)
    assert (km[clean.staff.island_ok] * clean.rules.road_factor < clean.rules.max_commute_km).all()
    assert (km[~clean.staff.island_ok] > 100).all()
