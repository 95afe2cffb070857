"""Runs a planner can tell apart (issue 16, part 10): ``run --label``, the ``--set``
overrides in ``runs``, local times, a sweep table whose times add up, the warnings of a
sweep summed up once, and names that are never read as terminal markup."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from test_report_summary import default_zone  # noqa: F401  (an autouse fixture)
from test_sweep import invoke, vietnamese  # noqa: F401  (vietnamese: an autouse fixture)

from optimizer.cli.runs import _frame_table
from optimizer.cli.sweep import summarise_warnings
from optimizer.errors import Issue
from optimizer.localtime import TZ_ENV, local_time, set_zone
from optimizer.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with a labelled run and a run with a --set override."""
    folder = tmp_path_factory.mktemp("labels")
    shutil.copytree(TINY, folder / "tiny")
    store = folder / "runs.db"
    scenario = str(folder / "tiny" / "scenario.toml")
    for args in (
        ("--label", "  phương án   A [chính thức] "),
        ("--set", "rules.max_commute_km=20"),
    ):
        res = invoke("run", scenario, *args, "--store", str(store))
        assert res.exit_code == 0, res.output
    return store


def test_the_label_is_stored_and_shown_by_runs_show_and_compare(labelled: Path) -> None:
    runs = RunStore(labelled).list()
    first, second = runs[1], runs[0]
    assert first.label == "phương án A [chính thức]"  # spaces tidied, brackets kept
    assert second.overrides == ("rules.max_commute_km=20",) and second.label == ""
    listing = invoke("runs", "--store", str(labelled)).output
    assert "phương án A [chính thức]" in listing
    assert "--set rules.max_commute_km=20" in listing
    shown = invoke("--lang", "en", "show", first.run_id, "--store", str(labelled)).output
    assert "Label: phương án A [chính thức]" in shown
    compared = invoke("compare", first.run_id, second.run_id, "--store", str(labelled)).output
    assert "Nhãn: phương án A [chính thức]" in compared and "--set rules.max_commute_km=20" in compared


def test_times_are_shown_in_local_time(labelled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = RunStore(labelled).list()[0]
    listing = invoke("runs", "--store", str(labelled)).output
    assert local_time(run.created_at, "vi") in listing and "Asia/Ho_Chi_Minh" in listing
    monkeypatch.setenv(TZ_ENV, "UTC")
    utc = invoke("--lang", "en", "runs", "--store", str(labelled)).output
    stamp = pd.Timestamp(run.created_at).tz_convert("UTC").strftime("%Y-%m-%d %H:%M")
    assert stamp in utc and "UTC" in utc
    monkeypatch.delenv(TZ_ENV)
    by_option = invoke("--lang", "en", "--tz", "UTC", "runs", "--store", str(labelled)).output
    assert stamp in by_option
    bad = invoke("--tz", "Mars/Olympus", "runs", "--store", str(labelled))
    assert bad.exit_code == 2 and "Mars/Olympus" in bad.output and "Traceback" not in bad.output
    set_zone(None)
    shown = invoke("show", run.run_id, "--store", str(labelled)).output
    assert local_time(run.created_at, "vi") in shown


def test_names_with_brackets_are_printed_as_they_are() -> None:
    frame = pd.DataFrame({"unit_name": ["Xã Bình [cũ] [/b] [red]"], "filled": [3]})
    console = Console(record=True, width=200)
    console.print(_frame_table(frame, ["unit_name", "filled"], "t", "kpi.unit"))
    assert "Xã Bình [cũ] [/b] [red]" in console.export_text()


def test_warnings_are_summed_up_once_per_kind() -> None:
    def warning(code: str, row: int) -> Issue:
        return Issue(file="posts.csv", row=row, message=f"{code} at {row}", code=code, severity="warning")

    issues = [warning("a", 1), warning("b", 2), warning("a", 3), warning("a", 4), warning("c", 5)]
    summary = summarise_warnings(issues)
    assert [(n, i.code, i.row) for n, i in summary] == [(3, "a", 1), (1, "b", 2), (1, "c", 5)]


def test_a_sweep_table_adds_its_times_up_and_warns_once(tmp_path: Path) -> None:
    shutil.copytree(TINY, tmp_path / "tiny")
    store = tmp_path / "runs.db"
    res = invoke(
        "sweep", str(tmp_path / "tiny" / "scenario.toml"), "--set", "rules.max_commute_km=5,30",
        "--jobs", "1", "--store", str(store),
    )  # fmt: skip
    assert res.exit_code == 1, res.output  # 5 km has no solution
    times = [h.meta["timings"]["total"] for h in RunStore(store).heads()]
    total = re.search(r"Tổng\s+([\d,]+)\s*$", res.output, re.MULTILINE)
    assert total and float(total[1].replace(",", ".")) == pytest.approx(sum(times), abs=0.006)
    assert "cộng các lượt chạy là" in res.output
    announced = re.search(r"Dữ liệu có (\d+) cảnh báo .*gồm (\d+) loại", res.output)
    assert announced
    summary = res.output.split("mỗi loại một ví dụ:")[1].split("Xem đầy đủ")[0]
    counts = [int(line.split(" × ")[0]) for line in summary.splitlines() if " × " in line]
    assert len(counts) == int(announced[2]) < int(announced[1]) == sum(counts)  # each kind once
    assert res.output.count("CẢNH BÁO") == 0  # no warning printed in full
