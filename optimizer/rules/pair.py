"""The hard rules that judge one (person, post line) pair on its own (layer 2).

Each rule is one object with the rule id of DESIGN §4, a vectorised :meth:`removes`
and the :class:`~optimizer.rules.reason.Reason` a planner reads.  The candidates of the
solver, explain, the fairness audit, the capacity warnings of validate, diagnose and
the unplaced reasons all ask these objects; the independent checker
(:mod:`optimizer.check`) stays a separate, simple re-implementation.

``removes(problem, person, post, unit)`` takes index arrays that broadcast together
(1-D pair lists, or ``person[:, None]`` against ``post[None, :]`` for a matrix) and
returns ``True`` where the rule removes the pair; ``unit`` is the post line's unit.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer.data import BLOCS, CATEGORIES, BoolArray, IntArray, Problem
from optimizer.rules.base import Rule
from optimizer.rules.reason import Reason

#: Index arrays a rule accepts: any integer dtype, or a single index.
Index = npt.NDArray[np.integer[Any]] | int


class PairRule(Rule):
    """A hard rule over single pairs: its id, a one-line summary of what it forbids, and
    the setting that switches it off, if any."""

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """``True`` for each pair the rule removes (arrays broadcast together)."""
        raise NotImplementedError

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """Why the rule keeps ``person`` out of the post lines of ``unit``."""
        return Reason(self.id)

    def applies(self, problem: Problem) -> bool:
        """Whether the scenario's settings let the rule remove anything at all."""
        return True


#: Columns already turned into codes, by the identity of the (immutable) column tuple.
_CODES: dict[tuple[int, tuple[str, ...]], tuple[tuple[str, ...], npt.NDArray[np.int8]]] = {}
_CODES_KEPT = 16


def codes(values: tuple[str, ...], vocabulary: tuple[str, ...]) -> npt.NDArray[np.int8]:
    """Each value's index in ``vocabulary``: a column of the problem as small integers,
    kept for the columns in use (found by identity, so a lookup costs nothing)."""
    key = (id(values), vocabulary)
    hit = _CODES.get(key)
    if hit is not None and hit[0] is values:
        return hit[1]
    index = {c: k for k, c in enumerate(vocabulary)}
    out = np.array([index[v] for v in values], dtype=np.int8)
    while len(_CODES) >= _CODES_KEPT:
        _CODES.pop(next(iter(_CODES)))
    _CODES[key] = (values, out)
    return out


def _zeros(*arrays: Index) -> BoolArray:
    return np.zeros(np.broadcast_shapes(*(np.shape(a) for a in arrays)), dtype=bool)


def at_units(matrix: npt.NDArray[Any], person: Index, unit: Index) -> npt.NDArray[Any]:
    """``matrix[person, unit]`` of a person × unit matrix (index arrays that broadcast).

    For a column of people against a row of units (the people × lines matrices of
    :func:`allowed_pairs`) the people's rows are taken whole, then the units' columns:
    a few times faster than indexing every pair.
    """
    if np.ndim(person) == 2 and np.ndim(unit) == 2 and np.shape(person)[1] == 1 and np.shape(unit)[0] == 1:
        rows = np.asarray(person)[:, 0]
        return np.take(matrix[rows], np.asarray(unit)[0], axis=1)
    return matrix[person, unit]


class Qualification(PairRule):
    """``qualification``: the post's position is in the person's list and its category
    is the person's category."""

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Pairs whose position or category does not match."""
        staff_cat = codes(problem.staff.category, CATEGORIES)
        post_cat = codes(problem.posts.category, CATEGORIES)
        holds = problem.staff_position_mask[person, problem.post_position_idx[post]]
        return ~holds | (staff_cat[person] != post_cat[post])

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """No line of the unit matches the person's positions and category."""
        staff = problem.staff
        return Reason(
            self.id, {"positions": list(staff.positions[person]), "category": staff.category[person]}
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


def qualified_pairs(problem: Problem, people: IntArray | None = None) -> tuple[IntArray, IntArray]:
    """All (person, post) pairs passing rule ``qualification``, by person (generated from
    the keys rather than by testing every pair); only those of ``people`` when given
    (the same pairs in the same order as the whole list filtered, without making it:
    a solve's unplaced people, out of 5.7 million pairs on the city)."""
    post_key, persons, want = qualification_keys(problem)
    if people is not None:
        keep = np.isin(persons, people)
        persons, want = persons[keep], want[keep]
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


def qualified_groups(problem: Problem) -> Iterator[tuple[str, int, IntArray, IntArray]]:
    """Per (category, position index) of the post lines, in that order: its lines and the
    people of that category who hold the position (rule qualification, group by group;
    the keys of :func:`qualification_keys` sorted once)."""
    post_key, persons, want = qualification_keys(problem)
    num_pos = len(problem.position_codes)
    by_line = np.argsort(post_key, kind="stable")
    by_person = np.argsort(want, kind="stable")
    keys = np.unique(post_key)
    line_from, line_to = (np.searchsorted(post_key[by_line], keys, side=s) for s in ("left", "right"))
    from_, to = (np.searchsorted(want[by_person], keys, side=s) for s in ("left", "right"))
    groups = [(CATEGORIES[int(key) // num_pos], int(key) % num_pos, g) for g, key in enumerate(keys.tolist())]
    for cat, k, g in sorted(groups):
        lines = by_line[line_from[g] : line_to[g]]
        people = persons[by_person[from_[g] : to[g]]]
        yield cat, k, lines, people


class BlocChange(PairRule):
    """``bloc_change``: with ``bloc_change = "forbid"``, nobody moves to the other bloc."""

    def applies(self, problem: Problem) -> bool:
        """Only when the scenario forbids bloc changes."""
        return problem.rules.bloc_change == "forbid"

    def crosses(self, problem: Problem, person: Index, post: Index) -> BoolArray:
        """Pairs whose post line is in the other bloc than the person's (forbidden or not)."""
        return codes(problem.staff.bloc, BLOCS)[person] != codes(problem.posts.bloc, BLOCS)[post]

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Bloc-changing pairs when forbidden."""
        if not self.applies(problem):
            return _zeros(person, post)
        return self.crosses(problem, person, post)

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """The matching posts are in the other bloc."""
        return Reason(self.id, {"bloc": problem.staff.bloc[person]})


class Island(PairRule):
    """``island``: an island unit takes only people with ``island_ok``."""

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Pairs into an island unit of a person without ``island_ok``."""
        return self.unit_removes(problem, person, unit)

    def unit_removes(self, problem: Problem, person: Index, unit: Index) -> BoolArray:
        """The same, judged on the unit alone (the rule does not read the post line)."""
        return problem.units.island[unit] & ~problem.staff.island_ok[person]


class CommuteCap(PairRule):
    """``commute_cap``: home to unit within ``max_commute_km`` (great-circle ×
    ``road_factor``), except on island units, which have no cap."""

    def capped(self, problem: Problem, unit: Index) -> BoolArray:
        """Whether a unit is subject to the cap (island units are not)."""
        return ~problem.units.island[unit]

    def cap(self, problem: Problem) -> float:
        """The scenario's cap in km."""
        return float(problem.rules.max_commute_km)

    def beyond(
        self, problem: Problem, dist_km: npt.NDArray[np.floating[Any]], unit: Index, cap: float | None = None
    ) -> BoolArray:
        """Pairs at ``dist_km`` from ``unit`` that break a cap (the scenario's by default)."""
        limit = self.cap(problem) if cap is None else cap
        return self.capped(problem, unit) & (dist_km > limit)

    def cap_setting(self, cap: float) -> dict[str, float]:
        """The ``[rules]`` change that sets the cap to ``cap`` km."""
        return {"max_commute_km": float(cap)}

    def option(self, cap: float) -> str:
        """The ``--set`` option that sets the cap to ``cap`` km."""
        return f"rules.max_commute_km={cap:g}"

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Pairs farther than the cap from a unit that is not an island."""
        return self.unit_removes(problem, person, unit)

    def unit_removes(self, problem: Problem, person: Index, unit: Index) -> BoolArray:
        """The same, judged on the unit alone (the rule does not read the post line)."""
        return self.beyond(problem, at_units(problem.dist_km, person, unit), unit)

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """The distance and the cap."""
        return Reason(self.id, {"km": float(problem.dist_km[person, unit]), "cap": self.cap(problem)})


class NonLocal(PairRule):
    """``non_local``: a non_local post line is never held by a person local to its unit."""

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Pairs of a local person with a non_local line."""
        non_local = problem.posts.non_local[post]
        if not non_local.any():  # most lines: no need to look the people up
            return _zeros(person, post, unit)
        return non_local & at_units(problem.local_mask, person, unit)

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """The non_local positions of the unit the person is qualified for."""
        posts = problem.posts
        lines = np.flatnonzero((posts.unit_idx == unit) & posts.non_local)
        mine = [posts.position[k] for k in lines if posts.position[k] in problem.staff.positions[person]]
        return Reason(self.id, {"position": list(dict.fromkeys(mine))})


class ServiceLeft(PairRule):
    """``service_left``: a leadership post needs ``min_service_months`` before retirement."""

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Leadership pairs of a person too close to retirement."""
        short = problem.months_left < problem.rules.min_service_months
        return problem.posts.leadership[post] & short[person]

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """Months needed and months left."""
        return Reason(
            self.id, {"months": int(problem.months_left[person]), "need": problem.rules.min_service_months}
        )


class PinsRule(PairRule):
    """``pins``: a ``fix`` pin keeps its person to its unit (and position when named); a
    ``forbid`` pin removes its pairs."""

    def applies(self, problem: Problem) -> bool:
        """Only when there are pins."""
        return len(problem.pins) > 0

    def removes(self, problem: Problem, person: Index, post: Index, unit: Index) -> BoolArray:
        """Pairs a pin removes: a forbidden pair, or a pair of a ``fix``-pinned person other
        than the fixed unit (and position).  Each pair of a pinned person is met with
        each pin row of that person at once (no loop over the rows)."""
        shape = np.broadcast_shapes(np.shape(person), np.shape(post), np.shape(unit))
        remove = np.zeros(shape, dtype=bool)
        if not self.applies(problem):
            return remove
        pins = problem.pins
        person_b, post_b, unit_b = (np.broadcast_to(a, shape).ravel() for a in (person, post, unit))
        pinned = np.zeros(problem.num_staff, dtype=bool)
        pinned[pins.staff_idx] = True
        sub = np.flatnonzero(pinned[person_b])  # pairs of pinned people
        # each of those pairs once per pin row of its person (rows grouped by person)
        rows = np.argsort(pins.staff_idx, kind="stable")
        of_person = pins.staff_idx[rows]
        first = np.searchsorted(of_person, person_b[sub], side="left")
        count = np.searchsorted(of_person, person_b[sub], side="right") - first
        pair = np.repeat(np.arange(len(sub)), count)
        k = rows[np.repeat(first - np.cumsum(count) + count, count) + np.arange(len(pair))]
        here = self.here(problem, k, post_b[sub][pair], unit_b[sub][pair])
        gone = np.where(self._fixes(problem)[k], ~here, here)
        flat = remove.ravel()
        flat[sub] = np.bincount(pair, weights=gone, minlength=len(sub)) > 0
        return flat.reshape(shape)

    def row_removes(
        self, problem: Problem, k: int, person: IntArray, post: IntArray, unit: IntArray
    ) -> BoolArray:
        """The pairs (1-D arrays) that pin row ``k`` alone removes."""
        pins = problem.pins
        out: BoolArray = np.zeros(len(person), dtype=np.bool_)
        sel = np.flatnonzero(person == pins.staff_idx[k])
        if len(sel) == 0:
            return out
        here = self.here(problem, k, post[sel], unit[sel])
        out[sel] = ~here if pins.mode[k] == "fix" else here
        return out

    def here(self, problem: Problem, k: Index, post: Index, unit: Index) -> BoolArray:
        """Whether each pair of pin row ``k``'s person is at the pin's place: its unit, and
        its position when the pin names one (arrays broadcast together)."""
        position = self._positions(problem)[k]
        same = (position < 0) | (problem.post_position_idx[post] == position)
        return (np.asarray(unit) == problem.pins.unit_idx[k]) & same

    @staticmethod
    def _positions(problem: Problem) -> IntArray:
        """Per pin row, the index of its position in :attr:`Problem.position_codes`
        (``-1`` when the pin names none; a position no one has never matches)."""
        index = {c: i for i, c in enumerate(problem.position_codes)}
        never = len(problem.position_codes)
        positions = problem.pins.position
        return np.array([-1 if p is None else index.get(p, never) for p in positions], dtype=np.int64)

    @staticmethod
    def _fixes(problem: Problem) -> BoolArray:
        """Per pin row, whether it is a ``fix`` pin."""
        return np.array([m == "fix" for m in problem.pins.mode], dtype=bool)

    def reason(self, problem: Problem, person: int, unit: int) -> Reason:
        """The unit the person is fixed to, or the forbidding pin."""
        pins = problem.pins
        fixed = [
            int(u)
            for s, u, m in zip(pins.staff_idx, pins.unit_idx, pins.mode, strict=True)
            if s == person and m == "fix"
        ]
        if fixed and fixed[0] != unit:
            return Reason("pins_fixed", {"fixed": problem.units.names[fixed[0]]})
        return Reason("pins_forbid", {"unit": problem.units.names[unit]})


QUALIFICATION = Qualification("qualification", "position and category match the post")
BLOC_CHANGE = BlocChange(
    "bloc_change", "no move to the other bloc when forbidden", ("bloc_change", "penalize")
)
ISLAND = Island("island", "island units take island_ok people only")
COMMUTE_CAP = CommuteCap("commute_cap", "home within max_commute_km, islands exempt")
NON_LOCAL = NonLocal("non_local", "non_local posts go to people not local to the unit")
SERVICE_LEFT = ServiceLeft("service_left", "leadership needs min_service_months before retirement")
PINS = PinsRule("pins", "fix pins hold, forbid pins never happen")

#: The rules a validate capacity count applies (qualification is the count's grouping;
#: pins are decisions, not capacity).
CAPACITY_RULES: tuple[PairRule, ...] = (BLOC_CHANGE, ISLAND, COMMUTE_CAP, NON_LOCAL, SERVICE_LEFT)

#: The pair-wise rules in the order the candidates apply them (DESIGN §4): the capacity
#: rules first, so that the candidates are :func:`allowed_pairs` less the pins.
PAIR_RULES: tuple[PairRule, ...] = (QUALIFICATION, *CAPACITY_RULES, PINS)


@dataclass(frozen=True)
class AllowedPairs:
    """The qualified pairs that no capacity rule removes, by person (int32 indices), how
    many pairs each rule removed, qualification first (in :data:`PAIR_RULES` order: a
    pair counts for the first rule that removes it), and how many pairs each post line
    and each person has."""

    person: npt.NDArray[np.integer[Any]]
    post: npt.NDArray[np.integer[Any]]
    removed: dict[str, int]
    per_line: IntArray
    per_person: IntArray


#: The last problems' allowed pairs, by the problem's identity (validate's capacity
#: counts and the solver's candidates of one problem share them).
_ALLOWED: dict[int, tuple[weakref.ref[Problem], AllowedPairs]] = {}
_ALLOWED_KEPT = 2
#: Pairs judged together by :func:`allowed_pairs` (a few MB of temporaries).
PIECE = 1 << 19


def allowed_pairs(problem: Problem) -> AllowedPairs:
    """Every (person, post line) pair that passes qualification and every rule of
    :data:`CAPACITY_RULES`, computed once per problem.

    Each qualification group (:func:`qualified_groups`) is judged as a people × lines
    matrix, in pieces of about :data:`PIECE` pairs whose memory the next piece reuses
    (the rules broadcast over the matrix: no pair list until the rules are done).  The
    kept pairs are then put by person, in :func:`qualified_pairs` order (each person's
    groups in position order, lines in order within), by a counting sort: each piece
    holds a run of pairs per person, which goes where that person's pairs so far end.
    """
    hit = _ALLOWED.get(id(problem))
    if hit is not None and hit[0]() is problem:
        return hit[1]
    removed = {QUALIFICATION.id: problem.num_staff * problem.num_posts}
    removed |= {rule.id: 0 for rule in CAPACITY_RULES}
    rules = [rule for rule in CAPACITY_RULES if rule.applies(problem)]
    # per piece: its people, how many pairs each keeps, and the kept lines (row by row)
    runs: list[tuple[IntArray, IntArray, npt.NDArray[np.int32]]] = []
    per_person = np.zeros(problem.num_staff, dtype=np.int64)
    per_line = np.zeros(problem.num_posts, dtype=np.int64)
    for _, _, lines, group in qualified_groups(problem):
        removed[QUALIFICATION.id] -= len(group) * len(lines)
        unit = problem.posts.unit_idx[lines][None, :]
        step = max(1, PIECE // max(1, len(lines)))
        for at in range(0, len(group), step):
            people = group[at : at + step, None]
            keep = np.ones((len(people), len(lines)), dtype=bool)
            for rule in rules:
                bad = rule.removes(problem, people, lines[None, :], unit) & keep
                removed[rule.id] += int(np.count_nonzero(bad))
                keep &= ~bad
            counts = np.count_nonzero(keep, axis=1)
            per_person[people[:, 0]] += counts  # a person is once in a group
            per_line[lines] += np.count_nonzero(keep, axis=0)  # and a line
            runs.append((people[:, 0], counts, np.broadcast_to(lines.astype(np.int32), keep.shape)[keep]))
    end = np.cumsum(per_person) - per_person  # where each person's pairs so far end
    post = np.empty(int(per_person.sum()), dtype=np.int32)
    for people, counts, kept in runs:
        first = end[people]
        end[people] += counts
        post[np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(len(kept))] = kept
    person = np.repeat(np.arange(problem.num_staff, dtype=np.int32), per_person)
    found = AllowedPairs(person, post, removed, per_line, per_person)
    while len(_ALLOWED) >= _ALLOWED_KEPT:
        _ALLOWED.pop(next(iter(_ALLOWED)))
    _ALLOWED[id(problem)] = (weakref.ref(problem), found)
    return found


def reachable(problem: Problem) -> BoolArray:
    """``reach[i, u]``: person ``i`` could work in unit ``u`` under rules island and
    commute_cap (an island unit takes ``island_ok`` people with no cap; any other unit
    takes people within ``max_commute_km``)."""
    people = np.arange(problem.num_staff)[:, None]
    units = np.arange(problem.num_units)[None, :]
    return ~(ISLAND.unit_removes(problem, people, units) | COMMUTE_CAP.unit_removes(problem, people, units))


def allowed(
    problem: Problem, person: Index, post: Index, rules: tuple[PairRule, ...] = PAIR_RULES
) -> BoolArray:
    """``True`` for each pair that no rule of ``rules`` removes (arrays broadcast)."""
    unit = problem.posts.unit_idx[post]
    ok = np.ones(np.broadcast_shapes(np.shape(person), np.shape(post)), dtype=bool)
    for rule in rules:
        ok &= ~rule.removes(problem, person, post, unit)
    return ok
