"""Every output command on every kind of run, in both languages (issue 16, part 1).

One store is filled the way a planner fills it — ``run``, ``replan``, ``sweep``, a
multi-province (national) ``sweep``, an infeasible ``run`` and a ``run`` stopped by its time
limit — then ``show``, ``compare``, ``export`` (each format), ``explain`` and ``diagnose``
are run on each kind of run, plainly and with ``--redact``, with ``--lang en`` and in the
default Vietnamese.  Each must end with its documented exit code and never with a
traceback.  Everything is tiny so the whole matrix takes seconds; PDF (LibreOffice) is
covered on two kinds only and marked slow.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import Result
from test_national import two_provinces
from test_run_cli import two_people_one_seat
from test_sweep import invoke, vietnamese  # noqa: F401  (vietnamese: an autouse fixture)

from optimizer.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "scenarios" / "tiny"
KINDS = ("run", "replan", "sweep", "national", "infeasible", "interrupted")
LANGS = ("vi", "en")
#: Exit codes (README): 0 done, 1 infeasible / conflicts found, 2 bad input.
OK, INFEASIBLE, BAD_INPUT = 0, 1, 2


@dataclass
class Matrix:
    """The store under test, its run of each kind and what each command needs."""

    store: Path
    folder: Path
    runs: dict[str, str] = field(default_factory=dict)
    scenarios: dict[str, Path] = field(default_factory=dict)


def _latest(store: Path) -> str:
    return RunStore(store).get("latest").run_id


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    folder = tmp_path_factory.mktemp("matrix")
    store = folder / "runs.db"
    m = Matrix(store=store, folder=folder)
    tiny = folder / "tiny"
    shutil.copytree(TINY, tiny)
    m.scenarios["run"] = m.scenarios["interrupted"] = tiny / "scenario.toml"

    def ok(*args: str, code: int = OK) -> None:
        res = invoke(*args, "--store", str(store))
        assert res.exit_code == code, res.output

    ok("run", str(tiny / "scenario.toml"))
    m.runs["run"] = _latest(store)
    changes = folder / "changes.csv"
    changes.write_text("action,staff_id,reason\nleave,S01,nghỉ hưu\n", encoding="utf-8")
    ok("replan", m.runs["run"], "--changes", str(changes))
    m.runs["replan"] = _latest(store)
    ok("sweep", str(tiny / "scenario.toml"), "--set", "rules.max_commute_km=20,30", "--jobs", "1")
    m.runs["sweep"] = _latest(store)
    nation = folder / "nation"
    nation.mkdir()
    m.scenarios["national"] = two_provinces(nation, total_people=400, seed=0)
    ok("sweep", str(nation / "national.toml"), "--jobs", "1")
    m.runs["national"] = _latest(store)
    infeasible = folder / "infeasible"
    infeasible.mkdir()
    m.scenarios["infeasible"] = two_people_one_seat(infeasible)
    ok("run", str(m.scenarios["infeasible"]), code=INFEASIBLE)
    m.runs["infeasible"] = _latest(store)
    ok("run", str(tiny / "scenario.toml"), "--time-limit", "0")
    m.runs["interrupted"] = _latest(store)
    stored = RunStore(store)
    assert stored.get(m.runs["interrupted"]).meta["interrupted"]
    assert stored.get(m.runs["infeasible"]).status == "infeasible"
    assert stored.get(m.runs["replan"]).meta["base_run"] == m.runs["run"]
    return m


def _placed(m: Matrix, kind: str) -> str:
    run = RunStore(m.store).get(m.runs[kind])
    frame = run.tables.placements if len(run.tables.placements) else run.tables.unplaced
    return str(frame["staff_id"].iloc[0])


def _other(m: Matrix, kind: str) -> str:
    """The run a run of this kind is compared with (a replan with its base)."""
    return m.runs["interrupted"] if kind == "run" else m.runs["run"]


def _has_placements(m: Matrix, kind: str) -> bool:
    return len(RunStore(m.store).get(m.runs[kind]).tables.placements) > 0


def _cells(m: Matrix, kind: str, redacted: bool, lang: str, out: Path) -> list[tuple[str, list[str], int]]:
    """``(name, arguments, expected exit code)`` of every command on one run."""
    run = m.runs[kind]
    red = ["--redact"] if redacted else []
    # no annex of a run without placements; no explain of a merged multi-province run
    export_code = OK if _has_placements(m, kind) else BAD_INPUT
    explain_code = BAD_INPUT if kind == "national" else OK
    # the HTML report is Vietnamese whatever --lang says: written once, in the vi cells
    show_html = ["--html", str(out / "show.html")] if lang == "vi" else []
    report = ["--html", str(out / "cmp.html")] if lang == "vi" else []
    cells: list[tuple[str, list[str], int]] = [
        ("show", ["show", run, *show_html, *red], OK),
        ("compare", ["compare", _other(m, kind), run, *report, "--csv", str(out / "cmp"), *red], OK),
        ("runs", ["runs"], OK),
    ]
    for fmt in ("csv", "xlsx", "docx", "decision"):
        args = ["export", run, "--format", fmt, "--out", str(out / fmt), *red]
        cells.append((f"export-{fmt}", args, export_code))
    if not redacted:
        unit = RunStore(m.store).get(run).tables.units["unit_id"].iloc[0]
        cells += [
            ("show-unit", ["show", run, "--unit", str(unit)], OK),
            ("explain", ["explain", run, _placed(m, kind)], explain_code),
            ("explain-all", ["explain", run, "--all", "--out", str(out / "notes.csv")], explain_code),
        ]
        if kind in m.scenarios and kind != "national":
            diagnose_code = INFEASIBLE if kind == "infeasible" else OK
            cells.append(("diagnose", ["diagnose", str(m.scenarios[kind])], diagnose_code))
    return cells


def _check(res: Result, name: str, code: int, run_id: str = "") -> None:
    assert "Traceback" not in res.output, (name, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), (name, repr(res.exception))
    assert res.exit_code == code, (name, res.output)
    if code == BAD_INPUT:  # a refusal says which run it is about
        assert run_id in res.output, (name, res.output)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("redacted", [False, True], ids=["plain", "redacted"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_command_on_every_kind_of_run(
    matrix: Matrix, kind: str, redacted: bool, lang: str, tmp_path: Path
) -> None:
    for name, args, code in _cells(matrix, kind, redacted, lang, tmp_path):
        store = [] if args[0] == "diagnose" else ["--store", str(matrix.store)]
        res = invoke("--lang", lang, *args, *store)
        _check(res, f"{kind}/{name}/{lang}", code, matrix.runs[kind])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["replan", "national"])
def test_pdf_of_a_replan_and_a_national_run(
    matrix: Matrix, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # --out relative to the working folder, as a planner types it
    res = invoke("export", matrix.runs[kind], "--format", "pdf", "--out", "pdf", "--store", str(matrix.store))
    _check(res, f"{kind}/pdf", OK)
    pdfs = list((tmp_path / "pdf").glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-")
