"""The service layer: every kind of run carries the same KPIs, and each planner action
returns plain typed values (the CLI and the web app are thin over it).

The tiny scenario (``scenarios/tiny``) and two tiny synthetic provinces (those of
``test_national``) keep every test within seconds.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_national import two_provinces

from optimizer import service
from optimizer.check import check_placement
from optimizer.errors import InputError
from optimizer.fairness import fairness_kpis
from optimizer.i18n import set_lang
from optimizer.io import load_problem, load_scenario
from optimizer.national import load_national
from optimizer.placement_tables import readable, reason_texts
from optimizer.replan import assignment_of, load_run
from optimizer.store import SCHEMA_VERSION, RunStore
from optimizer.sweep import plan_sweep, run_sweep

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_lang("en")
    yield
    set_lang("vi")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A copy of the tiny scenario (so that its inputs can be changed)."""
    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    return folder / "scenario.toml"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return service.open_store(tmp_path / "runs.db", create=True)


def recomputed_fairness(store: RunStore, run_id: str) -> dict[str, object]:
    """The fairness KPIs of a stored run, recomputed from its rebuilt problem."""
    ctx = load_run(store, run_id)
    return fairness_kpis(ctx.problem, ctx.assignment)


# --------------------------------------------------------------------------- one record path


def test_fairness_kpis_are_stored_with_run_sweep_and_replan_runs(
    tiny: Path, store: RunStore, tmp_path: Path
) -> None:
    recorded = service.solve_and_record(service.load(tiny), store)
    assert recorded.result.has_placement
    assert recorded.run.kpis["fairness"] == recomputed_fairness(store, recorded.run_id)
    assert recorded.run.kpis["fairness"]["people_with_preferences"] > 0

    planned = service.plan_sweep(store, tiny, ["rules.max_commute_km=25,30"])
    assert planned.num_tasks == 2 and not planned.finished
    started: list[service.SweepSlots] = []
    outcome = service.sweep(store, planned, jobs=1, threads_per_solve=1, on_start=started.append).outcome
    assert started == [service.SweepSlots(None, 1, 1)] and len(outcome.runs) == 2
    again = service.plan_sweep(store, tiny, ["rules.max_commute_km=25,30"])  # resumes: nothing left
    assert again.num_tasks == 0 and {h.run_id for h in again.finished.values()} == {
        r.run_id for r in outcome.runs
    }
    table = service.sweep_table(store, planned.plan.sweep_id)
    assert table.keys == ("rules.max_commute_km",) and list(table.frame["run_id"]) == [
        r.run_id for r in outcome.runs
    ]
    for swept in outcome.runs:
        kpis = store.get(swept.run_id).kpis
        assert "fairness" in kpis, "a sweep run lacks the fairness KPIs"
        assert kpis["fairness"] == recomputed_fairness(store, swept.run_id)

    changes = tmp_path / "changes.csv"
    changes.write_text("action,staff_id,reason\nleave,S04,nghỉ hưu\n", encoding="utf-8")
    done = service.replan(store, recorded.run_id, changes)
    assert done.run is not None and done.run.meta["base_run"] == recorded.run_id
    assert "fairness" in done.run.kpis, "a re-plan run lacks the fairness KPIs"
    assert done.run.kpis["fairness"] == fairness_kpis(done.plan.problem, done.plan.result.assignment)


def test_a_national_run_adds_up_its_provinces_fairness(tmp_path: Path, store: RunStore) -> None:
    national = two_provinces(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        outcome = run_sweep(plan_sweep(national), store, pool, threads=1)
    stored = store.get(outcome.runs[0].run_id)
    parts = []  # each province's fairness, recomputed from its share of the stored placement
    for path in load_national(national).provinces:
        problem, _ = load_problem(load_scenario(path))
        placements = stored.tables.placements
        mine = placements[placements["staff_id"].isin(list(problem.staff.ids))]
        share = dataclasses.replace(stored, tables=dataclasses.replace(stored.tables, placements=mine))
        parts.append(fairness_kpis(problem, assignment_of(share, problem, store)))
    fairness = stored.kpis["fairness"]
    for key in ("blocking_pairs", "people_blocked", "people_with_preferences", "units_involved"):
        assert fairness[key] == sum(int(p[key]) for p in parts)
    assert fairness["people_with_preferences"] > 0
    assert fairness["blocked_rate"] == fairness["people_blocked"] / fairness["people_with_preferences"]


# --------------------------------------------------------------------------- actions


def test_validate_returns_every_issue_instead_of_raising(tiny: Path) -> None:
    good = service.validate(tiny)
    assert good.valid and good.problem is not None and good.problem.num_staff > 0
    bad = service.validate(tiny, ["rules.max_commute_km=-1"])
    assert not bad.valid and bad.problem is None and bad.issues
    english, vietnamese = good.summary("en"), good.summary("vi")
    people = f"{good.problem.num_staff}"
    assert len(english) == len(vietnamese) == 8 and english != vietnamese
    assert any(people in line and "people" in line.lower() for line in english)
    assert any(people in line and "người" in line.lower() for line in vietnamese)
    assert bad.summary() == []
    assert tiny in service.input_files(tiny) and len(service.input_files(tiny)) > 1


def test_load_refuses_a_multi_province_file(tmp_path: Path) -> None:
    national = tmp_path / "national.toml"
    national.write_text('provinces = ["a.toml"]\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        service.load(national)
    assert [i.code for i in err.value.issues] == ["national"]


def test_solver_options_are_recorded_with_the_run(tiny: Path, store: RunStore) -> None:
    loaded = service.load(tiny, time_limit=7.5, workers=1, seed=11)
    run = service.solve_and_record(loaded, store).run
    params = run.meta["solver_params"]
    assert (params["time_limit_s"], params["workers"], params["seed"]) == (7.5, 1, 11)


def test_a_stop_set_before_the_solve_keeps_a_placement_not_proven(tiny: Path, store: RunStore) -> None:
    loaded = service.load(tiny)
    stop = threading.Event()
    stop.set()
    events: list[object] = []
    recorded = service.solve_and_record(loaded, store, progress=events.append, stop=stop)
    assert not recorded.run.proven and recorded.result.interrupted
    if recorded.result.has_placement:
        assert check_placement(loaded.problem, recorded.result.assignment) == []


def test_progress_events_reach_the_callback(tiny: Path, store: RunStore) -> None:
    events: list[object] = []
    recorded = service.solve_and_record(service.load(tiny), store, progress=events.append)
    assert recorded.run.proven and events
    assert {e.stage for e in events} >= {s.name for s in recorded.result.stages}  # type: ignore[attr-defined]


def test_explain_compare_and_export_on_stored_runs(tiny: Path, store: RunStore, tmp_path: Path) -> None:
    first = service.solve_and_record(service.load(tiny), store)
    second = service.solve_and_record(service.load(tiny, ["rules.max_commute_km=25"]), store)
    person = str(first.run.tables.placements["staff_id"].iloc[0])
    found = service.explain(store, first.run_id, person, alternatives=2, forcing=False)
    assert found.problem.staff.ids[found.person.staff_idx] == person
    assert found.person.post_idx >= 0 and len(found.person.alternatives) == 2
    with pytest.raises(InputError) as err:
        service.explain(store, first.run_id, "NOBODY")
    assert [i.code for i in err.value.issues] == ["unknown_staff"]
    _, notes = service.explain_all(store, first.run_id)
    assert len(notes) == found.problem.num_staff and all(n.note for n in notes)

    compared = service.compare(store, [first.run_id, second.run_id, first.run_id])
    assert compared.comparison.run_ids == (first.run_id, second.run_id)
    with pytest.raises(ValueError):
        service.compare(store, [first.run_id, first.run_id])

    exported = service.export(store, first.run_id, "csv", tmp_path / "out")
    assert exported.run_id == first.run_id
    names = {p.name for p in exported.paths}
    assert {"placements.csv", "unplaced.csv", "units.csv"} <= names
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in exported.paths)
    assert [s.run_id for s in service.runs(store)] == [second.run_id, first.run_id]
    assert service.delete_run(store, second.run_id) == second.run_id
    assert [s.run_id for s in service.runs(store)] == [first.run_id]


def test_diagnose_names_the_conflict_of_an_infeasible_variant(tiny: Path) -> None:
    assert service.diagnose(tiny).diagnosis.feasible
    hard = ["rules.require_all_placed=true", "rules.min_is_hard=true"]
    diagnosis = service.diagnose(tiny, hard).diagnosis
    assert not diagnosis.feasible and diagnosis.conflicts
    assert any(r.text for c in diagnosis.conflicts for r in c.relaxations)


def test_a_replan_in_two_steps_shows_the_changes_before_solving(
    tiny: Path, store: RunStore, tmp_path: Path
) -> None:
    base = service.solve_and_record(service.load(tiny), store)
    changes = tmp_path / "changes.csv"
    changes.write_text("action,staff_id\nleave,S04\nleave,S10\n", encoding="utf-8")
    prepared = service.prepare_replan(store, "latest", changes, time_limit=5)
    assert [c.staff_id for c in prepared.changes.leaves] == ["S04", "S10"]
    assert prepared.base.problem.solver.time_limit_s == 5
    done = service.solve_replan(store, prepared, mode="changes_first")
    assert done.run is not None and done.run.meta["base_run"] == base.run_id
    placed = set(done.run.tables.placements["staff_id"])
    assert {"S04", "S10"}.isdisjoint(placed)
    assert {c.staff_id for c in done.plan.changes if c.why == "left"} == {"S04", "S10"}
    with pytest.raises(ValueError):
        service.replan_mode(3, changes_first=True)


# --------------------------------------------------------------------------- reasons as codes


def test_unplaced_reasons_are_stored_as_codes_and_read_in_the_readers_language(
    tiny: Path, store: RunStore, tmp_path: Path
) -> None:
    run = service.solve_and_record(service.load(tiny), store).run  # solved in English
    unplaced = run.tables.unplaced
    assert len(unplaced) > 0 and (unplaced["reason_code"] != "").all()
    with sqlite3.connect(store.path) as conn:
        stored = conn.execute("SELECT reason, reason_code FROM run_unplaced").fetchall()
    assert stored and all(text == "" and code for text, code in stored)  # no sentence kept
    english, vietnamese = reason_texts(unplaced, "en"), reason_texts(unplaced, "vi")
    assert all(english) and all(vietnamese) and english != vietnamese
    set_lang("vi")  # a Vietnamese reader of the run solved in English
    (path,) = [
        p for p in service.write_tables(service.get_run(store, run.run_id), tmp_path) if p.stem == "unplaced"
    ]
    with path.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["reason"] for r in rows] == vietnamese
    assert [r["reason_code"] for r in rows] == list(unplaced["reason_code"])


def test_a_store_from_before_reason_codes_keeps_its_sentences(tiny: Path, store: RunStore) -> None:
    run_id = service.solve_and_record(service.load(tiny), store).run_id
    sentence = "Không có vị trí phù hợp (lưu trước khi lý do là mã)"
    with sqlite3.connect(store.path) as conn:  # the store as schema 2 left it
        conn.execute("ALTER TABLE run_unplaced DROP COLUMN reason_code")
        conn.execute("ALTER TABLE run_unplaced DROP COLUMN reason_params")
        conn.execute("UPDATE run_unplaced SET reason = ?", (sentence,))
        conn.execute("PRAGMA user_version = 2")
    reopened = RunStore(store.path)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    unplaced = reopened.get(run_id).tables.unplaced
    assert len(unplaced) > 0 and (unplaced["reason_code"] == "").all()
    assert reason_texts(unplaced, "en") == reason_texts(unplaced, "vi") == [sentence] * len(unplaced)
    assert readable(reopened.get(run_id).tables).unplaced["reason"].tolist() == [sentence] * len(unplaced)


def test_a_solve_too_large_for_memory_is_bad_input_for_run_and_sweep(
    tiny: Path, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer.solve import memory
    from optimizer.sweep import SolveTask, solve_task

    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    with pytest.raises(InputError) as err:
        service.solve_and_record(service.load(tiny), store)
    assert [(i.code, i.file) for i in err.value.issues] == [("memory", str(tiny))]
    assert service.runs(store) == []  # nothing stored
    done = solve_task(SolveTask(str(tiny), (), 1, 0, 0, "en"))
    assert done.solved is None and [i.code for i in done.errors] == ["memory"]


def test_a_runs_source_is_defined_once() -> None:
    """store.NewRun composes store.RunSource (what the manifest certifies besides the
    placement) instead of repeating its fields, and record builds it from the scenario."""
    from optimizer.store import NewRun, RunSource

    source_fields = {f.name for f in dataclasses.fields(RunSource)}
    run_fields = {f.name: f.type for f in dataclasses.fields(NewRun)}
    assert run_fields["source"] == "RunSource" and not source_fields & set(run_fields)
