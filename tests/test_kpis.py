"""Every KPI on a tiny hand-made run, against values worked out by hand.

The tiny run (built by :func:`tiny_problem` and :func:`tiny_assignment`, also used by the
store, compare and report tests):

units  U1 "Phường An" (10.0, 106.0), U2 "Xã Bình" (10.1, 106.0), U3 "Đặc khu Cồn" island.
post lines (unit, bloc, position, min..max, flags)
  0  U1 government committee_chair   1..1  leadership, non_local
  1  U1 government office_admin      1..2
  2  U1 party      party_secretary   1..1  leadership, non_local
  3  U2 government finance           2..2
  4  U2 government committee_chair   1..1  leadership, non_local
  5  U3 government office_admin      1..1
people (gender, current bloc, positions, origin, home, local to, preferences) → post
  s1 F gov   chair;office_admin   U2  home U1  local U2  prefs U1        → 0
  s2 M gov   office_admin         U1  home U1  local U1                  → 1
  s3 M party party_secretary      U1  home U1  local U1                  → 2
  s4 F gov   finance              U2  home U1  local U2  prefs U1,U2,U3  → 3
  s5 M party finance (civil serv.) U1 home U2  local U1  prefs U3        → 3
  s6 M gov   committee_chair      U2  home U2  local U2                  → unplaced
  s7 F gov   office_admin;finance U3  home U3  local U3                  → 5
  s8 M gov   public_service_desk (part-time) U1 home U1                  → unplaced
relatives: s2–s3 (s3 leads in U1, where s2 also works: a conflict under scope
"leadership").  long_commute_km = 10.

U1→U2 is 0.1° of latitude: 6371.0088 km × 0.1 × π/180 = 11.11951 km, × road factor 1.3
= 14.45536 km (computed in float32).  Only s4 commutes (home U1, unit U2).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from optimizer.data import (
    Int32Array,
    Posts,
    Problem,
    Relations,
    Rules,
    Staff,
    Units,
)
from optimizer.kpis import (
    BALANCE_COLUMNS,
    UNIT_KPI_COLUMNS,
    compute_kpis,
    objective_terms,
    position_balance,
    unit_kpis,
)
from optimizer.placement_tables import RunTables, run_tables
from optimizer.rules.reason import Reason

D_U1_U2 = 6371.0088 * math.radians(0.1) * 1.3  # 14.45536 km
KM = {"abs": 1e-5}  # the distance matrix is float32


def tiny_problem(rules: Rules | None = None, name: str = "tiny") -> Problem:
    """The hand-checkable problem of the module docstring."""
    units = Units(
        ids=("U1", "U2", "U3"),
        names=("Phường An", "Xã Bình", "Đặc khu Cồn"),
        kinds=("ward", "commune", "special_zone"),
        lat=np.array([10.0, 10.1, 8.7]),
        lon=np.array([106.0, 106.0, 106.6]),
        population=np.array([50_000.0, 20_000.0, np.nan]),
        area_km2=np.array([10.0, 80.0, np.nan]),
        island=np.array([False, False, True]),
    )
    posts = Posts(
        unit_idx=np.array([0, 0, 0, 1, 1, 2], dtype=np.int32),
        bloc=("government", "government", "party", "government", "government", "government"),
        department=(
            "dept_office",
            "dept_office",
            "party_office",
            "dept_economy",
            "dept_office",
            "dept_office",
        ),
        position=(
            "committee_chair",
            "office_admin",
            "party_secretary",
            "finance",
            "committee_chair",
            "office_admin",
        ),
        category=(
            "civil_servant",
            "civil_servant",
            "cadre",
            "civil_servant",
            "civil_servant",
            "civil_servant",
        ),
        min=np.array([1, 1, 1, 2, 1, 1]),
        max=np.array([1, 2, 1, 2, 1, 1]),
        leadership=np.array([True, False, True, False, True, False]),
        non_local=np.array([True, False, True, False, True, False]),
    )
    home = {0: (10.0, 106.0), 1: (10.1, 106.0), 2: (8.7, 106.6)}
    homes = [0, 0, 0, 0, 1, 1, 2, 0]
    staff = Staff(
        ids=("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"),
        full_name=(
            "Nguyễn Thị Lan",
            "Trần Văn Bình",
            "Lê Văn Cường",
            "Phạm Thị Dung",
            "Hoàng Văn Em",
            "Võ Văn Phúc",
            "Đặng Thị Giang",
            "Bùi Văn Hải",
        ),
        birth_date=np.array(
            [
                "1980-01-15",
                "1975-05-20",
                "1970-03-03",
                "1985-07-07",
                "1990-09-09",
                "1968-12-12",
                "1979-02-02",
                "1995-11-11",
            ],
            dtype="datetime64[D]",
        ),
        gender=("F", "M", "M", "F", "M", "M", "F", "M"),
        category=(
            "civil_servant",
            "civil_servant",
            "cadre",
            "civil_servant",
            "civil_servant",
            "civil_servant",
            "civil_servant",
            "part_time_worker",
        ),
        bloc=(
            "government",
            "government",
            "party",
            "government",
            "party",
            "government",
            "government",
            "government",
        ),
        positions=(
            ("committee_chair", "office_admin"),
            ("office_admin",),
            ("party_secretary",),
            ("finance",),
            ("finance",),
            ("committee_chair",),
            ("office_admin", "finance"),
            ("public_service_desk",),
        ),
        grade=("", "", "", "", "", "", "", ""),
        former_unit=(
            "Phường 1",
            "Phường 2",
            "Phường 3",
            "Xã X",
            "Phường 4",
            "Xã Y",
            "Huyện Z",
            "Phường 5",
        ),
        origin_idx=np.array([1, 0, 0, 1, 0, 1, 2, 0], dtype=np.int32),
        home_lat=np.array([home[h][0] for h in homes]),
        home_lon=np.array([home[h][1] for h in homes]),
        local_idx=((1,), (0,), (0,), (1,), (0,), (1,), (2,), (0,)),
        island_ok=np.array([False, False, False, False, False, False, True, False]),
        preferences=((0,), (), (), (0, 1, 2), (2,), (), (), ()),
    )
    relations = Relations(np.array([1], np.int32), np.array([2], np.int32), ("spouse",))
    return Problem(
        name=name,
        units=units,
        posts=posts,
        staff=staff,
        relations=relations,
        rules=rules or Rules(long_commute_km=10.0),
    )


def tiny_assignment() -> Int32Array:
    """The placement of the module docstring (post line per person, -1 unplaced)."""
    return np.array([0, 1, 2, 3, 3, -1, 5, -1], dtype=np.int32)


def tiny_tables(rules: Rules | None = None) -> tuple[Problem, RunTables]:
    """The tiny problem and the tables of its hand-made placement."""
    problem = tiny_problem(rules)
    reasons = {5: Reason("non_local"), 7: Reason("qualification")}
    return problem, run_tables(problem, tiny_assignment(), reasons)


def test_city_kpis_match_hand_computed_values() -> None:
    problem, tables = tiny_tables()
    k = compute_kpis(tables, problem.rules)
    assert k["placed"] == 6
    assert k["unplaced"] == 2
    assert k["unplaced_by_category"] == {"civil_servant": 1, "part_time_worker": 1}
    assert k["unplaced_by_position"] == {"committee_chair": 1, "public_service_desk": 1}
    assert k["quota"] == 8  # 1 + 2 + 1 + 2 + 1 + 1
    assert k["min_total"] == 7
    assert k["shortfall"] == 1  # the empty chair of U2
    assert k["shortfall_by_position"] == {"committee_chair": 1}
    assert k["fill_rate"] == pytest.approx(6 / 8)
    # distances of the six placed: 0, 0, 0, 14.45536 (s4), 0 (s5), 0 (s7)
    assert k["commute_mean_km"] == pytest.approx(D_U1_U2 / 6, **KM)
    assert k["commute_median_km"] == 0.0
    assert k["commute_p95_km"] == pytest.approx(0.75 * D_U1_U2, **KM)  # rank 4.75 of 0..5
    assert k["commute_max_km"] == pytest.approx(D_U1_U2, **KM)
    assert k["long_commute"] == 1
    assert k["moves"] == 2  # s1 U2→U1, s5 U1→U2
    assert k["bloc_changes"] == 1  # s5 party → government
    assert k["preference_listed"] == 3  # s1, s4, s5
    assert k["preference_first"] == 1  # s1
    assert k["preference_top3"] == 3  # s1 rank 1, s4 rank 2, s5 rank 2 (not listed: 1 + 1)
    assert k["units"] == 3
    assert k["units_with_leadership"] == 2  # U1, U2
    assert k["units_with_woman_leader"] == 1  # U1 (s1)
    assert k["woman_leader_rate"] == pytest.approx(0.5)
    assert k["non_local_filled"] == 2  # s1 on line 0, s3 on line 2
    assert k["non_local_compliant"] == 1  # s3 is local to U1
    assert k["non_local_compliance"] == pytest.approx(0.5)
    assert k["relatives_conflicts"] == 1
    assert k["surplus"] == 2  # s6 (committee_chair), s8 (public_service_desk)
    assert k["shortage"] == 2  # one committee_chair, one office_admin left vacant
    assert k["surplus_by_position"] == {"committee_chair": 1, "public_service_desk": 1}
    assert k["shortage_by_position"] == {"committee_chair": 1, "office_admin": 1}
    assert k["terms"] == {
        "shortfall": 10,  # a leadership line counts 10 times
        "unplaced": 2,
        "moves": 3,  # 2 moves + 1 bloc change (bloc_change = "penalize")
        "long_commute": 1,
        "commute": 145,  # 14.455 km in units of 100 m, rounded
        "preference": 2,  # (1 - 1) + (2 - 1) + (2 - 1)
    }


def test_kpis_are_json_able_and_follow_rules() -> None:
    import json

    problem, tables = tiny_tables(Rules(long_commute_km=20.0, bloc_change="allow"))
    k = compute_kpis(tables, problem.rules)
    assert json.loads(json.dumps(k)) == k
    assert k["long_commute"] == 0  # 14.455 km is under 20 km
    assert k["terms"]["moves"] == 2  # bloc changes are not penalised under "allow"


def test_relatives_scope_off_has_no_conflict() -> None:
    problem, tables = tiny_tables(Rules(long_commute_km=10.0, relatives_scope="off"))
    assert compute_kpis(tables, problem.rules)["relatives_conflicts"] == 0


def test_position_balance_by_hand() -> None:
    _, tables = tiny_tables()
    bal = position_balance(tables)
    assert list(bal.columns) == list(BALANCE_COLUMNS)
    got = bal.set_index("position")
    assert list(got.index) == [
        "committee_chair",
        "finance",
        "office_admin",
        "party_secretary",
        "public_service_desk",
    ]
    assert got.loc["committee_chair", ["quota", "min", "placed", "shortfall", "shortage"]].tolist() == [
        2,
        2,
        1,
        1,
        1,
    ]
    assert got.loc["committee_chair", ["surplus", "net"]].tolist() == [1, 0]
    assert got.loc["office_admin", ["quota", "placed", "shortage", "surplus", "net"]].tolist() == [
        3,
        2,
        1,
        0,
        -1,
    ]
    assert got.loc["public_service_desk", ["quota", "surplus", "net"]].tolist() == [0, 1, 1]
    assert got.loc["finance", "unplaced_qualified"] == 0
    assert got.loc["committee_chair", "unplaced_qualified"] == 1


def test_unit_kpis_by_hand() -> None:
    problem, tables = tiny_tables()
    uk = unit_kpis(tables, problem.rules)
    assert list(uk.columns) == list(UNIT_KPI_COLUMNS)
    assert list(zip(uk["unit_id"], uk["bloc"], strict=True)) == [
        ("U1", "party"),
        ("U1", "government"),
        ("U2", "government"),
        ("U3", "government"),
    ]
    row = uk.set_index(["unit_id", "bloc"])
    u1g = row.loc[("U1", "government")]
    assert (u1g["lines"], u1g["quota"], u1g["filled"], u1g["vacant"]) == (2, 3, 2, 1)
    assert u1g["fill_rate"] == pytest.approx(2 / 3)
    assert bool(u1g["woman_leader"]) is True
    assert (u1g["moves"], u1g["non_local_filled"], u1g["non_local_compliant"]) == (1, 1, 1)
    assert (u1g["relatives_conflicts"], u1g["unplaced_origin"]) == (1, 1)  # s2; s8
    u1p = row.loc[("U1", "party")]
    assert bool(u1p["woman_leader"]) is False
    assert (u1p["non_local_filled"], u1p["non_local_compliant"], u1p["relatives_conflicts"]) == (
        1,
        0,
        1,
    )
    u2 = row.loc[("U2", "government")]
    assert (u2["shortfall"], u2["vacant"], u2["bloc_changes"], u2["long_commute"]) == (1, 1, 1, 1)
    assert u2["commute_mean_km"] == pytest.approx(D_U1_U2 / 2, **KM)
    assert u2["commute_max_km"] == pytest.approx(D_U1_U2, **KM)
    assert u2["unplaced_origin"] == 1  # s6
    assert (u2["lat"], u2["lon"]) == (10.1, 106.0)
    assert row.loc[("U3", "government"), "unit_name"] == "Đặc khu Cồn"


def test_unit_kpis_sum_to_city_kpis() -> None:
    problem, tables = tiny_tables()
    k = compute_kpis(tables, problem.rules)
    for by_bloc in (True, False):
        uk = unit_kpis(tables, problem.rules, by_bloc=by_bloc)
        assert uk["filled"].sum() == k["placed"]
        assert uk["shortfall"].sum() == k["shortfall"]
        assert uk["moves"].sum() == k["moves"]
        assert uk["long_commute"].sum() == k["long_commute"]
        assert uk["unplaced_origin"].sum() == k["unplaced"]
        assert uk["relatives_conflicts"].sum() == 2 * k["relatives_conflicts"]
    per_unit = unit_kpis(tables, problem.rules, by_bloc=False)
    assert list(per_unit["unit_id"]) == ["U1", "U2", "U3"]
    assert set(per_unit["bloc"]) == {"all"}
    assert per_unit["woman_leader"].sum() == k["units_with_woman_leader"]


def test_empty_placement_has_undefined_rates() -> None:
    problem = tiny_problem()
    tables = run_tables(problem, np.full(problem.num_staff, -1, dtype=np.int32))
    k = compute_kpis(tables, problem.rules)
    assert (k["placed"], k["unplaced"], k["shortfall"]) == (0, 8, 7)
    assert k["fill_rate"] == 0.0
    assert k["commute_mean_km"] is None and k["commute_max_km"] is None
    assert k["non_local_compliance"] is None and k["woman_leader_rate"] == 0.0
    uk = unit_kpis(tables, problem.rules)
    assert uk["filled"].sum() == 0
    assert uk["unplaced_origin"].sum() == 8


def test_objective_terms_match_tables_after_reordering() -> None:
    problem, tables = tiny_tables()
    shuffled = RunTables(
        tables.placements.sample(frac=1.0, random_state=1),
        tables.unplaced.iloc[::-1],
        tables.units.iloc[::-1],
    )
    assert objective_terms(shuffled, problem.rules) == objective_terms(tables, problem.rules)
    assert compute_kpis(shuffled, problem.rules)["terms"] == compute_kpis(tables, problem.rules)["terms"]


def test_woman_leader_needs_a_leadership_post() -> None:
    # s4 (a woman) is in U2 but not on a leadership line: U2 has no woman leader.
    problem, tables = tiny_tables()
    pl = tables.placements
    assert pl.loc[pl["staff_id"] == "s4", "unit_id"].item() == "U2"
    uk = unit_kpis(tables, problem.rules, by_bloc=False).set_index("unit_id")
    assert not bool(uk.loc["U2", "woman_leader"])
    # Put a woman in U2's chair instead of leaving it empty.
    staff = dataclasses.replace(problem.staff, gender=("F",) * problem.num_staff)
    p2 = dataclasses.replace(problem, staff=staff)
    a = tiny_assignment()
    a[5] = 4
    t2 = run_tables(p2, a)
    assert compute_kpis(t2, p2.rules)["units_with_woman_leader"] == 2


def test_every_kpi_and_column_has_a_label_in_both_languages() -> None:
    from optimizer.data import CATEGORIES, TERMS
    from optimizer.i18n import catalogue

    problem, tables = tiny_tables()
    keys = [f"kpi.{k}" for k in compute_kpis(tables, problem.rules)]
    keys += [f"kpi.terms.{term}" for term in TERMS]
    keys += [f"kpi.category.{c}" for c in CATEGORIES]
    keys += [f"kpi.unit.{c}" for c in UNIT_KPI_COLUMNS]
    keys += [f"kpi.balance.{c}" for c in BALANCE_COLUMNS]
    texts = catalogue()
    missing = [k for k in keys if k not in texts]
    assert missing == []
    assert all(texts[k]["vi"] and texts[k]["en"] and texts[k]["vi"] != texts[k]["en"] for k in keys)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_terms_recomputed_from_tables_equal_the_solvers_values(seed: int) -> None:
    from test_store import random_problem

    from optimizer.solve import solve

    for problem in (tiny_problem(), random_problem(500, num_units=8, seed=seed)):
        result = solve(problem)
        tables = run_tables(problem, result.assignment, result.unplaced_reasons)
        assert objective_terms(tables, problem.rules) == result.values
        assert compute_kpis(tables, problem.rules)["placed"] == result.num_placed
