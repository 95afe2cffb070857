"""The stages an objective asks for: what is minimised, in which order (layer 4).

One planner for every solver of the package: the engine (:func:`optimizer.solve.engine.stage_plan`
groups consecutive stages of it into one flow stage when their costs allow), the reference
solvers of :mod:`optimizer.solve.baselines` (which solve them as they are), and the
explanations.  See ``docs/ALGORITHM.md``.
"""

from __future__ import annotations

from optimizer.data import CHANGES, TERMS, Problem
from optimizer.solve.exact import Stage


def objective_stages(problem: Problem) -> list[Stage]:
    """The objective of ``problem`` as lexicographic stages, each term on its own.

    One stage per priority, in priority order, each of weight 1; or, for
    ``[objective] weights``, one stage of every term with a non-zero weight (in the
    order of :data:`~optimizer.data.TERMS`, then ``changes``) and its weight, scaled to
    an integer.  With ``rules.min_is_hard`` a first stage minimises shortfall alone (it
    must reach 0).
    """
    obj = problem.objective
    if obj.weights is not None:
        w = dict(obj.weights)
        terms = tuple(t for t in (*TERMS, CHANGES) if w.get(t, 0) != 0)
        stages: list[Stage] = [(terms, tuple(int(w[t]) for t in terms))]
    else:
        stages = [((t,), (1,)) for t in obj.priorities]
    if problem.rules.min_is_hard:
        stages.insert(0, (("shortfall",), (1,)))
    return stages
