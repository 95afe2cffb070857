"""Side rules that do not fit the flow network: relatives (layer 5).

The flow relaxes the relatives rule; conflicts in its optimum are repaired by
forbidding one relative the shared unit and solving again.  Everything here works
on index arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.solve.flow import UNREACHABLE


def relative_conflicts(problem: Problem, assignment: IntArray) -> list[tuple[int, int, int]]:
    """Pairs of relatives placed against rule ``relatives``: ``(a, b, unit)`` triples."""
    scope = problem.rules.relatives_scope
    rel = problem.relations
    if scope == "off" or len(rel) == 0:
        return []
    a, b = rel.a_idx.astype(np.int64), rel.b_idx.astype(np.int64)
    pa, pb = assignment[a], assignment[b]
    both = (pa >= 0) & (pb >= 0)
    a, b, pa, pb = a[both], b[both], pa[both], pb[both]
    ua, ub = problem.posts.unit_idx[pa], problem.posts.unit_idx[pb]
    bad = ua == ub
    if scope == "leadership":
        bad &= problem.posts.leadership[pa] | problem.posts.leadership[pb]
    return [(int(x), int(y), int(u)) for x, y, u in zip(a[bad], b[bad], ua[bad], strict=True)]


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


def conflict_bound(
    problem: Problem,
    assignment: IntArray,
    conflicts: list[tuple[int, int, int]],
    resolve_cost: Callable[[int, int, bool], int],
) -> int:
    """A lower bound on how much resolving the conflicts must add to a stage objective.

    A conflict ends only when one of the two people leaves the shared unit or, under
    scope ``leadership`` with only one of them in a leadership post, that person takes a
    non-leadership post of the unit.  With optimal potentials such a change costs at
    least ``resolve_cost(person, unit, may_stay_below)``; over conflicts that share
    nobody these costs add up.  Conflicts are taken greedily, dearest first.
    """
    lead = problem.posts.leadership
    leadership_scope = problem.rules.relatives_scope == "leadership"
    costs = []
    for a, b, u in conflicts:
        la, lb = bool(lead[assignment[a]]), bool(lead[assignment[b]])
        ca = resolve_cost(a, u, leadership_scope and la and not lb)
        cb = resolve_cost(b, u, leadership_scope and lb and not la)
        cost = min(ca, cb)
        if cost < UNREACHABLE:
            costs.append((cost, a, b))
    used: set[int] = set()
    total = 0
    for cost, a, b in sorted(costs, reverse=True):
        if a in used or b in used:
            continue
        used.update((a, b))
        total += cost
    return total
