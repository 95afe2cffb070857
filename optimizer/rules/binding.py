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


#: The kinds of binding, by their index in :class:`_Groups`.
_KIND_ORDER: tuple[Kind, ...] = ("room", "full", "relatives", "rules")


@dataclass(frozen=True)
class _Groups:
    """The bindings of many (person, unit) groups, ordered by person then unit, as lists:
    each group's person, unit, kind (index into :data:`_KIND_ORDER`), the rules that remove a
    line of it (bits in the order of ``ids``), and its open lines, those of group ``g``
    being ``open_lines[open_end[g - 1] : open_end[g]]``."""

    person: list[int]
    unit: list[int]
    kind: list[int]
    bits: list[int]
    ids: tuple[str, ...]
    open_lines: list[int]
    open_end: list[int]

    def made(self, at: range) -> list[Verdict]:
        """The groups ``at`` as :class:`Verdict` objects (in one pass: all of them for
        :func:`verdicts`, a few for the unplaced reasons)."""
        rules = _KIND_ORDER.index("rules")
        named = {
            b: tuple(rid for j, rid in enumerate(self.ids) if b >> j & 1)
            for b in set(self.bits[at.start : at.stop])
        }
        lo = self.open_end[at.start - 1] if at.start else 0
        out = []
        for i, u, k, b, hi in zip(
            self.person[at.start : at.stop],
            self.unit[at.start : at.stop],
            self.kind[at.start : at.stop],
            self.bits[at.start : at.stop],
            self.open_end[at.start : at.stop],
            strict=True,
        ):
            out.append(
                Verdict(i, u, _KIND_ORDER[k], named[b] if k == rules else (), tuple(self.open_lines[lo:hi]))
            )
            lo = hi
        return out


def _groups(problem: Problem, assignment: IntArray, person: IntArray, post: IntArray) -> _Groups:
    """The bindings of :func:`verdicts`, as lists."""
    x = np.asarray(assignment, dtype=np.int64)
    person = np.asarray(person, dtype=np.int64)
    post = np.asarray(post, dtype=np.int64)
    ids = tuple(rule.id for rule in PAIR_RULES if rule is not QUALIFICATION)
    if len(person) == 0:
        return _Groups([], [], [], [], ids, [], [])
    unit = problem.posts.unit_idx[post].astype(np.int64)
    key = person * problem.num_units + unit
    order = np.lexsort((post, key))
    person, post, unit, key = person[order], post[order], unit[order], key[order]
    masks = [rule.removes(problem, person, post, unit) for rule in PAIR_RULES if rule is not QUALIFICATION]
    removed = np.zeros(len(person), dtype=bool)
    for m in masks:
        removed |= m
    ok = ~removed
    open_ = ok & ~relatives.closed(problem, x, person, post, unit)
    room = open_ & (_fill_without(problem, x, person, post) < problem.posts.max[post])
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])

    def any_in(mask: BoolArray) -> BoolArray:
        return np.logical_or.reduceat(mask, starts)

    # the kind of each group, first that holds: no allowed line, none open, none with room
    kind = np.select([~any_in(ok), ~any_in(open_), ~any_in(room)], [3, 2, 1], 0)
    # the rules that remove a line of each group, as bits in registry order
    bits = np.zeros(len(starts), dtype=np.int64)
    for j, m in enumerate(masks):
        bits |= any_in(m).astype(np.int64) << j
    # each group's open lines: a slice of the open pairs' lines (pairs are in group order)
    open_end = np.cumsum(np.add.reduceat(open_.astype(np.int64), starts))
    return _Groups(
        person[starts].tolist(),
        unit[starts].tolist(),
        kind.tolist(),
        bits.tolist(),
        ids,
        post[open_].tolist(),
        open_end.tolist(),
    )


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
    groups = _groups(problem, assignment, person, post)
    return groups.made(range(len(groups.person)))


def verdict(problem: Problem, assignment: IntArray, person: int, unit: int) -> Verdict:
    """The binding for one person and one unit; kind ``rules`` with ``qualification``
    alone when no line of the unit matches the person's positions and category."""
    lines = np.flatnonzero(problem.posts.unit_idx == unit)
    people = np.full(len(lines), person, dtype=np.int64)
    qualified = lines[~QUALIFICATION.removes(problem, people, lines, problem.posts.unit_idx[lines])]
    if len(qualified) == 0:
        return Verdict(person, unit, "rules", (QUALIFICATION.id,), ())
    return verdicts(problem, assignment, people[: len(qualified)], qualified)[0]


def _unplaced_reason(
    problem: Problem, assignment: IntArray, person: int, groups: _Groups, at: range
) -> Reason:
    """Why ``person`` (unplaced) has no post, from the bindings ``groups`` of the units
    where they are qualified (the groups ``at``).

    No qualified line anywhere: ``no_post``.  Every unit within reach (not kept out by
    the commute cap or the island rule) full: ``unplaced_full``, the surplus.  Otherwise
    ``unplaced_units``: the nearest :data:`UNITS_NAMED` units that are not merely full,
    each with its binding, then how many units within reach are full and how many more
    units there are.  Only the units named are made into :class:`Verdict` objects.
    """
    staff = problem.staff
    if not at:
        return Reason(
            "no_post", {"positions": list(staff.positions[person]), "category": staff.category[person]}
        )
    units = np.array(groups.unit[at.start : at.stop], dtype=np.int64)
    nearest = [at.start + int(k) for k in np.lexsort((units, problem.dist_km[person, units]))]
    far_bits = sum(1 << j for j, rid in enumerate(groups.ids) if rid in (ISLAND.id, COMMUTE_CAP.id))
    rules, full = _KIND_ORDER.index("rules"), _KIND_ORDER.index("full")
    near = [g for g in nearest if not (groups.kind[g] == rules and groups.bits[g] & far_bits)]
    n_full = sum(groups.kind[g] == full for g in nearest)
    if near and n_full == len(near):  # every unit within reach full (they are all near)
        lines = [k for g in near for k in groups.made(range(g, g + 1))[0].open_lines]
        positions = list(dict.fromkeys(problem.posts.position[k] for k in lines))
        return Reason("unplaced_full", {"positions": positions, "units": len(near)})
    others = [g for g in nearest if groups.kind[g] != full]
    items = []
    for g in others[:UNITS_NAMED]:
        [v] = groups.made(range(g, g + 1))
        why = v.reasons(problem, assignment)
        inner = [r.to_dict() for _, r in why] if why else [Reason("room").to_dict()]
        items.append(Reason("at_unit", {"unit": problem.units.names[v.unit], "why": inner}).to_dict())
    if n_full:
        items.append(Reason("units_full", {"count": n_full}).to_dict())
    if len(others) > UNITS_NAMED:
        items.append(Reason("units_more", {"count": len(others) - UNITS_NAMED}).to_dict())
    return Reason("unplaced_units", {"items": items})


def unplaced_reasons(problem: Problem, assignment: IntArray) -> dict[int, Reason]:
    """Why each unplaced person of ``assignment`` has no post (:func:`_unplaced_reason`),
    by person."""
    x = np.asarray(assignment, dtype=np.int64)
    unplaced = np.flatnonzero(x < 0)
    if len(unplaced) == 0:
        return {}
    q_person, q_post = qualified_pairs(problem, unplaced)
    groups = _groups(problem, x, q_person, q_post)
    # each person's groups: a run of the groups, which are ordered by person
    first = np.searchsorted(groups.person, unplaced, "left").tolist()
    stop = np.searchsorted(groups.person, unplaced, "right").tolist()
    return {
        int(i): _unplaced_reason(problem, x, int(i), groups, range(a, b))
        for i, a, b in zip(unplaced, first, stop, strict=True)
    }


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
