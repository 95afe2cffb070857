"""``staffplan export``: from a run store to annex files, and its input errors."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from test_export_support import assignment, make_problem

from optimizer.cli import main
from optimizer.data import TERMS
from optimizer.placement_tables import run_tables
from optimizer.rules.reason import Reason
from optimizer.solution import SolveResult, StageResult
from optimizer.store import NewRun, RunSource, RunStore, manifest_hash, run_manifest


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    problem = make_problem()
    placed = assignment()
    tables = run_tables(problem, placed, {7: Reason("room"), 10: Reason("room"), 11: Reason("room")})
    result = SolveResult(
        status="optimal",
        assignment=placed,
        stages=(StageResult("all", TERMS, "optimal", 0, 0, 0.1),),
    )
    source = RunSource(
        scenario_name="tiny-annex",
        scenario_path="scenarios/tiny-annex.toml",
        scenario_hash="ab" * 32,
        resolved_scenario={"name": "tiny-annex"},
        overrides=(),
        input_hashes={"staff": "cd" * 32},
        solver_params={"time_limit_s": 1.0, "workers": 1, "seed": 0},
    )
    run = NewRun(
        source=source,
        package_version="0.1.0",
        result=result,
        tables=tables,
        rules=problem.rules,
    )
    path = tmp_path_factory.mktemp("store") / "staffplan.db"
    RunStore(path).save(run)
    return path


def test_export_latest_to_xlsx_with_document_fields(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "annexes"
    result = invoke(
        "export", "latest", "--format", "xlsx", "--out", str(out), "--store", str(store),
        "--decision-no", "15", "--date", "2026-01-05",
        "--issuer", "Ủy ban nhân dân Thành phố Hồ Chí Minh",
        "--signer", "TM. Ủy ban nhân dân|Chủ tịch|Nguyễn Văn A",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = RunStore(store).get("latest")
    [path] = list(out.iterdir())
    assert path.name == f"phu-luc-{run.run_id}.xlsx" and path.name in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sheet = openpyxl.load_workbook(path)["Phụ lục I"]
    texts = {c.value for r in sheet.iter_rows() for c in r if isinstance(c.value, str)}
    assert (
        "(Kèm theo Quyết định số 15/QĐ-UBND ngày 05 tháng 01 năm 2026 "
        "của Ủy ban nhân dân Thành phố Hồ Chí Minh)"
    ) in texts
    assert {"CHỦ TỊCH", "Nguyễn Văn A"} <= texts
    # the footer's check code is the run's manifest hash, recomputed from its content
    footer = sheet.oddFooter.left.text
    assert run.run_id in footer
    assert manifest_hash(run_manifest(run))[:12] in footer


def test_export_csv_one_unit_redacted(store: Path, tmp_path: Path) -> None:
    result = invoke(
        "export", "latest", "--format", "csv", "--unit", "27004", "--redact",
        "--out", str(tmp_path), "--store", str(store),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "placements.csv" in names and len(names) == 7
    text = (tmp_path / "placements.csv").read_text(encoding="utf-8-sig")
    assert "Huỳnh Ngọc Ẩn" not in text and "H.N.Ẩ." in text


def test_unknown_unit_is_bad_input(store: Path, tmp_path: Path) -> None:
    result = invoke(
        "--lang", "en", "export", "latest", "--unit", "99999", "--out", str(tmp_path / "o"),
        "--store", str(store),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "99999" in result.output
    assert not (tmp_path / "o").exists()


def test_missing_store_is_bad_input(tmp_path: Path) -> None:
    result = invoke("export", "latest", "--store", str(tmp_path / "none.db"))
    assert result.exit_code == 2


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys; from optimizer.cli import main; "
        "print(sorted(m for m in ('pandas', 'docxtpl', 'xlsxwriter') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    result = invoke("export", "--help")
    assert result.exit_code == 0
    for option in ("--per-unit", "--unit", "--decision-no", "--template", "--redact", "--store"):
        assert option in result.output


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_export_date_accepts_day_month_year_and_explains_a_bad_one(
    store: Path, tmp_path: Path, lang: str
) -> None:
    out = tmp_path / "annexes"
    common = ("--lang", lang, "export", "latest", "--format", "csv", "--store", str(store))
    good = invoke(*common, "--out", str(out), "--date", "05/01/2026")
    assert good.exit_code == 0, good.output
    bad = invoke(*common, "--out", str(tmp_path / "bad"), "--date", "5 Jan 2026")
    assert bad.exit_code == 2
    expected = "không phải là ngày" if lang == "vi" else "is not a date"
    assert expected in bad.output and "01/07/2025" in bad.output
    assert not (tmp_path / "bad").exists()
