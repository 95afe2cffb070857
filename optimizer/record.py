"""A solve made into a stored run, written once for every command (layer 7).

``staffplan run``, ``sweep`` (one scenario or several provinces), ``replan`` and the web
app all store their solves through :func:`record_run`; what a run holds is decided here
and nowhere else:

* :func:`solved_run` turns a problem and its :class:`~optimizer.solution.SolveResult`
  into a :class:`SolvedRun`: the result, its run tables (:func:`optimizer.placement_tables.run_tables`)
  and the KPIs that need the problem and not only the tables (the fairness audit of
  :func:`optimizer.fairness.fairness_kpis`), and why each stage left without a proof is
  so (:func:`optimizer.unproven.unproven_notes`).  It runs where the problem is: in the
  calling process, or in a sweep's worker.
* :func:`merge_extra_kpis` adds up the problem KPIs of independent provinces.
* :class:`~optimizer.store.RunSource` (defined with the store, which keeps it) is where
  a run comes from (scenario file and hash, resolved scenario, overrides, input hashes,
  solver parameters); :meth:`~optimizer.store.RunSource.of` reads it from a scenario.
* :func:`record_run` stores a :class:`SolvedRun` with its source in one transaction and
  returns the run id (the KPIs of :func:`optimizer.kpis.compute_kpis` and the manifest
  hash are computed by :meth:`optimizer.store.RunStore.save`).
* :func:`run_notes` reads back why a stored run has no placement or is not proven, as
  sentences in the reader's language (a run stores codes and parameters, not words).
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
from optimizer.rules.reason import Reason
from optimizer.solution import SolveResult
from optimizer.store import NewRun, RunSource, RunStore
from optimizer.unproven import UnprovenNote, unproven_lines, unproven_notes

if TYPE_CHECKING:
    from optimizer.data import Problem, Rules

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
    """A solve ready to be stored: its result, its run tables, the KPIs that need the
    problem (``{"fairness": {...}}`` when the result has a placement, else empty), and
    why each stage left without a proof is so, naming people by id and name."""

    result: SolveResult
    tables: RunTables
    extra_kpis: dict[str, Any] = field(default_factory=dict)
    unproven: tuple[UnprovenNote, ...] = ()


def solved_run(problem: Problem, result: SolveResult) -> SolvedRun:
    """The run tables, problem KPIs and unproven-stage notes of a solve of ``problem``."""
    tables = run_tables(problem, result.assignment, result.unplaced_reasons)
    extra: dict[str, Any] = (
        {FAIRNESS: fairness_kpis(problem, result.assignment)} if result.has_placement else {}
    )
    if problem.staff.home_approx is not None:
        extra[HOMES_APPROXIMATE] = int(problem.staff.home_approx.sum())
    return SolvedRun(result, tables, extra, unproven_notes(problem, result))


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
        Where the run comes from (:meth:`optimizer.store.RunSource.of`).
    solved
        The result with its tables and problem KPIs (:func:`solved_run`).
    rules
        The rules the run was solved under (its KPIs are computed under them).
    base_run, sweep_id, tags
        The run a re-plan starts from, the sweep a run belongs to, free tags.
    """
    return store.save(
        NewRun(
            source,
            __version__,
            solved.result,
            solved.tables,
            rules,
            base_run=base_run,
            sweep_id=sweep_id,
            tags=dict(tags or {}),
            extra_kpis=solved.extra_kpis,
            unproven=solved.unproven,
        )
    )


def run_notes(run_id: str, meta: Mapping[str, Any], lang: str | None = None) -> list[str]:
    """What a stored run says about its solve, in ``lang`` (the current language by
    default): why it has no placement, and why each stage is not proven and what to try.

    Parameters
    ----------
    run_id
        The run (named in what to try).
    meta
        Its stored meta: ``failure`` (a reason's code and parameters) and ``unproven``
        (:class:`~optimizer.unproven.UnprovenNote` dictionaries).
    lang
        ``"vi"`` or ``"en"``.
    """
    failure = meta.get("failure")
    lines = [t("run.failure", lang, reason=Reason.from_dict(failure).render(lang))] if failure else []
    notes = [UnprovenNote.from_dict(n) for n in meta.get("unproven") or ()]
    return lines + unproven_lines(notes, run_id, lang)


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
