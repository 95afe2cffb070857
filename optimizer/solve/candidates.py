"""Candidate (person, post line) pairs: every pair the hard rules allow (layer 4).

Built with numpy only.  Each rule of :data:`optimizer.rules.pair.PAIR_RULES` that works
pair by pair removes pairs here, and the number it removed is reported under its rule
id, in the registry's order: qualification, bloc_change (when forbidden), island,
commute_cap, non_local, service_left, pins.
No pruning beyond the rules is done, so a bound computed on the candidates is a bound
for the unpruned model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.data import IntArray, Problem
from optimizer.rules.pair import (
    BLOC_CHANGE,
    CAPACITY_RULES,
    PAIR_RULES,
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

    def __len__(self) -> int:
        return len(self.person)

    def nearest_first(self) -> IntArray:
        """The pairs by person, each person's nearest post lines first, ties in pair order:
        the order of ``np.lexsort((dist_km, person))`` by one stable sort of a packed key
        (0.1 s instead of 0.4 s on the city's 2.3 million pairs).  The distances come from
        :attr:`Problem.dist_km` (float32, non-negative), whose bit patterns order as
        their values."""
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
    pair_person, pair_post = capacity.person, capacity.post
    keep = np.ones(len(pair_person), dtype=bool)
    for rule in PAIR_RULES[1 + len(CAPACITY_RULES) :]:
        if not rule.applies(problem):
            removed[rule.id] = 0
            continue
        bad = rule.removes(problem, pair_person, pair_post, posts.unit_idx[pair_post])
        removed[rule.id] = int(np.count_nonzero(bad & keep))
        keep &= ~bad
    person, post = pair_person[keep].astype(np.int64), pair_post[keep].astype(np.int64)
    unit = posts.unit_idx[post].astype(np.int64)

    dist = problem.dist_km[person, unit].astype(np.float64)
    moves = (staff.origin_idx[person] != unit).astype(np.int64)
    if rules.bloc_change == "penalize":
        moves += BLOC_CHANGE.crosses(problem, person, post).astype(np.int64)
    long_commute = (dist > rules.long_commute_km).astype(np.int64)
    commute = problem.commute_units(dist)
    preference = np.zeros(len(person), dtype=np.int64)
    has_pref = np.array([len(p) > 0 for p in staff.preferences], dtype=bool)
    if has_pref.any():
        # rank table person × unit, only for people with a list
        idx = np.flatnonzero(has_pref)
        rank = np.zeros((len(idx), problem.num_units), dtype=np.int64)
        for r, i in enumerate(idx):
            prefs = staff.preferences[i]
            rank[r, :] = len(prefs)
            # reversed, so that a unit listed twice keeps its first (best) rank
            rank[r, list(prefs)[::-1]] = np.arange(len(prefs))[::-1]
        row_of = np.full(problem.num_staff, -1, dtype=np.int64)
        row_of[idx] = np.arange(len(idx))
        sel = has_pref[person]
        preference[sel] = rank[row_of[person[sel]], unit[sel]]

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
