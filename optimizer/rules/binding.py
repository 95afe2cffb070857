"""Which rule keeps a person out of a unit, given a placement: the one source of every
"why not there" a planner reads (layer 2).

For a person and a unit with at least one post line the person is qualified for, the
**binding** is, in this order:

``rules``
    every such line is removed by a pair-wise rule (:data:`~optimizer.rules.pair.PAIR_RULES`):
    the rules that remove them are named;
``relatives``
    some lines are allowed, but a relative placed in the unit closes each of them
    (rule ``relatives``, state-based);
``full``
    some allowed lines are open, and every one of them is full (held up to its maximum
    by others);
``room``
    an allowed, open line has room: nothing but the objective keeps the person out.

Explain's detail table, its short note (the annex's Ghi chú) and the solver's unplaced
reasons are all derived from :func:`verdicts`, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from optimizer.data import BoolArray, IntArray, Problem
from optimizer.rules import relatives
from optimizer.rules.pair import COMMUTE_CAP, ISLAND, PAIR_RULES, QUALIFICATION, qualified_pairs
from optimizer.rules.reason import Reason

Kind = Literal["rules", "relatives", "full", "room"]

#: How many units an unplaced reason names before "and N more".
UNITS_NAMED = 3


@dataclass(frozen=True)
class Verdict:
    """The binding for one (person, unit): its kind, the pair rules that remove every
    qualified line (kind ``rules``) and the open lines (allowed, not closed)."""

    person: int
    unit: int
    kind: Kind
    rules: tuple[str, ...]
    open_lines: tuple[int, ...]

    def reasons(self, problem: Problem, assignment: IntArray) -> tuple[tuple[str, Reason], ...]:
        """``(rule id, reason)`` of the binding: one per rule for kind ``rules``, the
        relative for ``relatives``, the full lines for ``full``, none for ``room``."""
        if self.kind == "rules":
            by_id = {rule.id: rule for rule in PAIR_RULES}
            return tuple((r, by_id[r].reason(problem, self.person, self.unit)) for r in self.rules)
        if self.kind == "relatives":
            return ((relatives.ID, relatives.reason(problem, assignment, self.person, self.unit)),)
        if self.kind == "full":
            return (("post_max", full_reason(problem, self.unit, self.open_lines)),)
        return ()


def full_reason(problem: Problem, unit: int, lines: tuple[int, ...] | IntArray) -> Reason:
    """Every open line (``lines``) of ``unit`` is full: the unit and their positions."""
    positions = list(dict.fromkeys(problem.posts.position[k] for k in lines))
    return Reason("full", {"positions": positions})


def _fill_without(problem: Problem, x: IntArray, person: IntArray, post: IntArray) -> IntArray:
    """Holders of each pair's line, the pair's own person left out."""
    fill = np.bincount(x[x >= 0], minlength=problem.num_posts)
    return fill[post] - (x[person] == post)


def verdicts(problem: Problem, assignment: IntArray, person: IntArray, post: IntArray) -> list[Verdict]:
    """The binding of every (person, unit) among qualified pairs ``(person, post)``.

    Parameters
    ----------
    problem
        The problem.
    assignment
        Post line per person (``-1`` unplaced): who sits where, for the relatives rule and
        the fill of the lines.
    person, post
        Pairs that pass rule ``qualification`` (e.g. from
        :func:`~optimizer.rules.pair.qualified_pairs`).

    Returns
    -------
    list of Verdict
        One per distinct (person, unit), ordered by person then unit.
    """
    x = np.asarray(assignment, dtype=np.int64)
    person = np.asarray(person, dtype=np.int64)
    post = np.asarray(post, dtype=np.int64)
    if len(person) == 0:
        return []
    unit = problem.posts.unit_idx[post].astype(np.int64)
    key = person * problem.num_units + unit
    order = np.lexsort((post, key))
    person, post, unit, key = person[order], post[order], unit[order], key[order]
    masks = {
        rule.id: rule.removes(problem, person, post, unit) for rule in PAIR_RULES if rule is not QUALIFICATION
    }
    removed = np.zeros(len(person), dtype=bool)
    for m in masks.values():
        removed |= m
    ok = ~removed
    open_ = ok & ~relatives.closed(problem, x, person, post, unit)
    room = open_ & (_fill_without(problem, x, person, post) < problem.posts.max[post])
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])

    def any_in(mask: BoolArray) -> BoolArray:
        return np.logical_or.reduceat(mask, starts)

    # the kind of each group, first that holds: no allowed line, none open, none with room
    kinds: list[Kind] = ["room", "full", "relatives", "rules"]
    kind_of = np.select([~any_in(ok), ~any_in(open_), ~any_in(room)], [3, 2, 1], 0).tolist()
    # the rules that remove a line of each group, as bits in registry order (few sets)
    ids = list(masks)
    bits = np.zeros(len(starts), dtype=np.int64)
    for j, rid in enumerate(ids):
        bits |= any_in(masks[rid]).astype(np.int64) << j
    named = {b: tuple(rid for j, rid in enumerate(ids) if b >> j & 1) for b in set(bits.tolist())}
    # each group's open lines: a slice of the open pairs' lines (pairs are in group order)
    open_lines = post[open_].tolist()
    open_end = np.cumsum(np.add.reduceat(open_.astype(np.int64), starts)).tolist()
    out = []
    lo = 0
    for i, u, k, b, hi in zip(
        person[starts].tolist(), unit[starts].tolist(), kind_of, bits.tolist(), open_end, strict=True
    ):
        out.append(Verdict(i, u, kinds[k], named[b] if k == 3 else (), tuple(open_lines[lo:hi])))
        lo = hi
    return out


def verdict(problem: Problem, assignment: IntArray, person: int, unit: int) -> Verdict:
    """The binding for one person and one unit; kind ``rules`` with ``qualification``
    alone when no line of the unit matches the person's positions and category."""
    lines = np.flatnonzero(problem.posts.unit_idx == unit)
    people = np.full(len(lines), person, dtype=np.int64)
    qualified = lines[~QUALIFICATION.removes(problem, people, lines, problem.posts.unit_idx[lines])]
    if len(qualified) == 0:
        return Verdict(person, unit, "rules", (QUALIFICATION.id,), ())
    return verdicts(problem, assignment, people[: len(qualified)], qualified)[0]


def unplaced_reason(problem: Problem, assignment: IntArray, person: int, found: list[Verdict]) -> Reason:
    """Why ``person`` (unplaced) has no post, from the verdicts of the units where they
    are qualified (``found``, any order).

    No qualified line anywhere: ``no_post``.  Every unit within reach (not kept out by
    the commute cap or the island rule) full: ``unplaced_full``, the surplus.  Otherwise
    ``unplaced_units``: the nearest :data:`UNITS_NAMED` units that are not merely full,
    each with its binding, then how many units within reach are full and how many more
    units there are.
    """
    staff = problem.staff
    if not found:
        return Reason(
            "no_post", {"positions": list(staff.positions[person]), "category": staff.category[person]}
        )
    dist = problem.dist_km[person].tolist()
    found = sorted(found, key=lambda v: (dist[v.unit], v.unit))
    far = {ISLAND.id, COMMUTE_CAP.id}
    near = [v for v in found if not far.intersection(v.rules)]
    full = [v for v in found if v.kind == "full"]
    if near and len(full) == len(near):
        lines = [k for v in near for k in v.open_lines]
        positions = list(dict.fromkeys(problem.posts.position[k] for k in lines))
        return Reason("unplaced_full", {"positions": positions, "units": len(near)})
    others = [v for v in found if v.kind != "full"]
    items = []
    for v in others[:UNITS_NAMED]:
        why = v.reasons(problem, assignment)
        inner = [r.to_dict() for _, r in why] if why else [Reason("room").to_dict()]
        items.append(Reason("at_unit", {"unit": problem.units.names[v.unit], "why": inner}).to_dict())
    if full:
        items.append(Reason("units_full", {"count": len(full)}).to_dict())
    if len(others) > UNITS_NAMED:
        items.append(Reason("units_more", {"count": len(others) - UNITS_NAMED}).to_dict())
    return Reason("unplaced_units", {"items": items})


def unplaced_reasons(problem: Problem, assignment: IntArray) -> dict[int, Reason]:
    """:func:`unplaced_reason` for every unplaced person of ``assignment``."""
    x = np.asarray(assignment, dtype=np.int64)
    unplaced = np.flatnonzero(x < 0)
    if len(unplaced) == 0:
        return {}
    q_person, q_post = qualified_pairs(problem, unplaced)
    by_person: dict[int, list[Verdict]] = {int(i): [] for i in unplaced}
    for v in verdicts(problem, x, q_person, q_post):
        by_person[v.person].append(v)
    return {i: unplaced_reason(problem, x, i, found) for i, found in by_person.items()}


def verdicts_at(problem: Problem, assignment: IntArray, person: IntArray, unit: IntArray) -> list[Verdict]:
    """:func:`verdict` for many (person, unit) queries at once (in no particular order)."""
    person = np.asarray(person, dtype=np.int64)
    unit = np.asarray(unit, dtype=np.int64)
    if len(person) == 0:
        return []
    nu = problem.num_units
    want = np.unique(person * nu + unit)
    q_person, q_post = qualified_pairs(problem)
    sel = np.isin(q_person * nu + problem.posts.unit_idx[q_post], want)
    out = verdicts(problem, assignment, q_person[sel], q_post[sel])
    seen = {v.person * nu + v.unit for v in out}
    out += [
        Verdict(int(k // nu), int(k % nu), "rules", (QUALIFICATION.id,), ())
        for k in want.tolist()
        if k not in seen
    ]
    return out
