"""Outputs replace only files staffplan wrote (issue 17, the long fuzz run's 11 cases).

The long fuzz run found outputs replacing the emptied or binary ``units.csv`` of another
copy of the scenario (no input of the command that ran: its store's runs came from the
original folder) and ``validate --errors-xlsx`` replacing a store whose header a damage
had corrupted.  The rule now: an existing file is replaced only when staffplan wrote it
(:func:`optimizer.io.outputs.written_by_staffplan`); each writer's own files still are.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hardening_support import copy_tiny, digests, invoke, no_traceback

from optimizer.io.outputs import check_replaceable, written_by_staffplan

#: Damages the long run left on another copy's ``units.csv``: emptied, binary junk.
DAMAGED = {"empty": b"", "junk": bytes(range(256)) * 8}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny scenario and a store with two runs of it."""
    folder = tmp_path_factory.mktemp("owned")
    scenario = copy_tiny(folder)
    store = folder / "s.db"
    for cap in ("30", "12"):
        done = invoke("run", str(scenario), "--store", str(store), "--set", f"rules.max_commute_km={cap}")
        assert done.exit_code == 0, done.output
    return scenario, store


def other_copy(tiny: tuple[Path, Path], tmp_path: Path, damage: str) -> Path:
    """A second copy of the scenario folder whose ``units.csv`` a damage replaced."""
    copy = tmp_path / "copy"
    shutil.copytree(tiny[0].parent, copy)
    (copy / "units.csv").write_bytes(DAMAGED[damage])
    return copy


@pytest.mark.parametrize("damage", sorted(DAMAGED))
@pytest.mark.parametrize(
    "command",
    [
        ("export", "latest", "--format", "csv", "--out", "{copy}"),
        ("compare", "r0001", "r0002", "--csv", "{copy}"),
        ("compare", "r0001", "r0002", "--html", "{copy}/units.csv"),
        ("explain", "latest", "--all", "--out", "{copy}/units.csv"),
    ],
    ids=["export_csv", "compare_csv", "compare_html", "explain_all"],
)
def test_a_damaged_table_of_another_copy_is_never_replaced(
    tiny: tuple[Path, Path], tmp_path: Path, damage: str, command: tuple[str, ...]
) -> None:
    copy = other_copy(tiny, tmp_path, damage)
    before = digests(copy)
    result = invoke(*(a.format(copy=copy) for a in command), "--store", str(tiny[1]))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert "was not written by staffplan" in result.output, result.output
    assert str(copy / "units.csv") in result.output
    assert digests(copy) == before  # no file changed, none added (every target checked first)


def test_validate_errors_sheet_never_replaces_a_store_with_a_damaged_header(
    tiny: tuple[Path, Path], tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    data = bytearray(tiny[1].read_bytes())
    data[:16] = os.urandom(16)  # the fuzz run's case 7431: no longer "SQLite format 3"
    store.write_bytes(bytes(data))
    result = invoke("validate", str(tiny[0]), "--errors-xlsx", str(store))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert "was not written by staffplan" in result.output
    assert store.read_bytes() == bytes(data)


def test_every_writer_replaces_its_own_previous_file(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    store = tiny[1]
    out = tmp_path / "out"
    for args in (
        ("export", "latest", "--format", "xlsx", "--out", str(out)),
        ("export", "latest", "--format", "docx", "--out", str(out)),
        ("export", "latest", "--format", "decision", "--out", str(out)),
        ("export", "latest", "--format", "csv", "--out", str(out)),
        ("show", "latest", "--html", str(out / "r.html")),
        ("compare", "r0001", "r0002", "--csv", str(out / "cmp")),
        ("explain", "latest", "--all", "--out", str(out / "why.csv")),
    ):
        for attempt in (1, 2):  # the second replaces the first's files
            result = invoke(*args, "--store", str(store))
            assert result.exit_code == 0, (args, attempt, result.output)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "staff.csv").write_text("staff_id\n", encoding="utf-8")  # an invalid scenario
    (bad / "scenario.toml").write_text('name = "x"\n[data]\nstaff = "staff.csv"\n', encoding="utf-8")
    for attempt in (1, 2):
        result = invoke("validate", str(bad / "scenario.toml"), "--errors-xlsx", str(out / "e.xlsx"))
        assert result.exit_code == 2 and (out / "e.xlsx").is_file(), (attempt, result.output)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 12 and all(written_by_staffplan(p) for p in written), written


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("units.csv", b""),
        ("units.csv", b"\xff\xfe\x00\x00junk"),
        ("units.csv", "unit_id;ghi chú\nT01;x\n".encode()),  # another program's CSV, no BOM
        ("r.html", b"<!DOCTYPE html><html><body>someone's page</body></html>"),
        ("a.xlsx", b"PK\x03\x04 not really a zip"),
        ("a.pdf", b"%PDF-1.7\n%% someone's document\n%%EOF\n"),
    ],
)
def test_a_file_staffplan_did_not_write_is_refused_with_what_to_do(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(Exception) as refused:
        check_replaceable(path)
    issue = refused.value.issues[0]  # type: ignore[attr-defined]
    assert issue.code in ("files.replaces_foreign", "files.replaces_input_table"), issue
    assert issue.hint
    assert path.read_bytes() == data


def test_a_folder_or_fifo_in_the_way_is_refused_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "units.csv"
    os.mkfifo(fifo)
    (tmp_path / "r.html").mkdir()
    for path in (fifo, tmp_path / "r.html"):
        with pytest.raises(Exception) as refused:
            check_replaceable(path)  # a FIFO opened for reading would block here
        assert refused.value.issues[0].code == "files.replaces_foreign"  # type: ignore[attr-defined]


def test_an_older_runs_name_too_long_for_a_cell_refuses_the_workbook(tmp_path: Path) -> None:
    from test_store import tiny_run

    from optimizer.store import RunStore

    run = tiny_run()
    long = "Nguyễn " * 6_000  # 42,000 characters, stored by a version without the input check
    run.tables.placements.loc[0, "full_name"] = long
    store = RunStore(tmp_path / "s.db")
    run_id = store.save(run)
    staff_id = str(run.tables.placements.loc[0, "staff_id"])
    out = tmp_path / "o"
    result = invoke("export", run_id, "--format", "xlsx", "--out", str(out), "--store", str(store.path))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert f"{run_id}:Full name [{staff_id}]" in result.output, result.output
    assert f"{len(long):,}".replace(",", "") in result.output.replace(",", "")
    assert "nothing is cut" in result.output and "docx, pdf or csv" in result.output
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    result = invoke("export", run_id, "--format", "csv", "--out", str(out), "--store", str(store.path))
    assert result.exit_code == 0, result.output
    assert long in (out / "placements.csv").read_text(encoding="utf-8-sig")  # the whole name
