"""Benchmark: the web app's answers on a full-city run, server side (targets: the run's
page under 0.3 s, the edit-by-hand check under 1 s).

Usage::

    .venv/bin/python benchmarks/bench_web.py [--scenario FILE] [--store FILE --run RUN_ID]
        [--repeat 20] [--seed 0] [--out FILE]

Protocol.  The scenario (default ``scenarios/hcmc-2025/transition.toml``; make its tables
with ``staffplan synth --out scenarios/hcmc-2025/generated --seed 0``) is solved once and
stored in a temporary run store through :func:`optimizer.service.solve_and_record`,
exactly as a web or command-line run is (or ``--store``/``--run`` name a stored run).
The app of :func:`optimizer.web.app.create_app` is then called in this process through
Starlette's test client (ASGI, no network, no browser: the time is the server's, from
the request to the last byte of the answer, JSON or HTML rendering included).  Timed:

* ``run``: ``GET /api/runs/{id}`` (status, KPIs, terms and bounds; the run's head only);
* ``units_cold``: ``GET /api/runs/{id}/units?limit=50`` with nothing cached (the run's
  head and the per-unit KPIs stored with it are read: no placement row), then ``units``
  (the next pages, sorted by fill rate, from the cache);
* ``people_search``: ``GET /api/runs/{id}/people?query=…`` (a surname; accents ignored);
* ``page_*``: the HTML pages of the run (result page, its tables) that exist in this
  version of the app, first and warm;
* ``page_result_cold``: the result page ``GET /runs/{id}`` with nothing cached;
* ``check``: ``POST /api/runs/{id}/check`` moving one placed person, drawn with
  ``--seed``, to the first post line of another unit of their category: ``rebuild_s``
  with the run never opened for editing (its problem rebuilt from its inputs, then kept
  as a snapshot in the workspace), ``first_s`` with the run not open in this process but
  its snapshot kept (a run solved by the app, or opened once before: what a planner
  meets, also after a restart), then warm.

Background read-ahead threads of the app (at start, after a result page) are waited for
before each timed call, so that no timing includes another's work.

Each warm figure is the median and the maximum of ``--repeat`` calls; a cold one is one
call, with ``cpu_s``, the CPU time this process spent on it (less inflated than the wall
time when other work shares the machine).  Results, with
the machine's load average (wall times drift on a shared machine), go to
``benchmarks/results/web.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "hcmc-2025" / "transition.toml"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "web.json"
TARGETS_S = {"page": 0.3, "check": 1.0}
#: Pages of a run the pages half of the app may offer (``{run}`` is the run id).
PAGE_PATHS = ("/runs/{run}", "/runs/{run}/units", "/runs/{run}/people", "/runs/{run}/map", "/runs/{run}/edit")


#: CPU seconds of this process during the last :func:`timed` call (every thread: the app
#: runs a request in a worker thread), a figure the machine's load inflates less than the
#: wall time.
LAST_CPU_S = [0.0]


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call took, and its answer (which must be a success)."""
    c0, t0 = time.process_time(), time.perf_counter()
    answer = call()
    elapsed = time.perf_counter() - t0
    LAST_CPU_S[0] = time.process_time() - c0
    if answer.status_code >= 400:
        raise RuntimeError(
            f"{answer.request.method} {answer.request.url}: {answer.status_code} {answer.text[:300]}"
        )
    return elapsed, answer


def settle() -> None:
    """Wait for the app's read-ahead threads (``prefetch-*``) to finish."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith("prefetch-"):
            thread.join()


def warm(call: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median and maximum seconds of ``repeat`` calls."""
    times = [timed(call)[0] for _ in range(repeat)]
    return {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4), "calls": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--store", type=Path, help="An existing run store (with --run).")
    parser.add_argument("--run", help="A stored run of --store to use instead of solving.")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import numpy as np
    from fastapi.testclient import TestClient

    from optimizer import service
    from optimizer.store import RunStore
    from optimizer.web.app import create_app
    from optimizer.web.views import SEARCHED, RunCache

    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    solve_s = None
    if args.store is not None and args.run:
        store_path, run_id = args.store, RunStore(args.store).resolve(args.run)
    else:
        store_path = tmp / "store.db"
        t0 = time.perf_counter()
        run_id = service.solve_and_record(service.load(args.scenario), RunStore(store_path)).run_id
        solve_s = round(time.perf_counter() - t0, 2)
    results: dict[str, Any] = {}
    with TestClient(create_app(tmp / "ws", store=store_path, max_parallel=1)) as client:
        web = client.app.state.web  # type: ignore[attr-defined]
        settle()  # the read-ahead of the newest run at start, done
        web.runs.get(web.store(), run_id).warm(SEARCHED)
        results["run"] = {"first_s": round(timed(lambda: client.get(f"/api/runs/{run_id}"))[0], 4)}
        results["run"].update(warm(lambda: client.get(f"/api/runs/{run_id}"), args.repeat))
        web.runs = RunCache()  # then forgotten: the next answer is served cold
        first, answer = timed(lambda: client.get(f"/api/runs/{run_id}/units", params={"limit": 50}))
        results["units_cold"] = {
            "first_s": round(first, 4),
            "cpu_s": round(LAST_CPU_S[0], 4),
            "total_units": answer.json()["total"],
        }
        web.runs = RunCache()
        probe = client.get(f"/runs/{run_id}")
        settle()
        if probe.status_code != 404:
            web.runs = RunCache()
            results["page_result_cold"] = {
                "first_s": round(timed(lambda: client.get(f"/runs/{run_id}"))[0], 4),
                "cpu_s": round(LAST_CPU_S[0], 4),
            }
            settle()
        results["units"] = warm(
            lambda: client.get(
                f"/api/runs/{run_id}/units",
                params={"limit": 50, "offset": 50, "sort": "fill_rate", "descending": True},
            ),
            args.repeat,
        )
        results["people_search"] = warm(
            lambda: client.get(f"/api/runs/{run_id}/people", params={"query": "nguyen", "limit": 50}),
            args.repeat,
        )
        for path in PAGE_PATHS:
            url = path.format(run=run_id)
            probe = client.get(url)
            if probe.status_code == 404:
                continue
            name = "page_" + (path.rsplit("/", 1)[-1] if path.count("/") > 2 else "result")
            results[name] = warm(lambda url=url: client.get(url), args.repeat)
        if "/api/runs/{run_id}/check" in client.get("/api/openapi.json").json()["paths"]:
            run = RunStore(store_path).get(run_id)
            pl, lines = run.tables.placements, run.tables.units
            rng = np.random.default_rng(args.seed)
            person = pl.iloc[int(rng.integers(len(pl)))]
            other = lines[(lines["unit_id"] != person["unit_id"]) & (lines["category"] == person["category"])]
            target = other.iloc[0]
            move = {
                "staff_id": person["staff_id"],
                "unit_id": target["unit_id"],
                "position": target["position"],
            }
            body = {"moves": [move]}
            token = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}

            def check() -> Any:
                return client.post(f"/api/runs/{run_id}/check", json=body, headers=token)

            service._edit_sessions.clear()  # never opened: the first check rebuilds the run's problem
            for kept in web.config.snapshots.folder.glob("*.session"):
                kept.unlink()
            rebuild, _ = timed(check)
            rebuild_cpu = LAST_CPU_S[0]
            service._edit_sessions.clear()  # not open in this process, its snapshot kept
            first, answer = timed(check)
            results["check"] = {
                "rebuild_s": round(rebuild, 4),
                "rebuild_cpu_s": round(rebuild_cpu, 4),
                "first_s": round(first, 4),
                "cpu_s": round(LAST_CPU_S[0], 4),
                "move": move,
            }
            results["check"].update(warm(check, args.repeat))
            results["check"]["violations"] = len(answer.json().get("violations", []))
    report = {
        "benchmark": "web",
        "scenario": str(
            args.scenario.relative_to(ROOT) if args.scenario.is_relative_to(ROOT) else args.scenario
        ),
        "run_id": run_id,
        "run_from": "stored run given with --store/--run" if solve_s is None else "solved and stored here",
        "solve_and_store_s": solve_s,
        "targets_s": TARGETS_S,
        "results": results,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
