"""A solve made into a stored run, written once for every command (layer 7).

``staffplan run``, ``sweep`` (one scenario or several provinces), ``replan`` and the web
app all store their solves through :func:`record_run`; what a run holds is decided here
and nowhere else:

* :func:`solved_run` turns a problem and its :class:`~optimizer.solution.SolveResult`
  into a :class:`SolvedRun`: the result, its run tables (:func:`optimizer.placement_tables.run_tables`)
  and the KPIs that need the problem and not only the tables (the fairness audit of
  :func:`optimizer.fairness.fairness_kpis`).  It runs where the problem is: in the
  calling process, or in a sweep's worker.
* :func:`merge_extra_kpis` adds up the problem KPIs of independent provinces.
* :class:`RunSource` is where a run comes from (scenario file and hash, resolved
  scenario, overrides, input hashes, solver parameters); :meth:`RunSource.of` reads it
  from a loaded scenario.
* :func:`record_run` stores a :class:`SolvedRun` with its source in one transaction and
  returns the run id (the KPIs of :func:`optimizer.kpis.compute_kpis` and the manifest
  hash are computed by :meth:`optimizer.store.RunStore.save`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optimizer import __version__
from optimizer.errors import InputError, Issue
from optimizer.fairness import fairness_kpis
from optimizer.i18n import t
from optimizer.placement_tables import RunTables, run_tables
from optimizer.solution import ENGINE, SolveResult
from optimizer.store import NewRun, RunStore

if TYPE_CHECKING:
    from optimizer.data import Problem, Rules
    from optimizer.io import Scenario

#: Key of the fairness KPIs in a run's KPIs (``kpis["fairness"]["blocking_pairs"]``).
FAIRNESS = "fairness"
#: Key of the count of homes given as a unit's point (``home_unit``), not coordinates.
HOMES_APPROXIMATE = "homes_approximate"
#: Fairness KPIs that are counts over people, units or pairs: provinces add up.
_FAIRNESS_COUNTS = (
    "blocking_pairs",
    "people_blocked",
    "holders_outranked",
    "units_involved",
    "people_with_preferences",
)


@dataclass(frozen=True)
class SolvedRun:
    """A solve ready to be stored: its result, its run tables, and the KPIs that need
    the problem (``{"fairness": {...}}`` when the result has a placement, else empty)."""

    result: SolveResult
    tables: RunTables
    extra_kpis: dict[str, Any] = field(default_factory=dict)


def solved_run(problem: Problem, result: SolveResult) -> SolvedRun:
    """The run tables and problem KPIs of a solve of ``problem``."""
    tables = run_tables(problem, result.assignment, result.unplaced_reasons)
    extra: dict[str, Any] = (
        {FAIRNESS: fairness_kpis(problem, result.assignment)} if result.has_placement else {}
    )
    if problem.staff.home_approx is not None:
        extra[HOMES_APPROXIMATE] = int(problem.staff.home_approx.sum())
    return SolvedRun(result, tables, extra)


def merge_extra_kpis(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The problem KPIs of a run made of independent provinces (one dict per province).

    Provinces share no person and no unit, so a blocking pair lies within one province:
    the counts add up and the blocked rate is recomputed from the sums; the fairness
    audit is left out when some province has none (a province without a placement).
    Approximate homes add up over the provinces that count them.
    """
    with_homes = [int(p[HOMES_APPROXIMATE]) for p in parts if HOMES_APPROXIMATE in p]
    homes = {HOMES_APPROXIMATE: sum(with_homes)} if with_homes else {}
    if not parts or any(FAIRNESS not in p for p in parts):
        return homes
    counts = {k: sum(int(p[FAIRNESS][k]) for p in parts) for k in _FAIRNESS_COUNTS}
    listed = counts["people_with_preferences"]
    rate = counts["people_blocked"] / listed if listed else None
    return {FAIRNESS: {**counts, "blocked_rate": rate}, **homes}


def solver_params(scenario: Scenario) -> dict[str, Any]:
    """The solver parameters a run of ``scenario`` records (seed included)."""
    return {
        "time_limit_s": scenario.solver.time_limit_s,
        "workers": scenario.solver.workers,
        "seed": scenario.solver.seed,
        "engine": ENGINE,
    }


@dataclass(frozen=True)
class RunSource:
    """Where a run comes from: what its manifest certifies besides the placement.

    ``resolved_scenario`` is the scenario after ``extends`` and ``--set``;
    ``solver_params`` holds at least ``time_limit_s``, ``workers`` and ``seed``.
    """

    scenario_name: str
    scenario_path: str
    scenario_hash: str
    resolved_scenario: dict[str, Any]
    overrides: tuple[str, ...]
    input_hashes: dict[str, str]
    solver_params: dict[str, Any]

    @classmethod
    def of(cls, scenario: Scenario, input_hashes: Mapping[str, str] | None = None) -> RunSource:
        """The source of a run of ``scenario``.

        ``input_hashes`` (table → SHA-256) when already known, e.g. hashed by a sweep's
        coordinator; by default the scenario's files are hashed now.
        """
        return cls(
            scenario_name=scenario.name,
            scenario_path=str(scenario.path),
            scenario_hash=scenario.file_hash(),
            resolved_scenario=scenario.resolved(),
            overrides=scenario.overrides,
            input_hashes=dict(input_hashes) if input_hashes is not None else scenario.input_hashes(),
            solver_params=solver_params(scenario),
        )


def record_run(
    store: RunStore,
    source: RunSource,
    solved: SolvedRun,
    rules: Rules,
    *,
    base_run: str | None = None,
    sweep_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Store one solve as a run (one transaction) and return its id.

    Parameters
    ----------
    store
        The run store.
    source
        Where the run comes from (:meth:`RunSource.of`).
    solved
        The result with its tables and problem KPIs (:func:`solved_run`).
    rules
        The rules the run was solved under (its KPIs are computed under them).
    base_run, sweep_id, tags
        The run a re-plan starts from, the sweep a run belongs to, free tags.
    """
    return store.save(
        NewRun(
            scenario_name=source.scenario_name,
            scenario_path=source.scenario_path,
            scenario_hash=source.scenario_hash,
            resolved_scenario=source.resolved_scenario,
            overrides=source.overrides,
            input_hashes=source.input_hashes,
            package_version=__version__,
            solver_params=source.solver_params,
            result=solved.result,
            tables=solved.tables,
            rules=rules,
            base_run=base_run,
            sweep_id=sweep_id,
            tags=dict(tags or {}),
            extra_kpis=solved.extra_kpis,
        )
    )


@contextlib.contextmanager
def memory_as_input_error(file: str) -> Iterator[None]:
    """Turn a solve refused for lack of memory into an :class:`InputError` about ``file``.

    A problem too large for this machine is a problem of the input as given (split it by
    province, lower the commute cap): it is reported like bad input, exit 2.
    """
    from optimizer.solve.memory import MemoryLimitError

    try:
        yield
    except MemoryLimitError as exc:
        needed, available = f"{exc.needed / 2**30:.1f}", f"{exc.available / 2**30:.1f}"
        issue = Issue(file=file, message=t("run.memory", needed=needed, available=available), code="memory")
        raise InputError([issue]) from None
