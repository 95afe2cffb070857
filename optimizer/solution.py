"""Solver-independent result of a solve: a placement, its status and its proof (layer 2)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from optimizer.data import IntArray
from optimizer.labels import relative_gap
from optimizer.rules.reason import Reason

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]

#: The statuses of a result that carries a placement.
PLACEMENT_STATUSES: tuple[Status, ...] = ("optimal", "feasible")

#: Name of the solve pipeline, stored with each run: min-cost flow, Lagrangian
#: multipliers with repair, exact MIP finish of the open part.
ENGINE = "flow+lagrange+mip"


UnprovenCause = Literal["time_limit", "stopped", "gap"]


@dataclass(frozen=True)
class Unproven:
    """Why a stage ended without a proof, in codes a planner's message is made from.

    ``cause`` is ``time_limit`` (the solve's time limit passed), ``stopped`` (Ctrl-C or a
    stop request) or ``gap`` (the bound and the best placement did not meet within the
    search); ``conflicts`` are the relatives ``(person, person, unit)`` that the stage's
    last relaxed flow still put together — the part of the problem left open.
    """

    stage: str
    cause: UnprovenCause
    conflicts: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True)
class StageResult:
    """One lexicographic stage (or the single weighted stage).

    ``value`` and ``bound`` are of the stage's objective, the terms weighted as the
    stage combines them, in the scenario's units (with decimal weights, the scenario's
    own weights: ``commute = 0.01`` counts 0.01 per 100 m, not a scaled integer);
    ``bound`` is a proven lower bound against the unpruned model.
    """

    name: str
    terms: tuple[str, ...]
    status: Status
    value: float | None
    bound: float | None
    time_s: float

    @property
    def gap(self) -> float | None:
        """Relative gap ``(value - bound) / max(1, |value|)``; ``None`` without a solution."""
        if self.value is None or self.bound is None:
            return None
        return relative_gap(self.value, self.bound)


@dataclass(frozen=True)
class SolveResult:
    """The small typed value every solve returns.

    ``assignment[i]`` is the post line of person ``i``, or ``-1`` when unplaced.
    ``values`` and ``bounds`` map each objective term to its value in the placement and
    its proven lower bound.  ``unplaced_reasons`` maps each unplaced person's index to
    why, as a :class:`~optimizer.rules.reason.Reason` (a code and its parameters, made a
    sentence in the reader's language when shown); ``failure`` says so why a solve
    found no placement.
    """

    status: Status
    assignment: IntArray
    stages: tuple[StageResult, ...] = ()
    values: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)
    unplaced_reasons: dict[int, Reason] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: float = 0.0
    candidate_counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    #: why there is no placement (``None`` when there is one): a code and its parameters
    failure: Reason | None = None
    #: why each stage not proven optimal ended so (empty when every stage is proven)
    unproven: tuple[Unproven, ...] = ()

    @property
    def proven(self) -> bool:
        """True when every stage is proven optimal (and the solve was not interrupted)."""
        return not self.interrupted and bool(self.stages) and all(s.status == "optimal" for s in self.stages)

    @property
    def has_placement(self) -> bool:
        """True when the result carries a placement (optimal or feasible)."""
        return self.status in PLACEMENT_STATUSES

    def with_load(self, load_s: float) -> SolveResult:
        """The result with the time spent loading and validating the input first in its
        timings (``load``) and counted in ``total``."""
        timings = {"load": load_s, **self.timings}
        timings["total"] = load_s + self.timings.get("total", 0.0)
        return dataclasses.replace(self, timings=timings)

    @property
    def num_placed(self) -> int:
        """Number of people with a post."""
        return int(np.count_nonzero(self.assignment >= 0))
