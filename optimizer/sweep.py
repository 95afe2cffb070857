"""Many runs at once: scenario sweeps and multi-province runs on an executor (layer 8).

``staffplan sweep SCENARIO --set key=v1,v2 …`` solves the cartesian product of the
override values; each combination becomes one stored run tagged with the sweep.  A
multi-province scenario (:mod:`optimizer.national`) becomes one task per province and
combination, and the provinces of a combination are merged into one run.

The work goes to any :class:`concurrent.futures.Executor` (:func:`open_executor`): a
local process pool by default, or the executor of a Dask ``distributed.Client`` for a
cluster — the same calling code for both.  The division of labour:

* the **coordinator** (:func:`plan_sweep`, :func:`run_sweep`, in the calling process)
  validates every scenario up front, submits the tasks, merges provinces, and is the
  only process that opens the run store and saves runs;
* a **worker** runs :func:`solve_task`, a top-level function that takes and returns
  plain picklable data (:class:`SolveTask` → :class:`TaskResult`): it loads the scenario
  from its path, validates and solves it, and returns the result with its run tables.
  Workers therefore need the scenario and data files at the same absolute paths (on a
  cluster: a shared or synchronised folder); each worker reports the hashes of the files
  it read and the coordinator refuses a result read from different files.

Each solve gets ``solver.workers`` = the threads it may use (:func:`default_threads`:
the cores divided by the parallel solves), so that parallel solves do not fight for the
cores; a sweep that sets ``solver.workers`` itself keeps its value.

Sweep ids are deterministic (:func:`sweep_id`): a hash of the scenario files, the data
files' contents and the override grid.  A combination is *finished* when the store holds
a run with that sweep id and that combination (tag ``combination``); rerunning the same
command skips finished combinations, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import logging
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.data import Rules
from optimizer.errors import InputError, Issue
from optimizer.i18n import get_lang, set_lang, t
from optimizer.io import load_problem, load_scenario
from optimizer.io.scenario import Scenario
from optimizer.io.tables import TableSource
from optimizer.national import NationalScenario, is_national, load_national, load_provinces
from optimizer.placement_tables import RunTables
from optimizer.record import (
    SolvedRun,
    memory_as_input_error,
    merge_extra_kpis,
    record_run,
    solved_run,
)
from optimizer.rules.reason import Reason
from optimizer.solution import SolveResult, StageResult, Status
from optimizer.store import RunSource, RunStore, StoredRunHead, canonical_json
from optimizer.unproven import UnprovenNote

logger = logging.getLogger(__name__)

#: ``--executor`` value of the local process pool.
LOCAL = "local"
#: Prefix of a Dask scheduler address in ``--executor`` (``dask://HOST:PORT``).
DASK_PREFIX = "dask://"
#: Seconds to wait for a Dask scheduler to answer.
DASK_TIMEOUT_S = 10
#: Prefix of the run tags that hold a combination's swept values (``set:rules.x``).
TAG_SET = "set:"
#: KPIs in the one-row-per-run sweep table (:func:`sweep_table`).
SWEEP_KPIS = (
    "placed",
    "unplaced",
    "shortfall",
    "fill_rate",
    "moves",
    "bloc_changes",
    "long_commute",
    "commute_mean_km",
)

Grid = tuple[tuple[str, tuple[str, ...]], ...]


# =========================================================================== the grid


def split_values(text: str) -> list[str]:
    """Split a ``--set`` value list at its top-level commas.

    Commas inside brackets, braces or quotes belong to the value, so TOML arrays,
    tables and quoted strings pass whole: ``20,"a, b",[1, 2]`` gives three values.
    """
    parts: list[str] = []
    current: list[str] = []
    depth, quote, escaped = 0, "", False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def _set_issue(code: str, text: str, key: str = "", **kw: object) -> Issue:
    """An issue about a ``--set`` option; message ``sweep.<code>``, hint ``….hint``."""
    return Issue(
        file="--set",
        column=key,
        value=text,
        message=t(f"sweep.{code}", key=key, **kw),
        hint=t(f"sweep.{code}.hint", key=key, **kw),
        code=code,
    )


def _absolute_data_value(value: str) -> str:
    """A ``data.*`` override value as an absolute path (workers may run elsewhere)."""
    text = value
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        text = value[1:-1]
    return str(TableSource.parse(text, Path.cwd()))


def parse_grid(settings: Sequence[str]) -> Grid:
    """Parse ``--set key=v1,v2,…`` options into the sweep grid.

    A ``data.*`` value is made absolute against the working folder here, so that a
    worker in another folder (or on another machine) reads the same file.

    Returns
    -------
    tuple of (key, values)
        In the order given; values in the order given.

    Raises
    ------
    InputError
        With every malformed option at once: no ``=``, an empty key or value, a key
        given twice, a value repeated within its list.
    """
    grid: list[tuple[str, tuple[str, ...]]] = []
    issues: list[Issue] = []
    seen: set[str] = set()
    for text in settings:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            issues.append(_set_issue("bad_set", text))
            continue
        if key in seen:
            issues.append(_set_issue("duplicate_key", text, key))
            continue
        seen.add(key)
        values = split_values(raw)
        if any(v == "" for v in values):
            issues.append(_set_issue("empty_value", text, key))
            continue
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            issues.append(_set_issue("repeated_value", text, key, value=repeated[0]))
            continue
        if key.split(".")[0] == "data":
            values = [_absolute_data_value(v) for v in values]
        grid.append((key, tuple(values)))
    if issues:
        raise InputError(issues)
    return tuple(grid)


@dataclass(frozen=True)
class Combination:
    """One point of the grid: its position and its ``--set`` overrides.

    ``swept`` holds the (key, value) pairs of the keys that take several values in the
    grid (the ones that tell combinations apart in tables).
    """

    index: int
    overrides: tuple[str, ...]
    swept: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """The combination's identity within its sweep (its overrides, joined)."""
        return "; ".join(self.overrides)

    @property
    def label(self) -> str:
        """A short label for progress lines: the swept values, else the key (may be "")."""
        return ", ".join(f"{k}={v}" for k, v in self.swept) or self.key

    def tags(self, sweep: str) -> dict[str, str]:
        """The run tags that mark a stored run as this combination of sweep ``sweep``."""
        return {
            "sweep_id": sweep,
            "sweep_index": str(self.index),
            "combination": self.key,
            **{TAG_SET + k: v for k, v in self.swept},
        }


def combinations(grid: Grid) -> tuple[Combination, ...]:
    """The cartesian product of the grid, the last key varying fastest."""
    keys = [key for key, _ in grid]
    swept = {key for key, values in grid if len(values) > 1}
    out = []
    for index, values in enumerate(itertools.product(*(v for _, v in grid))):
        pairs = tuple(zip(keys, values, strict=True))
        out.append(
            Combination(
                index=index,
                overrides=tuple(f"{k}={v}" for k, v in pairs),
                swept=tuple((k, v) for k, v in pairs if k in swept),
            )
        )
    return tuple(out)


def sweep_id(scenario_hash: str, grid: Grid, input_hashes: Sequence[str]) -> str:
    """The deterministic id of a sweep: ``s`` and 12 hex digits.

    Parameters
    ----------
    scenario_hash
        Hash of the scenario file and the files it extends (for a multi-province
        scenario: of the national file and every province's chain).
    grid
        The override grid, as :func:`parse_grid` returns it.
    input_hashes
        SHA-256 of every data file any combination reads (order does not matter).
    """
    payload = {
        "scenario": scenario_hash,
        "grid": [[k, list(v)] for k, v in grid],
        "inputs": sorted(set(input_hashes)),
    }
    return "s" + hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:12]


# =========================================================================== the plan


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: the combinations and the scenario of each (province).

    ``scenarios[c][p]`` is the scenario of combination ``c`` and province ``p`` (a
    single-province scenario has one province).  ``input_hashes`` maps each data file
    (absolute path) to its SHA-256.
    """

    sweep_id: str
    name: str
    path: Path
    scenario_hash: str
    grid: Grid
    combinations: tuple[Combination, ...]
    scenarios: tuple[tuple[Scenario, ...], ...]
    input_hashes: dict[str, str]
    national: NationalScenario | None = None

    @property
    def num_provinces(self) -> int:
        """Provinces per combination (1 for an ordinary scenario)."""
        return len(self.scenarios[0])

    @property
    def province_names(self) -> tuple[str, ...]:
        """The provinces' scenario names (the scenario's own name when single)."""
        return tuple(sc.name for sc in self.scenarios[0])


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def plan_sweep(path: str | Path, settings: Sequence[str] = ()) -> SweepPlan:
    """Validate a sweep: parse the grid, load every combination's scenario(s), hash inputs.

    Parameters
    ----------
    path
        An ordinary scenario file or a multi-province scenario file.
    settings
        ``--set key=v1,v2,…`` options (none: one combination, the scenario as it is).

    Raises
    ------
    InputError
        With every problem of every combination at once (each distinct problem once).
    """
    top = Path(path).expanduser().absolute()
    grid = parse_grid(settings)
    combos = combinations(grid)
    national = load_national(top) if is_national(top) else None
    scenarios: list[tuple[Scenario, ...]] = []
    issues: list[Issue] = []
    for combo in combos:
        try:
            if national is not None:
                scenarios.append(tuple(load_provinces(national, combo.overrides)))
            else:
                scenarios.append((load_scenario(top, combo.overrides),))
        except InputError as exc:
            issues.extend(exc.issues)
    if issues:
        raise InputError(list(dict.fromkeys(issues)))
    hashes: dict[str, str] = {}
    for group in scenarios:
        for sc in group:
            for data_path in sc.data.values():
                if str(data_path) not in hashes:
                    hashes[str(data_path)] = _sha256(data_path)
    first = scenarios[0]
    if national is not None:
        chain = national.digest + "".join(sc.file_hash() for sc in first)
        scenario_hash = hashlib.sha256(chain.encode("ascii")).hexdigest()
        name = national.name
    else:
        scenario_hash = first[0].file_hash()
        name = first[0].name
    return SweepPlan(
        sweep_id=sweep_id(scenario_hash, grid, list(hashes.values())),
        name=name,
        path=top,
        scenario_hash=scenario_hash,
        grid=grid,
        combinations=combos,
        scenarios=tuple(scenarios),
        input_hashes=hashes,
        national=national,
    )


def with_threads(scenario: Scenario, threads: int | None) -> Scenario:
    """The scenario with ``solver.workers = threads``.

    Unchanged when ``threads`` is ``None`` or the scenario's overrides set
    ``solver.workers`` themselves (a sweep over that key keeps its values).
    """
    if threads is None or any(o.partition("=")[0].strip() == "solver.workers" for o in scenario.overrides):
        return scenario
    return dataclasses.replace(scenario, solver=dataclasses.replace(scenario.solver, workers=threads))


# =========================================================================== the worker


@dataclass(frozen=True)
class SolveTask:
    """What a worker needs to solve one (province) scenario: plain, picklable data."""

    scenario: str
    overrides: tuple[str, ...]
    threads: int | None
    combination: int
    province: int
    lang: str = "vi"


@dataclass(frozen=True)
class TaskResult:
    """What a worker sends back.

    ``issues`` holds the input problems (errors and warnings); ``solved`` (the
    result, its run tables and problem KPIs) is ``None`` when there was an error.
    ``worker`` is ``host:pid``; ``wall_s`` the task's wall time on the worker (loading
    included).
    """

    task: SolveTask
    worker: str
    wall_s: float
    issues: tuple[Issue, ...] = ()
    solved: SolvedRun | None = None
    scenario_hash: str = ""
    input_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        """The input errors (no result then)."""
        return [i for i in self.issues if i.severity == "error"]


def solve_task(task: SolveTask) -> TaskResult:
    """Load, validate and solve one scenario: the function every worker runs.

    Top-level and free of shared state, so that a process pool or a Dask worker can
    run it.  Bad input is returned as issues, never raised, since an exception carrying
    them would not survive the trip back to the coordinator intact.
    """
    from optimizer.solve import solve  # OR-Tools: needed by workers, not the coordinator

    set_lang(task.lang)
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        scenario = with_threads(load_scenario(task.scenario, task.overrides), task.threads)
        problem, warnings = load_problem(scenario)
        with memory_as_input_error(str(scenario.path)):
            result = solve(problem).with_load(time.perf_counter() - start)
    except InputError as exc:
        return TaskResult(task, worker, time.perf_counter() - start, issues=tuple(exc.issues))
    return TaskResult(
        task,
        worker,
        time.perf_counter() - start,
        issues=tuple(warnings),
        solved=solved_run(problem, result),
        scenario_hash=scenario.file_hash(),
        input_hashes={k: _sha256(p) for k, p in scenario.data.items()},
    )


# =========================================================================== executors


def parse_executor(spec: str) -> str | None:
    """``None`` for ``local``; the scheduler address ``tcp://HOST:PORT`` for ``dask://HOST:PORT``.

    Raises
    ------
    InputError
        For anything else.
    """
    if spec == LOCAL:
        return None
    if spec.startswith(DASK_PREFIX):
        host, sep, port = spec.removeprefix(DASK_PREFIX).rpartition(":")
        if sep and host and port.isdigit():
            return f"tcp://{host}:{port}"
    raise InputError(
        [
            Issue(
                file="--executor",
                value=spec,
                message=t("sweep.bad_executor"),
                hint=t("sweep.bad_executor.hint"),
                code="bad_executor",
            )
        ]
    )


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a process pool at once: cancel what waits, end the worker processes.

    Python 3.14 has ``terminate_workers``; before it, the pool's own process table is
    the only handle on its workers.
    """
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def default_threads(spec: str, slots: int) -> int:
    """Threads per solve: the cores divided by the parallel solves (local), 1 on Dask.

    A Dask worker runs one task per thread, so with ``--nthreads 1`` workers (one per
    core) each solve owns its core.
    """
    if parse_executor(spec) is None:
        return max(1, (os.cpu_count() or 1) // max(1, slots))
    return 1


@contextlib.contextmanager
def open_executor(spec: str = LOCAL, jobs: int | None = None) -> Iterator[tuple[Executor, int]]:
    """Open the executor named by ``--executor`` and yield it with its parallel slots.

    Parameters
    ----------
    spec
        ``"local"``: a :class:`~concurrent.futures.ProcessPoolExecutor` (``spawn``
        start method) of ``jobs`` processes (default: the number of cores);
        ``"dask://HOST:PORT"``: the executor of a ``distributed.Client`` connected to
        that scheduler (slots = the cluster's worker threads).
    jobs
        Processes of the local pool; ignored for Dask (the cluster decides).

    Raises
    ------
    InputError
        For a malformed spec or a Dask scheduler that does not answer.
    """
    address = parse_executor(spec)
    if address is None:
        slots = max(1, jobs or os.cpu_count() or 1)
        pool = ProcessPoolExecutor(max_workers=slots, mp_context=multiprocessing.get_context("spawn"))
        try:
            yield pool, slots
        except BaseException:  # Ctrl-C or an error: do not wait for the running solves
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
        return
    from distributed import Client

    try:
        client = Client(address, timeout=DASK_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise InputError(
            [
                Issue(
                    file="--executor",
                    value=spec,
                    message=t("sweep.dask_unreachable", address=address, error=str(exc)),
                    hint=t("sweep.dask_unreachable.hint"),
                    code="dask_unreachable",
                )
            ]
        ) from None
    try:
        slots = max(1, sum(client.nthreads().values()))
        yield client.get_executor(pure=False), slots
    finally:
        client.close()


# =========================================================================== merging


def _merged_status(statuses: Sequence[Status]) -> Status:
    if "infeasible" in statuses:
        return "infeasible"
    if "no_solution" in statuses:
        return "no_solution"
    return "optimal" if all(s == "optimal" for s in statuses) else "feasible"


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _merged_stages(results: Sequence[SolveResult]) -> tuple[StageResult, ...]:
    """Stage by stage sums; empty when the provinces did not run the same stages."""
    plans = {tuple((s.name, s.terms) for s in r.stages) for r in results}
    if len(plans) != 1:
        return ()
    merged = []
    for stages in zip(*(r.stages for r in results), strict=True):
        merged.append(
            StageResult(
                name=stages[0].name,
                terms=stages[0].terms,
                status=_merged_status([s.status for s in stages]),
                value=_sum_or_none([s.value for s in stages]),
                bound=_sum_or_none([s.bound for s in stages]),
                time_s=sum(s.time_s for s in stages),
            )
        )
    return tuple(merged)


def _sum_dicts(dicts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Key-wise sums over the keys every dict has (first dict's order)."""
    keys = [k for k in dicts[0] if all(k in d for d in dicts[1:])]
    return {k: sum(d[k] for d in dicts) for k in keys}


def _merged_failure(results: Sequence[SolveResult], labels: Sequence[str]) -> Reason | None:
    """Why the provinces without a placement have none, each after its name."""
    failed = [
        Reason("in_province", {"province": label, "why": r.failure.to_dict()}).to_dict()
        for label, r in zip(labels, results, strict=True)
        if r.failure is not None
    ]
    return Reason("solve_provinces", {"items": failed}) if failed else None


def merge_results(
    results: Sequence[SolveResult], tables: Sequence[RunTables], labels: Sequence[str]
) -> tuple[SolveResult, RunTables]:
    """Merge independent provinces' solves into one result and one set of run tables.

    People and post lines are numbered province after province (an assignment keeps
    ``-1`` for the unplaced, post line indices are shifted).  Terms, stage values and
    bounds are sums (the provinces are independent, so sums of proven optima and bounds
    are the optimum and a bound of the whole); the status is the worst; timings are
    summed per stage except ``total``, which is left to the caller; the peak memory is
    the largest of any worker.

    Parameters
    ----------
    results, tables
        One per province, in the same order.
    labels
        The provinces' names, for messages.

    Raises
    ------
    InputError
        When a staff id or a unit id appears in two provinces.
    """
    issues: list[Issue] = []
    for column, frame_of in (
        ("staff_id", lambda rt: pd.concat([rt.placements["staff_id"], rt.unplaced["staff_id"]])),
        ("unit_id", lambda rt: rt.units["unit_id"].drop_duplicates()),
    ):
        owner: dict[str, str] = {}
        for label, rt in zip(labels, tables, strict=True):
            for value in frame_of(rt).astype(str).tolist():
                other = owner.setdefault(value, label)
                if other != label:
                    issues.append(
                        Issue(
                            file=label,
                            column=column,
                            value=value,
                            message=t("sweep.shared_id", other=other),
                            hint=t("sweep.shared_id.hint"),
                            code="shared_id",
                        )
                    )
                    break
    if issues:
        raise InputError(issues)
    post_offsets = np.cumsum([0] + [len(rt.units) for rt in tables[:-1]])
    staff_offsets = np.cumsum([0] + [len(r.assignment) for r in results[:-1]])
    assignment = np.concatenate(
        [
            np.where(r.assignment >= 0, r.assignment + off, -1).astype(r.assignment.dtype)
            for r, off in zip(results, post_offsets, strict=True)
        ]
    )
    reasons = {
        int(i) + int(off): text
        for r, off in zip(results, staff_offsets, strict=True)
        for i, text in r.unplaced_reasons.items()
    }
    timings = _sum_dicts([r.timings for r in results])
    timings.pop("total", None)
    merged = SolveResult(
        status=_merged_status([r.status for r in results]),
        assignment=assignment,
        stages=_merged_stages(results),
        values=_sum_dicts([r.values for r in results]),
        bounds=_sum_dicts([r.bounds for r in results]),
        unplaced_reasons=reasons,
        timings=timings,
        peak_memory_mb=max(r.peak_memory_mb for r in results),
        candidate_counts=_sum_dicts([r.candidate_counts for r in results]),
        interrupted=any(r.interrupted for r in results),
        failure=_merged_failure(results, labels),
    )
    run_tables = RunTables(
        *(
            pd.concat([getattr(rt, name) for rt in tables], ignore_index=True)
            for name in ("placements", "unplaced", "units")
        )
    )
    return merged, run_tables


# =========================================================================== coordinator


@dataclass(frozen=True)
class SweepProgress:
    """A progress event: a task finished (and maybe a run was stored)."""

    done: int
    total: int
    label: str
    run_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class TaskStat:
    """How one task went: where it ran, how long, how much memory, what status."""

    combination: int
    province: str
    worker: str
    wall_s: float
    solve_s: float
    peak_memory_mb: float
    status: str


@dataclass(frozen=True)
class SweepRun:
    """A combination's run: stored now, or found in the store (``reused``)."""

    combination: Combination
    run_id: str
    status: str
    proven: bool
    reused: bool


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did: the runs in grid order, every task, the warnings."""

    sweep_id: str
    runs: tuple[SweepRun, ...]
    tasks: tuple[TaskStat, ...]
    warnings: tuple[Issue, ...]
    wall_s: float
    threads: int | None


def finished_runs(store: RunStore, sweep: str) -> dict[str, StoredRunHead]:
    """The stored runs of a sweep by combination key (the newest run of each)."""
    return {
        h.meta["tags"]["combination"]: h
        for h in store.heads(sweep=sweep)
        if "combination" in h.meta.get("tags", {})
    }


def _input_hashes(plan: SweepPlan, scenario: Scenario) -> dict[str, str]:
    return {table: plan.input_hashes[str(p)] for table, p in scenario.data.items()}


def _check_inputs(plan: SweepPlan, scenario: Scenario, res: TaskResult) -> list[Issue]:
    """An issue when the worker read other files than the coordinator hashed."""
    if res.scenario_hash == scenario.file_hash() and res.input_hashes == _input_hashes(plan, scenario):
        return []
    return [
        Issue(
            file=str(scenario.path),
            message=t("sweep.inputs_differ", worker=res.worker),
            hint=t("sweep.inputs_differ.hint"),
            code="inputs_differ",
        )
    ]


@dataclass(frozen=True)
class CombinationRun:
    """What one combination stores: the source, the solve, the rules and the tags."""

    source: RunSource
    solved: SolvedRun
    rules: Rules
    tags: dict[str, str]


def build_run(
    plan: SweepPlan,
    combo: Combination,
    scenarios: Sequence[Scenario],
    parts: Sequence[TaskResult],
    wall_s: float,
) -> CombinationRun:
    """The run to store for one combination, from its provinces' task results.

    A single scenario's run records what ``staffplan run`` records; a multi-province
    run records the national file, every province's resolved scenario and input hashes
    (keyed ``province/table``), and the merged result, with ``total`` the wall time of
    the combination on the executor, and the provinces' fairness KPIs added up.
    """
    tags = combo.tags(plan.sweep_id)
    solved = [p.solved for p in parts if p.solved is not None]
    if plan.national is None:
        sc = scenarios[0]
        return CombinationRun(RunSource.of(sc, _input_hashes(plan, sc)), solved[0], sc.rules, tags)
    labels = [sc.name for sc in scenarios]
    merged, merged_tables = merge_results([s.result for s in solved], [s.tables for s in solved], labels)
    merged = dataclasses.replace(merged, timings={**merged.timings, "total": wall_s})
    first = scenarios[0].resolved()
    resolved = {
        "name": plan.national.name,
        "description": plan.national.description,
        "path": str(plan.national.path),
        "rules": first["rules"],
        "objective": first["objective"],
        "solver": first["solver"],
        "overrides": list(combo.overrides),
        "provinces": [sc.resolved() for sc in scenarios],
    }
    province = RunSource.of(scenarios[0], _input_hashes(plan, scenarios[0]))
    source = RunSource(
        scenario_name=plan.national.name,
        scenario_path=str(plan.national.path),
        scenario_hash=plan.scenario_hash,
        resolved_scenario=resolved,
        overrides=combo.overrides,
        input_hashes={
            f"{sc.name}/{table}": h for sc in scenarios for table, h in _input_hashes(plan, sc).items()
        },
        solver_params={**province.solver_params, "provinces": len(scenarios)},
    )
    extra = merge_extra_kpis([s.extra_kpis for s in solved])
    return CombinationRun(
        source,
        SolvedRun(merged, merged_tables, extra, _province_notes(solved, labels)),
        scenarios[0].rules,
        {**tags, "provinces": str(len(scenarios))},
    )


def _province_notes(solved: Sequence[SolvedRun], labels: Sequence[str]) -> tuple[UnprovenNote, ...]:
    """The unproven-stage notes of the provinces, each naming its province."""
    return tuple(
        dataclasses.replace(note, province=label)
        for part, label in zip(solved, labels, strict=True)
        for note in part.unproven
    )


def _task_order(plan: SweepPlan, combo: Combination) -> list[int]:
    """Provinces largest first (by roster file size), so the long ones start early."""
    sizes = [os.path.getsize(sc.data["staff"]) for sc in plan.scenarios[combo.index]]
    return sorted(range(len(sizes)), key=lambda p: -sizes[p])


def run_sweep(
    plan: SweepPlan,
    store: RunStore,
    executor: Executor,
    *,
    threads: int | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Solve every unfinished combination of ``plan`` on ``executor`` and store the runs.

    Parameters
    ----------
    plan
        From :func:`plan_sweep`.
    store
        The run store; only this process writes to it.
    executor
        From :func:`open_executor` (any :class:`concurrent.futures.Executor` whose
        workers can import ``optimizer`` and read the scenario files).
    threads
        ``solver.workers`` for each solve (see :func:`with_threads`); ``None`` keeps
        the scenario's.
    progress
        Called after each finished task.

    Returns
    -------
    SweepOutcome
        The runs in grid order (stored now or reused), every task's figures, and the
        input warnings (each distinct one once).

    Raises
    ------
    InputError
        After every task has finished, when some combinations had bad input (those are
        not stored; the others are).
    """
    start = time.perf_counter()
    finished = finished_runs(store, plan.sweep_id)
    pending = [c for c in plan.combinations if c.key not in finished]
    num_prov = plan.num_provinces
    total = len(pending) * num_prov
    futures, submitted = _submit(executor, plan, pending, threads)
    logger.info("sweep %s: %d tasks submitted, %d runs reused", plan.sweep_id, total, len(finished))
    parts: dict[int, dict[int, TaskResult]] = {}
    bad: set[int] = set()  # combinations with an input problem: not stored
    stored: dict[int, SweepRun] = {}
    stats: list[TaskStat] = []
    issues: list[Issue] = []
    warnings: list[Issue] = []
    try:
        for done, future in enumerate(as_completed(futures), start=1):
            res = future.result()
            task = res.task
            combo = plan.combinations[task.combination]
            scenario = with_threads(plan.scenarios[task.combination][task.province], threads)
            problems = res.errors or _check_inputs(plan, scenario, res)
            if problems:
                issues.extend(problems)
                bad.add(combo.index)
            warnings.extend(i for i in res.issues if i.severity == "warning")
            stats.append(_task_stat(res, scenario.name))
            label = " · ".join(part for part in (combo.label, scenario.name if plan.national else "") if part)
            event = SweepProgress(done, total, label or plan.name)
            group = parts.setdefault(combo.index, {})
            group[task.province] = res
            if len(group) == num_prov and combo.index not in bad:
                del parts[combo.index]
                wall = time.perf_counter() - submitted[combo.index]
                try:
                    swept = _store_combination(plan, store, combo, group, threads, wall)
                except InputError as exc:
                    issues.extend(exc.issues)
                else:
                    stored[combo.index] = swept
                    event = dataclasses.replace(event, run_id=swept.run_id, status=swept.status)
            if progress is not None:
                progress(event)
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    if issues:
        raise InputError(list(dict.fromkeys(issues)))
    runs = []
    for combo in plan.combinations:
        if combo.index in stored:
            runs.append(stored[combo.index])
        else:
            head = finished[combo.key]
            runs.append(SweepRun(combo, head.run_id, head.status, head.proven, reused=True))
    return SweepOutcome(
        sweep_id=plan.sweep_id,
        runs=tuple(runs),
        tasks=tuple(stats),
        warnings=tuple(dict.fromkeys(warnings)),
        wall_s=time.perf_counter() - start,
        threads=threads,
    )


def _submit(
    executor: Executor, plan: SweepPlan, pending: Sequence[Combination], threads: int | None
) -> tuple[dict[Future[TaskResult], SolveTask], dict[int, float]]:
    """Submit every task of the pending combinations; the tasks by future, and when each
    combination was submitted."""
    lang = get_lang()
    futures: dict[Future[TaskResult], SolveTask] = {}
    submitted: dict[int, float] = {}
    for combo in pending:
        submitted[combo.index] = time.perf_counter()
        for p in _task_order(plan, combo):
            sc = plan.scenarios[combo.index][p]
            task = SolveTask(str(sc.path), sc.overrides, threads, combo.index, p, lang)
            futures[executor.submit(solve_task, task)] = task
    return futures, submitted


def _store_combination(
    plan: SweepPlan,
    store: RunStore,
    combo: Combination,
    group: dict[int, TaskResult],
    threads: int | None,
    wall_s: float,
) -> SweepRun:
    """Merge a combination's finished tasks (by province) into its run and store it.

    Raises
    ------
    InputError
        When two provinces share a staff or unit id.
    """
    scenarios = [with_threads(sc, threads) for sc in plan.scenarios[combo.index]]
    run = build_run(plan, combo, scenarios, [group[p] for p in range(plan.num_provinces)], wall_s)
    run_id = record_run(store, run.source, run.solved, run.rules, sweep_id=plan.sweep_id, tags=run.tags)
    result = run.solved.result
    return SweepRun(combo, run_id, result.status, result.proven, reused=False)


def _task_stat(res: TaskResult, province: str) -> TaskStat:
    result = res.solved.result if res.solved is not None else None
    return TaskStat(
        combination=res.task.combination,
        province=province,
        worker=res.worker,
        wall_s=res.wall_s,
        solve_s=result.timings.get("total", 0.0) if result is not None else 0.0,
        peak_memory_mb=result.peak_memory_mb if result is not None else 0.0,
        status=result.status if result is not None else "input_error",
    )


# =========================================================================== tables


def sweep_table(store: RunStore, sweep: str) -> pd.DataFrame:
    """One row per stored run of a sweep, in grid order: swept values, status, KPIs.

    Columns: ``run_id``, one column per swept key (``rules.max_commute_km``…),
    ``status``, ``proven``, the KPIs of :data:`SWEEP_KPIS` and ``time_s`` (the run's
    ``total`` time: the solve's for one scenario, the wall time on the executor for a
    multi-province run).  What ``staffplan sweep`` prints at the end and ``staffplan
    compare --sweep`` prints first.

    Raises
    ------
    InputError
        When the store holds no run of that sweep.
    """
    heads = list(finished_runs(store, sweep).values())
    if not heads:
        raise InputError(
            [
                Issue(
                    file=str(store.path),
                    value=sweep,
                    message=t("sweep.unknown_sweep", sweep=sweep),
                    hint=t("sweep.unknown_sweep.hint"),
                    code="unknown_sweep",
                )
            ]
        )
    heads.sort(key=lambda h: int(h.meta.get("tags", {}).get("sweep_index", 0)))
    keys: list[str] = []
    for h in heads:
        keys.extend(
            k.removeprefix(TAG_SET)
            for k in h.meta.get("tags", {})
            if k.startswith(TAG_SET) and k.removeprefix(TAG_SET) not in keys
        )
    rows = []
    for h in heads:
        tags = h.meta.get("tags", {})
        rows.append(
            {
                "run_id": h.run_id,
                **{k: tags.get(TAG_SET + k, "") for k in keys},
                "status": h.status,
                "proven": h.proven,
                **{k: h.kpis.get(k) for k in SWEEP_KPIS},
                "time_s": h.meta.get("timings", {}).get("total"),
            }
        )
    return pd.DataFrame(rows, columns=["run_id", *keys, "status", "proven", *SWEEP_KPIS, "time_s"])


def swept_keys(table: pd.DataFrame) -> list[str]:
    """The swept-key columns of a :func:`sweep_table`."""
    fixed = {"run_id", "status", "proven", "time_s", *SWEEP_KPIS}
    return [c for c in table.columns if c not in fixed]
