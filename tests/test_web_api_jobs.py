"""The web app's job queue: a worker that dies, a server that stopped, the queue order."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import TINY, wait

from optimizer import service
from optimizer.errors import InputError
from optimizer.i18n import LANGS, speaking
from optimizer.store import RunStore
from optimizer.web.app import create_app
from optimizer.web.jobs import JobManager


def test_a_worker_killed_is_a_failed_job(tmp_path: Path) -> None:
    jobs = JobManager(tmp_path / "store.db", max_parallel=1)
    RunStore(jobs.store_path)
    jobs.start()
    try:
        job_id = jobs.submit(TINY / "scenario.toml", (), "", "local")
        deadline = time.monotonic() + 60
        while (job := jobs._jobs[job_id]).process is None or not job.ready:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(job.process.pid, signal.SIGKILL)
        while not job.finished:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        view = jobs.get(job_id)
        assert view is not None and view["state"] == "failed"
        assert view["error"]["exitcode"] == -9 and "-9" in view["error"]["message"]
        assert RunStore(jobs.store_path).list() == []
    finally:
        jobs.shutdown(grace_s=5)


def test_jobs_left_by_a_stopped_server_are_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "store.db")
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO web_jobs (job_id, created_at, user, scenario, label, overrides, status)"
            " VALUES ('j0123456789ab', '2026-12-06T10:00:00+00:00', 'local', 'x.toml', '', '[]', 'running')"
        )
    with TestClient(create_app(tmp_path / "ws", store=store.path)) as client:
        body = client.get("/api/runs/j0123456789ab").json()
        assert body["status"] == "interrupted"
        with client.stream("GET", "/api/runs/j0123456789ab/events") as stream:
            lines = [line for line in stream.iter_lines() if line]
        assert lines[0] == "event: done"
        assert json.loads(lines[1].split(":", 1)[1])["status"] == "interrupted"


def test_a_bad_scenario_fails_with_its_problems(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        (TINY / "scenario.toml")
        .read_text(encoding="utf-8")
        .replace('"staff.csv"', f'"{TINY}/staff.csv"')
        .replace('"units.csv"', f'"{TINY}/units.csv"')
        .replace('"posts.csv"', f'"{TINY}/posts.csv"')
        .replace('"relations.csv"', f'"{TINY}/relations.csv"')
        .replace('"pins.csv"', f'"{TINY}/missing.csv"'),
        encoding="utf-8",
    )
    jobs = JobManager(tmp_path / "store.db", max_parallel=1)
    RunStore(jobs.store_path)
    jobs.start()
    try:
        job_id = jobs.submit(scenario, (), "", "local", "en")
        deadline = time.monotonic() + 60
        while not jobs._jobs[job_id].finished:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        view = jobs.get(job_id)
        assert view is not None and view["state"] == "failed"
        assert "missing.csv" in json.dumps(view["error"]["issues"])
        # a reader of each language reads the problems in it, whoever started the run
        for lang in LANGS:
            with speaking(lang), pytest.raises(InputError) as raised:
                service.load(scenario)
            read = jobs.get(job_id, lang)
            assert read is not None
            assert [i["message"] for i in read["error"]["issues"]] == [i.message for i in raised.value.issues]
        assert jobs.get(job_id, "vi") != jobs.get(job_id, "en")
    finally:
        jobs.shutdown(grace_s=5)


def test_runs_wait_their_turn(tmp_path: Path) -> None:
    app = create_app(tmp_path / "ws", store=tmp_path / "store.db", max_parallel=1)
    link = tmp_path / "ws" / "scenarios"
    link.symlink_to(TINY.parent)
    with TestClient(app) as client:
        token = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}
        ids = [
            client.post("/api/runs", json={"scenario": "scenarios/tiny/scenario.toml"}, headers=token).json()[
                "run_id"
            ]
            for _ in range(3)
        ]
        assert client.get(f"/api/runs/{ids[2]}").json()["queue_position"] in (0, 1)
        finals = [wait(client, i) for i in ids]
        assert [f["status"] for f in finals] == ["optimal"] * 3
        stored = [f["run_id"] for f in finals]
        assert stored == sorted(stored) and len(set(stored)) == 3  # stored in the order queued


def test_a_worker_that_cannot_start_fails_its_job_not_the_queue(tmp_path: Path) -> None:
    import multiprocessing

    from optimizer.i18n import t

    class NoProcess:
        def __init__(self, **_: object) -> None:
            pass

        def start(self) -> None:
            raise OSError("no process left")

    class Context:
        Queue = multiprocessing.get_context("spawn").Queue
        Process = NoProcess

    jobs = JobManager(tmp_path / "store.db", max_parallel=1)
    RunStore(jobs.store_path)
    jobs._ctx = Context()  # type: ignore[assignment]
    jobs.start()
    try:
        ids = [jobs.submit(TINY / "scenario.toml", (), "", "local") for _ in range(2)]
        deadline = time.monotonic() + 30
        while not all(jobs._jobs[j].finished for j in ids):  # the second is taken too
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for job_id in ids:
            view = jobs.get(job_id, "en")
            assert view is not None and view["state"] == "failed"
            assert view["error"]["message"] == t("server.job_crashed", "en")
    finally:
        jobs.shutdown(grace_s=5)
