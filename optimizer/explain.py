"""Why a person is where they are, and what forcing them elsewhere would cost (layer 8).

For one person of a placement, :class:`Explainer` reports the post, the distance, the
origin unit and the preference rank, then for each alternative unit either

* the hard rules that exclude it, by rule id and in plain words: rules that remove every
  (person, post line) pair of the unit (qualification, bloc_change, island, commute_cap,
  non_local, service_left, pins), or rules that make forcing impossible given everyone
  else (relatives: a relative already there; post_max: the posts are held by people fixed
  there; post_min / one_post: nobody could take the person's place or the displaced
  person's), or
* what forcing the person there would cost: the change of every objective term and who
  else would move.

Forcing is the problem with one more ``fix`` pin.  Its lexicographic optimum is computed
from the run's placement instead of from scratch: if the placement is optimal for its
flow model, the forced optimum is that placement plus one shortest augmenting path in the
residual graph, from the person to the post line they leave (successive shortest paths:
removing the person's arc keeps every other arc's optimality, and one unit of flow must
be re-routed).  Costs are vectors in the objective's priority order, so distances are
found by one Bellman-Ford per group of terms that fits in int64, each restricted to the
arcs tight for the groups before it; a last term counts the people who move, so among
equally good re-plans the one moving the fewest is shown.  The distances to the person's
old post line do not depend on the unit forced (unless the person has relatives), so one
backward search serves every alternative of an explanation.

The relatives rule, outside the network, is kept by closing the arcs into a unit where a
relative sits (the forced person's relatives are re-closed around the person's new unit).
On small graphs the answer is certified by a second search with those arcs open; on large
ones the relatives of other people are kept where the run put them unless the path itself
moves them.  When the path method cannot be trusted (no convergence, which means the
placement was not optimal, or a result that breaks a rule) the forced problem is solved
in full instead (``method = "solve"``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from optimizer.check import check_placement, objective_terms
from optimizer.data import (
    CHANGES,
    LEADERSHIP_SHORTFALL_WEIGHT,
    IntArray,
    Objective,
    Pins,
    Problem,
)
from optimizer.i18n import t
from optimizer.labels import label
from optimizer.rules import binding, relatives
from optimizer.rules.reason import Reason
from optimizer.solve.candidates import Candidates, build_candidates

log = logging.getLogger(__name__)

#: Tie-break term of a forcing: the number of people whose placement changes.
HOPS = "hops"
#: Distance standing for "unreachable" in the path search.
INF = np.int64(2**62)
#: Bellman-Ford rounds allowed before the path method gives up (a negative cycle, i.e.
#: a placement that is not optimal, never converges).
MAX_ROUNDS = 1500
#: Largest residual graph (arcs) on which a forcing is certified against the relatives
#: rule by a second search with its closed arcs open (beyond it the relatives are kept
#: where the run put them, unless the path itself moves them).
CERTIFY_MAX_ARCS = 400_000
#: Rounds allowed to the certifying search with the relatives rule's closed arcs open.
RELAXED_ROUNDS = 200
#: Largest magnitude a combined (grouped) arc cost times a path length may reach.
_SAFE = 2**61

#: Cached derived arrays of a :class:`~optimizer.data.Problem` that do not depend on pins.
_PIN_FREE_CACHES = (
    "dist_km",
    "local_mask",
    "position_codes",
    "post_position_idx",
    "staff_position_mask",
    "retirement",
    "months_left",
)

# Arc kinds of the residual graph.
_FWD, _BWD, _OUT, _IN, _SINK, _UNSINK = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class RuleReason:
    """A hard rule that excludes an alternative: its id and why, as a code and parameters."""

    rule: str
    reason: Reason

    @property
    def text(self) -> str:
        """The sentence, in the current language."""
        return self.reason.render()


@dataclass(frozen=True)
class Move:
    """One person whose placement changes: post line before and after (``-1`` unplaced)."""

    staff_idx: int
    from_post: int
    to_post: int


@dataclass(frozen=True)
class Forcing:
    """What fixing a person in a unit would do to the placement.

    Attributes
    ----------
    unit_idx
        The unit the person is forced into.
    feasible
        False when no placement obeys every hard rule with the person there; ``reason``
        then names the rule.
    post_idx
        The post line the person would take.
    values, deltas
        Every objective term of the forced optimum, and its change from the base run.
    moves
        Everyone else whose placement changes.
    method
        ``"path"`` (one augmenting path from the run's placement) or ``"solve"`` (the
        forced problem solved in full).
    time_s
        Time spent on this forcing.
    """

    unit_idx: int
    feasible: bool
    post_idx: int = -1
    values: dict[str, int] = dataclasses.field(default_factory=dict)
    deltas: dict[str, int] = dataclasses.field(default_factory=dict)
    moves: tuple[Move, ...] = ()
    reason: RuleReason | None = None
    method: Literal["path", "solve"] = "path"
    time_s: float = 0.0


@dataclass(frozen=True)
class Alternative:
    """One alternative unit: the rules that exclude it, or what forcing it would cost."""

    unit_idx: int
    distance_km: float
    preference_rank: int  # 1-based rank in the person's list; 0 when not listed
    excluded: tuple[RuleReason, ...]
    forcing: Forcing | None


@dataclass(frozen=True)
class PersonExplanation:
    """Why one person is where they are.

    ``post_idx`` / ``unit_idx`` are ``-1`` for an unplaced person; ``preference_rank`` is
    the 1-based rank of the unit obtained in the person's list (``0`` without a list or
    without a post; the list's length plus one for an unlisted unit).
    """

    staff_idx: int
    post_idx: int
    unit_idx: int
    distance_km: float | None
    origin_idx: int
    preference_rank: int
    reason: str
    alternatives: tuple[Alternative, ...]


def with_fix_pin(problem: Problem, person: int, unit: int) -> Problem:
    """``problem`` with one more ``fix`` pin: ``person`` must be placed in ``unit``."""
    pins = problem.pins
    new = Pins(
        np.append(pins.staff_idx, np.int32(person)).astype(np.int32),
        np.append(pins.unit_idx, np.int32(unit)).astype(np.int32),
        (*pins.position, None),
        (*pins.mode, "fix"),
        (*pins.note, "explain"),
    )
    forced = dataclasses.replace(problem, pins=new)
    for name in _PIN_FREE_CACHES:  # derived arrays that pins do not change: share them
        if name in problem.__dict__:
            forced.__dict__[name] = problem.__dict__[name]
    return forced


def lex_terms(objective: Objective, min_is_hard: bool) -> list[tuple[str, ...]]:
    """The objective as a priority list of term groups (one group when weighted).

    With ``min_is_hard`` shortfall comes first (it must be zero).
    """
    if objective.weights is not None:
        groups = [tuple(name for name, w in objective.weights if w != 0)]
    else:
        groups = [(name,) for name in objective.priorities]
    if min_is_hard and groups[0] != ("shortfall",):
        groups.insert(0, ("shortfall",))
    return groups


class Explainer:
    """Explanations over one placement of one problem.

    Parameters
    ----------
    problem
        The problem the placement was solved for.
    assignment
        Post line per person (``-1`` unplaced), e.g. a stored run's placement.
    reference
        The base placement when the run is a re-plan (enables the ``changes`` term).
    """

    def __init__(self, problem: Problem, assignment: IntArray, reference: IntArray | None = None) -> None:
        self.problem = problem
        self.x = np.asarray(assignment, dtype=np.int64)
        self.reference = reference
        self.cand: Candidates = build_candidates(problem, reference)
        self.values = objective_terms(problem, self.x, reference)
        self._unplaced_reason: dict[int, Reason] | None = None
        self._verdicts: dict[tuple[int, int], binding.Verdict] = {}
        self._graph: _Residual | None = None
        self._back: tuple[int, _Backward | None] | None = None
        self._fill = np.bincount(self.x[self.x >= 0], minlength=problem.num_posts)
        self._pins: dict[int, list[tuple[int, str | None, str]]] = {}
        pins = problem.pins
        for s, u, pos, mode in zip(pins.staff_idx, pins.unit_idx, pins.position, pins.mode, strict=True):
            self._pins.setdefault(int(s), []).append((int(u), pos, mode))

    # ------------------------------------------------------------------ exclusions

    def exclusions(self, person: int, unit: int) -> tuple[RuleReason, ...]:
        """Rules that remove every pair of ``person`` with a post line of ``unit``.

        The pair-wise rules of the binding of ``(person, unit)``
        (:func:`optimizer.rules.binding.verdict`): every rule that removes a pair of the
        person with one of the unit's post lines they are qualified for, in the
        registry's order; ``qualification`` alone when no line of the unit matches their
        positions and category.  Empty when some post line of the unit is allowed.
        """
        v = self.verdict(person, unit)
        return self._binding_reasons(v) if v.kind == "rules" else ()

    def verdict(self, person: int, unit: int) -> binding.Verdict:
        """What binds ``person`` out of ``unit`` in this placement (the one source of the
        detail table's exclusions, of the forcing's relatives refusal and of the notes)."""
        key = (person, unit)
        if key not in self._verdicts:
            self._verdicts[key] = binding.verdict(self.problem, self.x, person, unit)
        return self._verdicts[key]

    def _binding_reasons(self, v: binding.Verdict) -> tuple[RuleReason, ...]:
        return tuple(RuleReason(rule, why) for rule, why in v.reasons(self.problem, self.x))

    # ------------------------------------------------------------------ forcing

    def force(self, person: int, unit: int) -> Forcing:
        """The cheapest re-plan with ``person`` fixed in ``unit`` (lexicographic optimum).

        Computed by one augmenting path from the placement (``method = "path"``); when
        that cannot be trusted (the search does not converge, or its result breaks a
        rule other than a hard minimum) the forced problem is solved in full, with the
        fewest changes from the placement as the last priority (``method = "solve"``).

        Parameters
        ----------
        person, unit
            Indices of the person and of the unit.
        """
        t0 = time.perf_counter()
        forced = with_fix_pin(self.problem, person, unit)
        graph = self._residual()
        v = self.verdict(person, unit)
        if v.kind in ("rules", "relatives"):  # a pair-wise rule, or a relative already there
            return Forcing(unit, False, reason=self._binding_reasons(v)[0], time_s=time.perf_counter() - t0)
        open_lines = np.array(v.open_lines, dtype=np.int64)
        if graph.independent(person):
            found, new, values = graph.path_via(self._backward(person), person, open_lines)
        else:
            found, new, values = graph.shortest_path(person, open_lines, unit)
        status: str = found
        if status == "none":  # no augmenting path: nobody can make room
            rule = graph.blocking_rule(person, open_lines, unit)
            return Forcing(
                unit, False, reason=RuleReason(rule, Reason(rule)), time_s=time.perf_counter() - t0
            )
        if status == "ok" and graph.has_bans and len(graph.tail) <= CERTIFY_MAX_ARCS:
            # Certify against the relatives rule: with every closed arc open, the search
            # either diverges (the run's repair closed improving moves: keep the answer),
            # finds the same cost (the closed arcs do not matter), or finds a cheaper
            # placement, used when it keeps every rule and solved in full otherwise.
            r_status, r_new, r_values = graph.shortest_path(
                person, open_lines, unit, relaxed=True, max_rounds=RELAXED_ROUNDS
            )
            if r_status == "ok" and r_values != values:
                status, new = ("ok", r_new) if not check_placement(forced, r_new) else ("uncertain", new)
        if status == "ok":
            violations = check_placement(forced, new)
            if not violations:
                return self._forcing(forced, person, unit, new, "path", t0)
            if any(v.rule == "post_min" for v in violations):
                return Forcing(
                    unit,
                    False,
                    reason=RuleReason("post_min", Reason("post_min")),
                    time_s=time.perf_counter() - t0,
                )
            log.info(
                "path forcing of %d into %d breaks %s; solving in full", person, unit, violations[0].rule
            )
        else:
            log.info("path forcing of %d into %d is %s; solving in full", person, unit, status)
        return self._solve_forced(forced, person, unit, t0)

    def _solve_forced(self, forced: Problem, person: int, unit: int, t0: float) -> Forcing:
        from optimizer.solve import solve

        objective = forced.objective
        if self.reference is None and objective.weights is None:
            # fewest changes from the run among the forced optima
            objective = Objective(priorities=(*objective.priorities, CHANGES))
        elif self.reference is None and objective.weights is not None:
            objective = dataclasses.replace(objective, weights=(*objective.weights, (CHANGES, 1)))
        ref = self.reference if self.reference is not None else self.x
        result = solve(dataclasses.replace(forced, objective=objective), reference=ref)
        if not result.has_placement:
            return Forcing(
                unit,
                False,
                reason=RuleReason("one_post", Reason("one_post")),
                method="solve",
                time_s=time.perf_counter() - t0,
            )
        return self._forcing(forced, person, unit, result.assignment, "solve", t0)

    def _forcing(
        self,
        forced: Problem,
        person: int,
        unit: int,
        new: IntArray,
        method: Literal["path", "solve"],
        t0: float,
    ) -> Forcing:
        values = objective_terms(forced, new, self.reference)
        deltas = {k: values[k] - self.values[k] for k in values}
        changed = np.flatnonzero(new != self.x)
        moves = tuple(Move(int(j), int(self.x[j]), int(new[j])) for j in changed if j != person)
        return Forcing(
            unit, True, int(new[person]), values, deltas, moves, None, method, time.perf_counter() - t0
        )

    def _residual(self) -> _Residual:
        if self._graph is None:
            self._graph = _Residual(self.problem, self.cand, self.x, self.reference)
        return self._graph

    def _backward(self, person: int) -> _Backward | None:
        """The distances to the person's missing unit of flow, shared by every unit the
        person is forced into (kept for the last person asked about)."""
        if self._back is None or self._back[0] != person:
            self._back = (person, self._residual().backward(person))
        return self._back[1]

    # ------------------------------------------------------------------ explanations

    def explain(
        self, person: int, alternatives: int = 5, units: tuple[int, ...] = (), *, forcing: bool = True
    ) -> PersonExplanation:
        """Explain one person: their placement and the nearest alternative units.

        Parameters
        ----------
        person
            Staff index.
        alternatives
            How many of the nearest other units to examine.
        units
            Further units to examine (e.g. named on the command line).
        forcing
            Compute the forcing cost of every allowed alternative.
        """
        p = self.problem
        post = int(self.x[person])
        unit = int(p.posts.unit_idx[post]) if post >= 0 else -1
        order = np.argsort(p.dist_km[person], kind="stable")
        chosen = [int(u) for u in order if u != unit][:alternatives]
        chosen += [u for u in units if u != unit and u not in chosen]
        alts = []
        for u in chosen:
            excluded = self.exclusions(person, u)
            force = None if excluded or not forcing else self.force(person, u)
            if force is not None and not force.feasible and force.reason is not None:
                excluded = (force.reason,)
            alts.append(Alternative(u, float(p.dist_km[person, u]), self._rank(person, u), excluded, force))
        return PersonExplanation(
            staff_idx=person,
            post_idx=post,
            unit_idx=unit,
            distance_km=float(p.dist_km[person, unit]) if unit >= 0 else None,
            origin_idx=int(p.staff.origin_idx[person]),
            preference_rank=self._placed_rank(person, unit),
            reason=self.short_reason(person),
            alternatives=tuple(alts),
        )

    def _rank(self, person: int, unit: int) -> int:
        prefs = self.problem.staff.preferences[person]
        return prefs.index(unit) + 1 if unit in prefs else 0

    def _placed_rank(self, person: int, unit: int) -> int:
        prefs = self.problem.staff.preferences[person]
        if not prefs or unit < 0:
            return 0
        return prefs.index(unit) + 1 if unit in prefs else len(prefs) + 1

    def short_reason(self, person: int) -> str:
        """One short sentence on why the person is where they are (an annex's Ghi chú)."""
        p = self.problem
        st, posts = p.staff, p.posts
        post = int(self.x[person])
        if post < 0:
            if self._unplaced_reason is None:
                self._unplaced_reason = binding.unplaced_reasons(p, self.x)
            return t("explain.why.unplaced", reason=self._unplaced_reason[person].render())
        unit = int(posts.unit_idx[post])
        origin = int(st.origin_idx[person])
        args = {
            "unit": p.units.names[unit],
            "origin": p.units.names[origin],
            "position": label(posts.position[post], "position"),
        }
        note = self._fix_note(person)
        if note is not None:
            return t("explain.why.pinned", note=note, **args)
        bloc_note = (
            t("explain.why.bloc", bloc=label(posts.bloc[post], "bloc"))
            if posts.bloc[post] != st.bloc[person]
            else ""
        )
        if unit == origin:
            key = (
                "explain.why.stays"
                if st.positions[person][:1] == (posts.position[post],)
                else "explain.why.stays_new"
            )
            return t(key, **args) + bloc_note
        v = self.verdict(person, origin)  # the detail table's binding for the origin unit
        if v.kind in ("rules", "relatives"):
            rule = "; ".join(r.text for r in self._binding_reasons(v))
            return t("explain.why.moved_rule", rule=rule, **args) + bloc_note
        if v.kind == "full":
            return t("explain.why.moved_full", **args) + bloc_note
        fill = self._fill
        if posts.min[post] > 0 and fill[post] <= posts.min[post]:
            return t("explain.why.moved_min", **args) + bloc_note
        return t("explain.why.moved_objective", **args) + bloc_note

    def _fix_note(self, person: int) -> str | None:
        if not any(mode == "fix" for _, _, mode in self._pins.get(person, ())):
            return None
        pins = self.problem.pins
        notes = [
            n
            for s, mode, n in zip(pins.staff_idx, pins.mode, pins.note, strict=True)
            if s == person and mode == "fix" and n
        ]
        return notes[0] if notes else t("explain.why.pin_no_note")

    def short_reasons(self) -> dict[int, str]:
        """:meth:`short_reason` for every person (the origin units' bindings computed at once)."""
        p = self.problem
        placed = np.flatnonzero(self.x >= 0)
        origin = p.staff.origin_idx[placed].astype(np.int64)
        moved = p.posts.unit_idx[self.x[placed]] != origin
        found = binding.verdicts_at(p, self.x, placed[moved], origin[moved])
        for v in found:
            self._verdicts[(v.person, v.unit)] = v
        return {i: self.short_reason(i) for i in range(p.num_staff)}


class _Residual:
    """The residual graph of the placement's flow, with its lexicographic arc costs.

    Nodes: people ``0..n-1``, post lines ``n..n+P-1``, the sink ``n+P``.  Arcs: a person
    to a post line they could take (forward), a post line to its holder (the holder
    leaves), a placed person to the sink (becomes unplaced, when allowed), the sink to an
    unplaced person (gets a post), a post line with room to the sink (one more holder: the
    shortfall reward while under its min) and the sink to a filled post line (one holder
    fewer: the shortfall penalty while at or under its min).  Pairs into a unit where a
    relative sits in conflict are left out (``ban``).

    The costs of the objective's terms, in priority order and followed by the ``hops``
    tie-break, are combined into a few int64 vectors (:func:`_combine`) once; arcs are
    indexed by tail and by head for the frontier Bellman-Ford of :func:`_frontier_bf`.
    """

    def __init__(self, problem: Problem, cand: Candidates, x: IntArray, reference: IntArray | None) -> None:
        self.problem = problem
        self.cand = cand
        self.x = x
        self.reference = reference
        n, num_posts = problem.num_staff, problem.num_posts
        self.n, self.sink = n, n + num_posts
        self.num_nodes = n + num_posts + 1
        posts = problem.posts
        fill = np.bincount(x[x >= 0], minlength=num_posts)
        on = cand.post == x[cand.person]
        self.ban = self._ban(np.arange(len(cand)))
        fwd = np.flatnonzero(~on)
        bwd = np.flatnonzero(on)
        out = np.flatnonzero((x >= 0) & cand.can_stay_unplaced)
        into = np.flatnonzero(x < 0)
        room = np.flatnonzero(fill < posts.max)
        held = np.flatnonzero(fill > 0)
        mult = np.where(posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
        sink = self.sink
        parts = [  # (tail, head, kind, ref, shortfall cost)
            (cand.person[fwd], n + cand.post[fwd], _FWD, fwd, 0),
            (n + cand.post[bwd], cand.person[bwd], _BWD, bwd, 0),
            (out, np.full(len(out), sink), _OUT, out, 0),
            (np.full(len(into), sink), into, _IN, into, 0),
            (
                n + room,
                np.full(len(room), sink),
                _SINK,
                room,
                -np.where(fill[room] < posts.min[room], mult[room], 0),
            ),
            (
                np.full(len(held), sink),
                n + held,
                _UNSINK,
                held,
                np.where(fill[held] <= posts.min[held], mult[held], 0),
            ),
        ]
        self.tail = np.concatenate([np.asarray(a, dtype=np.int64) for a, *_ in parts])
        self.head = np.concatenate([np.asarray(b, dtype=np.int64) for _, b, *_ in parts])
        self.kind = np.concatenate([np.full(len(a), k, dtype=np.int8) for a, _, k, *_ in parts])
        self.ref = np.concatenate([np.asarray(r, dtype=np.int64) for *_, r, _ in parts])
        shortfall = np.concatenate(
            [np.broadcast_to(np.asarray(c, dtype=np.int64), (len(a),)) for a, _, _, _, c in parts]
        )
        groups = lex_terms(problem.objective, problem.rules.min_is_hard)
        weights = dict(problem.objective.weights) if problem.objective.weights is not None else None
        costs = [self._group_cost(g, weights, self.kind, self.ref, shortfall) for g in groups]
        costs.append(self._term_cost(HOPS, self.kind, self.ref, shortfall))
        self.plan = _combine(costs, self.num_nodes)
        self.costs = [_weighted(costs, stage) for stage in self.plan]
        self.blocked = np.zeros(len(self.tail), dtype=bool)
        self.blocked[: len(fwd)] = self.ban[fwd]
        self.has_bans = bool(self.ban.any())
        self.by_tail = _Adjacency(self.tail, self.num_nodes)
        self.by_head = _Adjacency(self.head, self.num_nodes)

    def _ban(self, idx: IntArray, moved: tuple[int, int, bool] | None = None) -> np.ndarray:
        """For the candidate pairs ``idx``: closed by the relatives rule, given where every
        relative sits; ``moved = (person, unit, leadership)`` puts one person elsewhere."""
        c = self.cand
        return relatives.closed(self.problem, self.x, c.person[idx], c.post[idx], c.unit[idx], moved)

    def target(self, person: int) -> int:
        """Where the forced person's unit of flow is missing: their post line, or the sink."""
        return self.n + int(self.x[person]) if self.x[person] >= 0 else self.sink

    def _active(self, person: int, lines: IntArray, unit: int) -> np.ndarray:
        """Arcs open once ``person`` gave up their own arc and may take only ``lines`` of
        ``unit``.  The person's relatives are closed out of ``unit`` (taken as a leadership
        post when any of ``lines`` is one) and no longer out of the person's old unit."""
        active = ~self.blocked
        own = self.by_tail.arcs(np.array([person]))
        active[own] = (self.kind[own] == _FWD) & np.isin(self.head[own] - self.n, lines)
        active[self.by_head.arcs(np.array([person]))] = False
        rel = self.problem.relations
        kin = np.concatenate([rel.b_idx[rel.a_idx == person], rel.a_idx[rel.b_idx == person]]).astype(
            np.int64
        )
        if len(kin) and relatives.active(self.problem):
            arcs = self.by_tail.arcs(np.unique(kin))
            arcs = arcs[self.kind[arcs] == _FWD]
            moved = (person, unit, bool(self.problem.posts.leadership[lines].any()))
            active[arcs] = ~self._ban(self.ref[arcs], moved)
        return active

    def _term_cost(self, term: str, kind: np.ndarray, ref: IntArray, shortfall: IntArray) -> IntArray:
        """Cost of every arc for one objective term (or the ``hops`` tie-break)."""
        c = self.cand
        cost = np.zeros(len(kind), dtype=np.int64)
        fwd, bwd, out, into = kind == _FWD, kind == _BWD, kind == _OUT, kind == _IN
        if term == "shortfall":
            cost[:] = shortfall
        elif term == "unplaced":
            cost[out] = 1
            cost[into] = -1
        elif term == HOPS:
            cost[fwd | out] = 1
        elif term == CHANGES:
            cost[fwd] = c.changes[ref[fwd]]
            cost[bwd] = -c.changes[ref[bwd]]
            if self.reference is not None:
                cost[out] = (self.reference[ref[out]] >= 0).astype(np.int64)
                cost[into] = -(self.reference[ref[into]] >= 0).astype(np.int64)
        else:
            values = c.term(term)
            cost[fwd] = values[ref[fwd]]
            cost[bwd] = -values[ref[bwd]]
        return cost

    def _group_cost(
        self,
        terms: tuple[str, ...],
        weights: dict[str, int] | None,
        kind: np.ndarray,
        ref: IntArray,
        shortfall: IntArray,
    ) -> IntArray:
        total = np.zeros(len(kind), dtype=np.int64)
        for term in terms:
            w = 1 if weights is None else weights[term]
            total += w * self._term_cost(term, kind, ref, shortfall)
        return total

    def shortest_path(
        self, person: int, lines: IntArray, unit: int, *, relaxed: bool = False, max_rounds: int = MAX_ROUNDS
    ) -> tuple[Literal["ok", "none", "diverged"], IntArray, list[int]]:
        """Route ``person`` into ``lines`` of ``unit`` along a lexicographically shortest
        augmenting path.

        Returns a status, the new placement (the base one unless ``"ok"``) and the path's
        cost per stage: ``"none"`` when no path exists, ``"diverged"`` when the search
        does not converge within ``max_rounds`` (the placement is not optimal for this
        graph).  With ``relaxed`` every arc closed by the relatives rule is open.
        """
        target = self.target(person)
        active = self._active(person, lines, unit)
        if relaxed:
            active |= self.blocked
        values = []
        for cost in self.costs:
            dist = _frontier_bf(
                self.num_nodes, person, self.by_tail, self.tail, self.head, cost, active, max_rounds
            )
            if dist is None:
                return "diverged", self.x, []
            if dist[target] >= INF:
                return "none", self.x, []
            values.append(int(dist[target]))
            dt = dist[self.tail]
            active &= (dt < INF) & (dt + cost == dist[self.head])
        return "ok", self._apply_path(person, target, active), values

    def independent(self, person: int) -> bool:
        """Whether the residual graph of forcing ``person`` is the same whatever the unit:
        true unless the person has relatives under the relatives rule."""
        rel = self.problem.relations
        if not relatives.active(self.problem):
            return True
        return not bool((rel.a_idx == person).any() or (rel.b_idx == person).any())

    def backward(self, person: int) -> _Backward | None:
        """Lexicographic distances from every node to the person's missing unit of flow
        (stage by stage on the reversed tight arcs), without the person's own arcs;
        ``None`` when the search does not converge."""
        target = self.target(person)
        active = ~self.blocked
        active[self.by_tail.arcs(np.array([person]))] = False
        active[self.by_head.arcs(np.array([person]))] = False
        backs = []
        for cost in self.costs:
            back = _frontier_bf(self.num_nodes, target, self.by_head, self.head, self.tail, cost, active)
            if back is None:
                return None
            backs.append(back)
            bh = back[self.head]
            active &= (bh < INF) & (cost + bh == back[self.tail])
        return _Backward(target, backs, active)

    def path_via(
        self, tree: _Backward | None, person: int, lines: IntArray
    ) -> tuple[Literal["ok", "none", "diverged"], IntArray, list[int]]:
        """The forcing of ``person`` into ``lines`` from the distances of :meth:`backward`:
        the first arc minimises, stage by stage, its cost plus the distance from its post
        line; the rest of the path follows the tight arcs.  Same results as
        :meth:`shortest_path` (without the unit-dependent relatives closures)."""
        if tree is None:
            return "diverged", self.x, []
        own = self.by_tail.arcs(np.array([person]))
        best = own[(self.kind[own] == _FWD) & np.isin(self.head[own] - self.n, lines)]
        values = []
        for cost, back in zip(self.costs, tree.backs, strict=True):
            rest = back[self.head[best]]
            via = np.where(rest < INF, cost[best] + rest, INF)
            low = via.min(initial=INF)
            if low >= INF:
                return "none", self.x, []
            values.append(int(low))
            best = best[via == low]
        first = int(best[0])
        new = self._apply_path(int(self.head[first]), tree.target, tree.active)
        new[person] = self.cand.post[self.ref[first]]
        return "ok", new, values

    def _apply_path(self, source: int, target: int, active: np.ndarray) -> IntArray:
        """Apply a path to the placement: the breadth-first tree of the tight arcs gives a
        simple path from ``source`` to the target, every arc of it tight, hence shortest."""
        arcs = np.flatnonzero(active)
        tail, head = self.tail[arcs], self.head[arcs]
        arc_id = sp.csr_matrix((np.arange(1, len(arcs) + 1), (tail, head)), shape=(self.num_nodes,) * 2)
        _, pred = breadth_first_order(arc_id, source, directed=True, return_predecessors=True)
        new = self.x.copy()
        node = target
        while node != source:
            prev = int(pred[node])
            if prev < 0:
                raise RuntimeError("no tight path back to the forced person")
            arc = int(arcs[int(arc_id[prev, node]) - 1])
            if self.kind[arc] == _FWD:
                new[self.tail[arc]] = self.cand.post[self.ref[arc]]
            elif self.kind[arc] == _OUT:
                new[self.tail[arc]] = -1
            node = prev
        return new

    def blocking_rule(self, person: int, lines: IntArray, unit: int) -> str:
        """Which hard rule keeps ``person`` out of ``lines`` when no augmenting path exists:
        ``one_post`` when the person could displace someone who may not stay unplaced only
        because everyone must be placed (require_all_placed), else ``post_max`` (the posts
        are held by people who cannot move)."""
        if not self.problem.rules.require_all_placed:
            return "post_max"
        active = self._active(person, lines, unit)
        zero = np.zeros(len(self.tail), dtype=np.int64)
        dist = _frontier_bf(self.num_nodes, person, self.by_tail, self.tail, self.head, zero, active)
        assert dist is not None  # zero costs always converge
        pins = self.problem.pins
        fixed = np.zeros(self.n, dtype=bool)
        fixed[pins.staff_idx[np.array(pins.mode, dtype=object) == "fix"]] = True
        movable = (self.x >= 0) & ~fixed
        movable[person] = False
        return "one_post" if (movable & (dist[: self.n] < INF)).any() else "post_max"


@dataclass(frozen=True)
class _Backward:
    """Distances to a forcing's target: per stage, and the arcs tight in every stage."""

    target: int
    backs: list[IntArray]
    active: np.ndarray


class _Adjacency:
    """Arcs grouped by one endpoint (tail or head): CSR offsets into a sorted order."""

    def __init__(self, end: IntArray, num_nodes: int) -> None:
        self.order = np.argsort(end, kind="stable")
        self.start = np.searchsorted(end[self.order], np.arange(num_nodes + 1))

    def arcs(self, nodes: IntArray) -> IntArray:
        """Indices of every arc at ``nodes``."""
        lo, hi = self.start[nodes], self.start[nodes + 1]
        counts = hi - lo
        total = int(counts.sum())
        offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return self.order[np.arange(total) + offsets]


def _combine(costs: list[IntArray], num_nodes: int) -> list[list[tuple[int, int]]]:
    """Group lexicographic cost vectors into as few int64 vectors as stay exact.

    A simple path has fewer than ``num_nodes`` arcs and a Bellman-Ford walk at most
    :data:`MAX_ROUNDS`, so a term's total over either lies within ``length × max|cost|``;
    a term is weighted above the ones after it by more than their range, as long as every
    such sum stays within int64.  Returns, per group, ``(cost index, weight)`` pairs.
    """
    length = num_nodes + MAX_ROUNDS + 1
    plan: list[list[tuple[int, int]]] = []
    group: list[tuple[int, int]] = []
    group_span = 0
    for k, cost in enumerate(costs):
        span = int(np.abs(cost).max(initial=0))
        factor = 2 * span * length + 1
        if group and (group_span * factor + span) * length < _SAFE:
            group = [(j, w * factor) for j, w in group] + [(k, 1)]
            group_span = group_span * factor + span
            continue
        if group:
            plan.append(group)
        group, group_span = [(k, 1)], span
    if group:
        plan.append(group)
    return plan


def _weighted(costs: list[IntArray], group: list[tuple[int, int]]) -> IntArray:
    """The combined cost of one group of :func:`_combine`."""
    total = np.zeros(len(costs[0]), dtype=np.int64)
    for k, w in group:
        total += w * costs[k]
    return total


def _frontier_bf(
    num_nodes: int,
    source: int,
    adjacency: _Adjacency,
    near: IntArray,
    far: IntArray,
    cost: IntArray,
    active: np.ndarray,
    max_rounds: int = MAX_ROUNDS,
) -> IntArray | None:
    """Shortest distances from ``source`` over the ``active`` arcs (Bellman-Ford relaxing,
    each round, only the arcs of nodes whose distance fell in the previous round).

    ``adjacency`` indexes the arcs by ``near``, the end the search leaves from (tails for a
    forward search, heads for a backward one); ``far`` is the other end.  ``None`` when
    distances still fall after ``max_rounds`` rounds (a negative cycle).
    """
    dist = np.full(num_nodes, INF, dtype=np.int64)
    dist[source] = 0
    frontier = np.array([source], dtype=np.int64)
    for _ in range(max_rounds):
        arcs = adjacency.arcs(frontier)
        arcs = arcs[active[arcs]]
        best = np.full(num_nodes, INF, dtype=np.int64)
        np.minimum.at(best, far[arcs], dist[near[arcs]] + cost[arcs])
        improved = np.flatnonzero(best < dist)
        if len(improved) == 0:
            return dist
        dist[improved] = best[improved]
        frontier = improved
    return None
