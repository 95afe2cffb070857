"""The synthetic full city: determinism, calibration on DOMAIN, and the data contract."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.data import haversine_km, retirement_date
from optimizer.errors import InputError
from optimizer.synth import (
    TABLE_COLUMNS,
    WORKBOOK_NAME,
    position_balance,
    read_former_units,
    read_units,
    synthesize,
    write_tables,
)

HCMC = Path(__file__).resolve().parents[1] / "data" / "hcmc"
GOV_LEADERSHIP = {
    "committee_chair",
    "committee_vice_chair",
    "council_vice_chair",
    "dept_head",
    "dept_deputy",
    "military_commander",
}
GOV_PROFESSIONAL = {
    "office_admin",
    "justice",
    "foreign_affairs",
    "finance",
    "planning",
    "construction",
    "transport",
    "industry_trade",
    "agriculture",
    "land_environment",
    "home_affairs",
    "ethnic_religion",
    "labour_social",
    "education",
    "culture",
    "science_digital",
    "information",
    "health",
    "public_service_desk",
    "military_assistant",
}
PARTY_LEADERSHIP = {
    "party_secretary",
    "party_deputy_secretary",
    "inspection_chair",
    "party_building_head",
    "party_office_chief",
    "front_chair",
    "front_vice_chair",
}
PARTY_PROFESSIONAL = {
    "party_office_staff",
    "party_building_staff",
    "inspection_staff",
    "front_staff",
}
FAMILY_NAMES = {
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
}
POST_TABLES = ("posts", "posts_transition", "posts_norm2030")
KEY = ["unit_id", "bloc", "department", "position", "category"]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    units = read_units(HCMC / "units.csv")
    former = read_former_units(HCMC / "hcmc_former_units.csv")
    return synthesize(units, seed=0, former_units=former)


def small_units(island: bool = True) -> pd.DataFrame:
    """Six made-up units around a city, one of them an island, without population."""
    return pd.DataFrame(
        {
            "unit_id": ["A1", "A2", "A3", "A4", "A5", "Z9"],
            "name": ["Phường Một", "Phường Hai", "Xã Ba", "Xã Bốn", "Phường Năm", "Đặc khu Sáu"],
            "kind": ["ward", "ward", "commune", "commune", "ward", "special_zone"],
            "lat": [21.00, 21.05, 21.12, 20.95, 21.02, 20.00],
            "lon": [105.80, 105.85, 105.70, 105.75, 105.90, 107.00],
            "island": [False] * 5 + [island],
        }
    )


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    write_tables(tables, tmp_path / "a", formats=("csv",))
    again = synthesize(
        read_units(HCMC / "units.csv"),
        seed=0,
        former_units=read_former_units(HCMC / "hcmc_former_units.csv"),
    )
    write_tables(again, tmp_path / "b", formats=("csv",))
    for name in TABLE_COLUMNS:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (tmp_path / "b" / f"{name}.csv").read_bytes()


def test_other_seed_gives_other_tables() -> None:
    a = synthesize(small_units(), party=300, government=900, seed=1)
    b = synthesize(small_units(), party=300, government=900, seed=2)
    assert not a["staff"].equals(b["staff"])
    assert not a["posts"].equals(b["posts"])
    c = synthesize(small_units(), party=300, government=900, seed=1)
    for name in TABLE_COLUMNS:
        pd.testing.assert_frame_equal(a[name], c[name])


# ----------------------------------------------------------------------------- contract


def test_tables_have_the_contract_columns(tables: dict[str, pd.DataFrame]) -> None:
    assert set(tables) == set(TABLE_COLUMNS)
    for name, frame in tables.items():
        assert tuple(frame.columns) == TABLE_COLUMNS[name], name


def test_post_lines_are_unique_and_sane(tables: dict[str, pd.DataFrame]) -> None:
    units = set(tables["units"]["unit_id"])
    for name in POST_TABLES:
        posts = tables[name]
        assert not posts.duplicated(KEY).any(), name
        assert (posts["min"] >= 0).all() and (posts["min"] <= posts["max"]).all(), name
        assert (posts["max"] > 0).all(), name
        assert set(posts["unit_id"]) == units, name
        non_local = set(posts.loc[posts["non_local"], "position"])
        assert non_local == {"party_secretary", "committee_chair", "inspection_chair"}, name
        lead = posts.loc[posts["leadership"], "position"]
        assert set(lead) == GOV_LEADERSHIP | PARTY_LEADERSHIP, name
        assert (
            set(posts["position"])
            <= GOV_LEADERSHIP | GOV_PROFESSIONAL | PARTY_LEADERSHIP | PARTY_PROFESSIONAL
        )
        single = posts["leadership"] & (posts["max"] == 1)
        assert (posts.loc[single, "min"] == 1).all()
        prof = ~posts["leadership"]
        assert (posts.loc[prof, "min"] == (posts.loc[prof, "max"] * 8) // 10).all()


def test_departments_follow_the_unit_kind(tables: dict[str, pd.DataFrame]) -> None:
    posts = tables["posts"].merge(tables["units"][["unit_id", "kind"]], on="unit_id")
    economy = posts[posts["department"].isin(["dept_economy", "dept_economy_urban"])]
    ward = economy["kind"] == "ward"
    assert (economy.loc[ward, "department"] == "dept_economy_urban").all()
    assert (economy.loc[~ward, "department"] == "dept_economy").all()
    party = posts["bloc"] == "party"
    assert set(posts.loc[party, "department"]) == {
        "party_office",
        "party_building_board",
        "inspection_office",
        "fatherland_front",
    }
    assert set(posts.loc[~party, "department"]) <= {
        "dept_office",
        "dept_economy",
        "dept_economy_urban",
        "dept_culture_social",
        "public_service_center",
        "military_command",
    }


def test_leadership_per_unit(tables: dict[str, pd.DataFrame]) -> None:
    posts = tables["posts"]
    per_unit = posts[posts["leadership"]].pivot_table(
        index="unit_id", columns="position", values="max", aggfunc="sum", fill_value=0
    )
    for one in (
        "party_secretary",
        "inspection_chair",
        "party_building_head",
        "party_office_chief",
        "front_chair",
        "committee_chair",
        "council_vice_chair",
        "military_commander",
    ):
        assert (per_unit[one] == 1).all(), one
    assert per_unit["party_deputy_secretary"].between(1, 2).all()
    assert per_unit["committee_vice_chair"].between(2, 3).all()
    assert per_unit["committee_vice_chair"].mean() <= 2.5
    assert per_unit["front_vice_chair"].between(3, 5).all()
    assert (per_unit["dept_head"] == 4).all()
    assert abs(per_unit["dept_deputy"].mean() / 4 - 2.0) < 0.2


def test_norm_caps_and_norm_formula(tables: dict[str, pd.DataFrame]) -> None:
    units = tables["units"].set_index("unit_id")
    norm = tables["posts_norm2030"]
    gov = norm[(norm["bloc"] == "government") & (norm["department"] != "military_command")]
    total = gov.groupby("unit_id")["max"].sum()
    cap = units["kind"].map({"commune": 50, "ward": 70, "special_zone": 70})
    pop = units["population"].astype(float)
    expected = np.minimum(cap, 32 + np.floor(np.maximum(0, pop - 16000) / 2000)).astype(int)
    assert (total.reindex(units.index) == expected).all()
    assert (total.reindex(units.index) <= cap).all()
    party = norm[norm["bloc"] == "party"].groupby("unit_id")["max"].sum()
    assert party.between(15, 20).all()


# ----------------------------------------------------------------------------- calibration


def test_bloc_totals_are_exact(tables: dict[str, pd.DataFrame]) -> None:
    assert tables["staff"]["bloc"].value_counts().to_dict() == {"government": 12119, "party": 3878}
    assert tables["staff"]["staff_id"].is_unique
    assert tables["staff"]["staff_id"].str.fullmatch(r"HCM\d{6}").all()


def test_category_proportions(tables: dict[str, pd.DataFrame]) -> None:
    share = tables["staff"].groupby("bloc")["category"].value_counts(normalize=True)
    assert 0.04 < share["government", "cadre"] < 0.12
    assert 0.65 < share["government", "civil_servant"] < 0.90
    assert 0.03 < share["government", "public_employee"] < 0.20
    assert 0.02 < share["government", "part_time_worker"] < 0.15
    assert 0.30 < share["party", "cadre"] < 0.60
    assert 0.25 < share["party", "civil_servant"] < 0.60
    assert 0.02 < share["party", "part_time_worker"] < 0.20


def test_surplus_and_shortage_per_position(tables: dict[str, pd.DataFrame]) -> None:
    balance = position_balance(tables["posts"], tables["staff"]).set_index("position")
    surplus, shortage = balance["surplus"].sum(), balance["shortage"].sum()
    assert abs(surplus - 1052) <= 105 and abs(shortage - 935) <= 94
    assert abs((surplus - shortage) - 103) <= 10
    assert len(tables["staff"]) - tables["posts"]["max"].sum() == surplus - shortage
    assert set(balance.index[balance["surplus"] > 0]) == {
        "office_admin",
        "public_service_desk",
        "ethnic_religion",
    }
    assert set(balance.index[balance["shortage"] > 0]) == {
        "health",
        "science_digital",
        "land_environment",
        "construction",
        "finance",
    }


def test_per_unit_balance_varies(tables: dict[str, pd.DataFrame]) -> None:
    net = tables["staff"].groupby("origin_unit").size() - tables["posts"].groupby("unit_id")["max"].sum()
    assert net.max() >= 15 and net.min() <= -10  # HCMC: from +48 to −29 per unit


def test_transition_keeps_everyone(tables: dict[str, pd.DataFrame]) -> None:
    staff = tables["staff"]
    transition = tables["posts_transition"]
    # staff carry no department (a dept_head may head any department), so compare per
    # (unit, bloc, position, category): the quotas equal the people in post
    key = ["unit_id", "bloc", "position", "category"]
    current = staff.assign(position=staff["positions"].str.split(";").str[0], unit_id=staff["origin_unit"])
    people = current.groupby(key).size().rename("people")
    quota = transition.groupby(key)["max"].sum()
    both = pd.concat([people, quota], axis=1)
    assert both.notna().all().all()
    assert (both["max"] == both["people"]).all()
    assert transition["max"].sum() == len(staff)
    posts = tables["posts"].set_index(KEY)
    assert transition.set_index(KEY).index.isin(posts.index).all()


def test_norm_2030_shows_the_surplus(tables: dict[str, pd.DataFrame]) -> None:
    norm = tables["posts_norm2030"]["max"].sum()
    posts = tables["posts"]["max"].sum()
    assert norm < posts < len(tables["staff"])
    assert len(tables["staff"]) - norm > 1000


# ----------------------------------------------------------------------------- people


def test_names_and_dates(tables: dict[str, pd.DataFrame]) -> None:
    staff = tables["staff"]
    assert all(unicodedata.is_normalized("NFC", n) for n in staff["full_name"])
    parts = staff["full_name"].str.split(" ")
    assert parts.str.len().between(3, 4).all()
    assert set(parts.str[0]) <= FAMILY_NAMES
    assert parts.str[0].value_counts(normalize=True)["Nguyễn"] > 0.2
    assert set(staff["gender"]) == {"F", "M"}
    assert staff["birth_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    birth = pd.to_datetime(staff["birth_date"]).to_numpy().astype("datetime64[D]")
    age = (np.datetime64("2025-07-01") - birth).astype(int) / 365.25
    assert age.min() >= 22 and age.max() < 62
    retire = retirement_date(birth, tuple(staff["gender"]))
    left = retire.astype("datetime64[M]").astype(int) - np.datetime64("2025-07", "M").astype(int)
    assert (left >= 1).all()
    leader = staff["positions"].str.split(";").str[0].isin(GOV_LEADERSHIP | PARTY_LEADERSHIP)
    short = leader & (left < 60)
    assert 0 < short.sum() < 0.05 * leader.sum()  # service_left binds for a few leaders


def test_positions_lists(tables: dict[str, pd.DataFrame]) -> None:
    staff = tables["staff"]
    lists = staff["positions"].str.split(";")
    allowed = GOV_LEADERSHIP | GOV_PROFESSIONAL | PARTY_LEADERSHIP | PARTY_PROFESSIONAL
    assert all(set(p) <= allowed and len(p) == len(set(p)) for p in lists)
    extra = lists.str.len() - 1
    assert extra.max() <= 3
    assert 0.2 < (extra > 0).mean() < 0.6
    offered = set(zip(tables["posts"]["position"], tables["posts"]["category"], strict=True))
    assert all((p[0], c) in offered for p, c in zip(lists, staff["category"], strict=True))


def test_homes_locality_and_island(tables: dict[str, pd.DataFrame]) -> None:
    staff, units = tables["staff"], tables["units"].set_index("unit_id")
    origin = units.loc[staff["origin_unit"]]
    dist = (
        haversine_km(
            staff["home_lat"].to_numpy(),
            staff["home_lon"].to_numpy(),
            origin["lat"].to_numpy(),
            origin["lon"].to_numpy(),
        )
        * 1.3
    )
    beyond = (dist > 30).mean()
    assert 0.01 < beyond < 0.05  # a tail of long commuters: the commute cap binds
    local = staff["local_units"].str.split(";")
    assert (local.str[0] == staff["origin_unit"]).all() and local.str.len().between(1, 2).all()
    island = units.index[units["island"]][0]
    on_island = staff["origin_unit"] == island
    assert staff.loc[on_island, "island_ok"].all()
    volunteers = staff["island_ok"] & ~on_island
    assert 10 <= volunteers.sum() <= 200
    prefs = staff["preferences"].fillna("")
    assert 0.25 < (prefs != "").mean() < 0.35
    assert prefs[prefs != ""].str.split(";").str.len().between(1, 3).all()
    known = set(units.index)
    assert all(set(p.split(";")) <= known for p in prefs[prefs != ""])


def test_former_units_map_to_the_origin_unit(tables: dict[str, pd.DataFrame]) -> None:
    former = pd.read_csv(HCMC / "hcmc_former_units.csv", dtype=str)
    names = tables["units"].set_index("name")["unit_id"]
    allowed: dict[str, set[str]] = {}
    for row in former.itertuples():
        label = row.old_name if row.old_district == row.old_name else f"{row.old_name}, {row.old_district}"
        for new in row.new_unit_name.split("; "):
            allowed.setdefault(names[new], set()).add(label)
    staff = tables["staff"]
    assert all(f in allowed[u] for f, u in zip(staff["former_unit"], staff["origin_unit"], strict=True))
    assert staff["former_unit"].nunique() > 400


def test_pins_fix_qualified_non_local_people(tables: dict[str, pd.DataFrame]) -> None:
    pins, staff, posts = tables["pins"], tables["staff"].set_index("staff_id"), tables["posts"]
    units = tables["units"].set_index("unit_id")
    assert 250 <= len(pins) <= 400 and (pins["mode"] == "fix").all()
    assert pins["staff_id"].is_unique
    assert set(pins["position"]) == {"committee_chair", "committee_vice_chair"}
    person = staff.loc[pins["staff_id"]]
    for pin, who in zip(pins.itertuples(), person.itertuples(), strict=True):
        assert pin.position in who.positions.split(";")
        line = posts[
            (posts["unit_id"] == pin.unit_id)
            & (posts["position"] == pin.position)
            & (posts["category"] == who.category)
        ]
        assert len(line) == 1
        assert pin.unit_id not in who.local_units.split(";")
        if units.at[pin.unit_id, "island"]:
            assert who.island_ok
        else:
            d = haversine_km(
                np.array(who.home_lat),
                np.array(who.home_lon),
                np.array(units.at[pin.unit_id, "lat"]),
                np.array(units.at[pin.unit_id, "lon"]),
            )
            assert float(d) * 1.3 <= 30.0
    per_line = pins.groupby(["unit_id", "position"]).size()
    maxima = posts.groupby(["unit_id", "position"])["max"].sum()
    assert (per_line <= maxima.reindex(per_line.index)).all()
    birth = pd.to_datetime(person["birth_date"]).to_numpy().astype("datetime64[D]")
    left = retirement_date(birth, tuple(person["gender"])).astype("datetime64[M]").astype(int)
    assert (left - np.datetime64("2025-07", "M").astype(int) >= 60).all()


def test_relations(tables: dict[str, pd.DataFrame]) -> None:
    rel, staff = tables["relations"], tables["staff"].set_index("staff_id")
    assert 0.008 * len(staff) <= len(rel) <= 0.012 * len(staff)
    assert set(rel["relation"]) <= {"spouse", "parent", "child", "sibling", "in_law"}
    assert {"spouse", "sibling"} <= set(rel["relation"])
    people = pd.concat([rel["staff_id"], rel["relative_id"]])
    assert people.is_unique and people.isin(staff.index).all()
    assert not people.isin(tables["pins"]["staff_id"]).any()
    a, b = staff.loc[rel["staff_id"]], staff.loc[rel["relative_id"]]
    same = a["origin_unit"].to_numpy() == b["origin_unit"].to_numpy()
    assert 0.4 < same.mean() < 0.6
    lead = GOV_LEADERSHIP | PARTY_LEADERSHIP
    a_lead = a["positions"].str.split(";").str[0].isin(lead).to_numpy()
    b_lead = b["positions"].str.split(";").str[0].isin(lead).to_numpy()
    assert (same & (a_lead | b_lead)).sum() >= 10  # the relatives rule binds
    spouses = (rel["relation"] == "spouse").to_numpy()
    assert (a["gender"].to_numpy()[spouses] != b["gender"].to_numpy()[spouses]).all()
    siblings = (rel["relation"] == "sibling").to_numpy()
    fam_a = a["full_name"].str.split(" ").str[0].to_numpy()
    fam_b = b["full_name"].str.split(" ").str[0].to_numpy()
    assert (fam_a[siblings] == fam_b[siblings]).all()


# ----------------------------------------------------------------------------- any units


def test_any_units_table_without_population_or_former_units() -> None:
    tables = synthesize(small_units(), party=200, government=700, seed=3, id_prefix="X")
    staff = tables["staff"]
    assert staff["bloc"].value_counts().to_dict() == {"government": 700, "party": 200}
    assert staff["staff_id"].str.startswith("X").all()
    assert staff.loc[staff["origin_unit"] == "Z9", "island_ok"].all()
    # invented former units are named after the origin unit
    names = tables["units"].set_index("unit_id")["name"]
    assert all(
        f.startswith(names[u] + " ") for f, u in zip(staff["former_unit"], staff["origin_unit"], strict=True)
    )
    norm = tables["posts_norm2030"]
    gov = norm[(norm["bloc"] == "government") & (norm["department"] != "military_command")]
    assert (gov.groupby("unit_id")["max"].sum() == 32).all()  # unknown population: 32
    balance = position_balance(tables["posts"], staff)
    assert balance["surplus"].sum() == round(700 * 1045 / 12119)


def test_too_few_people_is_an_input_error() -> None:
    with pytest.raises(InputError) as err:
        synthesize(small_units(), party=20, government=40)
    assert {i.file for i in err.value.issues} == {"--party", "--government"}


# ----------------------------------------------------------------------------- files


def test_write_tables_csv_and_workbook(tmp_path: Path) -> None:
    tables = synthesize(small_units(), party=200, government=700, seed=0)
    written = write_tables(tables, tmp_path)
    assert {p.name for p in written} == {f"{n}.csv" for n in TABLE_COLUMNS} | {WORKBOOK_NAME}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    posts = (tmp_path / "posts.csv").read_text(encoding="utf-8")
    assert ",true," in posts and ",false" in posts and "True" not in posts
    staff = pd.read_csv(tmp_path / "staff.csv", dtype=str, keep_default_na=False)
    assert staff["staff_id"].tolist() == tables["staff"]["staff_id"].tolist()
    assert set(staff["island_ok"]) == {"true", "false"}
    assert staff["positions"].tolist() == tables["staff"]["positions"].tolist()
    assert np.allclose(staff["home_lat"].astype(float), tables["staff"]["home_lat"])
    book = pd.read_excel(tmp_path / WORKBOOK_NAME, sheet_name=None, engine="calamine")
    assert list(book) == list(TABLE_COLUMNS)
    for name, frame in book.items():
        assert len(frame) == len(tables[name]) and list(frame.columns) == list(TABLE_COLUMNS[name])
    assert book["units"]["unit_id"].map(type).eq(str).all()


def test_read_units_reports_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "unit_id,name,kind,lat,lon\nA,Phường A,ward,10.0,106.0\nA,Xã B,village,abc,106.1\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        read_units(path)
    found = {(i.row, i.column) for i in err.value.issues}
    assert found == {(3, "unit_id"), (3, "kind"), (3, "lat")}
    path.write_text("unit_id,name,lat\nA,Phường A,10.0\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_units(path)
    assert {i.column for i in err.value.issues} == {"kind", "lon"}
