"""``staffplan explain``, ``diagnose`` and ``replan`` on the tiny scenario, as a planner runs
them: stored runs, plain-word output, exit codes, files written."""

from __future__ import annotations

import csv
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from optimizer.cli import main
from optimizer.store import RunStore

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, ["--lang", "en", *args], env={"COLUMNS": "200"})


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path, str]:
    """A copy of the tiny scenario, a store, and the id of a run of it."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    store = tmp_path / "runs.db"
    res = invoke("run", str(folder / "scenario.toml"), "--store", str(store))
    assert res.exit_code == 0, res.output
    return folder, store, RunStore(store).list()[0].run_id


def test_explain_names_rules_and_costs(tiny: tuple[Path, Path, str]) -> None:
    _, store, run_id = tiny
    res = invoke("explain", run_id, "S04", "--store", str(store))
    assert res.exit_code == 0, res.output
    assert run_id in res.output and "Phạm Thị Dung" in res.output
    assert "[qualification]" in res.output and "[island unit]" in res.output
    # the pinned chair: the reason quotes the pin, the origin unit is excluded by two rules
    res = invoke("explain", "latest", "S01", "--store", str(store))
    assert "[non-local post]" in res.output and "[pins (signed decisions)]" in res.output
    assert "signed decision" in res.output


def test_explain_forcing_cost_is_printed(tiny: tuple[Path, Path, str]) -> None:
    _, store, _ = tiny
    # S11 prefers T01, whose office posts are full: forcing S11 there leaves the finance
    # minimum of T02 short and pushes S13 out (scenarios/tiny/README.md).
    res = invoke("explain", "latest", "S11", "--store", str(store), "--alternatives", "2")
    assert res.exit_code == 0, res.output
    forcing = "Allowed. Forcing it (post Office administration): shortfall (leadership ×10) +1, unplaced +1"
    assert forcing in res.output
    assert "S13 Phường An Bình (T01) · Office administration · government bloc → unplaced" in res.output


def test_explain_unknown_person_or_unit_is_bad_input(tiny: tuple[Path, Path, str]) -> None:
    _, store, _ = tiny
    res = invoke("explain", "latest", "NOBODY", "--store", str(store))
    assert res.exit_code == 2 and "NOBODY" in res.output
    res = invoke("explain", "latest", "S04", "--unit", "T99", "--store", str(store))
    assert res.exit_code == 2 and "T99" in res.output
    res = invoke("explain", "latest", "--store", str(store))
    assert res.exit_code == 2  # neither STAFF_ID nor --all: a usage error


def test_explain_all_writes_one_note_per_person(tiny: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, store, _ = tiny
    out = tmp_path / "notes.csv"
    res = CliRunner().invoke(main, ["explain", "latest", "--all", "--out", str(out), "--store", str(store)])
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 13 and all(r["note"] for r in rows)
    by_id = {r["staff_id"]: r for r in rows}
    assert by_id["S01"]["note"].startswith("Bố trí theo quyết định đã ký")  # Vietnamese by default
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_changed_inputs_are_refused(tiny: tuple[Path, Path, str]) -> None:
    folder, store, _ = tiny
    staff = folder / "staff.csv"
    staff.write_text(staff.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    res = invoke("explain", "latest", "S04", "--store", str(store))
    assert res.exit_code == 2 and "changed" in res.output and "staff" in res.output


def test_diagnose_feasible_and_infeasible(tiny: tuple[Path, Path, str]) -> None:
    folder, _, _ = tiny
    scenario = str(folder / "scenario.toml")
    res = invoke("diagnose", scenario)
    assert res.exit_code == 0 and "is feasible" in res.output
    res = invoke(
        "diagnose", scenario, "--set", "rules.require_all_placed=true", "--set", "rules.min_is_hard=true"
    )
    assert res.exit_code == 1, res.output
    assert "Conflict 1:" in res.output and "Fixes (checked, best first):" in res.output
    assert "rules.require_all_placed=false" in res.output
    res = invoke("diagnose", scenario, "--set", "rules.nope=1")
    assert res.exit_code == 2


def test_replan_stores_a_linked_run_and_lists_changes(tiny: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, store, run_id = tiny
    changes = tmp_path / "changes.csv"
    changes.write_text(
        "action,staff_id,reason\nleave,S04,nghỉ hưu trước tuổi (NĐ 178)\nleave,S10,thôi việc\n",
        encoding="utf-8",
    )
    listed = tmp_path / "listed.csv"
    res = invoke("replan", run_id, "--changes", str(changes), "--store", str(store), "--out", str(listed))
    assert res.exit_code == 0, res.output
    newest = RunStore(store).list()[0]
    assert newest.base_run == run_id and newest.run_id in res.output
    with listed.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["staff_id"] for r in rows if r["why"] == "left"} == {"S04", "S10"}
    # the re-plan is itself a run that explain and replan can rebuild
    res = invoke("explain", newest.run_id, "S05", "--store", str(store))
    assert res.exit_code == 0, res.output
    again = tmp_path / "again.csv"
    again.write_text("action,staff_id\nleave,S05\n", encoding="utf-8")
    res = invoke("replan", "latest", "--changes", str(again), "--changes-first", "--store", str(store))
    assert res.exit_code == 0, res.output
    assert RunStore(store).list()[0].base_run == newest.run_id


def test_replan_bad_changes_file_is_bad_input(tiny: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, store, run_id = tiny
    changes = tmp_path / "bad.csv"
    changes.write_text("action,staff_id\nleave,S99\nvanish,S01\n", encoding="utf-8")
    res = invoke("replan", run_id, "--changes", str(changes), "--store", str(store))
    assert res.exit_code == 2
    assert "bad.csv:2:staff_id" in res.output and "bad.csv:3:action" in res.output
    assert len(RunStore(store).list()) == 1  # nothing stored
    res = invoke(
        "replan",
        run_id,
        "--changes",
        str(changes),
        "--changes-first",
        "--move-penalty",
        "3",
        "--store",
        str(store),
    )
    assert res.exit_code == 2
