"""Outputs never touch inputs, and one atomic writer for every output (issue 17, points 2-3).

Findings: 1 (``run --out .`` replaced ``units.csv``), 2 (formulas in ``compare --csv``,
``explain --all --out``, ``replan --out``), 5 (a full disk left a truncated report under
its final name), 6 (a killed export's leftovers), 11 (disk full during an export), 12
(``--out`` into a file or an unwritable folder), 16 (the ``compare --csv`` folder 0755,
``compare --redact`` printed names).
"""

from __future__ import annotations

import csv
import errno
import os
import stat
from pathlib import Path

import pytest
from hardening_support import copy_tiny, digests, invoke, no_traceback

from optimizer.io import outputs
from optimizer.io.outputs import FORMULA_PREFIXES, atomic_output, clean_leftovers, guard_inputs


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny scenario (one staff name a formula) and a store with two runs of it."""
    folder = tmp_path_factory.mktemp("hard")
    scenario = copy_tiny(folder)
    staff = scenario.parent / "staff.csv"
    lines = staff.read_text(encoding="utf-8").splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("full_name")] = "=HYPERLINK(1)"
    staff.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
    store = folder / "s.db"
    for cap in ("30", "12"):
        done = invoke("run", str(scenario), "--store", str(store), "--set", f"rules.max_commute_km={cap}")
        assert done.exit_code == 0, done.output
    return scenario, store


def read_cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_run_and_export_refuse_the_scenario_folder(
    tiny: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, store = tiny
    folder = scenario.parent
    before = digests(folder)
    monkeypatch.chdir(folder)
    for args in (
        ("run", "scenario.toml", "--out", ".", "--store", str(store)),
        ("export", "latest", "--format", "csv", "--out", ".", "--store", str(store)),
        ("compare", "r0001", "r0002", "--csv", ".", "--store", str(store)),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "holds the scenario's input table" in result.output
    assert digests(folder) == before


def test_no_output_file_may_be_an_input(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    scenario, store = tiny
    folder = scenario.parent
    before = digests(folder)
    link = tmp_path / "link.csv"
    link.symlink_to(folder / "units.csv")
    changes = tmp_path / "changes.csv"
    changes.write_text("action,staff_id\nleave,S01\n", encoding="utf-8")
    store_bytes = store.read_bytes()
    for args in (
        ("compare", "r0001", "r0002", "--html", str(folder / "staff.csv"), "--store", str(store)),
        ("show", "latest", "--html", str(link), "--store", str(store)),
        ("explain", "latest", "--all", "--out", str(folder / "posts.csv"), "--store", str(store)),
        ("compare", "r0001", "r0002", "--html", str(store), "--store", str(store)),
        ("validate", str(scenario), "--errors-xlsx", str(folder / "pins.csv")),
        ("replan", "r0001", "--changes", str(changes), "--out", str(changes), "--store", str(store)),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "is the input file" in result.output, result.output
    assert digests(folder) == before
    assert store.read_bytes() == store_bytes
    assert changes.read_text(encoding="utf-8") == "action,staff_id\nleave,S01\n"


def test_every_csv_output_escapes_formulas(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    _, store = tiny
    changes = tmp_path / "changes.csv"
    changes.write_text("action,staff_id,reason\nleave,S02,=1+1\n", encoding="utf-8")
    assert (
        invoke("compare", "r0001", "r0002", "--csv", str(tmp_path / "cmp"), "--store", str(store)).exit_code
        == 0
    )
    assert (
        invoke(
            "explain", "r0001", "--all", "--out", str(tmp_path / "why.csv"), "--store", str(store)
        ).exit_code
        == 0
    )
    result = invoke(
        "replan", "r0001", "--changes", str(changes), "--out", str(tmp_path / "re.csv"), "--store", str(store)
    )
    assert result.exit_code == 0, result.output
    files = [*(tmp_path / "cmp").glob("*.csv"), tmp_path / "why.csv", tmp_path / "re.csv"]
    cells = [c for f in files for c in read_cells(f)]
    assert any(c == "'=HYPERLINK(1)" for c in cells)  # the name is there, escaped
    bad = [
        c for c in cells if c.startswith(FORMULA_PREFIXES) and not c.lstrip("-").replace(".", "").isdigit()
    ]
    assert bad == []
    assert stat.S_IMODE((tmp_path / "cmp").stat().st_mode) == 0o700
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_compare_redact_hides_names_in_the_terminal(tiny: tuple[Path, Path]) -> None:
    _, store = tiny
    plain = invoke("compare", "r0001", "r0002", "--store", str(store))
    redacted = invoke("compare", "r0001", "r0002", "--redact", "--store", str(store))
    assert plain.exit_code == redacted.exit_code == 0
    assert "Bùi Văn Khoa" in plain.output and "Bùi Văn Khoa" not in redacted.output


def _full_disk(monkeypatch: pytest.MonkeyPatch, after: int = 0) -> None:
    """Every fsync of an output after the first ``after`` fails as on a full disk."""
    real, calls = outputs.publish, {"n": 0}

    def publish(tmp: Path, path: Path) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise outputs.output_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        real(tmp, path)

    monkeypatch.setattr(outputs, "publish", publish)


@pytest.mark.parametrize(
    "args",
    [
        ("compare", "r0001", "r0002", "--html", "{out}/rep.html"),
        ("compare", "r0001", "r0002", "--csv", "{out}"),
        ("export", "latest", "--format", "csv", "--out", "{out}"),
        ("export", "latest", "--format", "xlsx", "--out", "{out}"),
        ("validate", "{scenario}", "--errors-xlsx", "{out}/e.xlsx"),
    ],
)
def test_a_full_disk_is_exit_2_and_leaves_old_files_whole(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    scenario, store = tiny
    out = tmp_path / "out"
    out.mkdir()
    old = out / "rep.html"
    old.write_text(f"{outputs.HTML_GENERATOR_TAG}old report", encoding="utf-8")  # an earlier report
    _full_disk(monkeypatch, after=1 if args[0] == "export" and "csv" in args else 0)
    argv = [a.format(out=out, scenario=scenario) for a in args]
    result = invoke(*argv, *(["--store", str(store)] if args[0] != "validate" else []))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert "disk is full" in result.output
    assert old.read_text(encoding="utf-8") == f"{outputs.HTML_GENERATOR_TAG}old report"
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


def test_unwritable_or_file_destinations_are_exit_2_before_solving(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, store = tiny
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    import optimizer.solve

    def no_solve(*args: object, **kwargs: object) -> None:
        raise AssertionError("solved before checking --out")

    monkeypatch.setattr(optimizer.solve, "solve", no_solve)
    before = store.read_bytes()
    result = invoke("run", str(scenario), "--out", str(afile / "sub"), "--store", str(store))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert store.read_bytes() == before
    for args in (
        ("validate", str(scenario), "--errors-xlsx", str(afile / "e.xlsx")),
        ("compare", "r0001", "r0002", "--html", str(afile / "r.html"), "--store", str(store)),
        ("export", "latest", "--out", str(afile / "x"), "--store", str(store)),
    ):
        result = invoke(*args)
        assert result.exit_code == 2 and no_traceback(result), (args, result.output)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root ignores folder modes: nothing to check here
        return
    result = invoke("compare", "r0001", "r0002", "--html", str(locked / "r.html"), "--store", str(store))
    assert result.exit_code == 2 and "permission" in result.output


def test_a_killed_writers_leftovers_are_removed_by_the_next(tmp_path: Path) -> None:
    dead = 2**22 + 17  # above the kernel's pid_max default: never a live process
    while True:
        try:
            os.kill(dead, 0)
            dead += 1
        except ProcessLookupError:
            break
        except PermissionError:
            dead += 1
    part = tmp_path / f".units.csv.{dead}-abc123.part"
    part.write_text("unredacted", encoding="utf-8")
    work = tmp_path / f".staffplan-export-{dead}-xyz_9"
    (work / "lo-1").mkdir(parents=True)
    (work / "annex.docx").write_text("unredacted", encoding="utf-8")
    live = tmp_path / f".other.csv.{os.getpid()}-def456.part"
    live.write_text("in progress", encoding="utf-8")
    with atomic_output(tmp_path / "new.csv") as tmp:
        tmp.write_text("a", encoding="utf-8")
    assert not part.exists() and not work.exists()
    assert live.exists()  # a writer still running is left alone
    assert (tmp_path / "new.csv").read_text(encoding="utf-8") == "a"
    assert clean_leftovers(tmp_path) == []


def test_libreoffice_profiles_live_in_the_exports_work_folder(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.export import pdf_annex

    seen: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: object) -> object:
        seen.append(command)
        out = Path(command[command.index("--outdir") + 1])
        for f in command[command.index("--outdir") + 2 :]:
            (out / (Path(f).stem + ".pdf")).write_bytes(b"%PDF-1.4 fake")

        class Done:
            returncode, stderr = 0, ""

        return Done()

    monkeypatch.setattr(pdf_annex.subprocess, "run", fake_run)
    monkeypatch.setattr(pdf_annex, "find_soffice", lambda: "soffice")
    _, store = tiny
    out = tmp_path / "pdf"
    result = invoke("export", "latest", "--format", "pdf", "--out", str(out), "--store", str(store))
    assert result.exit_code == 0, result.output
    profile = next(a for a in seen[0] if a.startswith("-env:UserInstallation="))
    assert f"/pdf/.staffplan-export-{os.getpid()}-" in profile
    assert [p.name for p in out.iterdir()] == [p.name for p in out.glob("*.pdf")]


def test_guard_refuses_hard_links_too(tmp_path: Path) -> None:
    source = tmp_path / "units.csv"
    source.write_text("unit_id\n1\n", encoding="utf-8")
    twin = tmp_path / "twin.csv"
    os.link(source, twin)
    with guard_inputs([source]), pytest.raises(Exception) as refused, atomic_output(twin) as tmp:
        tmp.write_text("x", encoding="utf-8")
    assert "is the input file" in str(refused.value.issues[0].message)  # type: ignore[attr-defined]
    assert source.read_text(encoding="utf-8") == "unit_id\n1\n"


def test_sigterm_during_an_export_leaves_nothing_behind(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = """
import sys, time
from pathlib import Path
import optimizer.cli as cli
from optimizer.io.outputs import atomic_output, private_workdir
out = Path(sys.argv[1])

@cli.main.command("slow")
def slow() -> None:
    with private_workdir(out) as work, atomic_output(out / "annex.docx") as tmp:
        (work / "annex.docx").write_text("unredacted")
        tmp.write_text("half")
        print("ready", flush=True)
        time.sleep(60)

cli.main(["slow"])
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    assert len(list(tmp_path.iterdir())) == 2  # the work folder and the .part file
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_refused_permission_is_exit_2_with_the_path(
    tiny: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store = tiny
    real = outputs.tempfile.mkstemp

    def refused(*args: object, **kwargs: object) -> tuple[int, str]:
        if str(kwargs.get("dir", "")).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refused)
    target = tmp_path / "r.html"
    result = invoke("compare", "r0001", "r0002", "--html", str(target), "--store", str(store))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert f"No permission to write {target}" in result.output


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1258"])
def test_an_input_table_of_another_scenario_is_never_replaced(tmp_path: Path, encoding: str) -> None:
    import pandas as pd

    from optimizer.io.outputs import write_csv_frame

    units = tmp_path / "units.csv"
    text = "unit_id,name,kind,lat,lon\nT01,Phương An,ward,10.0,106.7\n"
    units.write_bytes(text.encode(encoding))
    frame = pd.DataFrame({"unit_id": ["T01"], "bloc": ["party"], "min": [1]})
    with pytest.raises(Exception) as refused:
        write_csv_frame(frame, units)
    assert refused.value.issues[0].code == "files.replaces_input_table"  # type: ignore[attr-defined]
    assert units.read_bytes() == text.encode(encoding)
    write_csv_frame(frame, tmp_path / "own.csv")
    write_csv_frame(frame, tmp_path / "own.csv")  # a previous output of the same kind is replaced


def test_an_input_table_with_a_stray_nul_is_still_recognised(tmp_path: Path) -> None:
    import pandas as pd

    from optimizer.io.outputs import write_csv_frame

    units = tmp_path / "units.csv"
    data = b"unit_id,name,kind,lat,lon\nT01,Ph\x00uong,ward,10.0,106.7\n"  # the fuzz run's case 3070
    units.write_bytes(data)
    with pytest.raises(Exception) as refused:
        write_csv_frame(pd.DataFrame({"unit_id": ["T01"]}), units)
    assert refused.value.issues[0].code == "files.replaces_input_table"  # type: ignore[attr-defined]
    assert units.read_bytes() == data
