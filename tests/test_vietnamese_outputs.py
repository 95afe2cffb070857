"""What a planner reads in Vietnamese holds no code: no ``snake_case`` word in the output of
run, replan, show, compare, explain, diagnose, validate and the HTML report on the tiny
scenario (paths and ``--set`` settings aside, as the planner types those)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from optimizer.cli import main

TINY = Path(__file__).parent.parent / "scenarios" / "tiny"
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
#: What a planner types and may read back: ``rules.max_commute_km=20``, file names.
TYPED = re.compile(r"\b[a-z_]+\.[a-z_]+=\S+|\S+\.(?:csv|toml|xlsx|html|db)\b")
#: Console markup printed as text instead of colour: ``[red]+1[/]``.
MARKUP = re.compile(r"\[/?(?:red|green|bold|dim|yellow)?\]")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "vi", *args], env={"COLUMNS": "160"})


def codes_in(text: str) -> list[str]:
    """The snake_case words of ``text`` outside lines holding a path, and any console
    markup left as text."""
    lines = [TYPED.sub(" ", line) for line in text.splitlines() if "/" not in line]
    return sorted({m for line in lines for m in CODE.findall(line)} | set(MARKUP.findall(text)))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("vi")
    shutil.copytree(TINY, folder / "tiny")
    db = folder / "s.db"
    res = invoke("run", str(folder / "tiny" / "scenario.toml"), "--store", str(db))
    assert res.exit_code == 0, res.output
    return folder, db


def test_run_output_has_no_code(store: tuple[Path, Path]) -> None:
    folder, _ = store
    res = invoke("run", str(folder / "tiny" / "scenario.toml"), "--store", str(folder / "other.db"))
    assert res.exit_code == 0
    assert codes_in(res.output) == []
    assert "trạng thái tối ưu, đã chứng minh tối ưu: có" in res.output


@pytest.mark.parametrize(
    "args",
    [
        ("show", "latest"),
        ("show", "latest", "--unit", "T02"),
        ("runs",),
        ("explain", "latest", "S02"),
        ("explain", "latest", "S04"),
        ("explain", "latest", "S11"),
        ("explain", "latest", "S12"),
    ],
)
def test_reading_a_run_shows_no_code(store: tuple[Path, Path], args: tuple[str, ...]) -> None:
    _, db = store
    res = invoke(*args, "--store", str(db))
    assert res.exit_code == 0, res.output
    assert codes_in(res.output) == []


def test_replan_and_compare_show_no_code(store: tuple[Path, Path], tmp_path: Path) -> None:
    _, db = store
    changes = tmp_path / "thay-doi.csv"
    changes.write_text("staff_id,action\nS01,leave\n", encoding="utf-8")
    replan = invoke("replan", "r0001", "--changes", str(changes), "--store", str(db))
    assert replan.exit_code == 0, replan.output
    report = tmp_path / "so-sanh.html"
    compare = invoke("compare", "r0001", "latest", "--store", str(db), "--html", str(report))
    assert compare.exit_code == 0, compare.output
    assert codes_in(replan.output) == [] and codes_in(compare.output) == []
    page = report.read_text(encoding="utf-8")
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert codes_in(text) == []


def test_validate_and_diagnose_show_no_code(store: tuple[Path, Path]) -> None:
    folder, _ = store
    scenario = str(folder / "tiny" / "scenario.toml")
    validate = invoke("validate", scenario)
    assert validate.exit_code == 0 and codes_in(validate.output) == []
    hard = ("--set", "rules.min_is_hard=true", "--set", "rules.require_all_placed=true")
    diagnose = invoke("diagnose", scenario, *hard)
    assert diagnose.exit_code in (0, 1), diagnose.output
    assert codes_in(diagnose.output) == []


def test_the_check_itself_finds_codes() -> None:
    assert codes_in("Dôi dư theo vị trí việc làm: office_admin") == ["office_admin"]
    assert codes_in("staffplan run tiny/scenario.toml --set rules.max_commute_km=20") == []
    assert codes_in("Số người được bố trí │ 12 │ 11 │ [red]-1[/]") == ["[/]", "[red]"]
