"""Scenario files: extends chains, relative paths, --set overrides, every key error."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from test_io_tiny import CLEAN

from optimizer.data import TERMS, Objective, Rules, SolverParams
from optimizer.errors import InputError, Issue
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.scenario import VALID_KEYS, RulesModel

DATA_TABLES = ("units", "posts", "staff", "relations", "pins")


@pytest.fixture(autouse=True)
def _vietnamese() -> None:
    set_lang("vi")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The clean tables in ``tmp_path/data``."""
    target = tmp_path / "data"
    target.mkdir()
    for table in DATA_TABLES:
        shutil.copy(CLEAN / f"{table}.csv", target)
    return target


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


DATA_BLOCK = "\n".join(["[data]"] + [f'{t} = "data/{t}.csv"' for t in DATA_TABLES]) + "\n"


def scenario_errors(path: Path, overrides: tuple[str, ...] = ()) -> list[Issue]:
    with pytest.raises(InputError) as info:
        load_scenario(path, overrides)
    return info.value.issues


def test_minimal_scenario_takes_every_default(tmp_path: Path, data_dir: Path) -> None:
    scenario = load_scenario(write(tmp_path / "plain.toml", DATA_BLOCK))
    assert scenario.name == "plain"
    assert scenario.description == ""
    assert scenario.rules == Rules()
    assert scenario.objective == Objective()
    assert scenario.solver == SolverParams()
    assert scenario.data == {t: data_dir / f"{t}.csv" for t in DATA_TABLES}
    assert scenario.chain == (tmp_path / "plain.toml",)


def test_rules_table_accepts_exactly_the_fields_of_rules() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(Rules)}
    assert dict(RulesModel().model_dump()) == fields
    assert {k.split(".", 1)[1] for k in VALID_KEYS if k.startswith("rules.")} == set(fields)


def test_extends_chain_merges_child_over_base(tmp_path: Path, data_dir: Path) -> None:
    write(
        tmp_path / "base.toml",
        'name = "base"\ndescription = "Base."\n'
        + DATA_BLOCK
        + "[rules]\nmax_commute_km = 40.0\nroad_factor = 1.5\n[solver]\nseed = 3\nworkers = 1\n",
    )
    write(tmp_path / "mid.toml", 'extends = "base.toml"\n[rules]\nmax_commute_km = 25\n')
    top = write(
        tmp_path / "variants" / "top.toml",
        'extends = "../mid.toml"\nname = "top"\n[solver]\nseed = 9\n[rules]\nmin_is_hard = true\n',
    )
    scenario = load_scenario(top)
    assert scenario.rules == Rules(max_commute_km=25.0, road_factor=1.5, min_is_hard=True)
    assert scenario.solver == SolverParams(seed=9, workers=1)
    assert scenario.name == "top"
    assert scenario.description == ""  # a description belongs to its own file
    assert scenario.chain == (top, tmp_path / "mid.toml", tmp_path / "base.toml")
    assert scenario.data["staff"] == data_dir / "staff.csv"  # relative to base.toml


def test_each_file_resolves_its_own_data_paths(tmp_path: Path, data_dir: Path) -> None:
    write(tmp_path / "base" / "base.toml", DATA_BLOCK.replace('"data/', '"../data/'))
    other = tmp_path / "variant" / "staff_2030.csv"
    other.parent.mkdir()
    shutil.copy(data_dir / "staff.csv", other)
    child = write(
        tmp_path / "variant" / "child.toml",
        'extends = "../base/base.toml"\n[data]\nstaff = "staff_2030.csv"\n',
    )
    scenario = load_scenario(child)
    assert scenario.data["staff"] == other
    assert scenario.data["units"] == data_dir / "units.csv"


def test_unknown_key_names_the_key_the_file_and_the_closest_key(tmp_path: Path, data_dir: Path) -> None:
    write(tmp_path / "base.toml", DATA_BLOCK + "[rules]\nmax_comute_km = 20\n")
    child = write(tmp_path / "child.toml", 'extends = "base.toml"\n[solver]\nworker = 2\n')
    issues = scenario_errors(child)
    assert [(Path(i.file).name, i.column, i.code) for i in issues] == [
        ("base.toml", "rules.max_comute_km", "unknown_key"),
        ("child.toml", "solver.worker", "unknown_key"),
    ]
    assert "rules.max_commute_km" in issues[0].hint
    assert "solver.workers" in issues[1].hint


def test_a_rule_outside_its_table_points_to_the_table(tmp_path: Path, data_dir: Path) -> None:
    issues = scenario_errors(write(tmp_path / "s.toml", "max_commute_km = 20\n" + DATA_BLOCK))
    assert [(i.column, i.code) for i in issues] == [("max_commute_km", "unknown_key")]
    assert "rules.max_commute_km" in issues[0].hint


def test_set_overrides_apply_after_extends_and_are_recorded(tmp_path: Path, data_dir: Path) -> None:
    write(tmp_path / "base.toml", DATA_BLOCK + "[rules]\nmax_commute_km = 40.0\n")
    child = write(tmp_path / "child.toml", 'extends = "base.toml"\n[rules]\nmax_commute_km = 30.0\n')
    overrides = (
        "rules.max_commute_km=20",
        "rules.reference_date=2026-03-01",
        "rules.relatives_scope=any",
        "rules.require_all_placed=true",
        "solver.seed=7",
        'objective.priorities=["unplaced", "shortfall"]',
        "name=night run",
    )
    scenario = load_scenario(child, overrides)
    assert scenario.rules.max_commute_km == 20.0
    assert scenario.rules.reference_date == dt.date(2026, 3, 1)
    assert scenario.rules.relatives_scope == "any"
    assert scenario.rules.require_all_placed is True
    assert scenario.solver.seed == 7
    assert scenario.objective.priorities == ("unplaced", "shortfall")
    assert scenario.name == "night run"
    assert scenario.overrides == overrides
    assert scenario.resolved()["overrides"] == list(overrides)


def test_set_accepts_a_date_written_day_month_year(tmp_path: Path, data_dir: Path) -> None:
    scenario = write(tmp_path / "s.toml", DATA_BLOCK)
    loaded = load_scenario(scenario, ("rules.reference_date=01/03/2026",))
    assert loaded.rules.reference_date == dt.date(2026, 3, 1)


def test_set_data_path_is_relative_to_the_working_folder(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "s.toml", DATA_BLOCK)
    monkeypatch.chdir(data_dir)
    scenario = load_scenario(path, ["data.pins=pins.csv"])
    assert scenario.data["pins"] == data_dir / "pins.csv"


@pytest.mark.parametrize(
    ("override", "code", "key"),
    [
        ("rules.max_comute_km=20", "unknown_key", "rules.max_comute_km"),
        ("rules.max_commute_km", "bad_set", ""),
        ("=3", "bad_set", ""),
        ("extends=other.toml", "set_extends", "extends"),
        ("rules.max_commute_km=far", "bad_value", "rules.max_commute_km"),
    ],
    ids=["misspelt_key", "no_equals", "no_key", "extends", "text_for_a_number"],
)
def test_bad_set_is_reported_against_set(
    tmp_path: Path, data_dir: Path, override: str, code: str, key: str
) -> None:
    issues = scenario_errors(write(tmp_path / "s.toml", DATA_BLOCK), (override,))
    assert [(i.file, i.code, i.column) for i in issues] == [("--set", code, key)]


@pytest.mark.parametrize(
    ("line", "key", "expected_word"),
    [
        ('[rules]\nmax_commute_km = "far"', "rules.max_commute_km", "số"),
        ('[rules]\nrelatives_scope = "all"', "rules.relatives_scope", "leadership"),
        ("[rules]\nroad_factor = 0.5", "rules.road_factor", "1"),
        ('[rules]\nreference_date = "mùng 1 tháng 7"', "rules.reference_date", "yyyy-mm-dd"),
        ("[solver]\nworkers = 0", "solver.workers", "1"),
        ("[solver]\ntime_limit_s = -5", "solver.time_limit_s", "0"),
        ("name = 5", "name", "ngoặc kép"),
        ("rules = 5", "rules", "bảng"),
    ],
    ids=[
        "text_for_number",
        "unknown_scope",
        "road_factor_below_1",
        "date_in_words",
        "no_workers",
        "negative_time",
        "name_not_text",
        "rules_not_a_table",
    ],
)
def test_bad_value_names_key_and_expectation(
    tmp_path: Path, data_dir: Path, line: str, key: str, expected_word: str
) -> None:
    text = line + "\n" + DATA_BLOCK if not line.startswith("[") else DATA_BLOCK + line + "\n"
    issues = scenario_errors(write(tmp_path / "bad.toml", text))
    assert [(Path(i.file).name, i.code, i.column) for i in issues] == [("bad.toml", "bad_value", key)]
    assert expected_word in issues[0].message


def test_weights_replace_inherited_priorities(tmp_path: Path, data_dir: Path) -> None:
    write(tmp_path / "base.toml", DATA_BLOCK + '[objective]\npriorities = ["unplaced", "shortfall"]\n')
    child = write(
        tmp_path / "child.toml",
        'extends = "base.toml"\n[objective]\nweights = { shortfall = 1000, unplaced = 100 }\n',
    )
    scenario = load_scenario(child)
    assert scenario.objective.mode == "weights"
    assert scenario.objective.weights == (("shortfall", 1000), ("unplaced", 100))
    back = load_scenario(child, ['objective.priorities=["moves"]'])
    assert back.objective == Objective(priorities=("moves",))


@pytest.mark.parametrize(
    ("objective", "code"),
    [
        ('priorities = ["shortfall"]\nweights = { shortfall = 1 }', "both_objectives"),
        ('priorities = ["shortfal", "unplaced"]', "unknown_term"),
        ('priorities = ["moves", "moves"]', "duplicate_term"),
        ("priorities = []", "empty_objective"),
        ("weights = { travel = 3 }", "unknown_term"),
        ("weights = { moves = -1 }", "bad_value"),
    ],
    ids=["both", "misspelt_term", "repeated_term", "empty", "unknown_weight", "negative_weight"],
)
def test_objective_errors(tmp_path: Path, data_dir: Path, objective: str, code: str) -> None:
    issues = scenario_errors(write(tmp_path / "o.toml", DATA_BLOCK + "[objective]\n" + objective + "\n"))
    assert [i.code for i in issues] == [code]
    if code == "unknown_term" and "shortfal" in objective:
        assert "shortfall" in issues[0].hint
        assert all(term in issues[0].hint for term in TERMS)


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    assert [i.code for i in scenario_errors(tmp_path / "a.toml")] == ["scenario_cycle"]


def test_missing_base_file_is_reported_by_the_file_that_extends_it(tmp_path: Path) -> None:
    issues = scenario_errors(write(tmp_path / "child.toml", 'extends = "nowhere.toml"\n'))
    assert [(Path(i.file).name, i.code, i.column) for i in issues] == [
        ("child.toml", "scenario_not_found", "extends")
    ]


def test_missing_scenario_file(tmp_path: Path) -> None:
    assert [i.code for i in scenario_errors(tmp_path / "none.toml")] == ["scenario_not_found"]


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    issues = scenario_errors(write(tmp_path / "s.toml", 'name = "x"\n[rules]\nmax_commute_km 20\n'))
    assert [(i.code, i.row) for i in issues] == [("scenario_syntax", 3)]


def test_missing_table_and_missing_file_are_reported_together(tmp_path: Path, data_dir: Path) -> None:
    text = DATA_BLOCK.replace('staff = "data/staff.csv"\n', "").replace("data/pins.csv", "data/ghim.csv")
    issues = scenario_errors(write(tmp_path / "s.toml", text))
    assert sorted((i.code, i.column) for i in issues) == [
        ("data_file_missing", "data.pins"),
        ("missing_table", "data.staff"),
    ]


def test_workbook_sheet_notation(tmp_path: Path, data_dir: Path) -> None:
    (data_dir / "book.xlsx").write_bytes(b"")
    (data_dir / "list#2.csv").write_bytes(b"")
    text = DATA_BLOCK.replace("data/staff.csv", "data/book.xlsx#Nhân sự").replace(
        "data/pins.csv", "data/list#2.csv"
    )
    scenario = load_scenario(write(tmp_path / "s.toml", text))
    assert scenario.data["staff"] == data_dir / "book.xlsx"
    assert scenario.sheets == {"staff": "Nhân sự"}
    assert scenario.data["pins"] == data_dir / "list#2.csv"
    assert scenario.resolved()["data"]["staff"] == f"{data_dir / 'book.xlsx'}#Nhân sự"


def test_geojson_is_a_data_file_but_not_a_table(tmp_path: Path, data_dir: Path) -> None:
    (data_dir / "units.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    scenario = load_scenario(write(tmp_path / "s.toml", DATA_BLOCK + 'geojson = "data/units.geojson"\n'))
    assert scenario.data["geojson"] == data_dir / "units.geojson"
    problem, warnings = load_problem(scenario)
    assert problem.num_units == 5 and warnings == []
    missing = write(tmp_path / "m.toml", DATA_BLOCK + 'geojson = "data/none.geojson"\n')
    assert [i.code for i in scenario_errors(missing)] == ["data_file_missing"]


def test_resolved_is_plain_json_with_iso_dates(tmp_path: Path, data_dir: Path) -> None:
    scenario = load_scenario(
        write(tmp_path / "s.toml", 'description = """Two\n   lines."""\n' + DATA_BLOCK),
        ["solver.seed=4"],
    )
    resolved = json.loads(json.dumps(scenario.resolved()))
    assert resolved["rules"]["reference_date"] == "2025-07-01"
    assert resolved["solver"] == {"time_limit_s": 60.0, "workers": 2, "seed": 4}
    assert resolved["objective"] == {"priorities": list(TERMS)}
    assert resolved["data"]["units"] == str(data_dir / "units.csv")
    assert resolved["description"] == "Two lines."


def test_file_hash_covers_every_file_of_the_chain(tmp_path: Path, data_dir: Path) -> None:
    base = write(tmp_path / "base.toml", DATA_BLOCK)
    child = write(tmp_path / "child.toml", 'extends = "base.toml"\n')
    first = load_scenario(child).file_hash()
    assert load_scenario(child).file_hash() == first
    write(base, DATA_BLOCK + "[rules]\nmax_commute_km = 31.0\n")
    assert load_scenario(child).file_hash() != first
    (data_dir / "staff.csv").write_text((data_dir / "staff.csv").read_text() + "\n")
    assert load_scenario(child).file_hash() == load_scenario(child).file_hash()


def test_input_hashes_are_sha256_of_each_data_file(tmp_path: Path, data_dir: Path) -> None:
    scenario = load_scenario(write(tmp_path / "s.toml", DATA_BLOCK))
    hashes = scenario.input_hashes()
    assert hashes == {
        t: hashlib.sha256((data_dir / f"{t}.csv").read_bytes()).hexdigest() for t in DATA_TABLES
    }
    (data_dir / "pins.csv").write_text((data_dir / "pins.csv").read_text() + "\n")
    assert scenario.input_hashes()["pins"] != hashes["pins"]
    assert scenario.input_hashes()["staff"] == hashes["staff"]


def test_extends_must_be_a_file_name(tmp_path: Path) -> None:
    issues = scenario_errors(write(tmp_path / "s.toml", "extends = 5\n"))
    assert [(i.code, i.column) for i in issues] == [("bad_value", "extends")]
