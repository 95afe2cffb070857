"""Multi-province scenarios: the province table, synthetic units, loading, merging.

End-to-end tests use two tiny synthetic provinces (4 units, 300 people each) generated
here; the full national run (34 provinces, 250,000 people) belongs to
``benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import tomllib
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer import synth
from optimizer.cli import main
from optimizer.data import EARTH_RADIUS_KM
from optimizer.errors import InputError
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.io.places import shipped_data_dir
from optimizer.national import (
    NATIONAL_PEOPLE,
    PROVINCES,
    Island,
    ProvinceSpec,
    is_national,
    load_national,
    load_provinces,
    province_people,
    synthetic_units,
    write_national,
)
from optimizer.placement_tables import RunTables, run_tables
from optimizer.solution import SolveResult
from optimizer.solve import solve
from optimizer.store import RunStore
from optimizer.sweep import merge_results, plan_sweep, run_sweep, with_threads

ROOT = Path(__file__).resolve().parents[1]
ALPHA = ProvinceSpec("alpha", "Tỉnh An Phú", "ALP", 4, 1, 10.0, 106.0, 300.0)
BETA = ProvinceSpec(
    "beta",
    "Tỉnh Bình Hòa",
    "BET",
    4,
    1,
    11.0,
    107.0,
    300.0,
    islands=(Island("Hòn Xanh", 10.6, 107.5, 10.0),),
)
BASE = """[rules]
max_commute_km = 30.0
[solver]
time_limit_s = 30
workers = 2
"""


@pytest.fixture(autouse=True)
def vietnamese() -> Iterator[None]:
    yield
    set_lang("vi")  # a CLI call with --lang en must not leak into the next test


def two_provinces(folder: Path, total_people: int = 600, seed: int = 3) -> Path:
    """Two tiny synthetic provinces (ALPHA, BETA) written in ``folder`` and the
    multi-province file that lists them, ``folder/national.toml``."""
    (folder / "base.toml").write_text(BASE, encoding="utf-8")
    paths = write_national(
        folder / "generated", folder / "base.toml", specs=[ALPHA, BETA], total_people=total_people, seed=seed
    )
    entries = ", ".join(f'"{p.relative_to(folder).as_posix()}"' for p in paths)
    national = folder / "national.toml"
    national.write_text(f'name = "two"\nprovinces = [{entries}]\n', encoding="utf-8")
    return national


@pytest.fixture(scope="module")
def nation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny synthetic provinces and the multi-province file that lists them."""
    return two_provinces(tmp_path_factory.mktemp("nation"))


def solve_directly(path: Path, overrides: tuple[str, ...] = ()) -> tuple[SolveResult, RunTables]:
    """A plain in-process solve of one province: (result, tables)."""
    problem, _ = load_problem(with_threads(load_scenario(path, overrides), 1))
    result = solve(problem)
    return result, run_tables(problem, result.assignment, result.unplaced_reasons)


# --------------------------------------------------------------------------- provinces


def test_the_province_table_has_34_provinces_and_3321_units() -> None:
    assert len(PROVINCES) == 34
    assert sum(p.units for p in PROVINCES) == 3321
    assert sum(len(p.islands) for p in PROVINCES) + 1 == 13  # + Côn Đảo, in the real HCMC units
    assert len({p.slug for p in PROVINCES}) == len({p.code for p in PROVINCES}) == 34
    assert all(0 <= p.wards <= p.units - len(p.islands) for p in PROVINCES)
    assert [p.slug for p in PROVINCES if p.real_units] == ["ho-chi-minh"]


def test_the_shipped_national_file_lists_every_province_in_order() -> None:
    doc = tomllib.loads(
        (ROOT / "scenarios" / "national-synthetic" / "national.toml").read_text(encoding="utf-8")
    )
    assert doc["provinces"] == [f"generated/{p.slug}/scenario.toml" for p in PROVINCES]


def test_the_hcmc_entry_matches_the_shipped_real_units() -> None:
    hcmc = next(p for p in PROVINCES if p.real_units)
    folder = shipped_data_dir()
    assert folder is not None
    units = synth.read_units(folder / "units.csv")
    assert len(units) == hcmc.units
    assert int((units["kind"] == "ward").sum()) == hcmc.wards
    assert hcmc.people == (synth.HCMC_PARTY, synth.HCMC_GOVERNMENT)


def test_people_are_shared_by_units_with_hcmc_fixed() -> None:
    people = province_people(PROVINCES)
    assert sum(a + b for a, b in people) == NATIONAL_PEOPLE
    by_slug = dict(zip((p.slug for p in PROVINCES), people, strict=True))
    assert by_slug["ho-chi-minh"] == (3878, 12119)
    others = [(p.units, sum(n)) for p, n in zip(PROVINCES, people, strict=True) if not p.real_units]
    per_unit = [n / u for u, n in others]
    assert max(per_unit) - min(per_unit) < 0.05  # proportional up to rounding
    for party, government in people:
        assert abs(party / (party + government) - 3878 / 15997) < 0.001


def _km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def test_synthetic_units_fit_the_province() -> None:
    spec = next(p for p in PROVINCES if p.slug == "an-giang")
    units = synthetic_units(spec, seed=7)
    assert len(units) == spec.units
    assert units["kind"].value_counts().to_dict() == {
        "commune": spec.units - spec.wards - 3,
        "ward": spec.wards,
        "special_zone": 3,
    }
    assert units["unit_id"].is_unique and units["unit_id"].str.startswith("AGG").all()
    assert units["name"].is_unique
    assert all(unicodedata.is_normalized("NFC", n) for n in units["name"])
    main_units = units[~units["island"]]
    radius = np.sqrt(spec.area_km2 / np.pi)
    dist = _km(spec.lat, spec.lon, main_units["lat"].to_numpy(), main_units["lon"].to_numpy())
    assert dist.max() < 1.3 * radius
    wards = dist[main_units["kind"].to_numpy() == "ward"]
    assert wards.max() < np.median(dist)  # the urban core is in the middle
    islands = units[units["island"]]
    assert list(islands["kind"]) == ["special_zone"] * 3
    assert list(islands["lat"]) == [i.lat for i in spec.islands]
    assert (units["population"] > 0).all()
    pd.testing.assert_frame_equal(units, synthetic_units(spec, seed=7))
    assert not units["lat"].equals(synthetic_units(spec, seed=8)["lat"])


# --------------------------------------------------------------------------- loading


def test_a_multi_province_file_reports_every_problem(tmp_path: Path, nation: Path) -> None:
    alpha = nation.parent / "generated" / "alpha" / "scenario.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'name = "x"\nrules = {{ max_commute_km = 20 }}\nprovinces = ["{alpha}", "{alpha}", "nope.toml"]\n',
        encoding="utf-8",
    )
    assert is_national(bad) and not is_national(ROOT / "scenarios" / "tiny" / "scenario.toml")
    with pytest.raises(InputError) as err:
        load_national(bad)
    assert [i.code for i in err.value.issues] == ["national_unknown_key"]
    bad.write_text(f'provinces = ["{alpha}", "{alpha}", "nope.toml"]\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_national(bad)
    assert [(i.code, i.value) for i in err.value.issues] == [
        ("national_duplicate", str(alpha)),
        ("national_missing_province", "nope.toml"),
    ]
    bad.write_text("provinces = []\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_national(bad)
    assert [i.code for i in err.value.issues] == ["national_bad_value"]


def test_provinces_must_share_rules_and_keep_their_data(tmp_path: Path, nation: Path) -> None:
    national = load_national(nation)
    with pytest.raises(InputError) as err:
        load_provinces(national, ["data.posts=other.csv", "rules.max_commute_km=25"])
    assert [i.code for i in err.value.issues] == ["national_data_override"]
    beta = national.provinces[1]
    odd = beta.with_name("odd.toml")
    odd.write_text('extends = "scenario.toml"\nname = "odd"\n[rules]\nroad_factor = 1.2\n', encoding="utf-8")
    mixed = tmp_path / "mixed.toml"
    mixed.write_text(f'provinces = ["{national.provinces[0]}", "{odd}"]\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_provinces(load_national(mixed))
    assert [(i.code, i.column) for i in err.value.issues] == [("national_mismatch", "rules")]


def test_cli_refuses_a_data_override_for_a_multi_province_file(nation: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        main,
        [
            "--lang",
            "en",
            "sweep",
            str(nation),
            "--set",
            "data.staff=x.csv",
            "--store",
            str(tmp_path / "s.db"),
        ],
    )
    assert res.exit_code == 2
    assert "data.staff cannot be overridden" in res.output


# --------------------------------------------------------------------------- merging


def test_provinces_are_solved_apart_and_merged_into_one_run(nation: Path, tmp_path: Path) -> None:
    plan = plan_sweep(nation, ["rules.max_commute_km=25,30"])
    assert plan.num_provinces == 2 and plan.province_names == ("alpha", "beta")
    store = RunStore(tmp_path / "runs.db")
    with ThreadPoolExecutor(1) as pool:
        outcome = run_sweep(plan, store, pool, threads=1)
    assert len(outcome.runs) == 2 and len(outcome.tasks) == 4
    for run in outcome.runs:
        stored = store.get(run.run_id)
        parts = [solve_directly(p, run.combination.overrides) for p in load_national(nation).provinces]
        for name in ("placements", "unplaced", "units"):
            expected = pd.concat([getattr(t, name) for _, t in parts], ignore_index=True)
            pd.testing.assert_frame_equal(getattr(stored.tables, name), expected, check_dtype=False)
        values = {k: sum(r.values[k] for r, _ in parts) for k in parts[0][0].values}
        assert stored.meta["values"] == values == stored.kpis["terms"]
        assert stored.meta["bounds"] == {k: sum(r.bounds[k] for r, _ in parts) for k in parts[0][0].bounds}
        assert stored.proven == all(r.proven for r, _ in parts)
        placements = stored.tables.placements
        assert (placements["staff_id"].str[:3] == placements["unit_id"].str[:3]).all()
        assert stored.scenario_name == "two"
        assert set(stored.meta["input_hashes"]) == {
            f"{p}/{t}" for p in ("alpha", "beta") for t in ("units", "posts", "staff", "relations", "pins")
        }
        assert stored.meta["tags"]["provinces"] == "2"
        stage_values = [[r.stages[k].value for r, _ in parts] for k in range(len(parts[0][0].stages))]
        assert all(v is not None for values in stage_values for v in values)
        assert [s["value"] for s in stored.meta["stages"]] == [sum(filter(None, v)) for v in stage_values]


def test_merging_refuses_an_id_shared_by_two_provinces(nation: Path) -> None:
    path = load_national(nation).provinces[0]
    result, tables = solve_directly(path)
    with pytest.raises(InputError) as err:
        merge_results([result, result], [tables, tables], ["alpha", "alpha-again"])
    assert {i.code for i in err.value.issues} == {"shared_id"}
    assert {i.column for i in err.value.issues} == {"staff_id", "unit_id"}
    merged, merged_tables = merge_results([result, result], [tables, tables], ["a", "a"])
    n_posts = len(tables.units)
    second = merged.assignment[len(result.assignment) :]
    assert np.array_equal(second, np.where(result.assignment >= 0, result.assignment + n_posts, -1))
    assert len(merged_tables.placements) == 2 * len(tables.placements)


def test_every_issue_message_of_the_sweep_has_a_hint_in_both_languages() -> None:
    from optimizer.cli.sweep import PRINTED_KPIS
    from optimizer.i18n import catalogue

    codes = [
        "national_unreadable", "national_unknown_key", "national_bad_value", "national_duplicate",
        "national_missing_province", "national_data_override", "national_mismatch",
        "national_no_hcmc_units", "bad_set", "duplicate_key", "empty_value", "repeated_value",
        "bad_executor", "dask_unreachable", "inputs_differ", "shared_id", "unknown_sweep",
    ]  # fmt: skip
    keys = [f"sweep.{c}{s}" for c in codes for s in ("", ".hint")]
    keys += [f"sweep.col.{name}" for name in (*PRINTED_KPIS, "run_id", "status", "time_s")]
    texts = catalogue()
    assert [k for k in keys if k not in texts] == []
    assert all(texts[k]["vi"] != texts[k]["en"] for k in keys if "{" not in texts[k]["en"])
