"""The web app's solves: one queue, each solve in its own worker process.

:class:`JobManager` keeps the queue.  A job waits until one of ``max_parallel`` slots is
free, then runs in a fresh process (``spawn``: the server's threads are not forked) that
calls :func:`optimizer.service.load` and :func:`optimizer.service.solve_and_record`, so
a web run is stored exactly as a command-line run, in the same store.  The worker sends
its progress events (stage, value, bound, gap, elapsed) back through a pipe; a relay
thread in the server keeps them for the server-sent events and writes the job's state
into the store's ``web_jobs`` table (the single source of truth: another server or the
command line reads the same rows).

Cancelling a running job sends the worker ``SIGTERM``: its
:class:`~optimizer.service.StopOnSignal` sets the stop event that the solver honours like
Ctrl-C, and the best placement found is stored, marked not proven.  A job keeps running
when the page that started it is closed.  Stopping the server stops running solves the
same way and waits for them to store their runs.

This module imports neither FastAPI nor the solver: the worker process stays lean.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from optimizer.i18n import LANGS, speaking, t
from optimizer.store import RunStore

if TYPE_CHECKING:
    from optimizer.edit import SessionSnapshots

log = logging.getLogger(__name__)

#: Job states before the run is stored; afterwards a job takes its run's status.
JobState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
#: Seconds the server waits at shutdown for stopped solves to store their runs (a solve
#: stops at its next check, then computes its tables and KPIs and stores them: seconds on
#: the city on a quiet machine, minutes on a loaded one).
SHUTDOWN_GRACE_S = 300.0
_POLL_S = 0.2


def new_job_id() -> str:
    """A fresh job id: ``j`` and 12 hex digits."""
    return "j" + secrets.token_hex(6)


@dataclass(frozen=True)
class JobSpec:
    """What a worker solves: a scenario file, its overrides, who asked and how it is
    labelled; where the stored run is kept open for editing (``snapshots``)."""

    job_id: str
    scenario_path: str
    overrides: tuple[str, ...]
    label: str
    user: str
    store_path: str
    lang: str = "vi"
    snapshots: SessionSnapshots | None = None


@dataclass
class Job:
    """A job as the server sees it (kept in memory while the server runs).

    ``events`` are the progress events so far (dicts with ``stage``, ``objective``,
    ``bound``, ``gap``, ``elapsed_s``, ``note``); ``result`` the stored run's id, status,
    proof and interruption once done; ``error`` the problems when it failed.
    """

    spec: JobSpec
    state: JobState = "queued"
    created_at: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    ready: bool = False
    process: Any = None

    @property
    def finished(self) -> bool:
        """True once the job will change no more."""
        return self.state in ("done", "failed", "cancelled", "interrupted")

    def view(self) -> dict[str, Any]:
        """The job as plain JSON values (what the API answers)."""
        return {
            "job_id": self.spec.job_id,
            "state": self.state,
            "scenario": self.spec.scenario_path,
            "label": self.spec.label,
            "user": self.spec.user,
            "created_at": self.created_at,
            "progress": self.events[-1] if self.events else None,
            "events": len(self.events),
            "cancel_requested": self.cancel_requested,
            **({"result": self.result} if self.result else {}),
            **({"error": self.error} if self.error else {}),
        }


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def error_in(error: dict[str, Any], lang: str) -> dict[str, Any]:
    """A job's failure as a reader of ``lang`` sees it: ``issues``, the problems in
    ``lang`` (a failure recorded in one language only: as recorded), and ``message``, the
    catalogue's message ``key`` in ``lang``; other fields as they are."""
    out = {k: v for k, v in error.items() if k not in ("issues", "key", "params")}
    issues = error.get("issues") or []
    if isinstance(issues, dict):
        issues = issues.get(lang) or next(iter(issues.values()), [])
    if issues:
        out["issues"] = issues
    if "key" in error:
        out["message"] = t(str(error["key"]), lang, **(error.get("params") or {}))
    return out


def _progress_dict(event: Any) -> dict[str, Any]:
    return {
        "stage": event.stage,
        "objective": event.objective,
        "bound": event.bound,
        "digits": event.digits,
        "gap": event.gap,
        "elapsed_s": round(float(event.elapsed_s), 3),
        "note": event.note,
    }


def run_job(spec: JobSpec, events: Any) -> None:
    """Body of a worker process: load, solve and store one scenario, reporting on ``events``.

    ``SIGTERM`` stops the solve (the best placement is stored, not proven); a second one
    aborts it (nothing stored).  ``SIGINT`` is ignored: the server relays Ctrl-C.

    Sends ``("ready", {})`` once a stop signal is honoured (before, the server holds it
    back), ``("progress", dict)`` per solver report, then one of ``("done", {"run_id",
    "status", "proven", "interrupted"})``, ``("error", {"issues": {lang: [...]}})`` (bad
    input or not enough memory: the problems in each language, :func:`job_issues`),
    ``("error", {"key": ...})`` (a failure of the program, a message of the catalogue) or
    ``("aborted", {})`` (a second stop signal: nothing stored).
    """
    from optimizer import service
    from optimizer.errors import InputError
    from optimizer.i18n import set_lang
    from optimizer.store import jsonable

    set_lang(spec.lang)
    # Ctrl-C on the server's terminal reaches the workers too: the server relays it as one
    # SIGTERM (see JobManager.shutdown), so that the solve stops once and stores its run
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with service.StopOnSignal(signals=(signal.SIGTERM,)) as stopper:
        events.put(("ready", {}))
        try:
            loaded = service.load(spec.scenario_path, spec.overrides, warm_heap=True)
            store = service.open_store(spec.store_path, create=True)
            recorded = service.solve_and_record(
                loaded,
                store,
                progress=lambda e: events.put(("progress", _progress_dict(e))),
                stop=stopper.stop,
                tags={"label": spec.label, "job": spec.job_id, "user": spec.user},
            )
        except InputError as exc:
            issues = {spec.lang: jsonable(exc.issues)}
            for other in LANGS:  # the scenario read again in each other language, for its readers
                if other != spec.lang:
                    with speaking(other):
                        try:
                            service.load(spec.scenario_path, spec.overrides)
                        except InputError as again:
                            issues[other] = jsonable(again.issues)
            events.put(("error", {"issues": issues}))
            return
        except KeyboardInterrupt:
            events.put(("aborted", {}))
            return
        except Exception as exc:  # reported to the planner, logged in full here
            log.exception("job %s failed: %s", spec.job_id, exc)
            events.put(("error", {"key": "server.job_crashed"}))
            return
    if spec.snapshots is not None:
        try:  # the run's first edit check then reads it, without rebuilding the problem
            service.keep_edit_session(loaded.problem, recorded, spec.snapshots)
        except Exception:  # only a head start: the first check rebuilds the run
            log.exception("job %s: the run could not be kept open for editing", spec.job_id)
    result = recorded.result
    events.put(
        (
            "done",
            {
                "run_id": recorded.run_id,
                "status": result.status,
                "proven": bool(result.proven),
                "interrupted": bool(result.interrupted),
            },
        )
    )


class JobManager:
    """The queue of solves of one web app.

    Parameters
    ----------
    store_path
        The run store the workers write their runs into (and the jobs table).
    max_parallel
        How many solves run at once.
    on_stored
        Called with the run id of each run a job stores (from a relay thread).
    snapshots
        Where the workers keep each run they store open for editing.
    """

    def __init__(
        self,
        store_path: str | Path,
        max_parallel: int = 1,
        on_stored: Callable[[str], None] | None = None,
        snapshots: SessionSnapshots | None = None,
    ) -> None:
        self.snapshots = snapshots
        self.store_path = Path(store_path)
        self.max_parallel = max(1, max_parallel)
        self.on_stored = on_stored
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._lock = threading.Condition()
        self._running = 0
        self._stopping = False
        self._dispatcher: threading.Thread | None = None
        self._ctx = multiprocessing.get_context("spawn")

    # ------------------------------------------------------------------ store rows

    def _store(self) -> RunStore:
        return RunStore(self.store_path)

    def _write_row(self, job: Job) -> None:
        with self._store().transaction() as conn:
            conn.execute(
                "INSERT INTO web_jobs (job_id, created_at, user, scenario, label, overrides, status,"
                " run_id, progress, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,"
                " run_id = excluded.run_id, progress = excluded.progress, error = excluded.error",
                (
                    job.spec.job_id,
                    job.created_at,
                    job.spec.user,
                    job.spec.scenario_path,
                    job.spec.label,
                    json.dumps(list(job.spec.overrides), ensure_ascii=False),
                    job.state,
                    job.result.get("run_id"),
                    json.dumps(job.events[-1] if job.events else {}, ensure_ascii=False),
                    json.dumps(job.error, ensure_ascii=False) if job.error else None,
                ),
            )

    def _stored_job(self, job_id: str) -> dict[str, Any] | None:
        with self._store().reading() as conn:
            row = conn.execute(
                "SELECT job_id, created_at, user, scenario, label, status, run_id, progress, error"
                " FROM web_jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
        if row is None:
            return None
        progress = json.loads(row[7])
        return {
            "job_id": row[0],
            "state": row[5],
            "scenario": row[3],
            "label": row[4],
            "user": row[2],
            "created_at": row[1],
            "progress": progress or None,
            "events": 0,
            "cancel_requested": False,
            **({"result": {"run_id": row[6]}} if row[6] else {}),
            **({"error": json.loads(row[8])} if row[8] else {}),
        }

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start taking jobs; jobs left queued or running by a server that stopped are
        marked ``interrupted``."""
        with self._store().transaction() as conn:
            conn.execute("UPDATE web_jobs SET status = 'interrupted' WHERE status IN ('queued', 'running')")
        self._stopping = False
        self._dispatcher = threading.Thread(target=self._dispatch, name="staffplan-jobs", daemon=True)
        self._dispatcher.start()

    def shutdown(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Stop taking jobs, cancel the queued ones, stop the running solves (each stores
        its best placement) and wait up to ``grace_s`` seconds for them."""
        with self._lock:
            self._stopping = True
            queued = list(self._queue)
            self._lock.notify_all()
        running = [j for j in self._jobs.values() if j.state == "running"]
        for job_id in queued + [j.spec.job_id for j in running]:
            self.cancel(job_id)
        if running:
            log.warning(
                "waiting up to %.0f s for %d stopped solve(s) to store their runs", grace_s, len(running)
            )
        deadline = time.monotonic() + grace_s
        for job in running:
            if job.process is not None:
                job.process.join(max(0.0, deadline - time.monotonic()))
                if job.process.is_alive():
                    log.warning("solve %s did not store its run in time: ended", job.spec.job_id)
                    job.process.kill()
        if self._dispatcher is not None:
            self._dispatcher.join(5)

    # ------------------------------------------------------------------ jobs

    def submit(
        self, scenario_path: str | Path, overrides: Sequence[str], label: str, user: str, lang: str = "vi"
    ) -> str:
        """Queue a solve and return its job id."""
        spec = JobSpec(
            job_id=new_job_id(),
            scenario_path=str(scenario_path),
            overrides=tuple(overrides),
            label=label,
            user=user,
            store_path=str(self.store_path),
            lang=lang,
            snapshots=self.snapshots,
        )
        job = Job(spec, created_at=_now())
        self._write_row(job)
        with self._lock:
            self._jobs[spec.job_id] = job
            self._queue.append(spec.job_id)
            self._lock.notify_all()
        return spec.job_id

    def get(self, job_id: str, lang: str = "vi") -> dict[str, Any] | None:
        """The job's state as JSON values (from memory, else from the store), its failure
        as a reader of ``lang`` sees it (:func:`error_in`), or ``None``."""
        job = self._jobs.get(job_id)
        view = job.view() if job is not None else self._stored_job(job_id)
        if view is not None and view.get("error"):
            view["error"] = error_in(view["error"], lang)
        return view

    def events_since(self, job_id: str, start: int) -> tuple[list[dict[str, Any]], bool]:
        """The job's progress events from index ``start`` on, and whether it has finished.

        A job this server does not hold (another server's, or an older one) has no events
        and counts as finished.
        """
        job = self._jobs.get(job_id)
        if job is None:
            return [], True
        with self._lock:
            return list(job.events[start:]), job.finished

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` jobs of the store (every server's), newest first."""
        with self._store().reading() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT job_id FROM web_jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
                )
            ]
        return [v for v in (self.get(j) for j in ids) if v is not None]

    def position(self, job_id: str) -> int | None:
        """The job's place in the queue (0 = next), or ``None`` when it is not waiting."""
        with self._lock:
            return self._queue.index(job_id) if job_id in self._queue else None

    def cancel(self, job_id: str) -> bool:
        """Cancel a job: a queued one is dropped, a running one stopped (it keeps its best
        placement, stored as not proven).  False when the job is unknown or finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.finished:
                return False
            if job.cancel_requested:  # asked already: a second signal would abort the solve
                return True
            job.cancel_requested = True
            if job.state == "queued":
                self._queue.remove(job_id)
                job.state = "cancelled"
                self._lock.notify_all()
        if job.state == "cancelled":
            self._write_row(job)
        else:
            self._signal(job)
        return True

    def _signal(self, job: Job) -> None:
        """Ask a running worker to stop (once it honours the signal: see :func:`run_job`)."""
        process = job.process
        if job.ready and process is not None and process.pid is not None and process.is_alive():
            os.kill(process.pid, signal.SIGTERM)

    # ------------------------------------------------------------------ dispatching

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (not self._queue or self._running >= self.max_parallel):
                    self._lock.wait()
                if self._stopping:
                    return
                job = self._jobs[self._queue.pop(0)]
                self._running += 1
                job.state = "running"
            events = self._ctx.Queue()
            process = self._ctx.Process(
                target=run_job, args=(job.spec, events), name=f"staffplan-{job.spec.job_id}", daemon=True
            )
            try:
                process.start()
            except Exception:  # no worker (e.g. no process left): this job fails, the queue goes on
                log.exception("job %s: the worker process could not start", job.spec.job_id)
                with self._lock:
                    job.state, job.error = "failed", {"key": "server.job_crashed"}
                    self._running -= 1
                self._write_row(job)
                continue
            job.process = process
            self._write_row(job)
            threading.Thread(
                target=self._relay, args=(job, events), name=f"relay-{job.spec.job_id}", daemon=True
            ).start()

    def _relay(self, job: Job, events: Any) -> None:
        """Carry a worker's events into the job until it ends (or its process dies)."""
        last_write = 0.0
        try:
            while True:
                try:
                    kind, data = events.get(timeout=_POLL_S)
                except queue.Empty:
                    if job.process.is_alive():
                        continue
                    with self._lock:
                        job.state = "failed"
                        code = job.process.exitcode
                        job.error = {"key": "server.worker_died", "params": {"code": code}, "exitcode": code}
                    break
                if kind == "ready":
                    job.ready = True
                    if job.cancel_requested:
                        self._signal(job)
                    continue
                with self._lock:
                    if kind == "progress":
                        job.events.append(data)
                    elif kind == "done":
                        job.state, job.result = "done", data
                    elif kind == "aborted":
                        job.state = "cancelled"
                    else:
                        job.state, job.error = "failed", data
                if kind != "progress":
                    break
                if time.monotonic() - last_write > 1.0:
                    self._write_row(job)
                    last_write = time.monotonic()
        finally:
            self._write_row(job)
            if job.result.get("run_id") and self.on_stored is not None:
                self.on_stored(job.result["run_id"])
            job.process.join(5)
            with self._lock:
                self._running -= 1
                self._lock.notify_all()
