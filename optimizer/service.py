"""One call per planner action: the layer the CLI and the web app are both thin over (layer 9).

Every function takes and returns plain typed values (dataclasses, stored runs, paths),
prints nothing and knows no click or HTTP.  Bad input is raised as one
:class:`~optimizer.errors.InputError` holding every problem (the CLI prints them and
exits 2, the web app shows them); :func:`validate` alone returns the problems instead.

* start a province: :func:`template`; read a scenario: :func:`load`; check its inputs:
  :func:`validate`, :func:`write_issues`;
* solve and store: :func:`solve_and_record` (progress callback, stop flag), stopped by
  :class:`StopOnSignal` (Ctrl-C, or a signal sent to a worker process);
* many runs at once (a ``--set`` grid, or the provinces of a multi-province file):
  :func:`plan_sweep` then :func:`sweep`; a sweep's runs side by side: :func:`sweep_table`;
* why this placement: :func:`explain`, :func:`explain_all` (to a file:
  :func:`write_short_reasons`); why no placement: :func:`diagnose`;
* re-plan after changes: :func:`replan` (or :func:`prepare_replan` then
  :func:`solve_replan`), its list of changes to a file: :func:`write_replan_changes`;
* a run's tables: :func:`unit_kpis`, :func:`position_balance`, :func:`redact`;
* compare runs: :func:`compare`, :func:`write_comparison`; files of a run:
  :func:`export`, :func:`write_tables`, :func:`write_report` (HTML);
  no output onto an input: :func:`guard_outputs`;
* edit a run by hand: :func:`check_edit` (violations and term changes of moves);
* stored runs: :func:`open_store`, :func:`runs`, :func:`import_runs`, :func:`get_run`, :func:`run_head`,
  :func:`run_notes` (why no placement or no proof, in the reader's language),
  :func:`delete_run`.

OR-Tools, pandas-heavy modules and the exporters are imported inside the functions, so
that importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.kpis import UNIT_SUMMARY_COLUMNS as KPI_UNIT_SUMMARY_COLUMNS
from optimizer.labels import enum_label
from optimizer.record import memory_as_input_error, record_run, solved_run
from optimizer.record import run_notes as stored_run_notes
from optimizer.store import RunSource, RunStore, StoredRun, StoredRunHead, StoredRunSummary

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.compare import Comparison
    from optimizer.data import Problem
    from optimizer.diagnose import Diagnosis
    from optimizer.edit import EditCheck, EditMove, EditSession, SessionSnapshots
    from optimizer.explain import Explainer, PersonExplanation
    from optimizer.export.annex import ExportFormat
    from optimizer.export.model import DocumentFields
    from optimizer.io import Scenario
    from optimizer.replan import ChangeSet, Replan, ReplanMode, RunContext
    from optimizer.solution import SolveResult
    from optimizer.solve.engine import Progress
    from optimizer.sweep import Combination, SweepOutcome, SweepPlan, SweepProgress

#: A progress callback: called from the solving thread after each step of each stage.
ProgressFn = Callable[["Progress"], None]

T = TypeVar("T")

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- stopping


class StopOnSignal:
    """A stop flag for a solve, set by the first of the given signals (default SIGINT,
    i.e. Ctrl-C).

    The first signal sets :attr:`stop` (the solve ends at its next check and keeps the
    best placement found, marked not proven) and calls ``on_stop``; a second one raises
    :class:`KeyboardInterrupt` (abort: nothing is stored).  Use it around
    :func:`solve_and_record` in the main thread of a process — the CLI on Ctrl-C, or a
    web worker process that its parent cancels by sending a signal.  The previous
    handlers are restored on exit.
    """

    def __init__(
        self,
        on_stop: Callable[[], None] | None = None,
        signals: Sequence[signal.Signals] = (signal.SIGINT,),
    ) -> None:
        self.stop = threading.Event()
        self._on_stop = on_stop
        self._signals = tuple(signals)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        for signum in self._signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        if self._on_stop is not None:
            self._on_stop()


def _in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a daemon thread while this thread waits, free to take signals
    at once even while the solver is inside native code."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed back to the calling thread below
            box["error"] = exc

    worker = threading.Thread(target=target, name="staffplan-solve", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


# --------------------------------------------------------------------------- load, validate


@dataclass(frozen=True)
class Loaded:
    """A scenario read and validated: its problem, its warnings, the time it took."""

    scenario: Scenario
    problem: Problem
    warnings: tuple[Issue, ...]
    load_s: float


def _national_refused(path: Path) -> InputError:
    return InputError([Issue(file=str(path), message=t("run.national", scenario=str(path)), code="national")])


def with_solver_options(
    scenario: Scenario,
    *,
    time_limit: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """The scenario with the given solver options replaced (``None`` keeps the scenario's);
    they are recorded with the run."""
    solver = scenario.solver
    if time_limit is not None:
        solver = dataclasses.replace(solver, time_limit_s=time_limit)
    if workers is not None:
        solver = dataclasses.replace(solver, workers=workers)
    if seed is not None:
        solver = dataclasses.replace(solver, seed=seed)
    return dataclasses.replace(scenario, solver=solver)


def load(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    time_limit: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
    warm_heap: bool = False,
) -> Loaded:
    """Read a scenario and its tables and build the problem.

    Parameters
    ----------
    path
        An ordinary scenario file (a multi-province file is refused: it is solved by
        ``staffplan sweep``).
    overrides
        ``--set key=value`` overrides.
    time_limit, workers, seed
        Solver options that replace the scenario's.
    warm_heap
        A solve follows: its memory is touched on the idle core while the tables are
        read (:func:`optimizer.heap.start_warming`).

    Raises
    ------
    InputError
        With every problem of the scenario and its tables.
    """
    from optimizer.io import load_problem, load_scenario
    from optimizer.national import is_national

    if is_national(path):
        raise _national_refused(Path(path))
    started = time.perf_counter()
    scenario = load_scenario(path, tuple(overrides))
    scenario = with_solver_options(scenario, time_limit=time_limit, workers=workers, seed=seed)
    problem, warnings = load_problem(scenario, warm_heap=warm_heap)
    return Loaded(scenario, problem, tuple(warnings), time.perf_counter() - started)


@dataclass(frozen=True)
class Validation:
    """What :func:`validate` found: every issue, and the problem when the input is usable."""

    issues: tuple[Issue, ...]
    scenario: Scenario | None = None
    problem: Problem | None = None

    @property
    def valid(self) -> bool:
        """True when no issue is an error (warnings allowed)."""
        return all(i.severity != "error" for i in self.issues)

    @property
    def warnings(self) -> tuple[Issue, ...]:
        """The issues of severity ``warning``."""
        return tuple(i for i in self.issues if i.severity == "warning")

    def summary(self, lang: str | None = None) -> list[str]:
        """What valid input holds, one sentence per fact in ``lang`` (the current
        language by default): the scenario, units, people by bloc and category, post
        lines, pins, relations and warnings; empty when the input is not usable."""
        if self.scenario is None or self.problem is None:
            return []
        from optimizer.data import BLOCS, CATEGORIES, KINDS, PIN_MODES
        from optimizer.io.tables import display_path

        p, scenario = self.problem, self.scenario
        staff, posts = p.staff, p.posts

        def counts(codes: Sequence[str], order: Sequence[str]) -> str:
            counter = Counter(codes)
            return ", ".join(f"{enum_label(c, lang)} {counter[c]}" for c in order if counter[c])

        return [
            t("io.summary.scenario", lang, name=scenario.name, path=display_path(scenario.path)),
            t("io.summary.units", lang, count=p.num_units, detail=counts(p.units.kinds, KINDS)),
            t("io.summary.people", lang, count=p.num_staff, detail=counts(staff.bloc, BLOCS)),
            t("io.summary.categories", lang, detail=counts(staff.category, CATEGORIES)),
            t(
                "io.summary.posts",
                lang,
                count=p.num_posts,
                min=int(posts.min.sum()),
                max=int(posts.max.sum()),
            ),
            t("io.summary.pins", lang, count=len(p.pins), detail=counts(p.pins.mode, PIN_MODES) or "-"),
            t("io.summary.relations", lang, count=len(p.relations)),
            t("io.summary.warnings", lang, count=len(self.warnings)),
        ]


def validate(path: str | Path, overrides: Sequence[str] = ()) -> Validation:
    """Check a scenario's inputs and return every problem (never raises for bad input)."""
    from optimizer.io import load_problem, load_scenario

    try:
        scenario = load_scenario(path, tuple(overrides))
        problem, warnings = load_problem(scenario)
    except InputError as exc:
        return Validation(tuple(exc.issues))
    return Validation(tuple(warnings), scenario, problem)


def input_files(path: str | Path) -> list[Path]:
    """The files a scenario reads (its ``extends`` chain and its tables), found without
    validating it, so that an output never overwrites one even when the scenario is
    broken."""
    from optimizer.io.scenario import scenario_input_files

    return scenario_input_files(path)


def write_issues(issues: Sequence[Issue], path: str | Path) -> Path:
    """Write issues to an Excel file (sheet "Lỗi") a planner can work through."""
    from optimizer.io import write_issues_xlsx

    write_issues_xlsx(list(issues), Path(path))
    return Path(path)


@dataclass(frozen=True)
class Templated:
    """A province to start from, written: its files and its scenario file."""

    paths: tuple[Path, ...]
    scenario: Path


def template(folder: str | Path, *, force: bool = False) -> Templated:
    """Write a ready province to start from into ``folder`` (created if missing): a
    Vietnamese-headed workbook with example rows that validate, and its scenario.

    Raises
    ------
    InputError
        When a file exists and ``force`` is not set (nothing is written).
    """
    from optimizer.io.template import SCENARIO, write_template

    paths = write_template(Path(folder), force=force)
    return Templated(tuple(paths), Path(folder) / SCENARIO)


# --------------------------------------------------------------------------- solve


def open_store(path: str | Path | None = None, *, create: bool = False) -> RunStore:
    """The run store at ``path`` (default ``$STAFFPLAN_STORE`` or ``./staffplan.db``).

    Raises
    ------
    InputError
        When the file is missing (unless ``create``) or is not a staffplan store.
    """
    return RunStore(path, create=create)


@dataclass(frozen=True)
class Recorded:
    """A solve stored as a run: its id, the solver's result and the run read back."""

    run_id: str
    result: SolveResult
    run: StoredRun


def solve_and_record(
    loaded: Loaded,
    store: RunStore,
    *,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    tags: Mapping[str, str] | None = None,
) -> Recorded:
    """Solve a loaded scenario and store the run (also when infeasible or stopped).

    The solve runs in a worker thread while the calling thread waits, so that a
    :class:`StopOnSignal` in the calling thread acts at once.

    Parameters
    ----------
    loaded
        From :func:`load`.
    store
        Where the run is stored.
    progress
        Called (from the solving thread) with each progress event: stage, objective,
        bound, gap, elapsed seconds.
    stop
        Set it to stop the solve: the best placement found is kept, marked not proven
        (e.g. :attr:`StopOnSignal.stop`).
    tags
        Free tags stored with the run (e.g. a label).

    Raises
    ------
    InputError
        When the problem needs more memory than the machine has.
    """
    from optimizer.solve import solve

    problem = loaded.problem
    with memory_as_input_error(str(loaded.scenario.path)):
        result = _in_thread(lambda: solve(problem, progress=progress, stop=stop)).with_load(loaded.load_s)
    solved = solved_run(problem, result)
    run_id = record_run(store, RunSource.of(loaded.scenario), solved, problem.rules, tags=tags)
    return Recorded(run_id, result, store.get(run_id))


# --------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class PlannedSweep:
    """A sweep planned against a store: its combinations, the runs of it already stored
    (by combination key) and the combinations left to solve, in grid order."""

    plan: SweepPlan
    executor: str
    finished: dict[str, StoredRunHead]
    pending: tuple[Combination, ...]

    @property
    def num_tasks(self) -> int:
        """Solves left: one per pending combination and province."""
        return len(self.pending) * self.plan.num_provinces


def plan_sweep(
    store: RunStore, path: str | Path, settings: Sequence[str] = (), *, executor: str = "local"
) -> PlannedSweep:
    """Read a sweep (an ordinary or multi-province scenario and its ``--set`` grid) and
    find which of its combinations the store already holds (an interrupted sweep resumes).

    Parameters
    ----------
    store
        Where the runs are (and will be) stored.
    path
        A scenario file, or a multi-province file (a ``provinces`` list).
    settings
        ``KEY=V1,V2,…`` values to sweep (the runs are their cartesian product).
    executor
        ``local`` or ``dask://HOST:PORT`` (checked here, opened by :func:`sweep`).

    Raises
    ------
    InputError
        A bad executor, ``--set`` value, scenario or table (every problem at once).
    """
    from optimizer.sweep import finished_runs, parse_executor
    from optimizer.sweep import plan_sweep as make_plan

    parse_executor(executor)
    plan = make_plan(path, settings)
    finished = finished_runs(store, plan.sweep_id)
    pending = tuple(c for c in plan.combinations if c.key not in finished)
    return PlannedSweep(plan, executor, finished, pending)


@dataclass(frozen=True)
class SweepSlots:
    """Where a sweep's solves run: the Dask scheduler (``None``: local processes), the
    solves run at once, and the solver threads of each."""

    address: str | None
    slots: int
    threads: int


@dataclass(frozen=True)
class Swept:
    """A finished sweep: what :func:`optimizer.sweep.run_sweep` did, and where."""

    outcome: SweepOutcome
    slots: SweepSlots


def sweep(
    store: RunStore,
    planned: PlannedSweep,
    *,
    jobs: int | None = None,
    threads_per_solve: int | None = None,
    on_start: Callable[[SweepSlots], None] | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> Swept:
    """Solve the pending combinations of a planned sweep and store each as a run.

    Every run goes through :func:`optimizer.record.record_run`, as ``staffplan run``'s
    do; the provinces of a multi-province combination are solved apart and stored as
    one run.  Only this process writes to the store.

    Parameters
    ----------
    store, planned
        From :func:`plan_sweep` (with at least one pending combination).
    jobs
        Local processes (default: the cores, at most one per task); ignored with Dask.
    threads_per_solve
        ``solver.workers`` of each solve (default: cores / parallel solves locally, 1
        on Dask).
    on_start
        Called once the executor is open, before the first solve.
    progress
        Called after each finished task.

    Raises
    ------
    InputError
        A Dask scheduler that does not answer, or combinations with bad input (those are
        not stored, the others are).
    KeyboardInterrupt
        On Ctrl-C: the running solves are ended; the runs stored so far stay.
    """
    from optimizer.sweep import default_threads, open_executor, parse_executor, run_sweep

    local_jobs = min(jobs or os.cpu_count() or 1, max(1, planned.num_tasks))
    with open_executor(planned.executor, local_jobs) as (pool, slots):
        threads = threads_per_solve or default_threads(planned.executor, slots)
        where = SweepSlots(parse_executor(planned.executor), slots, threads)
        if on_start is not None:
            on_start(where)
        outcome = run_sweep(planned.plan, store, pool, threads=threads, progress=progress)
    return Swept(outcome, where)


@dataclass(frozen=True)
class SweepTable:
    """One row per stored run of a sweep in grid order (see
    :func:`optimizer.sweep.sweep_table`), and its swept-key columns."""

    frame: pd.DataFrame
    keys: tuple[str, ...]


def sweep_table(store: RunStore, sweep_id: str) -> SweepTable:
    """The table of a sweep's stored runs: swept values, status, proof, KPIs, time.

    Raises
    ------
    InputError
        When the store holds no run of that sweep.
    """
    from optimizer.sweep import sweep_table as table_of
    from optimizer.sweep import swept_keys

    frame = table_of(store, sweep_id)
    return SweepTable(frame, tuple(swept_keys(frame)))


# --------------------------------------------------------------------------- stored runs


def runs(store: RunStore, *, scenario: str | None = None, sweep: str | None = None) -> list[StoredRunSummary]:
    """Summaries of the stored runs, newest first, optionally of one scenario or sweep."""
    return store.list(scenario=scenario, sweep=sweep)


def import_runs(store: RunStore, source: str | Path) -> list[tuple[str, str | None]]:
    """Copy the runs of another store (a recovery store kept when ``store`` could not take
    a run) into ``store``: each run's id there and its new id (``None``: already here).

    Raises
    ------
    InputError
        When ``source`` is not a staffplan store or ``store`` cannot take the runs.
    """
    return store.import_runs(source)


def get_run(store: RunStore, ref: str) -> StoredRun:
    """One stored run (``ref``: a run id, a unique prefix of one, or ``latest``).

    Raises
    ------
    InputError
        When no run, or more than one, matches.
    """
    return store.get(ref)


def run_head(store: RunStore, ref: str) -> StoredRunHead:
    """One stored run's meta (status, stages, values and bounds, tags) and KPIs, without
    reading its tables (``ref``: a run id, a unique prefix of one, or ``latest``).

    Raises
    ------
    InputError
        When no run, or more than one, matches.
    """
    return store.head(ref)


def run_notes(run: StoredRun | StoredRunHead, lang: str | None = None) -> list[str]:
    """What a stored run says about its solve, as sentences in ``lang`` (the current
    language by default, whatever language the run was solved in): why it has no
    placement, and why each stage is not proven, for whom, and what to try."""
    return stored_run_notes(run.run_id, run.meta, lang)


def run_units(store: RunStore, ref: str) -> pd.DataFrame:
    """A stored run's per-unit KPIs (:func:`optimizer.kpis.unit_kpis`, all blocs together):
    those stored with the run, read without its placement rows, or — for a run stored
    before they were kept — computed from its tables.

    Raises
    ------
    InputError
        When no run, or more than one, matches.
    """
    stored = store.unit_kpis(ref)
    if stored is not None:
        return stored
    from optimizer.kpis import unit_kpis

    run = store.get(ref)
    return unit_kpis(run.tables, run.rules, by_bloc=False)


#: The columns of a unit's summary row (:func:`unit_kpis`), after ``unit_id``.
UNIT_SUMMARY_COLUMNS = KPI_UNIT_SUMMARY_COLUMNS


def unit_kpis(run: StoredRun) -> pd.DataFrame:
    """A stored run's KPIs per unit and bloc (:func:`optimizer.kpis.unit_kpis`)."""
    from optimizer.kpis import unit_kpis as kpis_per_unit

    return kpis_per_unit(run.tables, run.rules)


def position_balance(run: StoredRun) -> pd.DataFrame:
    """A stored run's surplus and shortage per job position
    (:func:`optimizer.kpis.position_balance`)."""
    from optimizer.kpis import position_balance as balance_of

    return balance_of(run.tables)


def redact(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with names as initials and birth dates as birth years (any such column)."""
    from optimizer.compare import redact as redacted

    return redacted(frame)


def write_report(
    runs: Sequence[StoredRun],
    path: str | Path,
    *,
    geojson: str | Path | None = None,
    map_kpi: str = "fill_rate",
    redact: bool = False,
) -> Path:
    """Write the self-contained HTML report of one run, or of runs compared (deltas
    against the first); see :func:`optimizer.export.report.write_report`."""
    from optimizer.export.report import write_report as write_html

    return write_html(path, runs, geojson=geojson, map_kpi=map_kpi, redacted=redact)


def delete_run(store: RunStore, ref: str) -> str:
    """Delete one run and return its id."""
    run_id = store.resolve(ref)
    store.delete(run_id)
    return run_id


# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class Explanation:
    """Why one person of a run is where they are (see :class:`optimizer.explain.Explainer`)."""

    run: StoredRunHead
    problem: Problem
    person: PersonExplanation


def _issue(store: RunStore, key: str, value: str, code: str, **kwargs: object) -> Issue:
    return Issue(
        file=str(store.path),
        message=t(key, **kwargs),
        hint=t(f"{key}_hint"),
        value=value,
        code=code,
    )


def explain(
    store: RunStore,
    run_ref: str,
    staff_id: str,
    *,
    alternatives: int = 5,
    units: Sequence[str] = (),
    forcing: bool = True,
    snapshots: SessionSnapshots | None = None,
) -> Explanation:
    """Why ``staff_id`` is where they are in a run, and what the alternatives would cost.

    Parameters
    ----------
    store, run_ref
        The run (open for explaining, :func:`open_explainer`: its problem is rebuilt from
        its inputs once, which must not have changed, and kept).
    staff_id
        The person.
    alternatives
        How many of the nearest other units to examine.
    units
        Further units to examine, by unit id.
    forcing
        Compute what forcing the person into each allowed alternative would cost.
    snapshots
        Where runs open for editing are kept as files (:func:`edit_session`).

    Raises
    ------
    InputError
        For an unknown run, person or unit, or inputs changed since the run.
    """
    head = store.head(run_ref)
    explainer = open_explainer(store, head.run_id, snapshots)
    p = explainer.problem
    if staff_id not in p.staff.id2idx:
        raise InputError(
            [
                _issue(
                    store,
                    "cli_explain.unknown_staff",
                    staff_id,
                    "unknown_staff",
                    id=staff_id,
                    run=head.run_id,
                )
            ]
        )
    bad = [c for c in units if c not in p.units.id2idx]
    if bad:
        raise InputError([_issue(store, "cli_explain.unknown_unit", c, "unknown_unit", unit=c) for c in bad])
    extra = tuple(p.units.id2idx[c] for c in units)
    with _explain_lock:
        person = explainer.explain(p.staff.id2idx[staff_id], alternatives, extra, forcing=forcing)
    return Explanation(head, p, person)


#: Runs kept open for explaining (each holds the city's residual graph, ~300 MB).
EXPLAINERS_KEPT = 2
_explainers: dict[tuple[str, str], Explainer] = {}
#: Held while an explainer is opened or used (its graph is built once, searched by one
#: thread at a time).
_explain_lock = threading.Lock()


def open_explainer(store: RunStore, run_ref: str, snapshots: SessionSnapshots | None = None) -> Explainer:
    """A stored run open for explaining: over the run open for editing
    (:func:`edit_session`), kept for the next explanations, which reuse its residual
    graph and potentials.

    Raises
    ------
    InputError
        For an unknown run, or inputs changed since the run.
    """
    from optimizer.explain import Explainer

    session = edit_session(store, run_ref, snapshots)
    key = (str(store.path), store.head(run_ref).run_id)
    with _explain_lock:
        if key not in _explainers or _explainers[key].session is not session:
            while len(_explainers) >= EXPLAINERS_KEPT:
                _explainers.pop(next(iter(_explainers)))
            _explainers[key] = Explainer(session.problem, session.assignment, session.reference, session)
        return _explainers[key]


@dataclass(frozen=True)
class ShortReason:
    """One person's short reason (the annex's Ghi chú), with where they are placed."""

    staff_id: str
    full_name: str
    unit_id: str
    position: str
    note: str


def explain_all(store: RunStore, run_ref: str) -> tuple[StoredRun, list[ShortReason]]:
    """One short reason per person of a run, in roster order."""
    from optimizer.explain import Explainer
    from optimizer.replan import load_run

    ctx = load_run(store, run_ref)
    explainer: Explainer = Explainer(ctx.problem, ctx.assignment, ctx.reference)
    p = ctx.problem
    out = []
    for i, note in explainer.short_reasons().items():
        post = int(explainer.x[i])
        placed = post >= 0
        out.append(
            ShortReason(
                p.staff.ids[i],
                p.staff.full_name[i],
                p.units.ids[p.posts.unit_idx[post]] if placed else "",
                p.posts.position[post] if placed else "",
                note,
            )
        )
    return ctx.run, out


def write_short_reasons(reasons: Sequence[ShortReason], path: str | Path) -> Path:
    """Write the short reasons of :func:`explain_all` to a CSV file (``staff_id``,
    ``full_name``, ``unit_id``, ``position``, ``note``), ready for the annex's Ghi chú."""
    import pandas as pd

    from optimizer.io.outputs import write_csv_frame

    rows = [(r.staff_id, r.full_name, r.unit_id, r.position, r.note) for r in reasons]
    columns = ["staff_id", "full_name", "unit_id", "position", "note"]
    write_csv_frame(pd.DataFrame(rows, columns=columns, dtype=object), Path(path))
    return Path(path)


# --------------------------------------------------------------------------- diagnose


@dataclass(frozen=True)
class Diagnosed:
    """The diagnosis of a scenario (see :func:`optimizer.diagnose.diagnose`)."""

    scenario: Scenario
    diagnosis: Diagnosis


def diagnose(path: str | Path, overrides: Sequence[str] = (), *, max_conflicts: int = 3) -> Diagnosed:
    """Why a scenario has no placement: the smallest sets of conflicting rules, and fixes.

    Capacity errors of the input (a post line's minimum nobody can reach) are not
    refused here: they are what the diagnosis explains.

    Raises
    ------
    InputError
        For input that cannot be read into a problem at all.
    """
    from optimizer.diagnose import diagnose as run_diagnosis
    from optimizer.io import load_scenario, read_tables
    from optimizer.io.build import build_problem

    scenario = load_scenario(path, tuple(overrides))
    tables, issues = read_tables(scenario)
    if any(i.severity == "error" for i in issues):
        raise InputError(issues)
    problem, _ = build_problem(scenario, tables)
    return Diagnosed(scenario, run_diagnosis(problem, max_conflicts=max_conflicts))


# --------------------------------------------------------------------------- replan


@dataclass(frozen=True)
class ReplanInput:
    """A base run rebuilt from its inputs, and the changes read against it."""

    base: RunContext
    changes: ChangeSet


def prepare_replan(
    store: RunStore, run_ref: str, changes_path: str | Path, *, time_limit: float | None = None
) -> ReplanInput:
    """Rebuild the base run and read the changes file (its warnings are in ``changes``).

    ``time_limit`` (seconds) replaces the base run's solver time limit for the re-plan.

    Raises
    ------
    InputError
        Unknown run, inputs changed since the run, or a bad changes file (every bad
        cell at once).
    """
    from optimizer.replan import load_run, read_changes

    base = load_run(store, run_ref)
    if time_limit is not None:
        solver = dataclasses.replace(base.problem.solver, time_limit_s=time_limit)
        base = dataclasses.replace(base, problem=dataclasses.replace(base.problem, solver=solver))
    return ReplanInput(base, read_changes(changes_path, base.problem))


@dataclass(frozen=True)
class Replanned:
    """A re-plan: its base run, the changes, the plan, and the run stored.

    ``run`` is ``None`` when the re-plan has no placement (nothing is stored then).
    """

    base: RunContext
    changes: ChangeSet
    plan: Replan
    run: StoredRun | None


def replan_mode(move_penalty: int | None, changes_first: bool) -> ReplanMode:
    """The re-plan mode of the options (see :func:`optimizer.replan.replan_objective`).

    Raises
    ------
    ValueError
        When both are given.
    """
    if changes_first and move_penalty is not None:
        raise ValueError(t("cli_explain.usage_mode"))
    return "penalty" if move_penalty is not None else ("changes_first" if changes_first else "default")


def replan(
    store: RunStore,
    run_ref: str,
    changes_path: str | Path,
    *,
    mode: ReplanMode = "default",
    move_penalty: int | None = None,
    time_limit: float | None = None,
    prove: bool = True,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> Replanned:
    """Re-plan a stored run after the changes of a changes file, and store the new run.

    In one call :func:`prepare_replan` then :func:`solve_replan` (call those two to show
    the changes file's warnings before solving).

    Parameters
    ----------
    store, run_ref
        The base run (rebuilt from its inputs).
    changes_path
        The changes file (CSV, XLSX[#sheet] or Parquet).
    mode, move_penalty
        How changes are weighed (:func:`optimizer.replan.replan_objective`).
    time_limit
        Solver time limit in seconds (default: the base run's).
    prove, progress, stop
        As for :func:`solve_and_record`; a re-plan is proven on every stage unless ``prove`` is
        false (a quick placement: each stage's flow and its repair).

    Raises
    ------
    InputError
        Unknown run, changed inputs, a bad changes file, or too little memory.
    ValueError
        A mode the scenario's objective does not allow (``changes_first`` with weights).
    """
    prepared = prepare_replan(store, run_ref, changes_path, time_limit=time_limit)
    return solve_replan(
        store, prepared, mode=mode, move_penalty=move_penalty, prove=prove, progress=progress, stop=stop
    )


def solve_replan(
    store: RunStore,
    prepared: ReplanInput,
    *,
    mode: ReplanMode = "default",
    move_penalty: int | None = None,
    prove: bool = True,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> Replanned:
    """Solve a prepared re-plan (:func:`prepare_replan`) and store it; see :func:`replan`.

    Raises
    ------
    InputError
        When the problem needs more memory than the machine has.
    ValueError
        A mode the scenario's objective does not allow (``changes_first`` with weights).
    """
    from optimizer.replan import replan as run_replan
    from optimizer.replan import store_replan

    base, changes = prepared.base, prepared.changes
    with memory_as_input_error(str(changes.path)):
        plan = _in_thread(
            lambda: run_replan(
                base.problem,
                base.assignment,
                changes,
                mode=mode,
                move_penalty=move_penalty,
                progress=progress,
                stop=stop,
                prove=prove,
            )
        )
    if not plan.result.has_placement:
        return Replanned(base, changes, plan, None)
    run_id = store_replan(store, base, plan, changes, mode, move_penalty)
    return Replanned(base, changes, plan, store.get(run_id))


def write_replan_changes(replanned: Replanned, path: str | Path) -> Path:
    """Write who a re-plan moves, from where, to where and why, to a CSV file."""
    from optimizer.io.outputs import write_csv_frame
    from optimizer.replan import changes_frame

    write_csv_frame(changes_frame(replanned.plan.changes), Path(path))
    return Path(path)


# --------------------------------------------------------------------------- compare, export


@dataclass(frozen=True)
class Compared:
    """Runs side by side: the stored runs in the order given, and their comparison."""

    runs: tuple[StoredRun, ...]
    comparison: Comparison


def compare(store: RunStore, refs: Sequence[str]) -> Compared:
    """Compare two or more runs (deltas against the first; repeated refs count once).

    Raises
    ------
    InputError
        When a ref matches no run or several.
    ValueError
        When fewer than two distinct runs are named.
    """
    from optimizer.compare import compare_runs

    ids = list(dict.fromkeys(store.resolve(r) for r in refs))
    if len(ids) < 2:
        raise ValueError(t("runs.compare_need_two"))
    stored = tuple(store.get(i) for i in ids)
    return Compared(stored, compare_runs(stored))


def write_comparison(compared: Compared, folder: str | Path, *, redact: bool = False) -> list[Path]:
    """Write ``runs.csv``, ``kpis.csv``, ``units.csv`` and ``people.csv`` of a comparison
    into ``folder`` (see :func:`optimizer.compare.write_csv`)."""
    from optimizer.compare import write_csv

    return write_csv(compared.comparison, folder, redacted=redact)


@contextlib.contextmanager
def guard_outputs(
    store: RunStore | None,
    runs: Sequence[StoredRun] = (),
    *,
    inputs: Iterable[Path] = (),
    tables: Iterable[Path] = (),
    table_folders: Iterable[Path] = (),
    files: Iterable[Path] = (),
) -> Iterator[None]:
    """Within the block no output may be written onto an input (an :class:`InputError`).

    The protected files are the store's, the inputs of every run in ``runs`` (as stored
    with the run), and ``inputs``; a folder of ``table_folders`` (where CSV tables such
    as ``units.csv`` are written) may not hold a table of those runs or of ``tables``;
    the output ``files`` are checked at once (before a long solve), the others as they
    are written.  :func:`export` writes under it; the CLI's other writers wrap
    themselves in it.
    """
    from optimizer.io.outputs import check_not_input, check_table_folders, guard_inputs
    from optimizer.io.scenario import resolved_input_files

    protected, all_tables = list(inputs), list(tables)
    for run in runs:
        run_files, run_tables = resolved_input_files(run.meta.get("resolved_scenario", {}))
        protected += run_files
        all_tables += run_tables
    check_table_folders(table_folders, all_tables)
    with guard_inputs([*protected, *all_tables, *(store.files() if store is not None else ())]):
        for file in files:
            check_not_input(file)
        yield


def make_out_dir(path: str | Path) -> Path:
    """Create an output folder if missing (mode 0700 when new) and return it: called
    before a long solve, so that a folder that cannot be made is refused at once.

    Raises
    ------
    InputError
        When the folder cannot be created (a file in the way, no permission, full disk).
    """
    from optimizer.io.outputs import make_out_dir as make

    return make(Path(path))


@dataclass(frozen=True)
class Exported:
    """The files an export wrote."""

    run_id: str
    paths: tuple[Path, ...]


def export(
    store: RunStore,
    run_ref: str,
    fmt: ExportFormat,
    out_dir: str | Path,
    *,
    fields: DocumentFields | Mapping[str, Any] | None = None,
    unit_ids: Sequence[str] = (),
    per_unit: bool = False,
    redact: bool = False,
    template: str | Path | None = None,
) -> Exported:
    """Write the decision annexes of a run into ``out_dir`` (created if missing).

    See :func:`optimizer.export.annex.export_annexes` for the formats; ``fields`` is the
    decision the annexes belong to (:class:`~optimizer.export.model.DocumentFields`, or a
    mapping of its fields); ``unit_ids`` empty means the whole run.

    Raises
    ------
    InputError
        Unknown run or unit, a bad template, a run whose manifest does not verify, or an
        output onto an input of the run or the store (:func:`guard_outputs`).
    """
    from optimizer.export.annex import export_annexes
    from optimizer.export.model import DocumentFields

    run = store.get(run_ref)
    with guard_outputs(store, [run], table_folders=[Path(out_dir)] if fmt == "csv" else []):
        paths = export_annexes(
            run,
            fmt,
            Path(out_dir),
            fields=DocumentFields(**fields) if isinstance(fields, Mapping) else fields,
            unit_ids=tuple(unit_ids) or None,
            per_unit=per_unit,
            redact=redact,
            template=Path(template) if template is not None else None,
        )
    return Exported(run.run_id, tuple(paths))


def write_tables(run: StoredRun, out_dir: str | Path) -> list[Path]:
    """Write ``placements.csv``, ``unplaced.csv`` and ``units.csv`` of a run into ``out_dir``."""
    from optimizer.export.annex import write_csv_tables

    return write_csv_tables(run.tables, Path(out_dir))


# --------------------------------------------------------------------------- edit by hand

#: Runs kept open for editing (the web page checks every move of a planner on one run).
EDIT_SESSIONS_KEPT = 4
_edit_sessions: dict[tuple[str, str], EditSession] = {}
#: Held while a session is opened: the web app checks from several threads at once, and a
#: run is rebuilt once, not once per thread.
_edit_lock = threading.Lock()


def edit_session(store: RunStore, run_ref: str, snapshots: SessionSnapshots | None = None) -> EditSession:
    """A stored run open for editing: its problem rebuilt once, kept for the next checks.

    Parameters
    ----------
    store, run_ref
        The run.
    snapshots
        Where open sessions are kept as files: one kept there is read instead of
        rebuilding the run (seconds on the city), and one rebuilt is kept there.

    Raises
    ------
    InputError
        For an unknown run, or inputs changed since the run.
    """
    head = store.head(run_ref)
    key = (str(store.path), head.run_id)
    with _edit_lock:
        if key not in _edit_sessions:
            session = snapshots.load(head.run_id, head.manifest_hash) if snapshots is not None else None
            if session is None:
                session = _rebuilt_session(store, head.run_id, head.manifest_hash, snapshots)
            while len(_edit_sessions) >= EDIT_SESSIONS_KEPT:
                _edit_sessions.pop(next(iter(_edit_sessions)))
            _edit_sessions[key] = session
        return _edit_sessions[key]


def _rebuilt_session(
    store: RunStore, run_id: str, manifest_hash: str, snapshots: SessionSnapshots | None
) -> EditSession:
    """A stored run open for editing, rebuilt from its inputs (and kept in ``snapshots``)."""
    from optimizer.edit import EditSession
    from optimizer.replan import load_run

    ctx = load_run(store, run_id)
    session = EditSession(ctx.problem, ctx.assignment, ctx.reference)
    if snapshots is not None:
        snapshots.save(run_id, manifest_hash, session)
    return session


def keep_stored_sessions(
    store: RunStore, snapshots: SessionSnapshots, newest: int, skip: Collection[str] = ()
) -> list[str]:
    """Keep stored runs open for editing: of the ``newest`` most recent runs with a
    placement, each without a snapshot in ``snapshots`` is rebuilt and its snapshot written,
    newest first — so that the first edit check of a run made on the command line reads it
    (what ``staffplan serve`` does at start, in the background).

    The sessions are not kept in memory (the runs the pages check stay open).  A run that
    cannot be rebuilt (its inputs changed) is passed over.

    Parameters
    ----------
    store, snapshots
        The runs, and where their snapshots are kept.
    newest
        How many of the most recent runs with a placement are looked at.
    skip
        Run ids to leave out (e.g. one being opened already).

    Returns
    -------
    list of str
        The ids of the runs whose snapshot was written.
    """
    from optimizer.solution import PLACEMENT_STATUSES

    written = []
    placed = [s for s in store.list() if s.status in PLACEMENT_STATUSES][:newest]
    for summary in placed:
        if summary.run_id in skip or snapshots.load(summary.run_id, summary.manifest_hash) is not None:
            continue
        try:
            _rebuilt_session(store, summary.run_id, summary.manifest_hash, snapshots)
        except InputError as exc:
            log.warning("run %s cannot be kept open for editing: %s", summary.run_id, exc)
            continue
        written.append(summary.run_id)
    return written


def keep_edit_session(problem: Problem, recorded: Recorded, snapshots: SessionSnapshots) -> None:
    """Keep the run just stored open for editing, from the problem it was solved on (no
    rebuild): its snapshot is written, for the first check of a page to read."""
    from optimizer.edit import EditSession

    if recorded.result.has_placement:
        session = EditSession(problem, recorded.result.assignment)
        snapshots.save(recorded.run_id, recorded.run.manifest_hash, session)


def check_edit(
    store: RunStore,
    run_ref: str,
    moves: Sequence[EditMove | Mapping[str, Any]],
    snapshots: SessionSnapshots | None = None,
) -> EditCheck:
    """The hard rules that ``moves`` break in a stored run, with who is concerned, and the
    change of every objective term — no re-solve (DESIGN §10, the web page's edit check).

    Parameters
    ----------
    store, run_ref, snapshots
        The run (rebuilt once from its inputs, then kept open: see :func:`edit_session`).
    moves
        :class:`~optimizer.edit.EditMove` values or ``{"staff_id", "unit_id", "position"?}``
        mappings; an empty or missing ``unit_id`` leaves the person without a post.

    Raises
    ------
    InputError
        For an unknown run, or inputs changed since the run.
    """
    from optimizer.edit import EditMove

    read = [
        m
        if isinstance(m, EditMove)
        else EditMove(str(m["staff_id"]), m.get("unit_id") or None, m.get("position") or None)
        for m in moves
    ]
    return edit_session(store, run_ref, snapshots).check(read)
