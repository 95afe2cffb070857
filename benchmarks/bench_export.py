"""Benchmark: the full-city decision annexes in xlsx, docx and pdf (targets: xlsx ≤ 10 s,
pdf ≤ 60 s).

Usage::

    .venv/bin/python benchmarks/bench_export.py [--store FILE --run REF] [--seed 0]
        [--repeats 1] [--per-unit] [--out FILE]

The run exported is a stored run (``--store``/``--run``), or by default a synthetic
full-city run built in this process: the roster and staffing table of
:func:`optimizer.synth.synthesize` for the 168 shipped HCMC units (15,997 people), loaded
through :mod:`optimizer.io`, and a placement of everyone (each person to a free seat of
their origin unit, bloc, current position and category; the surplus to a post line of
their origin unit and bloc beyond its maximum), turned into the run tables of
:mod:`optimizer.placement_tables`.  That placement is neither optimal nor feasible; an annex
only needs a placement of the right size and shape: 15,997 rows in 168 units.

Each repeat times, in this process: building the annex model, the whole-city workbook,
the whole-city Word file and the whole-city PDF (Word file rendered, then converted by
LibreOffice headless with a private profile).  ``--per-unit`` also times one workbook and
one PDF per unit (168 files, one LibreOffice run per CPU at once).  The PDF's page count
comes from ``pdfinfo``; the CPU time of LibreOffice (its children's user + system time)
and the machine's load average are recorded too, since wall times on a shared machine
drift with the load.  Results go to ``benchmarks/results/export.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.data import Problem
from optimizer.store import StoredRun

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "export.json"
TARGETS_S = {"xlsx": 10.0, "pdf": 60.0}
FIELDS = {
    "decision_no": "15",
    "date": dt.date(2026, 1, 5),
    "issuer": "Ủy ban nhân dân Thành phố Hồ Chí Minh",
    "signer": "TM. ỦY BAN NHÂN DÂN|KT. CHỦ TỊCH|PHÓ CHỦ TỊCH|Nguyễn Văn Được",
}


def everyone_placed(problem: Problem) -> np.ndarray:
    """Place every person: a free seat of their own position first, else any post line.

    Post lines are expanded into ``max`` seats; the k-th person of a key (origin unit,
    bloc, current position, category) takes the key's k-th seat.  The people left over
    (the surplus) go to the first post line of their origin unit and bloc, beyond its
    maximum: an annex benchmark needs all 15,997 rows, not a feasible placement.
    Returns the post line of each person.
    """
    posts, staff = problem.posts, problem.staff
    line = np.repeat(np.arange(problem.num_posts), posts.max)
    seats = pd.DataFrame(
        {
            "unit": posts.unit_idx[line],
            "bloc": np.asarray(posts.bloc, dtype=object)[line],
            "position": np.asarray(posts.position, dtype=object)[line],
            "category": np.asarray(posts.category, dtype=object)[line],
            "line": line,
        }
    )
    people = pd.DataFrame(
        {
            "unit": staff.origin_idx,
            "bloc": list(staff.bloc),
            "position": [p[0] for p in staff.positions],
            "category": list(staff.category),
            "person": np.arange(problem.num_staff),
        }
    )
    keys = ["unit", "bloc", "position", "category"]
    seats["k"] = seats.groupby(keys).cumcount()
    people["k"] = people.groupby(keys).cumcount()
    matched = people.merge(seats, on=[*keys, "k"], how="left")
    first_line = seats.groupby(["unit", "bloc"])["line"].min()
    fallback = pd.MultiIndex.from_frame(matched[["unit", "bloc"]]).map(first_line.to_dict())
    lines = matched["line"].fillna(pd.Series(fallback, index=matched.index))
    assignment = np.full(problem.num_staff, -1, dtype=np.int32)
    assignment[matched["person"].to_numpy()] = lines.to_numpy(dtype=np.int64)
    return assignment


def synthetic_city_run(seed: int, work: Path) -> StoredRun:
    """The synthetic full-city run described in the module docstring."""
    from optimizer import __version__, synth
    from optimizer.io import load_problem, load_scenario
    from optimizer.io.places import shipped_data_dir
    from optimizer.placement_tables import run_tables
    from optimizer.store import manifest_hash, run_manifest

    data = shipped_data_dir()
    if data is None:
        raise SystemExit("data/hcmc/units.csv not found (set STAFFPLAN_HCMC_DATA)")
    units = synth.read_units(data / "units.csv")
    former = synth.read_former_units(data / "hcmc_former_units.csv")
    tables = synth.synthesize(units, seed=seed, former_units=former)
    names = ("units", "posts", "staff", "relations", "pins")
    synth.write_tables({n: tables[n] for n in names}, work, formats=("csv",))
    (work / "scenario.toml").write_text(
        'name = "bench-export-city"\n[data]\n'
        + "".join(f'{n} = "{n}.csv"\n' for n in names)
        + f"[solver]\nseed = {seed}\n",
        encoding="utf-8",
    )
    problem, _ = load_problem(load_scenario(work / "scenario.toml"))
    run_tables_ = run_tables(problem, everyone_placed(problem))
    run = StoredRun(
        run_id=f"bench-seed{seed}",
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        scenario_name=problem.name,
        status="feasible",
        proven=False,
        manifest_hash="",
        meta={
            "scenario_hash": "",
            "resolved_scenario": {"name": problem.name},
            "overrides": [],
            "input_hashes": {},
            "package_version": __version__,
            "solver_params": {"seed": seed},
        },
        tables=run_tables_,
        kpis={},
    )
    return dataclasses.replace(run, manifest_hash=manifest_hash(run_manifest(run)))


def load_run(store: Path | None, ref: str | None, seed: int, work: Path) -> StoredRun:
    """The stored run ``ref`` of ``store``, or the synthetic full-city run."""
    from optimizer.store import RunStore

    if ref is not None:
        return RunStore(store, create=False).get(ref)
    return synthetic_city_run(seed, work)


def pdf_pages(path: Path) -> int:
    """Number of pages of a PDF, from ``pdfinfo``."""
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise RuntimeError(f"pdfinfo gave no page count for {path}")


def _children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by finished child processes (LibreOffice)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func()
    return round(time.perf_counter() - start, 3), value


def one_repeat(run: StoredRun, out: Path, per_unit: bool) -> dict[str, Any]:
    """Time every export of one repeat into a fresh folder ``out``."""
    from optimizer.export.annex import DocumentFields, build_annex, export_annexes

    fields = DocumentFields(**FIELDS)  # type: ignore[arg-type]
    result: dict[str, Any] = {}
    result["model_s"], _ = _timed(lambda: build_annex(run, fields))
    for fmt in ("xlsx", "docx", "pdf"):
        before = _children_cpu_s()
        seconds, paths = _timed(lambda f=fmt: export_annexes(run, f, out / "city", fields=fields))
        result[f"{fmt}_s"] = seconds
        result[f"{fmt}_mb"] = round(paths[0].stat().st_size / 2**20, 2)
    result["pdf_libreoffice_cpu_s"] = round(_children_cpu_s() - before, 3)
    result["pdf_pages"] = pdf_pages(out / "city" / paths[0].name)
    if per_unit:
        for fmt in ("xlsx", "pdf"):
            before = _children_cpu_s()
            seconds, paths = _timed(
                lambda f=fmt: export_annexes(run, f, out / f"units-{f}", fields=fields, per_unit=True)
            )
            result[f"per_unit_{fmt}_s"] = seconds
            result[f"per_unit_{fmt}_files"] = len(paths)
        result["per_unit_pdf_libreoffice_cpu_s"] = round(_children_cpu_s() - before, 3)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its JSON; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=None, help="Run store holding the run.")
    parser.add_argument("--run", default=None, help="Run id or 'latest' (with --store).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the synthetic roster.")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--per-unit", action="store_true", help="Also time one file per unit.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        build_s, run = _timed(lambda: load_run(args.store, args.run, args.seed, work))
        repeats = [one_repeat(run, work / f"repeat{k}", args.per_unit) for k in range(args.repeats)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = {key: min(r[key] for r in repeats) for key in repeats[0] if key.endswith("_s")}
    soffice = subprocess.run(
        ["soffice", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {
        "benchmark": "export_annexes",
        "run": run.run_id if args.run else f"synthetic full city, seed {args.seed}",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": len(run.tables.placements),
        "unplaced": len(run.tables.unplaced),
        "units": len({*run.tables.units["unit_id"]}),
        "setup_s": build_s,
        "repeats": repeats,
        "best": best,
        "pdf_pages": repeats[0]["pdf_pages"],
        "targets_s": TARGETS_S,
        "within_target": {f: best[f"{f}_s"] <= t for f, t in TARGETS_S.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "libreoffice": soffice,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    print(
        f"{result['rows']} rows: model {best['model_s']:.2f} s, xlsx {best['xlsx_s']:.2f} s, "
        f"docx {best['docx_s']:.2f} s, pdf {best['pdf_s']:.2f} s ({result['pdf_pages']} pages)"
        f" -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
