"""A run stores why it has no placement and why a stage is not proven as codes and
parameters, and every reader gets them in their own language, whatever language the
run was solved in (``staffplan show``, the service's :func:`~optimizer.service.run_notes`).
"""

from __future__ import annotations

import html
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_run_cli import TINY, two_people_one_seat

from optimizer import service
from optimizer.cli import main
from optimizer.i18n import set_lang, t
from optimizer.rules.reason import Reason
from optimizer.store import SCHEMA_VERSION, RunStore


@pytest.fixture(autouse=True)
def vietnamese_after() -> object:
    yield
    set_lang("vi")


def staffplan(*args: str) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code in (0, 1), res.output
    return res.output


@pytest.mark.parametrize(("solved", "read"), [("en", "vi"), ("vi", "en")])
def test_a_run_without_placement_says_why_in_the_readers_language(
    tmp_path: Path, solved: str, read: str
) -> None:
    store = str(tmp_path / "s.db")
    scenario = two_people_one_seat(tmp_path)
    output = staffplan("--lang", solved, "run", str(scenario), "--store", store)
    why = Reason("solve_must_place").render
    assert why(solved) in output and why(read) not in output
    meta = RunStore(store).get("latest").meta
    assert meta["failure"] == {"code": "solve_must_place", "params": {}} and "message" not in meta
    shown = staffplan("--lang", read, "show", "latest", "--store", store)
    assert t("run.failure", read, reason=why(read)) in shown and why(solved) not in shown


def test_a_stage_left_unproven_is_stored_by_id_and_read_in_either_language(tmp_path: Path) -> None:
    """Stopped before the search: every stage is stored not proven, cause ``stopped``."""
    set_lang("en")
    store = service.open_store(tmp_path / "s.db", create=True)
    stop = threading.Event()
    stop.set()
    run = service.solve_and_record(service.load(TINY), store, stop=stop).run
    assert not run.proven
    notes = run.meta["unproven"]
    assert notes and {n["cause"] for n in notes} == {"stopped"}
    english, vietnamese = service.run_notes(run, "en"), service.run_notes(run, "vi")
    assert any("stopped" in line for line in english) and any("dừng" in line for line in vietnamese)
    assert not set(english) & set(vietnamese)
    set_lang("vi")  # a Vietnamese reader of a run solved in English
    assert service.run_notes(service.get_run(store, run.run_id)) == vietnamese
    shown = " ".join(staffplan("show", run.run_id, "--store", str(store.path)).split())
    assert "lần chạy đã bị dừng (Ctrl-C, hoặc nút Dừng trên trang web)" in shown
    assert "was stopped" not in shown
    report = service.write_report([run], tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.escape(vietnamese[0]) in report and "was stopped" not in report  # the report is Vietnamese


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("min-cost flow status 2", "solve_must_place"),
        ("hard minimums cannot all be met", "solve_min_unreachable"),
        ("the relatives rule cannot be met together with the other hard rules", "solve_relatives"),
        ("stopped before the relatives rule could be met", "solve_stopped_relatives"),
        ("alpha: something else", "solve_text"),
        ("", None),
    ],
)
def test_a_store_from_before_failure_codes_is_migrated(
    tmp_path: Path, message: str, code: str | None
) -> None:
    """A run stored with the solver's English sentence in ``meta.message`` (schema 3)
    reads, after the migration, as a code a Vietnamese reader gets in Vietnamese."""
    path = tmp_path / "s.db"
    staffplan("run", str(two_people_one_seat(tmp_path)), "--store", str(path))
    run_id = RunStore(path).resolve("latest")
    with sqlite3.connect(path) as conn:  # the meta as schema 3 wrote it
        meta = json.loads(conn.execute("SELECT meta FROM runs").fetchone()[0])
        meta.pop("failure")
        meta.pop("unproven")
        meta["message"] = message
        conn.execute("UPDATE runs SET meta = ?", (json.dumps(meta),))
        conn.execute("PRAGMA user_version = 3")
    run = RunStore(path).get(run_id)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert "message" not in run.meta
    if code is None:
        assert run.meta["failure"] is None and service.run_notes(run, "vi") == []
        return
    assert run.meta["failure"]["code"] == code
    (line,) = service.run_notes(run, "vi")
    assert line.startswith("Không có phương án")
    if code == "solve_text":
        assert message in line
    else:
        assert line == t("run.failure", "vi", reason=Reason(code).render("vi"))


def test_a_multi_province_run_says_which_province_a_stage_left_unproven(tmp_path: Path) -> None:
    """Two provinces solved under a time limit too short for any proof: every note of
    the merged run names its province, in either language."""
    from test_national import two_provinces

    from optimizer.io import load_scenario
    from optimizer.national import load_national

    national = two_provinces(tmp_path)
    store = service.open_store(tmp_path / "s.db", create=True)
    planned = service.plan_sweep(store, national, ["solver.time_limit_s=0.001"])
    outcome = service.sweep(store, planned, jobs=1, threads_per_solve=1).outcome
    run = store.get(outcome.runs[0].run_id)
    notes = run.meta["unproven"]
    names = {load_scenario(p).name for p in load_national(national).provinces}
    assert notes and {n["province"] for n in notes} == names
    for lang, word in (("en", " of "), ("vi", " của ")):
        stage_lines = [line for line in service.run_notes(run, lang) if word in line]
        assert len(stage_lines) == len(notes) and all(any(p in line for p in names) for line in stage_lines)


def test_a_multi_province_failure_names_each_province_and_its_reason() -> None:
    """Provinces merged into one run: the run's failure lists the provinces without a
    placement, each with its own reason, in the reader's language."""
    import numpy as np

    from optimizer.solution import SolveResult
    from optimizer.sweep import _merged_failure

    placed = SolveResult("optimal", np.zeros(2, dtype=np.int64))
    relatives = SolveResult("infeasible", np.full(2, -1), failure=Reason("solve_relatives"))
    minimums = SolveResult("infeasible", np.full(2, -1), failure=Reason("solve_min_unreachable"))
    assert _merged_failure([placed, placed], ["a", "b"]) is None
    failure = _merged_failure([relatives, placed, minimums], ["Alpha", "Beta", "Gamma"])
    assert failure is not None
    for lang in ("vi", "en"):
        text = failure.render(lang)
        assert f"Alpha: {Reason('solve_relatives').render(lang)}" in text
        assert f"Gamma: {Reason('solve_min_unreachable').render(lang)}" in text and "Beta" not in text
    assert Reason.from_json(failure.to_json()) == failure  # stored and read back as it was
