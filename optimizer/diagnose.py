"""Why a scenario has no placement: a minimal set of conflicting rules, and fixes (layer 8).

The hard constraints that can make a scenario infeasible are split into **groups**, each
of which a planner can relax on its own:

``post_min``
    one post line's minimum (when ``min_is_hard``);
``pins``
    one pin (a ``fix`` or a ``forbid``);
``one_post``
    one person who must be placed (``require_all_placed``);
``bloc_change``
    nobody of one bloc may move to the other (``bloc_change = "forbid"``);
``relatives``
    one pair of relatives who may not share a unit.

Everything else (one post per person, post maxima, qualification, commute cap, island,
non-local, service left) is the background that always holds.  Whether a set of groups
can hold together is a flow feasibility question: people → post lines with lower bounds
(the minima, the people who must be placed), decided by one maximum flow on the people
and post lines the groups involve (a person nobody forces may stay unplaced, so the rest
of the roster cannot matter).  The relatives rule is outside the network: sets that
include relatives groups are decided by a small MIP (HiGHS) on the same people.

A **conflict** is found in three steps: the violations of one maximum flow over every
group point at a region (the post lines and people linked to a violation by alternating
paths: a Hall violator); the groups of that region are checked to conflict; QuickXplain
(Junker 2004) shrinks them to an irreducible set, in which dropping any member makes the
rest feasible.  Each conflict is said in plain words and followed by relaxations
(lower a minimum, raise a maximum, release a pin, raise the commute cap, switch a rule),
each checked by the same feasibility model on the conflict and on the whole scenario,
and ranked: those that make the whole scenario feasible first, then the smallest change.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from optimizer.data import BLOCS, IntArray, Pins, Problem
from optimizer.i18n import t
from optimizer.labels import label, number
from optimizer.rules import RULES, relatives
from optimizer.rules.pair import (
    BLOC_CHANGE,
    COMMUTE_CAP,
    ISLAND,
    NON_LOCAL,
    PINS,
    SERVICE_LEFT,
    allowed,
    qualified_pairs,
)

log = logging.getLogger(__name__)

#: The commute-cap relaxation searches caps up to this factor of the scenario's cap.
COMMUTE_SEARCH_FACTOR = 1.5
#: A MIP sub-instance with more candidate pairs than this is not attempted.
MIP_MAX_PAIRS = 200_000
#: Seconds the relatives MIPs of one diagnosis may take together; a MIP not decided
#: within what is left counts as too large (stopped for sure: ``solve.killable``).
MIP_BUDGET_S = 60.0
#: How many members of one kind a conflict's description names before "and N more".
NAMES_SHOWN = 8
#: Relaxation kinds, smallest change first (the ranking's second key).
RELAXATION_KINDS = ("lower_min", "raise_max", "release_pin", "commute_cap", "rule")

#: Rounds of the relatives repair that looks for a witness when the MIP is too large.
REPAIR_ROUNDS = 10
#: Relaxations of one kind tried per conflict (lower a minimum, release a pin).
RELAXATIONS_PER_KIND = 3

_BIG = 2**30

#: The pair-wise rules that always hold (the background); qualification is the pairs'
#: generation, the commute cap, pins and bloc_change are applied per check.
BACKGROUND_RULES = (ISLAND, NON_LOCAL, SERVICE_LEFT)


def _ranges(order: IntArray, starts: IntArray, keys: IntArray) -> IntArray:
    """``order[starts[k]:starts[k + 1]]`` for every ``k`` in ``keys``, concatenated."""
    keys = np.asarray(keys, dtype=np.int64)
    lo, hi = starts[keys], starts[keys + 1]
    counts = hi - lo
    offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return order[np.arange(int(counts.sum())) + offsets]


@dataclass(frozen=True)
class Group:
    """One relaxable hard constraint: its rule id and what it is about (a post line, a
    pin row, a person, a bloc index or a relations row)."""

    rule: str
    index: int


@dataclass(frozen=True)
class Relaxation:
    """A change that resolves a conflict, checked by the feasibility model.

    What it changes: ``pin`` (a pin row released), ``mins`` / ``maxes`` (post line →
    new minimum / maximum), ``cap`` (a new commute cap) or ``switch`` (the rule whose
    groups are all dropped: ``post_min`` → ``min_is_hard = false``, ``one_post`` →
    ``require_all_placed = false``, ``bloc_change`` → ``"penalize"``, ``relatives`` →
    ``relatives_scope = "off"``); :func:`apply_relaxation` makes the relaxed problem.
    ``setting`` is the ``--set`` option that applies it when it is a scenario key;
    ``amount`` its size (the ranking's last key).
    """

    kind: str
    text: str
    amount: float
    fixes_conflict: bool = False
    fixes_all: bool = False
    setting: str = ""
    pin: int = -1
    mins: tuple[tuple[int, int], ...] = ()
    maxes: tuple[tuple[int, int], ...] = ()
    cap: float | None = None
    switch: str = ""


@dataclass(frozen=True)
class Conflict:
    """An irreducible set of groups that cannot hold together.

    ``required`` counts what the groups demand (minimum places plus people who must be
    placed); ``achievable`` how much of it can be met together.  ``assuming`` lists the
    fixes of earlier conflicts under which this one appears (empty for a conflict of the
    scenario as it is): the conflict is one of the scenario with them applied.
    """

    groups: tuple[Group, ...]
    required: int
    achievable: int
    summary: str
    members: tuple[str, ...]
    relaxations: tuple[Relaxation, ...]
    assuming: tuple[Relaxation, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """The outcome: feasible, or the conflicts found (``complete`` is false when a
    conflict could not be isolated, e.g. a relatives conflict too large for the MIP)."""

    feasible: bool
    conflicts: tuple[Conflict, ...]
    complete: bool = True
    message: str = ""
    time_s: float = 0.0


@dataclass
class _Outcome:
    """One feasibility check: the shortfall of demands, and the placement found."""

    deficiency: int
    required: int
    person: IntArray  # people of the sub-instance
    line: IntArray  # their post line, -1 unplaced
    forced: IntArray
    min_lines: IntArray
    fill: IntArray  # per post line (whole problem)


class FeasibilityModel:
    """The hard rules of a problem, split into groups, with a feasibility check per subset.

    Parameters
    ----------
    problem
        The scenario's problem (it need not be feasible).
    deadline
        ``time.monotonic()`` after which no relatives MIP is run or left running
        (default: :data:`MIP_BUDGET_S` from now).
    """

    def __init__(self, problem: Problem, deadline: float | None = None) -> None:
        self.problem = problem
        self.deadline = time.monotonic() + MIP_BUDGET_S if deadline is None else deadline
        self.cap = COMMUTE_CAP.cap(problem)
        # The background rules always hold; the commute cap is applied per check (up to
        # the widest cap a relaxation may try), pins and bloc_change per active group.
        person, post = qualified_pairs(problem)
        unit = problem.posts.unit_idx[post].astype(np.int64)
        keep = allowed(problem, person, post, BACKGROUND_RULES)
        dist = problem.dist_km[person, unit]
        keep &= ~COMMUTE_CAP.beyond(problem, dist, unit, self.cap * COMMUTE_SEARCH_FACTOR)
        self.person, self.post, self.unit = person[keep], post[keep], unit[keep]
        self.dist = dist[keep].astype(np.float64)
        self.far = COMMUTE_CAP.capped(problem, self.unit)  # subject to the commute cap
        staff_bloc = np.array(problem.staff.bloc, dtype=object)
        self.pair_bloc = np.array([BLOCS.index(b) for b in staff_bloc[self.person]], dtype=np.int64)
        self.mismatch = BLOC_CHANGE.crosses(problem, self.person, self.post)
        self.starts = np.searchsorted(self.person, np.arange(problem.num_staff + 1))
        self.post_order = np.argsort(self.post, kind="stable")
        self.post_starts = np.searchsorted(self.post[self.post_order], np.arange(problem.num_posts + 1))
        pins = problem.pins
        self.pin_removes: list[IntArray] = []
        for k, s in enumerate(pins.staff_idx.tolist()):
            idx = np.arange(self.starts[s], self.starts[s + 1])
            gone = PINS.row_removes(problem, k, self.person[idx], self.post[idx], self.unit[idx])
            self.pin_removes.append(idx[gone])
        self.pin_fix = np.array([m == "fix" for m in pins.mode], dtype=bool)
        self.groups = self._all_groups()

    def _all_groups(self) -> list[Group]:
        p, rules = self.problem, self.problem.rules
        groups: list[Group] = []
        if rules.min_is_hard:
            groups += [Group("post_min", int(k)) for k in np.flatnonzero(p.posts.min > 0)]
        groups += [Group("pins", k) for k in range(len(p.pins))]
        if rules.require_all_placed:
            groups += [Group("one_post", i) for i in range(p.num_staff)]
        if rules.bloc_change == "forbid":
            present = set(p.staff.bloc)
            groups += [Group("bloc_change", k) for k, b in enumerate(BLOCS) if b in present]
        if relatives.active(p):
            groups += [Group("relatives", k) for k in range(len(p.relations))]
        return groups

    # ------------------------------------------------------------------ checks

    def pair_mask(self, active: Sequence[Group], cap: float | None = None) -> np.ndarray:
        """The candidate pairs allowed under the active groups and commute cap."""
        return self._allowed(np.arange(len(self.person)), active, cap)

    def _allowed(self, idx: IntArray, active: Sequence[Group], cap: float | None) -> np.ndarray:
        """Which of the pairs ``idx`` the active groups and the commute cap allow."""
        ok = ~COMMUTE_CAP.beyond(
            self.problem, self.dist[idx], self.unit[idx], self.cap if cap is None else cap
        )
        pins = [g.index for g in active if g.rule == "pins"]
        if pins:
            ok &= ~np.isin(idx, np.concatenate([self.pin_removes[k] for k in pins]))
        blocs = [g.index for g in active if g.rule == "bloc_change"]
        if blocs:
            ok &= ~(self.mismatch[idx] & np.isin(self.pair_bloc[idx], blocs))
        return ok

    def _pairs_of(self, lines: IntArray, people: IntArray) -> IntArray:
        """Indices of the pairs into ``lines`` or of ``people``."""
        into = _ranges(self.post_order, self.post_starts, lines)
        of = _ranges(np.arange(len(self.person)), self.starts, people)
        return np.union1d(into, of)

    def forced_people(self, active: Sequence[Group]) -> IntArray:
        """People who must be placed under the active groups."""
        forced = [g.index for g in active if g.rule == "one_post"]
        pins = self.problem.pins
        forced += [int(pins.staff_idx[g.index]) for g in active if g.rule == "pins" and self.pin_fix[g.index]]
        return np.unique(np.array(forced, dtype=np.int64))

    def check(
        self,
        active: Sequence[Group],
        *,
        cap: float | None = None,
        mins: dict[int, int] | None = None,
        maxes: dict[int, int] | None = None,
        banned: IntArray | None = None,
    ) -> _Outcome:
        """Check the network groups of ``active`` (relatives aside) with one maximum flow.

        ``cap``, ``mins`` and ``maxes`` override the commute cap and some post lines'
        minimum and maximum; ``banned`` pairs are left out.  The flow runs on the
        sub-instance the demands reach (:meth:`_demanded_pairs`): the forced people and
        the post lines with a minimum.
        """
        lo, hi, min_lines = self._line_bounds(active, mins, maxes)
        forced = self.forced_people(active)
        pairs = self._demanded_pairs(active, lo, forced, cap, banned)
        people = np.union1d(forced, self.person[pairs])
        lines = np.unique(np.concatenate([self.post[pairs], min_lines]))
        num_posts = self.problem.num_posts
        required = int(len(forced) + lo.sum())
        if required == 0:
            empty = np.zeros(num_posts, np.int64)
            return _Outcome(0, 0, people, np.full(len(people), -1), forced, min_lines, empty)
        flow, flow_value = self._max_flow(pairs, people, lines, np.isin(people, forced), lo, hi)
        used = pairs[flow > 0]
        line_of = np.full(len(people), -1, dtype=np.int64)
        line_of[np.searchsorted(people, self.person[used])] = self.post[used]
        fill = np.bincount(self.post[used], minlength=num_posts)
        return _Outcome(required - flow_value, required, people, line_of, forced, min_lines, fill)

    def _line_bounds(
        self, active: Sequence[Group], mins: dict[int, int] | None, maxes: dict[int, int] | None
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Each post line's lower and upper bound under the active minimums and the
        overrides (a minimum override only lowers an active minimum), and the post lines
        whose minimum is active."""
        posts = self.problem.posts
        lo = np.zeros(self.problem.num_posts, dtype=np.int64)
        min_lines = np.array(sorted({g.index for g in active if g.rule == "post_min"}), dtype=np.int64)
        lo[min_lines] = posts.min[min_lines]
        hi = posts.max.copy()
        active_mins = set(min_lines.tolist())
        for k, v in (mins or {}).items():
            if k in active_mins:
                lo[k] = min(lo[k], v)
        for k, v in (maxes or {}).items():
            hi[k] = v
        return lo, hi, min_lines

    def _demanded_pairs(
        self,
        active: Sequence[Group],
        lo: IntArray,
        forced: IntArray,
        cap: float | None,
        banned: IntArray | None,
    ) -> IntArray:
        """The allowed pairs into a post line with a minimum or of a forced person (the
        only pairs a demand can use), less the ``banned`` ones."""
        idx = self._pairs_of(np.flatnonzero(lo > 0), forced)
        ok = self._allowed(idx, active, cap)
        if banned is not None:
            ok &= ~np.isin(idx, banned)
        return idx[ok]

    def _max_flow(
        self,
        pairs: IntArray,
        people: IntArray,
        lines: IntArray,
        forced: np.ndarray,
        lo: IntArray,
        hi: IntArray,
    ) -> tuple[IntArray, int]:
        """The maximum flow that meets the demands (a forced person placed, a post line
        filled to its minimum) through ``pairs``: the flow on each pair, and its value.

        Lower bounds by the usual reduction: a super source ``ss`` feeds one unit to each
        forced person and the sum of the minimums to the sink ``tt``; a super sink ``st``
        takes each post line's minimum, and from the people's source ``s`` one unit per
        forced person; ``tt`` returns to ``s``.  Every demand is met exactly when the
        flow from ``ss`` to ``st`` saturates; its value is the demands met.
        """
        n_p, n_l = len(people), len(lines)
        ss, st, s, tt = 0, 1, 2, 3
        p_node = 4 + np.searchsorted(people, self.person[pairs])
        l_node = 4 + n_p + np.searchsorted(lines, self.post[pairs])
        l_nodes = 4 + n_p + np.arange(n_l)
        free, bound = 4 + np.flatnonzero(~forced), 4 + np.flatnonzero(forced)
        low = lo[lines]
        arcs = [  # (tails, heads, capacities)
            (np.full(len(free), s), free, np.ones(len(free))),
            (np.full(len(bound), ss), bound, np.ones(len(bound))),
            ([s], [st], [len(bound)]),
            (p_node, l_node, np.ones(len(pairs))),
            (l_nodes, np.full(n_l, tt), np.maximum(hi[lines] - low, 0)),
            (l_nodes, np.full(n_l, st), low),
            ([ss], [tt], [int(low.sum())]),
            ([tt], [s], [_BIG]),
        ]
        rows, cols, caps = (np.concatenate([np.asarray(a[k]) for a in arcs]) for k in range(3))
        caps = caps.astype(np.int32)
        size = 4 + n_p + n_l
        keep = caps > 0
        graph = sp.csr_matrix((caps[keep], (rows[keep], cols[keep])), shape=(size, size))
        result = maximum_flow(graph, ss, st)
        picked = result.flow[p_node, l_node]
        flow = np.asarray(picked.todense() if sp.issparse(picked) else picked).ravel()
        return flow, int(result.flow_value)

    def feasible(
        self,
        active: Sequence[Group],
        *,
        cap: float | None = None,
        mins: dict[int, int] | None = None,
        maxes: dict[int, int] | None = None,
    ) -> bool:
        """Whether the groups can all hold (relatives groups by MIP, see :meth:`mip`),
        with the overrides of :meth:`check`."""
        out = self.check(active, cap=cap, mins=mins, maxes=maxes)
        if out.deficiency > 0:
            return False
        relatives = [g.index for g in active if g.rule == "relatives"]
        if not relatives or not self._relatives_conflicts(out, relatives):
            return True
        verdict = self.mip(active, cap=cap, mins=mins, maxes=maxes)
        if verdict is not None:
            return verdict
        if self._repaired(active, out, relatives, cap, mins, maxes):
            return True
        raise _TooLarge

    def _repaired(
        self,
        active: Sequence[Group],
        out: _Outcome,
        relatives: list[int],
        cap: float | None,
        mins: dict[int, int] | None,
        maxes: dict[int, int] | None,
    ) -> bool:
        """Look for a witness when the MIP is too large: close the shared unit to one
        relative of each conflicting pair and check again, a few rounds.  True when a
        placement without conflict is found (False means: not found, not infeasible)."""
        banned: list[IntArray] = []
        forced = set(self.forced_people(active).tolist())
        for _ in range(REPAIR_ROUNDS):
            conflicts = self._relatives_conflicts(out, relatives)
            if not conflicts:
                return True
            for a, b, unit in conflicts:
                who = a if b in forced and a not in forced else b
                k = np.arange(self.starts[who], self.starts[who + 1])
                banned.append(k[self.unit[k] == unit])
            out = self.check(active, cap=cap, mins=mins, maxes=maxes, banned=np.concatenate(banned))
            if out.deficiency > 0:
                return False
        return False

    def _relatives_conflicts(self, out: _Outcome, rows: list[int]) -> list[tuple[int, int, int]]:
        """The active relatives pairs the flow's placement breaks: ``(a, b, unit)``."""
        x = np.full(self.problem.num_staff, -1, dtype=np.int64)
        x[out.person] = out.line
        return relatives.conflicts(self.problem, x, rows)

    def mip(
        self,
        active: Sequence[Group],
        *,
        cap: float | None = None,
        mins: dict[int, int] | None = None,
        maxes: dict[int, int] | None = None,
    ) -> bool | None:
        """Feasibility of every active group, relatives included, by a HiGHS MIP on the
        people the groups involve (and the relatives of active pairs); ``None`` when that
        sub-instance exceeds :data:`MIP_MAX_PAIRS` pairs or HiGHS has not decided it
        by the model's deadline."""
        from optimizer.solve.killable import ColumnMatrix, MipJob, solve_mip

        p = self.problem
        posts = p.posts
        lo = np.zeros(p.num_posts, dtype=np.int64)
        min_lines = [g.index for g in active if g.rule == "post_min"]
        lo[min_lines] = posts.min[min_lines]
        for k, v in (mins or {}).items():
            if lo[k] > 0:
                lo[k] = min(lo[k], v)
        hi = posts.max.copy()
        for k, v in (maxes or {}).items():
            hi[k] = v
        ok = self.pair_mask(active, cap)
        forced = self.forced_people(active)
        is_forced = np.zeros(p.num_staff, dtype=bool)
        is_forced[forced] = True
        pairs = np.flatnonzero(ok & ((lo[self.post] > 0) | is_forced[self.person]))
        if len(pairs) > MIP_MAX_PAIRS:
            return None
        num = len(pairs)
        rows: list[tuple[IntArray, float, float]] = []
        for i in np.unique(self.person[pairs]):
            cols = np.flatnonzero(self.person[pairs] == i)
            rows.append((cols, 1.0 if is_forced[i] else 0.0, 1.0))
        for i in forced:
            if not (self.person[pairs] == i).any():
                return False
        for q in np.unique(self.post[pairs]):
            cols = np.flatnonzero(self.post[pairs] == q)
            rows.append((cols, float(lo[q]), float(hi[q])))
        for q in np.flatnonzero(lo > 0):
            if not (self.post[pairs] == q).any():
                return False
        kin = [g.index for g in active if g.rule == "relatives"]
        if kin:
            sub = (self.person[pairs], self.post[pairs], self.unit[pairs])
            rows += [(cols, 0.0, 1.0) for cols in relatives.rows(p, *sub, relation_rows=kin)]
        if num == 0:  # no forced person and no minimum left to meet
            return True
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        r_idx = (
            np.concatenate([np.full(len(r[0]), k) for k, r in enumerate(rows)]) if rows else np.zeros(0, int)
        )
        c_idx = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, int)
        matrix = sp.csc_matrix((np.ones(len(r_idx)), (r_idx, c_idx)), shape=(len(rows), num))
        row_lower = np.array([r[1] for r in rows])
        row_upper = np.array([r[2] for r in rows])
        job = MipJob(
            ColumnMatrix.of(matrix),
            np.ones(num),
            row_lower,
            row_upper,
            np.ones(num, dtype=bool),
            (np.zeros(num),),
        )
        last = solve_mip(job, left).last
        if last is not None and last.status == "infeasible":
            return False
        return True if last is not None and last.x is not None else None

    # ------------------------------------------------------------------ conflicts

    def region(self, active: Sequence[Group], out: _Outcome) -> list[Group]:
        """The groups around one violation of ``out``: post lines and people linked to it
        by alternating paths, the groups on them, and the pins and bloc rules that keep
        other people out of those lines."""
        p = self.problem
        x = np.full(p.num_staff, -1, dtype=np.int64)
        x[out.person] = out.line
        ok = self.pair_mask(active)
        lo = np.zeros(p.num_posts, dtype=np.int64)
        lo[out.min_lines] = p.posts.min[out.min_lines]
        short = out.min_lines[out.fill[out.min_lines] < lo[out.min_lines]]
        unplaced = out.forced[x[out.forced] < 0]
        allowed = np.flatnonzero(ok)
        a_person, a_post = self.person[allowed], self.post[allowed]
        lines: set[int] = set()
        people: set[int] = set()
        if len(short):  # a short line: who could take it, the lines they hold, and so on
            lines.add(int(short[0]))
            while True:
                size = len(lines) + len(people)
                line_arr = np.fromiter(lines, dtype=np.int64, count=len(lines))
                people.update(a_person[np.isin(a_post, line_arr)].tolist())
                held = x[np.fromiter(people, dtype=np.int64, count=len(people))]
                lines.update(held[held >= 0].tolist())
                if len(lines) + len(people) == size:
                    break
        else:  # a person who must be placed: the lines they could take, their holders, …
            people.add(int(unplaced[0]))
            while True:
                size = len(lines) + len(people)
                pa = np.fromiter(people, dtype=np.int64, count=len(people))
                lines.update(a_post[np.isin(a_person, pa)].tolist())
                line_arr = np.fromiter(lines, dtype=np.int64, count=len(lines))
                people.update(np.flatnonzero(np.isin(x, line_arr)).tolist())
                if len(lines) + len(people) == size:
                    break
        line_arr = np.fromiter(lines, dtype=np.int64, count=len(lines))
        pa = np.fromiter(people, dtype=np.int64, count=len(people))
        chosen: list[Group] = []
        pins = p.pins
        for g in active:
            if (g.rule == "post_min" and g.index in lines) or (g.rule == "one_post" and g.index in people):
                chosen.append(g)
            elif g.rule == "pins":
                rem = self.pin_removes[g.index]
                if int(pins.staff_idx[g.index]) in people or np.isin(self.post[rem], line_arr).any():
                    chosen.append(g)
            elif g.rule == "bloc_change":
                into = self.mismatch & (self.pair_bloc == g.index) & np.isin(self.post, line_arr)
                if into.any() or (self.pair_bloc[np.isin(self.person, pa)] == g.index).any():
                    chosen.append(g)
            elif g.rule == "relatives":
                a, b = int(p.relations.a_idx[g.index]), int(p.relations.b_idx[g.index])
                if a in people and b in people:
                    chosen.append(g)
        return chosen

    def minimal_conflict(self, candidates: list[Group]) -> list[Group]:
        """An irreducible infeasible subset of ``candidates`` (which must be infeasible),
        by QuickXplain."""

        def qx(base: list[Group], delta: list[Group], cands: list[Group]) -> list[Group]:
            if delta and not self.feasible(base):
                return []
            if len(cands) == 1:
                return cands
            half = len(cands) // 2
            c1, c2 = cands[:half], cands[half:]
            d2 = qx(base + c1, c1, c2)
            d1 = qx(base + d2, d2, c1)
            return d1 + d2

        return qx([], [], candidates)


class _TooLarge(Exception):
    """A relatives check needed a MIP larger than :data:`MIP_MAX_PAIRS` pairs, or longer
    than the diagnosis's :data:`MIP_BUDGET_S` seconds."""


# --------------------------------------------------------------------------- entry point


def diagnose(problem: Problem, *, max_conflicts: int = 3, relaxations: bool = True) -> Diagnosis:
    """Find up to ``max_conflicts`` minimal conflicts and their relaxations.

    Disjoint conflicts are found first (each after dropping the previous ones).  When
    the rest then holds, and each conflict has a fix (a lower minimum, a raised maximum or
    commute cap) that resolves it but leaves the scenario without a placement, those
    fixes are assumed and the search goes on in the same run: the conflicts found so are
    marked with the fixes they assume (:attr:`Conflict.assuming`), so that a planner
    sees at once what applying them would run into, instead of one conflict per re-run.

    Parameters
    ----------
    problem
        The scenario's problem.
    max_conflicts
        Stop after this many conflicts.
    relaxations
        Compute and check the relaxations of each conflict (needed to go on past the
        disjoint ones).

    Returns
    -------
    Diagnosis
        ``feasible`` when every group holds together (there is nothing to diagnose).
    """
    t0 = time.perf_counter()
    deadline = time.monotonic() + MIP_BUDGET_S
    conflicts: list[Conflict] = []
    current = problem
    assuming: tuple[Relaxation, ...] = ()
    try:
        while len(conflicts) < max_conflicts:
            model = FeasibilityModel(current, deadline)
            found = _disjoint_conflicts(model, max_conflicts - len(conflicts), relaxations)
            if not found:  # only on the first round: later ones start infeasible
                return Diagnosis(True, (), time_s=time.perf_counter() - t0)
            conflicts += [dataclasses.replace(c, assuming=assuming) for c in found]
            fixes = [_partial_fix(c) for c in found]
            chosen = [f for f in fixes if f is not None]
            if len(chosen) < len(fixes):
                break
            for f in chosen:
                current = apply_relaxation(current, f)
            relaxed = FeasibilityModel(current, deadline)
            if relaxed.feasible(relaxed.groups):
                break
            assuming = (*assuming, *chosen)
    except _TooLarge:
        return Diagnosis(
            False,
            tuple(conflicts),
            complete=False,
            message=t("diagnose.too_large"),
            time_s=time.perf_counter() - t0,
        )
    return Diagnosis(False, tuple(conflicts), time_s=time.perf_counter() - t0)


#: Relaxation kinds a diagnosis may assume to look past a conflict (they keep every
#: group's index, unlike a released pin, and keep the rule, unlike a switch).
ASSUMABLE = ("lower_min", "raise_max", "commute_cap")


def _partial_fix(conflict: Conflict) -> Relaxation | None:
    """The best ranked relaxation of ``conflict`` that may be assumed and fixes it without
    fixing the whole scenario (the way a planner meets the next conflict), if any."""
    return next((r for r in conflict.relaxations if r.kind in ASSUMABLE and not r.fixes_all), None)


def _disjoint_conflicts(model: FeasibilityModel, limit: int, relaxations: bool) -> list[Conflict]:
    """Up to ``limit`` disjoint minimal conflicts of the model's groups, each found after
    dropping the previous ones; empty when every group holds together."""
    active = list(model.groups)
    conflicts: list[Conflict] = []
    if model.feasible(active):
        return conflicts
    while len(conflicts) < limit:
        out = model.check(active)
        if out.deficiency > 0:
            candidates = model.region(active, out)
            network = [g for g in candidates if g.rule != "relatives"]
            if not model.feasible(network):
                candidates = network  # the network alone conflicts: no MIP needed
            elif model.feasible(candidates):
                log.info("region of %d groups is feasible; searching all %d", len(candidates), len(active))
                candidates = active
        else:
            candidates = active
        core = model.minimal_conflict(candidates)
        conflicts.append(_describe(model, core, model.groups if relaxations else None))
        active = [g for g in active if g not in set(core)]
        if model.feasible(active):
            break
    return conflicts


# --------------------------------------------------------------------------- words


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMES_SHOWN])
    more = len(items) - NAMES_SHOWN
    return shown + (t("diagnose.more", count=more) if more > 0 else "")


def _line_words(problem: Problem, line: int) -> dict[str, object]:
    posts = problem.posts
    return {
        "unit": problem.units.names[posts.unit_idx[line]],
        "position": label(posts.position[line], "position"),
        "bloc": label(posts.bloc[line], "bloc"),
        "department": label(posts.department[line], "department"),
        "min": int(posts.min[line]),
        "max": int(posts.max[line]),
    }


def _member(problem: Problem, g: Group) -> str:
    st = problem.staff
    if g.rule == "post_min":
        return t("diagnose.member.post_min", **_line_words(problem, g.index))
    if g.rule == "pins":
        pins = problem.pins
        s = int(pins.staff_idx[g.index])
        pos = pins.position[g.index]
        where = problem.units.names[pins.unit_idx[g.index]] + (f" ({label(pos, 'position')})" if pos else "")
        key = "diagnose.member.pin_fix" if pins.mode[g.index] == "fix" else "diagnose.member.pin_forbid"
        return t(key, name=st.full_name[s], id=st.ids[s], unit=where)
    if g.rule == "one_post":
        i = g.index
        return t(
            "diagnose.member.one_post",
            name=st.full_name[i],
            id=st.ids[i],
            position=label(st.positions[i][0], "position") if st.positions[i] else "?",
        )
    if g.rule == "bloc_change":
        return t("diagnose.member.bloc_change", bloc=label(BLOCS[g.index], "bloc"))
    a, b = int(problem.relations.a_idx[g.index]), int(problem.relations.b_idx[g.index])
    return t(
        "diagnose.member.relatives", a=st.full_name[a], b=st.full_name[b], scope=relatives.scope(problem)
    )


def _summary(model: FeasibilityModel, core: list[Group], out: _Outcome) -> str:
    p = model.problem
    mins = [g.index for g in core if g.rule == "post_min"]
    positions = {p.posts.position[k] for k in mins}
    achievable = out.required - out.deficiency
    if mins and len(positions) == 1 and all(g.rule in ("post_min", "pins", "bloc_change") for g in core):
        ok = model.pair_mask(core)
        supply = len(np.unique(model.person[ok & np.isin(model.post, mins)]))
        units = sorted({int(p.posts.unit_idx[k]) for k in mins})
        capped = [p.units.names[u] for u in units if COMMUTE_CAP.capped(p, u)]
        islands = [p.units.names[u] for u in units if not COMMUTE_CAP.capped(p, u)]
        key = "diagnose.summary.min_island" if not capped else "diagnose.summary.min"
        pinned = t("diagnose.not_pinned") if any(g.rule == "pins" for g in core) else ""
        return t(
            key,
            units=_names(sorted(capped + islands)),
            required=int(p.posts.min[mins].sum()),
            position=label(positions.pop(), "position"),
            cap=number(model.cap, 0 if model.cap.is_integer() else 1),
            supply=supply,
            pinned=pinned,
        ) + (t("diagnose.summary.islands_too", islands=_names(sorted(islands))) if capped and islands else "")
    if achievable == out.required:  # only the relatives rule is in the way
        return t("diagnose.summary.relatives")
    return t("diagnose.summary.generic", required=out.required, achievable=achievable, cap=f"{model.cap:g}")


def _describe(model: FeasibilityModel, core: list[Group], everything: list[Group] | None) -> Conflict:
    p = model.problem
    out = model.check(core)
    by_kind: dict[str, list[str]] = {}
    for g in core:
        by_kind.setdefault(g.rule, []).append(_member(p, g))
    members = tuple(
        _names(texts) if len(texts) > NAMES_SHOWN else "; ".join(texts) for texts in by_kind.values()
    )
    relax = _relaxations(model, core, everything, out) if everything is not None else ()
    return Conflict(
        tuple(core), out.required, out.required - out.deficiency, _summary(model, core, out), members, relax
    )


# --------------------------------------------------------------------------- relaxations


def _relaxations(
    model: FeasibilityModel, core: list[Group], everything: list[Group], out: _Outcome
) -> tuple[Relaxation, ...]:
    p = model.problem
    candidates: list[Relaxation] = []
    lowered = released = 0
    for g in core:
        if g.rule == "post_min" and lowered < RELAXATIONS_PER_KIND:
            lowered += 1
            new = _largest_min(model, core, g.index)
            if new is not None:
                text = t("diagnose.relax.lower_min", new=new, **_line_words(p, g.index))
                amount = int(p.posts.min[g.index]) - new
                candidates.append(Relaxation("lower_min", text, amount, mins=((g.index, new),)))
        elif g.rule == "pins" and released < RELAXATIONS_PER_KIND:
            released += 1
            s = int(p.pins.staff_idx[g.index])
            unit = p.units.names[p.pins.unit_idx[g.index]]
            text = t("diagnose.relax.release_pin", name=p.staff.full_name[s], id=p.staff.ids[s], unit=unit)
            candidates.append(Relaxation("release_pin", text, 1, pin=g.index))
    forced = model.forced_people(core)
    if len(forced):
        for line, extra in _max_raises(model, core, forced, out.deficiency):
            new = int(p.posts.max[line]) + extra
            text = t("diagnose.relax.raise_max", new=new, **_line_words(p, line))
            candidates.append(Relaxation("raise_max", text, extra, maxes=((line, new),)))
    cap = _smallest_cap(model, core)
    if cap is not None:
        setting = COMMUTE_CAP.option(cap)
        text = t("diagnose.relax.commute_cap", km=number(cap, 0 if cap.is_integer() else 1), setting=setting)
        candidates.append(Relaxation("commute_cap", text, cap - model.cap, setting=setting, cap=cap))
    for rule, key in SWITCHES.items():
        if any(g.rule == rule for g in core):
            setting = RULES[rule].setting
            candidates.append(Relaxation("rule", t(key, setting=setting), 0, setting=setting, switch=rule))
    rest = [g for g in everything if g not in set(core)]
    found: list[Relaxation] = []
    for r in candidates:
        try:
            if _holds(model, core, r):
                found.append(
                    dataclasses.replace(r, fixes_conflict=True, fixes_all=_holds(model, rest + core, r))
                )
        except _TooLarge:
            continue
    found.sort(key=lambda r: (not r.fixes_all, RELAXATION_KINDS.index(r.kind), r.amount))
    return tuple(found)


#: Rule switches offered as relaxations: group rule → message key (the setting is the
#: rule's :attr:`optimizer.rules.Rule.switch`).
SWITCHES = {
    "post_min": "diagnose.relax.min_soft",
    "one_post": "diagnose.relax.all_placed",
    "bloc_change": "diagnose.relax.bloc",
    "relatives": "diagnose.relax.relatives",
}


def _holds(model: FeasibilityModel, groups: list[Group], r: Relaxation) -> bool:
    """Whether ``groups`` hold together once ``r`` is applied."""
    kept = [g for g in groups if not (g.rule == "pins" and g.index == r.pin) and g.rule != r.switch]
    return model.feasible(kept, cap=r.cap, mins=dict(r.mins) or None, maxes=dict(r.maxes) or None)


def apply_relaxation(problem: Problem, r: Relaxation) -> Problem:
    """``problem`` with the relaxation applied (a pin released, a post line's minimum or
    maximum changed, the commute cap raised, or a rule switched)."""
    out = problem
    if r.pin >= 0:
        pins = problem.pins
        pick = [k for k in range(len(pins)) if k != r.pin]
        released = Pins(
            pins.staff_idx[pick],
            pins.unit_idx[pick],
            tuple(pins.position[k] for k in pick),
            tuple(pins.mode[k] for k in pick),
            tuple(pins.note[k] for k in pick),
        )
        out = dataclasses.replace(out, pins=released)
    if r.mins or r.maxes:
        lo, hi = problem.posts.min.copy(), problem.posts.max.copy()
        for k, v in r.mins:
            lo[k] = v
        for k, v in r.maxes:
            hi[k] = v
        out = dataclasses.replace(out, posts=dataclasses.replace(problem.posts, min=lo, max=hi))
    changes: dict[str, object] = {}
    if r.cap is not None:
        changes.update(COMMUTE_CAP.cap_setting(r.cap))
    switch = RULES[r.switch].switch if r.switch else None
    if switch is not None:
        key, value = switch
        changes[key] = value
    if changes:
        out = dataclasses.replace(out, rules=dataclasses.replace(problem.rules, **changes))  # type: ignore[arg-type]
    return out


def _largest_min(model: FeasibilityModel, core: list[Group], line: int) -> int | None:
    """The largest minimum of ``line`` below its own that makes the core feasible."""
    lo, hi = 0, int(model.problem.posts.min[line]) - 1
    if hi < 0 or not model.feasible(core, mins={line: lo}):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if model.feasible(core, mins={line: mid}):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _max_raises(
    model: FeasibilityModel, core: list[Group], forced: IntArray, extra: int
) -> list[tuple[int, int]]:
    """Post lines the core's forced people may take, most shared first (up to three),
    with the extra room that would seat them."""
    ok = model.pair_mask(core) & np.isin(model.person, forced)
    lines, counts = np.unique(model.post[ok], return_counts=True)
    order = np.argsort(-counts, kind="stable")[:3]
    return [(int(lines[k]), max(1, extra)) for k in order]


def _smallest_cap(model: FeasibilityModel, core: list[Group]) -> float | None:
    """The smallest commute cap (up to :data:`COMMUTE_SEARCH_FACTOR` times the
    scenario's) under which the core holds, rounded up to a tenth of a km."""
    ok = model.pair_mask(core, cap=model.cap * COMMUTE_SEARCH_FACTOR) & model.far & (model.dist > model.cap)
    caps = np.unique(np.ceil(model.dist[ok] * 10.0) / 10.0)
    if len(caps) == 0 or not model.feasible(core, cap=float(caps[-1])):
        return None
    lo, hi = 0, len(caps) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if model.feasible(core, cap=float(caps[mid])):
            hi = mid
        else:
            lo = mid + 1
    return float(caps[lo])
