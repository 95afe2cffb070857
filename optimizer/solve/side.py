"""The relatives rule, which does not fit the flow network (layer 5).

Which relatives a placement puts against the rule, and which of two conflicting
relatives gives up the shared unit in a repair.  Everything here works on index arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.solve.candidates import Candidates


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


def relative_rows(problem: Problem, cand: Candidates) -> list[np.ndarray]:
    """Index sets of candidate pairs that may not all be taken: for each pair of relatives
    and unit, the leadership pairs of one with any pair of the other (scope leadership),
    or any pair of both (scope any)."""
    scope = problem.rules.relatives_scope
    if scope == "off":
        return []
    nu = problem.num_units
    key = cand.person.astype(np.int64) * nu + cand.unit
    order = np.argsort(key, kind="stable")
    ks = key[order]
    rows = []
    lead = problem.posts.leadership[cand.post]

    def units(i: int) -> np.ndarray:
        lo, hi = np.searchsorted(ks, [i * nu, (i + 1) * nu])
        return np.unique(ks[lo:hi] - i * nu)

    def pairs(i: int, u: int) -> np.ndarray:
        k = i * nu + u
        return order[np.searchsorted(ks, k, "left") : np.searchsorted(ks, k, "right")]

    for a, b in zip(problem.relations.a_idx.tolist(), problem.relations.b_idx.tolist(), strict=True):
        for u in np.intersect1d(units(a), units(b)).tolist():
            pa, pb = pairs(a, u), pairs(b, u)
            if scope == "any":
                rows.append(np.concatenate([pa, pb]))
            else:
                rows.append(np.concatenate([pa[lead[pa]], pb]))
                rows.append(np.concatenate([pa, pb[lead[pb]]]))
    return [r for r in rows if len(r) > 1]
