"""Candidate (person, post line) pairs: every pair the hard rules allow (layer 4).

Built with numpy only.  Each rule that works pair by pair removes pairs here, and the
number it removed is reported under its rule id, in this order: qualification,
bloc_change (when forbidden), island, commute_cap, non_local, service_left, pins.
No pruning beyond the rules is done, so a bound computed on the candidates is a bound
for the unpruned model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.data import BLOCS, CATEGORIES, IntArray, Problem


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

    def term(self, name: str) -> IntArray:
        """The pair costs of a person-level term (moves, long_commute, commute, preference)."""
        return {
            "moves": self.moves,
            "long_commute": self.long_commute,
            "commute": self.commute,
            "preference": self.preference,
            "changes": self.changes,
        }[name]

    def subset(self, keep: np.ndarray) -> Candidates:
        """The candidates where ``keep`` is true (same removal counts)."""
        return Candidates(
            self.person[keep],
            self.post[keep],
            self.unit[keep],
            self.dist_km[keep],
            self.moves[keep],
            self.long_commute[keep],
            self.commute[keep],
            self.preference[keep],
            dict(self.removed),
            self.can_stay_unplaced,
            self.changes[keep],
            self.reference,
        )


def qualification_keys(problem: Problem) -> tuple[IntArray, IntArray, IntArray]:
    """The keys rule ``qualification`` matches on: (category, position) of every post
    line, and for every (person, position the person may hold) the person and the key
    the person looks for."""
    num_pos = len(problem.position_codes)
    cat_idx = {c: i for i, c in enumerate(CATEGORIES)}
    post_key = np.array([cat_idx[c] for c in problem.posts.category], dtype=np.int64) * num_pos
    post_key += problem.post_position_idx
    persons, positions = np.nonzero(problem.staff_position_mask)
    staff_cat = np.array([cat_idx[c] for c in problem.staff.category], dtype=np.int64)
    return post_key, persons.astype(np.int64), staff_cat[persons] * num_pos + positions


def qualified_pairs(problem: Problem) -> tuple[IntArray, IntArray]:
    """All (person, post) pairs passing rule ``qualification``: the post's position is in
    the person's list and the post's category is the person's category."""
    post_key, persons, want = qualification_keys(problem)
    order = np.argsort(post_key, kind="stable")
    sorted_key = post_key[order]
    start = np.searchsorted(sorted_key, want, side="left")
    stop = np.searchsorted(sorted_key, want, side="right")
    counts = stop - start
    total = int(counts.sum())
    person = np.repeat(persons, counts)
    # Concatenate the ranges [start, stop) without a Python loop.
    offsets = np.repeat(start - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    post = order[np.arange(total) + offsets]
    return person, post.astype(np.int64)


def _pin_masks(problem: Problem, person: IntArray, post: IntArray, unit: IntArray) -> np.ndarray:
    """True for pairs a pin removes: a forbidden pair, or any pair of a ``fix``-pinned
    person other than the fixed unit (and position when the pin names one)."""
    pins = problem.pins
    remove = np.zeros(len(person), dtype=bool)
    if len(pins) == 0:
        return remove
    positions = np.array(problem.posts.position, dtype=object)
    fixed_people: dict[int, list[tuple[int, str | None]]] = {}
    for s, u, pos, mode in zip(pins.staff_idx, pins.unit_idx, pins.position, pins.mode, strict=True):
        if mode == "fix":
            fixed_people.setdefault(int(s), []).append((int(u), pos))
    forbid = [
        (int(s), int(u), pos)
        for s, u, pos, mode in zip(pins.staff_idx, pins.unit_idx, pins.position, pins.mode, strict=True)
        if mode == "forbid"
    ]
    if fixed_people:
        fp = np.fromiter(fixed_people, dtype=np.int64)
        sel = np.flatnonzero(np.isin(person, fp))
        for k in sel:  # a pair must match every fix pin of its person
            for u, pos in fixed_people[int(person[k])]:
                if unit[k] != u or (pos is not None and positions[post[k]] != pos):
                    remove[k] = True
    if forbid:
        fb = np.array([f[0] for f in forbid], dtype=np.int64)
        sel = np.flatnonzero(np.isin(person, fb))
        by_person: dict[int, list[tuple[int, str | None]]] = {}
        for s, u, pos in forbid:
            by_person.setdefault(s, []).append((u, pos))
        for k in sel:
            for u, pos in by_person[int(person[k])]:
                if unit[k] == u and (pos is None or positions[post[k]] == pos):
                    remove[k] = True
    return remove


def build_candidates(problem: Problem, reference: IntArray | None = None) -> Candidates:
    """Every (person, post line) pair that the pair-wise hard rules allow, with costs.

    ``reference`` (a base placement) adds the ``changes`` cost of each pair.
    """
    rules = problem.rules
    posts, staff = problem.posts, problem.staff
    person, post = qualified_pairs(problem)
    removed = {"qualification": problem.num_staff * problem.num_posts - len(person)}
    unit = posts.unit_idx[post].astype(np.int64)

    keep = np.ones(len(person), dtype=bool)

    def drop(rule: str, bad: np.ndarray) -> None:
        """Count the pairs ``rule`` removes among those still kept, and remove them."""
        bad &= keep
        removed[rule] = int(bad.sum())
        keep[bad] = False

    bloc_code = {b: k for k, b in enumerate(BLOCS)}
    staff_bloc = np.array([bloc_code[b] for b in staff.bloc], dtype=np.int8)
    post_bloc = np.array([bloc_code[b] for b in posts.bloc], dtype=np.int8)
    changes_bloc = staff_bloc[person] != post_bloc[post]
    drop("bloc_change", changes_bloc if rules.bloc_change == "forbid" else np.zeros(len(person), bool))
    island_unit = problem.units.island[unit]
    drop("island", island_unit & ~staff.island_ok[person])
    dist32 = problem.dist_km[person, unit]
    drop("commute_cap", ~island_unit & (dist32 > rules.max_commute_km))
    # Compact once: the commute cap removes most pairs, the rules below are dearer.
    person, post, unit = person[keep], post[keep], unit[keep]
    changes_bloc, dist32 = changes_bloc[keep], dist32[keep]
    keep = keep[keep]
    drop("non_local", posts.non_local[post] & problem.local_mask[person, unit])
    drop(
        "service_left",
        posts.leadership[post] & (problem.months_left[person] < rules.min_service_months),
    )
    drop("pins", _pin_masks(problem, person, post, unit))
    person, post, unit = person[keep], post[keep], unit[keep]
    changes_bloc = changes_bloc[keep]

    dist = dist32[keep].astype(np.float64)
    moves = (staff.origin_idx[person] != unit).astype(np.int64)
    if rules.bloc_change == "penalize":
        moves += changes_bloc.astype(np.int64)
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
