"""The web API end to end on the tiny scenario: upload, run in a worker process, progress
events, the stored run, pages of units and people, cancel, export, refusals."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from web_support import TINY, csrf, start, tiny_zip, upload, wait

from optimizer import service
from optimizer.kpis import objective_terms, unit_kpis
from optimizer.store import RunStore
from optimizer.web.app import create_app
from optimizer.web.views import RunCache


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    root = tmp_path_factory.mktemp("web")
    app = create_app(root / "ws", store=root / "store.db", max_parallel=1)
    with TestClient(app) as client:
        yield client, root / "store.db"


@pytest.fixture(scope="module")
def tiny_id(web: tuple[TestClient, Path]) -> str:
    client, _ = web
    answer = upload(client, "tỉnh nhỏ.zip", tiny_zip())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["valid"] is True
    return str(body["id"])


@pytest.fixture(scope="module")
def solved(web: tuple[TestClient, Path], tiny_id: str) -> dict[str, object]:
    client, _ = web
    run_id = start(client, tiny_id, label="thử nghiệm")
    body = wait(client, run_id)
    assert body["status"] == "optimal", body
    return {**body, "job": run_id}


def test_upload_zip_is_stored_under_generated_names(web: tuple[TestClient, Path], tiny_id: str) -> None:
    client, _ = web
    body = client.get(f"/api/scenarios/{tiny_id}").json()
    assert body["valid"] is True and body["name"] == "tỉnh nhỏ.zip"
    assert 'units = "f' in body["toml"]  # rewritten to the generated file names
    folder = Path(client.app.state.web.config.workspace) / "uploads" / tiny_id  # type: ignore[attr-defined]
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(
        f"f{i:03d}{Path(n).suffix}"
        for i, n in enumerate(
            sorted(p.name for p in TINY.iterdir() if p.suffix in (".toml", ".csv")), start=1
        )
    )
    assert tiny_id in [s["id"] for s in client.get("/api/scenarios").json()]


def test_run_is_stored_like_a_command_line_run(
    web: tuple[TestClient, Path], solved: dict[str, object]
) -> None:
    store_path = web[1]
    run = RunStore(store_path).get(str(solved["run_id"]))
    assert run.meta["tags"]["label"] == "thử nghiệm"
    # the API's terms are the objective recomputed from the stored placement
    recomputed = objective_terms(run.tables, run.rules)
    terms = solved["terms"]
    assert isinstance(terms, dict)
    assert {k: v["value"] for k, v in terms.items()} == {k: recomputed[k] for k in terms}
    assert all(v["proven"] for v in terms.values())
    # and the same placement as a direct solve of the same scenario
    direct = service.solve_and_record(service.load(TINY / "scenario.toml"), RunStore(store_path))
    key = ["staff_id", "unit_id", "position"]
    assert run.tables.placements[key].equals(direct.run.tables.placements[key])
    assert solved["kpis"] == json.loads(json.dumps(run.kpis))


def test_job_id_and_stored_id_answer_alike(web: tuple[TestClient, Path], solved: dict[str, object]) -> None:
    client, _ = web
    by_job = client.get(f"/api/runs/{solved['job']}").json()
    by_run = client.get(f"/api/runs/{solved['run_id']}").json()
    assert by_job["run_id"] == by_run["run_id"] == solved["run_id"]
    assert by_job["kpis"] == by_run["kpis"]
    listed = client.get("/api/runs").json()
    assert solved["run_id"] in [r["run_id"] for r in listed["runs"]]
    assert solved["job"] in [j["job_id"] for j in listed["jobs"]]


def test_events_stream_progress_then_done(web: tuple[TestClient, Path], tiny_id: str) -> None:
    client, _ = web
    run_id = start(client, tiny_id, set={"rules.max_commute_km": 25})
    kinds, last = [], None
    with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kinds.append(line.split(":", 1)[1].strip())
            elif line.startswith("data:"):
                last = json.loads(line.split(":", 1)[1])
    assert kinds[-1] == "done" and "progress" in kinds
    assert last is not None and last["status"] == "optimal"
    stored = RunStore(web[1]).get(last["run_id"])
    assert stored.meta["overrides"] == ["rules.max_commute_km=25"]


def test_units_and_people_pages(web: tuple[TestClient, Path], solved: dict[str, object]) -> None:
    client, store_path = web
    run = RunStore(store_path).get(str(solved["run_id"]))
    units = client.get(f"/api/runs/{solved['run_id']}/units", params={"limit": 2, "sort": "unit_id"}).json()
    assert units["total"] == run.tables.units["unit_id"].nunique()
    assert [r["unit_id"] for r in units["rows"]] == sorted(run.tables.units["unit_id"].unique())[:2]
    people = client.get(f"/api/runs/{solved['run_id']}/people", params={"query": "nguyen van an"}).json()
    assert [r["staff_id"] for r in people["rows"]] == ["S01"]
    assert people["rows"][0]["full_name"] == "Nguyễn Văn An"
    everyone = client.get(f"/api/runs/{solved['run_id']}/people", params={"limit": 500}).json()
    assert everyone["total"] == len(run.tables.placements) + len(run.tables.unplaced)


def test_a_run_page_reads_no_placement_row(
    web: tuple[TestClient, Path], solved: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, store_path = web
    store = RunStore(store_path)
    run_id = str(solved["run_id"])
    run = store.get(run_id)
    computed = unit_kpis(run.tables, run.rules, by_bloc=False)
    pd.testing.assert_frame_equal(service.run_units(store, run_id), computed)  # stored with the run
    # the web worker kept the run open for editing: its snapshot is there
    snapshots = client.app.state.web.config.snapshots  # type: ignore[attr-defined]
    assert snapshots.load(run_id, run.manifest_hash) is not None

    def no_rows(*_: object) -> None:
        raise AssertionError("the run's rows were read")

    client.app.state.web.runs = RunCache()  # type: ignore[attr-defined]
    monkeypatch.setattr(RunStore, "get", no_rows)
    page = client.get(f"/runs/{run_id}", params={"lang": "vi", "sort": "filled", "desc": "1"})
    assert page.status_code == 200
    top = computed.sort_values("filled", ascending=False, kind="stable")["unit_name"].iloc[0]
    assert escape(top) in page.text
    units = client.get(f"/api/runs/{run_id}/units", params={"sort": "filled", "descending": True}).json()
    assert units["rows"][0]["unit_name"] == top
    monkeypatch.undo()
    # a run stored before the per-unit KPIs were kept: computed from its rows, the same
    with sqlite3.connect(store_path) as conn:
        conn.execute("DELETE FROM run_unit_kpis")
    pd.testing.assert_frame_equal(service.run_units(store, run_id), computed)


def test_export_xlsx_and_csv(web: tuple[TestClient, Path], solved: dict[str, object]) -> None:
    client, _ = web
    xlsx = client.get(f"/api/runs/{solved['run_id']}/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:4] == b"PK\x03\x04"
    assert ".xlsx" in xlsx.headers["content-disposition"]
    csvs = client.get(f"/api/runs/{solved['run_id']}/export", params={"format": "csv", "redact": True})
    assert csvs.status_code == 200
    with zipfile.ZipFile(io.BytesIO(csvs.content)) as bundle:
        names = {Path(n).name for n in bundle.namelist()}
        placements = next(n for n in bundle.namelist() if n.endswith("placements.csv"))
        text = bundle.read(placements).decode("utf-8-sig")
    assert {"placements.csv", "unplaced.csv", "units.csv"} <= names
    assert "Nguyễn Văn An" not in text  # redacted
    decision = client.get(f"/api/runs/{solved['run_id']}/export", params={"format": "decision"})
    assert decision.status_code == 200 and decision.content[:4] == b"PK\x03\x04"
    assert ".docx" in decision.headers["content-disposition"]


def test_cancel_a_queued_run_stores_nothing(web: tuple[TestClient, Path], tiny_id: str) -> None:
    client, store_path = web
    before = len(RunStore(store_path).list())
    first = start(client, tiny_id)
    second = start(client, tiny_id)  # one solve at a time: this one waits
    answer = client.delete(f"/api/runs/{second}", headers=csrf(client))
    assert answer.status_code == 200
    assert wait(client, second)["status"] == "cancelled"
    assert wait(client, first)["status"] == "optimal"
    assert len(RunStore(store_path).list()) == before + 1
    assert client.delete(f"/api/runs/{second}", headers=csrf(client)).status_code == 409


def test_cancel_a_running_solve_keeps_a_run_marked_not_proven(
    web: tuple[TestClient, Path], tiny_id: str
) -> None:
    client, store_path = web
    run_id = start(client, tiny_id)
    while client.get(f"/api/runs/{run_id}").json()["status"] == "queued":
        time.sleep(0.05)
    assert client.delete(f"/api/runs/{run_id}", headers=csrf(client)).status_code == 200
    body = wait(client, run_id)
    # the worker was asked to stop before its solve ended (the signal is held until the
    # worker honours it, then the solver stops at its next check): stored, not proven
    assert body["run_id"] is not None, body
    assert body["interrupted"] is True and body["proven"] is False
    assert RunStore(store_path).get(body["run_id"]).meta["interrupted"] is True


def test_refusals(web: tuple[TestClient, Path], tiny_id: str, solved: dict[str, object]) -> None:
    client, _ = web
    assert client.get("/api/runs/r9999").status_code == 404
    assert client.get("/api/runs/j000000000000").status_code == 404
    assert client.get("/api/runs/j000000000000/events").status_code == 404
    assert client.delete("/api/runs/j000000000000", headers=csrf(client)).status_code == 404
    assert client.delete(f"/api/runs/{solved['run_id']}", headers=csrf(client)).status_code == 409
    assert client.get(f"/api/runs/{solved['run_id']}/export", params={"format": "odt"}).status_code == 422
    unknown = client.post("/api/runs", json={"scenario": "u000000000000"}, headers=csrf(client))
    assert unknown.status_code == 404
    bad_key = client.post(
        "/api/runs", json={"scenario": tiny_id, "set": {"rules.max_comute_km": 20}}, headers=csrf(client)
    )
    assert bad_key.status_code == 422
    assert "rules.max_commute_km" in json.dumps(bad_key.json(), ensure_ascii=False)
    no_token = client.post("/api/runs", json={"scenario": tiny_id})
    assert no_token.status_code == 403


def test_edit_check_lists_broken_rules_and_term_changes(
    web: tuple[TestClient, Path], solved: dict[str, object]
) -> None:
    client, store_path = web
    run = RunStore(store_path).get(str(solved["run_id"]))
    where = dict(zip(run.tables.placements["staff_id"], run.tables.placements["unit_id"], strict=True))
    url = f"/api/runs/{solved['run_id']}/check"
    # S04 (health, not an island resident) onto the island's health post line
    island = client.post(
        url,
        json={"moves": [{"staff_id": "S04", "unit_id": "T03", "position": "health"}]},
        headers=csrf(client),
    )
    assert island.status_code == 200, island.text
    body = island.json()
    assert body["ok"] is False
    assert "island" in [v["rule"] for v in body["violations"]]
    assert any(v["staff_ids"] == ["S04"] and v["who"] == ["Phạm Thị Dung (S04)"] for v in body["violations"])
    # leaving a placed person without a post: one more unplaced, nothing broken
    placed = next(s for s in ("S13", "S12", "S11") if s in where)
    leave = client.post(
        url, json={"moves": [{"staff_id": placed, "unit_id": None}]}, headers=csrf(client)
    ).json()
    assert leave["terms"]["unplaced"]["delta"] == 1
    assert leave["terms"]["unplaced"]["after"] == leave["terms"]["unplaced"]["before"] + 1
    assert leave["terms"]["unplaced"]["before"] == solved["terms"]["unplaced"]["value"]  # type: ignore[index]
    # a move that cannot be read is listed, not a failure
    odd = client.post(
        url, json={"moves": [{"staff_id": "S99", "unit_id": "T01"}]}, headers=csrf(client)
    ).json()
    assert odd["ok"] is False and odd["problems"]
    assert client.post(url, json={"moves": []}, headers=csrf(client)).status_code == 422
    assert (
        client.post(
            "/api/runs/r9999/check", json={"moves": [{"staff_id": "S01"}]}, headers=csrf(client)
        ).status_code
        == 404
    )


def test_runs_made_on_the_command_line_are_kept_open_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At start the app writes, in the background, the edit snapshots of the stored runs no
    worker wrote (made on the command line), without holding up its first answer."""
    from optimizer import replan

    folder = tmp_path / "tiny"
    shutil.copytree(TINY, folder)
    store = service.open_store(tmp_path / "store.db", create=True)
    loaded = service.load(folder / "scenario.toml")
    older, newest = (service.solve_and_record(loaded, store).run for _ in range(2))
    release = threading.Event()
    rebuild = replan.load_run

    def slow_rebuild(*args: Any, **kwargs: Any) -> replan.RunContext:
        release.wait(60)  # a rebuild of the city takes seconds
        return rebuild(*args, **kwargs)

    monkeypatch.setattr(replan, "load_run", slow_rebuild)
    app = create_app(tmp_path / "ws", store=store.path, max_parallel=1)
    snapshots = app.state.web.config.snapshots
    began = time.monotonic()
    with TestClient(app) as client:
        assert client.get("/api/health").status_code == 200
        assert time.monotonic() - began < 30  # the rebuilds wait: start and answer did not
        assert not snapshots.folder.exists() or not any(snapshots.folder.iterdir())
        release.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            snapshots.load(r.run_id, r.manifest_hash) is None for r in (older, newest)
        ):
            time.sleep(0.1)
        for run in (older, newest):  # no page of either run was opened
            kept = snapshots.load(run.run_id, run.manifest_hash)
            assert kept is not None, run.run_id
            np.testing.assert_array_equal(kept.assignment, rebuild(store, run.run_id).assignment)
    # the older run was only written: the runs the pages check stay open in memory
    assert (str(store.path), older.run_id) not in service._edit_sessions
