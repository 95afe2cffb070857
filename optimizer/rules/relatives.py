"""Rule ``relatives``: two relatives may not share a unit (layer 2).

``relatives_scope`` is read here and nowhere else (but the independent checker):
``leadership`` forbids a shared unit when either of the two holds a leadership post,
``any`` forbids every shared unit, ``off`` nothing.  Everything else asks
:func:`forbids`, :func:`conflicts`, :func:`row_keys` / :func:`rows` (the "at most one of
these pairs" rows of the exact finish, the baselines, the multipliers and diagnose) or
:func:`closed` (the pairs a placed relative closes to someone).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from optimizer.data import BoolArray, IntArray, Problem
from optimizer.rules.reason import Reason

#: The rule id.
ID = "relatives"

#: A row key ``(first, second, unit)``: ``first`` may not take a pair of ``unit`` that
#: :func:`first_side` keeps while ``second`` takes any pair of ``unit``.
RowKey = tuple[int, int, int]


def active(problem: Problem) -> bool:
    """Whether the rule can forbid anything: a scope other than ``off`` and relatives."""
    return problem.rules.relatives_scope != "off" and len(problem.relations) > 0


def scope(problem: Problem) -> str:
    """The scenario's scope (``leadership``, ``any`` or ``off``), for words only."""
    return problem.rules.relatives_scope


def forbids(problem: Problem, lead_a: BoolArray | bool, lead_b: BoolArray | bool) -> BoolArray:
    """Whether two relatives in one unit break the rule, given whether each holds a
    leadership post there (arrays broadcast)."""
    shape = np.broadcast_shapes(np.shape(lead_a), np.shape(lead_b))
    rule_scope = problem.rules.relatives_scope
    if rule_scope == "off":
        return np.zeros(shape, dtype=bool)
    if rule_scope == "any":
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(np.asarray(lead_a) | np.asarray(lead_b), shape).copy()


def symmetric(problem: Problem) -> bool:
    """Whether the rule forbids sharing a unit whatever the posts (scope ``any``): one
    row per pair and unit then suffices."""
    return bool(forbids(problem, False, False))


def pairs_of(problem: Problem, rows: Sequence[int] | None = None) -> tuple[IntArray, IntArray]:
    """The two people of every relations row (or of ``rows``)."""
    rel = problem.relations
    a, b = rel.a_idx.astype(np.int64), rel.b_idx.astype(np.int64)
    if rows is not None:
        pick = np.asarray(rows, dtype=np.int64)
        a, b = a[pick], b[pick]
    return a, b


def conflicts(
    problem: Problem, assignment: IntArray, rows: Sequence[int] | None = None
) -> list[tuple[int, int, int]]:
    """Pairs of relatives placed against the rule: ``(a, b, unit)`` triples, in the order
    of the relations table (or of ``rows``)."""
    if problem.rules.relatives_scope == "off" or len(problem.relations) == 0:
        return []
    a, b = pairs_of(problem, rows)
    x = np.asarray(assignment, dtype=np.int64)
    pa, pb = x[a], x[b]
    both = (pa >= 0) & (pb >= 0)
    a, b, pa, pb = a[both], b[both], pa[both], pb[both]
    posts = problem.posts
    ua, ub = posts.unit_idx[pa], posts.unit_idx[pb]
    bad = (ua == ub) & forbids(problem, posts.leadership[pa], posts.leadership[pb])
    return [(int(x_), int(y), int(u)) for x_, y, u in zip(a[bad], b[bad], ua[bad], strict=True)]


def conflicts_per_person(problem: Problem, assignment: IntArray) -> IntArray:
    """Per person, how many of their relatives share their unit against the rule."""
    out = np.zeros(problem.num_staff, dtype=np.int64)
    for a, b, _ in conflicts(problem, assignment):
        out[a] += 1
        out[b] += 1
    return out


def row_keys(problem: Problem, a: int, b: int, unit: int) -> list[RowKey]:
    """The rows that keep relatives ``a`` and ``b`` apart in ``unit``: one under scope
    ``any``, one per side under ``leadership`` (that side's leadership pairs against the
    other's pairs)."""
    return [(first, second, unit) for first, second in _sides(problem, a, b)]


def _sides(problem: Problem, a: int, b: int) -> list[tuple[int, int]]:
    """``(first, second)`` of each of :func:`row_keys`'s rows, the same in every unit."""
    if not active(problem):
        return []
    if symmetric(problem):
        return [(min(a, b), max(a, b))]
    return [(a, b), (b, a)]


def violated_rows(problem: Problem, assignment: IntArray) -> list[RowKey]:
    """The row keys a placement breaks: under ``leadership`` the side(s) holding a
    leadership post come first in their key."""
    lead = problem.posts.leadership
    keys: list[RowKey] = []
    for a, b, u in conflicts(problem, assignment):
        if symmetric(problem):
            keys.append((min(a, b), max(a, b), u))
            continue
        if lead[assignment[a]]:
            keys.append((a, b, u))
        if lead[assignment[b]]:
            keys.append((b, a, u))
    return keys


def first_side(problem: Problem, post: IntArray) -> BoolArray:
    """Which pairs (by post line) count on the first side of a row: leadership posts
    under ``leadership``, every post under ``any``."""
    return forbids(problem, problem.posts.leadership[post], False)


def rows(
    problem: Problem,
    person: IntArray,
    post: IntArray,
    unit: IntArray,
    relation_rows: Sequence[int] | None = None,
) -> list[IntArray]:
    """Index sets into the pairs ``(person, post, unit)`` that may not all be taken: for
    each pair of relatives (all, or ``relation_rows``) and shared unit, the rows of
    :func:`row_keys`; rows of a single pair are left out."""
    if not active(problem) or len(person) == 0:
        return []
    nu = problem.num_units
    a_all, b_all = pairs_of(problem, relation_rows)
    # only the pairs of people with a relative (a few hundred people of the city's 16k)
    related = np.zeros(problem.num_staff, dtype=bool)
    related[a_all] = related[b_all] = True
    sel = np.flatnonzero(related[np.asarray(person)])
    key = np.asarray(person, dtype=np.int64)[sel] * nu + np.asarray(unit, dtype=np.int64)[sel]
    by_key = np.argsort(key, kind="stable")
    order, ks = sel[by_key], key[by_key]  # indices into the pairs, by (person, unit)
    first = np.zeros(len(person), dtype=bool)
    first[sel] = first_side(problem, np.asarray(post, dtype=np.int64)[sel])
    if not len(ks):
        return []
    # the groups of pairs of one (person, unit), in key order: where each starts and ends
    starts = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1])))
    ends = np.append(starts[1:], len(ks))
    group_key = ks[starts]
    # each pair of relatives with the units both have: a's groups (by unit) whose unit b has
    lo = np.searchsorted(group_key, a_all * nu)
    count = np.searchsorted(group_key, (a_all + 1) * nu) - lo
    relation = np.repeat(np.arange(len(a_all)), count)
    of_a = np.arange(int(count.sum())) + np.repeat(lo - (np.cumsum(count) - count), count)
    wanted = b_all[relation] * nu + group_key[of_a] % nu
    of_b = np.minimum(np.searchsorted(group_key, wanted), len(group_key) - 1)
    shared = group_key[of_b] == wanted
    relation, of_a, of_b = relation[shared], of_a[shared], of_b[shared]
    # the rows of each (pair, unit), side by side: a's pairs then b's, the first side's
    # kept only where first_side says so (row_keys's sides, asked once for all)
    if symmetric(problem):
        a_first = a_all[relation] <= b_all[relation]
    else:
        relation, of_a, of_b = (np.repeat(v, 2) for v in (relation, of_a, of_b))
        a_first = np.tile([True, False], len(relation) // 2)
    groups = np.stack([of_a, of_b], axis=1).ravel()  # segment 2i: a's, 2i+1: b's
    filtered = np.stack([a_first, ~a_first], axis=1).ravel()
    length = ends[groups] - starts[groups]
    at = np.arange(int(length.sum())) + np.repeat(starts[groups] - (np.cumsum(length) - length), length)
    entry = order[at]
    segment = np.repeat(np.arange(len(groups)), length)
    keep = ~filtered[segment] | first[entry]
    entry, row = entry[keep], segment[keep] // 2
    bounds = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=len(groups) // 2)))).tolist()
    return [entry[lo:hi] for lo, hi in itertools.pairwise(bounds) if hi - lo > 1]


def closed(
    problem: Problem,
    assignment: IntArray,
    person: IntArray,
    post: IntArray,
    unit: IntArray,
    moved: tuple[int, int, bool] | None = None,
) -> BoolArray:
    """Which pairs ``(person, post, unit)`` a relative of the person closes by where the
    relative sits in ``assignment``; ``moved = (relative, unit, leadership)`` puts one
    person elsewhere first."""
    out = np.zeros(len(person), dtype=bool)
    if not active(problem) or len(person) == 0:
        return out
    lead = problem.posts.leadership
    x = np.asarray(assignment, dtype=np.int64)
    all_keys: list[int] = []
    lead_keys: list[int] = []
    a_all, b_all = pairs_of(problem)
    asked = np.unique(np.asarray(person))
    mine = np.isin(a_all, asked) | np.isin(b_all, asked)  # only the asked people's relatives
    a_all, b_all = a_all[mine], b_all[mine]
    for a, b in zip(a_all.tolist(), b_all.tolist(), strict=True):
        for s, o in ((a, b), (b, a)):
            if moved is not None and o == moved[0]:
                where, o_lead = moved[1], moved[2]
            elif x[o] >= 0:
                where, o_lead = int(problem.posts.unit_idx[x[o]]), bool(lead[x[o]])
            else:
                continue
            key = s * problem.num_units + where
            if forbids(problem, False, o_lead):
                all_keys.append(key)
            elif forbids(problem, True, o_lead):
                lead_keys.append(key)
    key = np.asarray(person, dtype=np.int64) * problem.num_units + np.asarray(unit, dtype=np.int64)
    out |= np.isin(key, np.array(all_keys, dtype=np.int64))
    out |= np.isin(key, np.array(lead_keys, dtype=np.int64)) & lead[post]
    return out


def relative_in(problem: Problem, assignment: IntArray, person: int, unit: int) -> int:
    """A relative of ``person`` placed in ``unit`` (``-1`` when none)."""
    a_all, b_all = pairs_of(problem)
    posts = problem.posts
    for a, b in zip(a_all.tolist(), b_all.tolist(), strict=True):
        for s, o in ((a, b), (b, a)):
            if s == person and assignment[o] >= 0 and posts.unit_idx[assignment[o]] == unit:
                return o
    return -1


def reason(problem: Problem, assignment: IntArray, person: int, unit: int) -> Reason:
    """Why a relative keeps ``person`` out of ``unit`` (the scope decides the words)."""
    rel = relative_in(problem, assignment, person, unit)
    name = problem.staff.full_name[rel] if rel >= 0 else "?"
    code = "relatives_any" if symmetric(problem) else "relatives_leadership"
    return Reason(code, {"relative": name})
