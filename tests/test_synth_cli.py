"""``staffplan synth``: files written, summary printed, bad input exits with 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.synth import TABLE_COLUMNS, WORKBOOK_NAME

HCMC = Path(__file__).resolve().parents[1] / "data" / "hcmc"
UNITS = """unit_id,name,kind,lat,lon,population,area_km2,island
A1,Phường Một,ward,21.00,105.80,60000,8.5,false
A2,Phường Hai,ward,21.05,105.85,,4.0,false
A3,Xã Ba,commune,21.12,105.70,30000,,false
A4,Đặc khu Bốn,special_zone,20.00,107.00,5000,60.0,true
"""


@pytest.fixture
def units_csv(tmp_path: Path) -> Path:
    path = tmp_path / "units.csv"
    path.write_text(UNITS, encoding="utf-8")
    return path


def test_synth_writes_tables_and_prints_the_summary(units_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "--lang",
        "en",
        "synth",
        "--units",
        str(units_csv),
        "--out",
        str(out),
        "--party",
        "120",
        "--government",
        "400",
        "--seed",
        "7",
        "--format",
        "csv",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {f"{n}.csv" for n in TABLE_COLUMNS}
    staff = pd.read_csv(out / "staff.csv", dtype=str)
    assert staff["bloc"].value_counts().to_dict() == {"government": 400, "party": 120}
    assert "Synthetic data (seed 7): 4 units, 520 people." in result.output
    assert "government bloc: 400 people" in result.output
    surplus, short = round(400 * 1045 / 12119), round(400 * 942 / 12119)  # HCMC shares
    assert (
        f"Total: surplus {surplus}, short {short}, net {surplus - short:+d} people over quota"
        in result.output
    )
    again = CliRunner().invoke(main, [*args[:-1], "both"])
    assert again.exit_code == 0 and (out / WORKBOOK_NAME).is_file()


def test_synth_speaks_vietnamese_by_default(units_csv: Path, tmp_path: Path) -> None:
    args = [
        "synth",
        "--units",
        str(units_csv),
        "--out",
        str(tmp_path / "o"),
        "--party",
        "120",
        "--government",
        "400",
        "--format",
        "csv",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Khối chính quyền: 400 người" in result.output


def test_units_from_hcmc_rebuilds_the_shipped_table(tmp_path: Path) -> None:
    args = ["synth", "--units-from-hcmc", str(HCMC / "hcmc_units_2025.csv"), "--out", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["units.csv"]
    assert (tmp_path / "units.csv").read_bytes() == (HCMC / "units.csv").read_bytes()


def test_default_units_come_from_the_data_folder_variable(
    units_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAFFPLAN_HCMC_DATA", str(units_csv.parent))
    out = tmp_path / "env-out"
    args = ["synth", "--out", str(out), "--party", "120", "--government", "400", "--format", "csv"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out / "units.csv", dtype=str)["unit_id"].tolist() == ["A1", "A2", "A3", "A4"]


def test_bad_units_exit_with_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("unit_id,name,kind,lat,lon\nA,Phường A,town,10,106\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--lang", "en", "synth", "--units", str(bad), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "bad.csv:2:kind [town]" in result.stderr
    assert not (tmp_path / "o").exists()
    few = CliRunner().invoke(
        main, ["synth", "--units", str(bad.with_name("missing.csv")), "--out", str(tmp_path)]
    )
    assert few.exit_code == 2
