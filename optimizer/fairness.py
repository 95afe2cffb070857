"""Fairness audit of a placement: blocking pairs of preferences (layer 3).

A **blocking pair** is a person who ranks another unit above the one they got (or who
got none) while someone with a weaker claim sits there in a post line the person could
take.  A claim is weaker when its holder is farther from that unit than the person and
was not working in it before the merger (the unit is not the holder's ``origin_unit``,
i.e. the holder does not come from one of the unit's predecessors).

"A post line the person could take" means every pair-wise hard rule of
:data:`optimizer.rules.pair.PAIR_RULES` allows it (the same rules as the solver's
candidates): qualification, bloc_change when forbidden, island, commute_cap, non_local,
service_left and pins.  Signed decisions are not contested: a person
with a ``fix`` pin never blocks, and a holder with a ``fix`` pin is never outranked.

Solver-free: only the problem data and a placement are needed, so the audit can run on
any stored run whose problem is rebuilt, and in the KPI table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.rules.pair import allowed


@dataclass(frozen=True)
class BlockingPair:
    """``person`` prefers ``unit``, where ``holder`` sits in ``post`` with a weaker claim.

    Distances are from each one's home to ``unit``, in km.
    """

    person: int
    unit: int
    holder: int
    post: int
    person_km: float
    holder_km: float


def _fixed(problem: Problem) -> np.ndarray:
    fixed = np.zeros(problem.num_staff, dtype=bool)
    pins = problem.pins
    fixed[pins.staff_idx[np.array(pins.mode, dtype=object) == "fix"]] = True
    return fixed


def _contested(problem: Problem, x: IntArray, fixed: np.ndarray) -> tuple[IntArray, IntArray, IntArray]:
    """Every (person, preferred unit, post line) a blocking pair may come from: the post
    lines of the units each person ranks above their own that the pair-wise hard rules
    let them take (one :func:`~optimizer.rules.pair.allowed` call for all), ordered by
    person, then rank, then post line."""
    posts = problem.posts
    lines_of_unit = [np.flatnonzero(posts.unit_idx == u) for u in range(problem.num_units)]
    person: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    unit: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    line: list[IntArray] = [np.zeros(0, dtype=np.int64)]
    for i, prefs in enumerate(problem.staff.preferences):
        if not prefs or fixed[i]:
            continue
        own = int(posts.unit_idx[x[i]]) if x[i] >= 0 else -1
        for v in prefs[: prefs.index(own)] if own in prefs else prefs:
            lines = lines_of_unit[v]
            person.append(np.full(len(lines), i, dtype=np.int64))
            unit.append(np.full(len(lines), v, dtype=np.int64))
            line.append(lines.astype(np.int64))
    p, u, k = np.concatenate(person), np.concatenate(unit), np.concatenate(line)
    keep = allowed(problem, p, k)
    return p[keep], u[keep], k[keep]


def blocking_pairs(problem: Problem, assignment: IntArray) -> list[BlockingPair]:
    """Every blocking pair of a placement (definition in the module docstring).

    Parameters
    ----------
    problem
        The problem the placement belongs to.
    assignment
        Post line per person, ``-1`` for the unplaced.

    Returns
    -------
    list of BlockingPair
        Ordered by person, then by the rank of the preferred unit, then by post line.
    """
    x = np.asarray(assignment, dtype=np.int64)
    fixed = _fixed(problem)
    order = np.argsort(x, kind="stable")
    starts = np.searchsorted(x[order], np.arange(problem.num_posts + 1))
    dist, origin = problem.dist_km, problem.staff.origin_idx
    out: list[BlockingPair] = []
    for i, v, k in zip(*(a.tolist() for a in _contested(problem, x, fixed)), strict=True):
        for j in order[starts[k] : starts[k + 1]].tolist():
            if j == i or fixed[j] or origin[j] == v or dist[j, v] <= dist[i, v]:
                continue
            out.append(BlockingPair(i, v, j, k, float(dist[i, v]), float(dist[j, v])))
    return out


def fairness_kpis(problem: Problem, assignment: IntArray) -> dict[str, Any]:
    """The fairness KPIs of a placement.

    Returns
    -------
    dict
        ``blocking_pairs`` (person, unit, holder triples), ``people_blocked`` (distinct
        people with at least one), ``holders_outranked`` (distinct holders),
        ``units_involved``, ``people_with_preferences`` (non-empty lists, fix-pinned
        people excluded) and ``blocked_rate`` (people_blocked ÷ people_with_preferences,
        ``None`` when nobody has a list).
    """
    pairs = blocking_pairs(problem, assignment)
    fixed = _fixed(problem)
    listed = sum(1 for i, prefs in enumerate(problem.staff.preferences) if prefs and not fixed[i])
    blocked = len({b.person for b in pairs})
    return {
        "blocking_pairs": len(pairs),
        "people_blocked": blocked,
        "holders_outranked": len({b.holder for b in pairs}),
        "units_involved": len({b.unit for b in pairs}),
        "people_with_preferences": listed,
        "blocked_rate": blocked / listed if listed else None,
    }
