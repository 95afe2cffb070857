"""Candidate (person, post line) pairs: every pair the hard rules allow (layer 4).

Built with numpy only.  Each rule of :data:`optimizer.rules.pair.PAIR_RULES` that works
pair by pair removes pairs here, and the number it removed is reported under its rule
id, in the registry's order: qualification, bloc_change (when forbidden), island,
commute_cap, non_local, service_left, pins.
No pruning beyond the rules is done, so a bound computed on the candidates is a bound
for the unpruned model.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer.data import IntArray, Problem
from optimizer.rules.pair import (
    BLOC_CHANGE,
    PINS,
    allowed_pairs,
    qualification_keys,
    qualified_pairs,
)

__all__ = ["Candidates", "build_candidates", "qualification_keys", "qualified_pairs"]


@dataclass(frozen=True)
class Candidates:
    """The allowed pairs and their per-term costs, one entry per pair.

    Attributes
    ----------
    person, post, unit:
        Index arrays of the pairs (``unit`` is the post line's unit).
    dist_km:
        Commuting distance of the pair.
    moves, long_commute, commute, preference, changes:
        The pair's contribution to each objective term if the person takes the post
        (``changes``: 1 when the post differs from the ``reference`` placement).
    removed:
        Pairs removed per rule id (``qualification`` counts every non-qualifying pair).
    can_stay_unplaced:
        Per person: ``False`` when a ``fix`` pin or ``require_all_placed`` forces a post.
    reference:
        The base placement of a re-plan (post line per person, ``-1`` unplaced), if any.
    """

    person: IntArray
    post: IntArray
    unit: IntArray
    dist_km: np.ndarray
    moves: IntArray
    long_commute: IntArray
    commute: IntArray
    preference: IntArray
    removed: dict[str, int]
    can_stay_unplaced: np.ndarray
    changes: IntArray
    reference: IntArray | None = None
    #: the order of :meth:`nearest_first` being sorted ahead (:meth:`sort_nearest_ahead`)
    _ahead: list[Future[IntArray]] = field(default_factory=list, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.person)

    def sort_nearest_ahead(self) -> None:
        """Start sorting the order of :meth:`nearest_first` in a thread of its own, for its
        next call: NumPy's sort and passes over arrays let go of the GIL, so on the city
        the sort (0.05-0.07 s of CPU) runs while the solve builds its flow model, before
        the greedy floor asks for it.  The same order as sorted at the call."""
        if self._ahead:
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="staffplan-nearest")
        self._ahead.append(pool.submit(self._nearest_order))
        pool.shutdown(wait=False)  # its thread ends with the sort

    def nearest_first(self) -> IntArray:
        """The pairs by person, each person's nearest post lines first, ties in pair order:
        the order of ``np.lexsort((dist_km, person))`` by one stable sort of a packed key
        (0.1 s instead of 0.4 s on the city's 2.3 million pairs).  The distances come from
        :attr:`Problem.dist_km` (float32, non-negative), whose bit patterns order as
        their values.  The order sorted ahead, if any, is handed over once (not kept)."""
        if self._ahead:
            return self._ahead.pop().result()
        return self._nearest_order()

    def _nearest_order(self) -> IntArray:
        """The sort of :meth:`nearest_first`."""
        key = self.person.astype(np.int64)
        key <<= 32
        key |= self.dist_km.astype(np.float32).view(np.int32)  # in place: one key array
        return np.argsort(key, kind="stable")

    def term(self, name: str) -> IntArray:
        """The pair costs of a person-level term (moves, long_commute, commute, preference)."""
        return {
            "moves": self.moves,
            "long_commute": self.long_commute,
            "commute": self.commute,
            "preference": self.preference,
            "changes": self.changes,
        }[name]


def build_candidates(problem: Problem, reference: IntArray | None = None) -> Candidates:
    """Every (person, post line) pair that the pair-wise hard rules allow, with costs.

    ``reference`` (a base placement) adds the ``changes`` cost of each pair.
    """
    rules = problem.rules
    posts, staff = problem.posts, problem.staff
    capacity = allowed_pairs(problem)  # the pairs of every rule before the pins
    removed = dict(capacity.removed)
    person, post = _unpinned(problem, capacity.person, capacity.post, removed)
    unit = posts.unit_idx.astype(np.int64).take(post)
    # Each cost in an array of its own, the temporaries written in place: every new
    # array of the city's 2.3 million pairs costs as much in page faults as its arithmetic.
    cell = np.multiply(person, problem.num_units)  # the pair's cell of a person × unit matrix
    cell += unit
    dist = problem.dist_km.ravel().take(cell).astype(np.float64)
    preference = _preference_ranks(problem).ravel().take(cell).astype(np.int64)
    moves = np.not_equal(staff.origin_idx.take(person), unit, out=cell, casting="unsafe")
    if rules.bloc_change == "penalize":
        moves += BLOC_CHANGE.crosses(problem, person, post)
    long_commute = np.greater(dist, rules.long_commute_km, out=np.empty_like(cell), casting="unsafe")
    commute = problem.commute_units(dist)

    can_stay = np.full(problem.num_staff, not rules.require_all_placed, dtype=bool)
    for s, mode in zip(problem.pins.staff_idx, problem.pins.mode, strict=True):
        if mode == "fix":
            can_stay[s] = False
    changes = (
        (post != reference[person]).astype(np.int64)
        if reference is not None
        else np.zeros(len(person), dtype=np.int64)
    )
    return Candidates(
        person,
        post,
        unit,
        dist,
        moves,
        long_commute,
        commute,
        preference,
        removed,
        can_stay,
        changes,
        reference,
    )


def _unpinned(
    problem: Problem,
    person: npt.NDArray[np.integer[Any]],
    post: npt.NDArray[np.integer[Any]],
    removed: dict[str, int],
) -> tuple[IntArray, IntArray]:
    """The pairs (by person) that rule ``pins``, the last pair rule after the capacity
    ones, keeps, as int64; its count of removed pairs written into ``removed``.  Only the
    pairs of people named by a pin are judged: no other pair can be removed by it."""
    removed[PINS.id] = 0
    if not PINS.applies(problem):
        return person.astype(np.int64), post.astype(np.int64)
    named = np.unique(problem.pins.staff_idx)
    first, stop = np.searchsorted(person, named, "left"), np.searchsorted(person, named, "right")
    counts = stop - first
    sub = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
    bad = PINS.removes(problem, person[sub], post[sub], problem.posts.unit_idx[post[sub]])
    removed[PINS.id] = int(np.count_nonzero(bad))
    if not bad.any():
        return person.astype(np.int64), post.astype(np.int64)
    keep = np.ones(len(person), dtype=bool)
    keep[sub[bad]] = False
    return person[keep].astype(np.int64), post[keep].astype(np.int64)


def _preference_ranks(problem: Problem) -> npt.NDArray[np.int32]:
    """The preference cost of every person × unit: the unit's rank in the person's list
    (0 for the first; a unit listed twice keeps its first rank), the length of the list
    for a unit not in it, 0 for a person without a list."""
    prefs = problem.staff.preferences
    lengths = np.fromiter(map(len, prefs), dtype=np.int32, count=len(prefs))
    rank = np.repeat(lengths, problem.num_units).reshape(problem.num_staff, problem.num_units)
    rows = np.repeat(np.arange(problem.num_staff), lengths)
    units = np.fromiter((u for p in prefs for u in p), dtype=np.int64, count=len(rows))
    ranks = np.arange(len(rows), dtype=np.int32) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    np.minimum.at(rank, (rows, units), ranks)
    return rank
