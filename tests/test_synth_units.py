"""The shipped real HCMC data: the contract-format units table is reproducible."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pandas as pd

from optimizer.synth import read_hcmc_units, units_from_hcmc, write_csv

HCMC = Path(__file__).resolve().parents[1] / "data" / "hcmc"


def test_shipped_units_csv_equals_the_regenerated_one(tmp_path: Path) -> None:
    units = units_from_hcmc(read_hcmc_units(HCMC / "hcmc_units_2025.csv"))
    write_csv(units, tmp_path / "units.csv")
    assert (tmp_path / "units.csv").read_bytes() == (HCMC / "units.csv").read_bytes()


def test_units_are_the_168_of_resolution_1685() -> None:
    units = pd.read_csv(HCMC / "units.csv", dtype={"unit_id": str})
    assert list(units.columns) == [
        "unit_id",
        "name",
        "kind",
        "lat",
        "lon",
        "population",
        "area_km2",
        "island",
    ]
    assert len(units) == 168 and units["unit_id"].is_unique and units["name"].is_unique
    assert units["kind"].value_counts().to_dict() == {"ward": 113, "commune": 54, "special_zone": 1}
    island = units[units["island"]]
    assert island["name"].tolist() == ["Đặc khu Côn Đảo"]
    assert island["unit_id"].tolist() == ["26732"]
    assert units["unit_id"].str.fullmatch(r"\d{5}").all()
    assert all(unicodedata.is_normalized("NFC", n) for n in units["name"])
    assert units[["lat", "lon", "population", "area_km2"]].notna().all().all()
    assert units["lat"].between(8.5, 11.6).all() and units["lon"].between(106.0, 107.6).all()


def test_shipped_files_are_complete() -> None:
    names = {p.name for p in HCMC.iterdir()}
    assert {
        "hcmc_units_2025.csv",
        "hcmc_former_units.csv",
        "hcmc_units_2025.geojson",
        "SOURCES.md",
        "LICENSES.md",
        "units.csv",
    } <= names
    former = pd.read_csv(HCMC / "hcmc_former_units.csv", dtype=str)
    assert len(former) == 442  # 441 old communes, wards and towns + Huyện Côn Đảo
    licences = (HCMC / "LICENSES.md").read_text(encoding="utf-8")
    for term in ("MIT", "GPL-3.0", "CC-BY-NC 4.0"):
        assert term in licences
