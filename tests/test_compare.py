"""Comparing runs: KPI deltas, per-unit deltas, people placed differently, CSV, CLI."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_kpis import tiny_assignment, tiny_problem
from test_store import new_run, tiny_run

from optimizer.cli import main
from optimizer.compare import compare_runs, initials, redact, write_csv
from optimizer.data import Units
from optimizer.kpi_display import delta_column, flatten_kpis, format_value, kpi_kind
from optimizer.store import RunStore, StoredRun

# Run B of the tiny problem (see test_kpis): s1 moves from U1's chair to U1's office desk
# (same unit, other post), s2 goes to U3 (other unit), s5 is left unplaced and s6 takes
# U2's chair.
B_ASSIGNMENT = np.array([1, 5, 2, 3, -1, 4, 5, -1], dtype=np.int32)


def two_runs(tmp_path: Path) -> tuple[RunStore, StoredRun, StoredRun]:
    store = RunStore(tmp_path / "s.db")
    a = store.get(store.save(tiny_run()))
    b = store.get(store.save(new_run(tiny_problem(), B_ASSIGNMENT, scenario_name="tiny-b")))
    return store, a, b


def test_kpis_side_by_side_with_deltas(tmp_path: Path) -> None:
    _, a, b = two_runs(tmp_path)
    cmp = compare_runs([a, b])
    k = cmp.kpis
    assert list(k.columns) == [a.run_id, b.run_id, delta_column(b.run_id)]
    assert list(k.index[:3]) == ["placed", "unplaced", "unplaced_by_category.civil_servant"]
    d = k[delta_column(b.run_id)]
    # A: placed s1 s2 s3 s4 s5 s7; B: placed s1 s2 s3 s4 s6 s7 → same count
    assert d["placed"] == 0 and d["unplaced"] == 0
    # moves: A = s1 (U2→U1), s5 (U1→U2) = 2; B = s1 (U2→U1), s2 (U1→U3) = 2
    assert k.loc["moves", b.run_id] == 2 and d["moves"] == 0
    # bloc change only by s5 in A
    assert d["bloc_changes"] == -1
    # woman leader: A s1 in U1's chair; B s1 left the chair, s6 (a man) holds U2's
    assert d["units_with_woman_leader"] == -1
    # B: U1's chair is empty (1) and U2's finance desk has one of its two (1): 2 against 1
    assert d["shortfall"] == 1
    assert k.loc["shortfall_by_position.committee_chair", b.run_id] == 1
    assert k.loc["shortfall_by_position.finance", b.run_id] == 1
    assert k.loc["shortfall_by_position.finance", a.run_id] == 0  # absent in A: counts 0
    assert d["fill_rate"] == pytest.approx(0.0)


def test_people_placed_differently_with_both_placements(tmp_path: Path) -> None:
    _, a, b = two_runs(tmp_path)
    people = compare_runs([a, b]).people.set_index("staff_id")
    assert sorted(people.index) == ["s1", "s2", "s5", "s6"]
    assert people.loc["s1", "change"] == "post"
    assert people.loc["s2", "change"] == "unit"
    assert people.loc["s5", "change"] == "status"
    assert people.loc["s6", "change"] == "status"
    assert people.loc["s2", f"unit_id@{a.run_id}"] == "U1"
    assert people.loc["s2", f"unit_id@{b.run_id}"] == "U3"
    assert people.loc["s2", f"unit_name@{b.run_id}"] == "Đặc khu Cồn"
    assert people.loc["s1", f"position@{a.run_id}"] == "committee_chair"
    assert people.loc["s1", f"position@{b.run_id}"] == "office_admin"
    assert people.loc["s5", f"status@{b.run_id}"] == "unplaced"
    assert people.loc["s5", f"unit_id@{b.run_id}"] == ""
    assert people.loc["s6", "full_name"] == "Võ Văn Phúc"


def test_per_unit_deltas(tmp_path: Path) -> None:
    _, a, b = two_runs(tmp_path)
    units = compare_runs([a, b]).units
    assert list(zip(units["unit_id"], units["bloc"], strict=True)) == [
        ("U1", "party"),
        ("U1", "government"),
        ("U2", "government"),
        ("U3", "government"),
    ]
    row = units.set_index(["unit_id", "bloc"])
    rid = b.run_id
    # U1 gov: A filled chair + desk (2); B desk only: s1 (s2 left for U3) → 1
    assert row.loc[("U1", "government"), f"filled@{a.run_id}"] == 2
    assert row.loc[("U1", "government"), f"Δfilled@{rid}"] == -1
    # U3: s7 and s2 in B
    assert row.loc[("U3", "government"), f"Δfilled@{rid}"] == 1
    # B: U1's chair is empty; U2's chair is filled but its finance desk lacks one
    assert row.loc[("U1", "government"), f"Δshortfall@{rid}"] == 1
    assert row.loc[("U2", "government"), f"Δshortfall@{rid}"] == 0
    assert row.loc[("U2", "government"), f"Δmoves@{rid}"] == -1  # s5 came from U1 in A
    # U1 party: s5 (party bloc, from U1) is unplaced in B
    assert row.loc[("U1", "party"), f"Δunplaced_origin@{rid}"] == 1
    assert list(units["changed"]) == [True, True, True, True]


def test_compare_runs_of_different_scenarios(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    a = store.get(store.save(tiny_run()))
    # Another scenario: a fourth unit U4 with one post line; s8 is not on its roster.
    base = tiny_problem(name="bigger")
    units = Units(
        ids=(*base.units.ids, "U4"),
        names=(*base.units.names, "Xã Mới"),
        kinds=(*base.units.kinds, "commune"),
        lat=np.append(base.units.lat, 10.2),
        lon=np.append(base.units.lon, 106.1),
        population=np.append(base.units.population, 1000.0),
        area_km2=np.append(base.units.area_km2, 5.0),
        island=np.append(base.units.island, False),
    )
    p = base.posts
    posts = dataclasses.replace(
        p,
        unit_idx=np.append(p.unit_idx, 3).astype(np.int32),
        bloc=(*p.bloc, "government"),
        department=(*p.department, "dept_economy"),
        position=(*p.position, "finance"),
        category=(*p.category, "civil_servant"),
        min=np.append(p.min, 1),
        max=np.append(p.max, 1),
        leadership=np.append(p.leadership, False),
        non_local=np.append(p.non_local, False),
    )
    s = base.staff
    keep = slice(0, 7)  # drop s8
    staff = dataclasses.replace(
        s,
        ids=s.ids[keep],
        full_name=s.full_name[keep],
        birth_date=s.birth_date[keep],
        gender=s.gender[keep],
        category=s.category[keep],
        bloc=s.bloc[keep],
        positions=s.positions[keep],
        grade=s.grade[keep],
        former_unit=s.former_unit[keep],
        origin_idx=s.origin_idx[keep],
        home_lat=s.home_lat[keep],
        home_lon=s.home_lon[keep],
        local_idx=s.local_idx[keep],
        island_ok=s.island_ok[keep],
        preferences=s.preferences[keep],
    )
    bigger = dataclasses.replace(base, units=units, posts=posts, staff=staff)
    assignment = tiny_assignment()[:7].copy()
    assignment[4] = 6  # s5 goes to U4's finance desk
    b = store.get(store.save(new_run(bigger, assignment)))
    assert b.scenario_name == "bigger" != a.scenario_name
    cmp = compare_runs([a, b])
    assert cmp.kpis.loc["units", delta_column(b.run_id)] == 1
    assert cmp.kpis.loc["quota", delta_column(b.run_id)] == 1
    assert cmp.kpis.loc["unplaced", delta_column(b.run_id)] == -1  # s8 is gone
    # a nested KPI present in one run only counts 0 in the other
    assert cmp.kpis.loc["unplaced_by_category.part_time_worker", b.run_id] == 0
    people = cmp.people.set_index("staff_id")
    assert people.loc["s8", f"status@{b.run_id}"] == "absent"
    assert people.loc["s8", "change"] == "status"
    assert people.loc["s5", "change"] == "unit"
    u4 = cmp.units.set_index(["unit_id", "bloc"]).loc[("U4", "government")]
    assert bool(u4["changed"]) and u4["unit_name"] == "Xã Mới"
    assert pd.isna(u4[f"filled@{a.run_id}"]) and u4[f"filled@{b.run_id}"] == 1
    assert list(cmp.runs["scenario_name"]) == ["tiny", "bigger"]


def test_three_runs_deltas_against_the_first(tmp_path: Path) -> None:
    store, a, b = two_runs(tmp_path)
    c = store.get(store.save(tiny_run(scenario_name="again")))
    cmp = compare_runs([a, b, c])
    assert list(cmp.kpis.columns) == [
        a.run_id,
        b.run_id,
        c.run_id,
        delta_column(b.run_id),
        delta_column(c.run_id),
    ]
    assert (cmp.kpis[delta_column(c.run_id)].dropna() == 0).all()
    same = compare_runs([a, c]).units
    assert not same["changed"].any()
    assert set(cmp.people["staff_id"]) == {"s1", "s2", "s5", "s6"}
    with pytest.raises(ValueError, match="at least two"):
        compare_runs([a])
    with pytest.raises(ValueError, match="distinct"):
        compare_runs([a, a])


def test_write_csv_private_and_redacted(tmp_path: Path) -> None:
    _, a, b = two_runs(tmp_path)
    cmp = compare_runs([a, b])
    files = write_csv(cmp, tmp_path / "out", redacted=True)
    assert sorted(f.name for f in files) == ["kpis.csv", "people.csv", "runs.csv", "units.csv"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f.read_bytes().startswith("\ufeff".encode())
    people = pd.read_csv(tmp_path / "out" / "people.csv", encoding="utf-8-sig", dtype=str)
    assert "Võ Văn Phúc" not in set(people["full_name"])
    assert set(people["full_name"]) == {"N.T.L.", "T.V.B.", "H.V.E.", "V.V.P."}
    assert set(people["birth_date"]) == {"1980", "1975", "1990", "1968"}
    kpis = pd.read_csv(tmp_path / "out" / "kpis.csv", encoding="utf-8-sig")
    assert kpis.iloc[0]["kpi"] == "placed"
    write_csv(cmp, tmp_path / "full")
    full = pd.read_csv(tmp_path / "full" / "people.csv", encoding="utf-8-sig", dtype=str)
    assert "Võ Văn Phúc" in set(full["full_name"])


def test_formatting_and_redaction_helpers() -> None:
    assert initials("Nguyễn Thị  lan") == "N.T.L."
    assert initials("đặng văn an") == "Đ.V.A."
    assert format_value(1234567, "count", "vi") == "1.234.567"
    assert format_value(1234567, "count", "en") == "1,234,567"
    assert format_value(0.755, "rate", "vi") == "75,5 %"
    assert format_value(-0.5, "rate", "en", signed=True) == "-50.0 %"
    assert format_value(2.5, "km", "vi", signed=True) == "+2,50"
    assert format_value(0, "count", "vi", signed=True) == "0"
    assert format_value(-0.00001, "rate", "vi", signed=True) == "0,0 %"  # never "-0,0 %"
    assert format_value(-0.001, "km", "en", signed=True) == "0.00"
    assert format_value(None, "km", "vi") == "–"
    assert format_value(float("nan"), "rate", "en") == "–"
    assert kpi_kind("fill_rate") == "rate" and kpi_kind("commute_p95_km") == "km"
    assert kpi_kind("non_local_compliance") == "rate" and kpi_kind("terms.commute") == "count"
    assert flatten_kpis({"a": 1, "b": {"x": 2}, "c": None}) == {"a": 1, "b.x": 2, "c": None}
    frame = pd.DataFrame({"full_name@r1": ["Lê Văn Cường"], "birth_date": ["1970-03-03"], "x": [1]})
    out = redact(frame)
    assert out.iloc[0].tolist() == ["L.V.C.", "1970", 1]
    assert frame.iloc[0, 0] == "Lê Văn Cường"  # the input is left alone


def test_compare_command(tmp_path: Path) -> None:
    store, a, b = two_runs(tmp_path)
    runner = CliRunner()
    args = ["--lang", "en", "compare", a.run_id, "latest", "--store", str(store.path)]
    assert store.resolve("latest") == b.run_id
    res = runner.invoke(main, [*args, "--csv", str(tmp_path / "csv")], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "People placed differently: 4" in res.output
    assert "Võ Văn Phúc" in res.output
    assert (tmp_path / "csv" / "people.csv").exists()
    same = runner.invoke(main, ["compare", a.run_id, a.run_id[:5], "--store", str(store.path)])
    assert same.exit_code == 2  # usage error: one run twice
    unknown = runner.invoke(main, ["compare", a.run_id, "r0999", "--store", str(store.path)])
    assert unknown.exit_code == 2
    assert "r0999" in unknown.output
