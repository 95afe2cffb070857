"""The relatives rule, which does not fit the flow network (layer 5).

Which relatives a placement puts against the rule, and which of two conflicting
relatives gives up the shared unit in a repair.  Everything here works on index arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.rules import relatives
from optimizer.solve.candidates import Candidates


def relative_conflicts(problem: Problem, assignment: IntArray) -> list[tuple[int, int, int]]:
    """Pairs of relatives placed against rule ``relatives``: ``(a, b, unit)`` triples
    (:func:`optimizer.rules.relatives.conflicts`)."""
    return relatives.conflicts(problem, assignment)


def choose_to_move(
    problem: Problem,
    assignment: IntArray,
    a: int,
    b: int,
    fixed: np.ndarray,
    leave_cost: Callable[..., int] | None = None,
) -> int:
    """Which relative of a conflicting pair gives up the shared unit.

    Never a person whose unit is fixed by a pin.  Otherwise the one whose way out is
    cheaper (``leave_cost(person, unit)``, from the flow's reduced costs), then the one
    already away from their origin unit, then the one not in a leadership post, then
    the later index (determinism).
    """
    if fixed[a] != fixed[b]:
        return b if fixed[a] else a
    posts = problem.posts

    def key(i: int) -> tuple[int, int, int, int]:
        unit = int(posts.unit_idx[assignment[i]])
        cost = leave_cost(i, unit) if leave_cost is not None else 0
        away = int(problem.staff.origin_idx[i] != unit)
        return (-cost, away, int(not posts.leadership[assignment[i]]), i)

    return max((a, b), key=key)


def relative_rows(problem: Problem, cand: Candidates) -> list[np.ndarray]:
    """Index sets of candidate pairs that may not all be taken: for each pair of relatives
    and unit, the leadership pairs of one with any pair of the other (scope leadership),
    or any pair of both (scope any) — :func:`optimizer.rules.relatives.rows`."""
    return relatives.rows(problem, cand.person, cand.post, cand.unit)
