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
be re-routed).  The graph is the solver's flow model (:mod:`optimizer.solve.flow`) with
the solver's stages (:func:`optimizer.solve.engine.stage_plan`), and a last stage counts
the people who move, so among equally good re-plans the one moving the fewest is shown.
Node potentials of the placement, computed once per explainer, make every reduced cost
non-negative, so each stage of a search is one Dijkstra, restricted to the arcs tight in
the stages before.  The distances to the person's old post line do not depend on the
unit forced (unless the person has relatives), so one backward search serves every
alternative of an explanation.  The forced placement is checked, and its terms counted,
on the moved people only (:meth:`optimizer.edit.EditSession.check_lines`).

The relatives rule, outside the network, is kept by closing the arcs into a unit where a
relative sits (the forced person's relatives are re-closed around the person's new unit).
On small graphs the answer is certified by a second search with those arcs open; on large
ones the relatives of other people are kept where the run put them unless the path itself
moves them.  The person leaving reopens their relatives' arcs into the unit left; when
one of them is improving (a relative moved away because of the person would move back),
the forced optimum is more than one path: it is the better of the best path without
those arcs and a min-cost flow of two units (the person's and that relative's, by
successive shortest paths with the potentials raised between them), both checked on the
moved people (:meth:`_Residual.relative_moves_back`).  Like the path itself, it does not
see two other relatives, each kept out of the other's unit, trading units at once.
When the path method cannot be trusted (no potentials, which means the placement was
not optimal, or a result that breaks a rule) the forced problem is solved in full
instead (``method = "solve"``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, dijkstra

from optimizer.data import CHANGES, IntArray, Objective, Pins, Problem
from optimizer.edit import EditCheck, EditSession
from optimizer.i18n import t
from optimizer.labels import label
from optimizer.rules import binding, relatives
from optimizer.rules.reason import Reason
from optimizer.solve.candidates import Candidates, build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.flow import PAIR, UNPLACED, FlowModel
from optimizer.solve.lagrange import stage_value
from optimizer.solve.mincostflow import arc_matrix, potentials

log = logging.getLogger(__name__)

#: Bellman-Ford rounds allowed to the potentials of one stage before the path method
#: gives up (a negative cycle, i.e. a placement that is not optimal, never converges).
MAX_ROUNDS = 1000
#: Largest residual graph (arcs) on which a forcing is certified against the relatives
#: rule by a second search with its closed arcs open (beyond it the relatives are kept
#: where the run put them, unless the path itself moves them).
CERTIFY_MAX_ARCS = 400_000
#: Largest distance a search may reach and stay exact in floating point.
_EXACT = 2.0**52

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
    session
        The run already open for editing, for the same problem and placement (its term
        values are reused); opened here otherwise.

    The residual graph and its potentials are built at the first forcing and kept: every
    later explanation of the same placement reuses them.
    """

    def __init__(
        self,
        problem: Problem,
        assignment: IntArray,
        reference: IntArray | None = None,
        session: EditSession | None = None,
    ) -> None:
        self.problem = problem
        self.x = np.asarray(assignment, dtype=np.int64)
        self.reference = reference
        self.cand: Candidates = build_candidates(problem, reference)
        #: the run open for checking moves (violations and term changes of a forcing)
        self.session = session if session is not None else EditSession(problem, self.x, reference)
        self.values = self.session.before
        self._unplaced_reason: dict[int, Reason] | None = None
        self._verdicts: dict[tuple[int, int], binding.Verdict] = {}
        self._graph: _Residual | None = None
        self._back: tuple[int, _Search | None] | None = None
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
        v = self.verdict(person, unit)
        if v.kind in ("rules", "relatives"):  # a pair-wise rule, or a relative already there
            return Forcing(unit, False, reason=self._binding_reasons(v)[0], time_s=time.perf_counter() - t0)
        graph = self._residual()
        open_lines = np.array(v.open_lines, dtype=np.int64)
        found: str
        values: list[int]
        if not graph.usable:
            found, new, values = "diverged", self.x, []
        elif graph.independent(person):
            found, new, values = graph.path_via(self._backward(person), person, open_lines)
        else:
            found, new, values = graph.shortest_path(person, open_lines, unit)
            if found == "diverged":
                moved_back = self._moved_back(graph, person, open_lines, unit, t0)
                if moved_back is not None:
                    return moved_back
        status = found
        if status == "none":  # no augmenting path: nobody can make room
            rule = graph.blocking_rule(person, open_lines, unit)
            return Forcing(
                unit, False, reason=RuleReason(rule, Reason(rule)), time_s=time.perf_counter() - t0
            )
        if status == "ok" and graph.has_bans and len(graph.tail) <= CERTIFY_MAX_ARCS:
            # Certify against the relatives rule: with every closed arc open, the search
            # either has no potentials (the run's repair closed improving moves: keep the
            # answer), finds the same cost (the closed arcs do not matter), or finds a
            # cheaper placement, used when it keeps every rule and solved in full otherwise.
            r_status, r_new, r_values = graph.shortest_path(person, open_lines, unit, relaxed=True)
            if r_status == "ok" and r_values != values:
                status, new = ("ok", r_new) if self._check(r_new).ok else ("uncertain", new)
        if status == "ok":
            check = self._check(new)
            violations = check.violations
            if not violations:
                return self._forcing(person, unit, check, "path", t0)
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
        return self._solve_forced(person, unit, t0)

    def _moved_back(
        self, graph: _Residual, person: int, lines: IntArray, unit: int, t0: float
    ) -> Forcing | None:
        """The forcing when a relative gains by moving into the unit the person leaves
        (:meth:`_Residual.relative_moves_back`): the lexicographically best of its
        placements that keep every rule (the solver's stages, then the fewest people
        moved), or ``None`` when the method does not apply or none is valid."""
        options = graph.relative_moves_back(person, lines, unit)
        best: tuple[list[int], EditCheck] | None = None
        for new in options or ():
            check = self._check(new)
            if check.violations:
                continue
            key = [stage_value(check.after, *stage) for stage in graph.stages]
            key.append(int((new != self.x).sum()))
            if best is None or key < best[0]:
                best = key, check
        return None if best is None else self._forcing(person, unit, best[1], "path", t0)

    def _check(self, new: IntArray) -> EditCheck:
        """The moves from the run's placement to ``new``: violations and every term."""
        changed = np.flatnonzero(new != self.x)
        return self.session.check_lines(dict(zip(changed.tolist(), new[changed].tolist(), strict=True)))

    def _solve_forced(self, person: int, unit: int, t0: float) -> Forcing:
        from optimizer.solve import solve

        forced = with_fix_pin(self.problem, person, unit)
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
        return self._forcing(person, unit, self._check(result.assignment), "solve", t0)

    def _forcing(
        self, person: int, unit: int, check: EditCheck, method: Literal["path", "solve"], t0: float
    ) -> Forcing:
        new = check.assignment
        changed = np.flatnonzero(new != self.x)
        moves = tuple(Move(int(j), int(self.x[j]), int(new[j])) for j in changed if j != person)
        return Forcing(
            unit,
            True,
            int(new[person]),
            check.after,
            check.deltas,
            moves,
            None,
            method,
            time.perf_counter() - t0,
        )

    def _residual(self) -> _Residual:
        if self._graph is None:
            self._graph = _Residual(self.problem, self.cand, self.x)
        return self._graph

    def _backward(self, person: int) -> _Search | None:
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
    """The residual graph of the placement in the solver's flow model, with lexicographic
    reduced costs.

    The network is the solver's (:class:`~optimizer.solve.flow.FlowModel` over the same
    candidates): people, post lines and the sink.  Every arc with room is a forward arc
    (its cost), every arc carrying flow a backward one (minus its cost): a person takes a
    post line, a holder leaves one, a placed person becomes unplaced (when allowed), an
    unplaced person gets a post, a post line gets one holder more or fewer (the shortfall
    reward while under its min).  Pairs into a unit where a relative sits in conflict are
    closed (``blocked``).

    The costs are the solver's stages (:func:`optimizer.solve.engine.stage_plan`,
    :meth:`~optimizer.solve.flow.FlowModel.stage_cost`) followed by the ``hops``
    tie-break.  Node potentials of each stage (:func:`optimizer.solve.mincostflow.potentials`,
    over the arcs whose reduced cost is zero in every earlier stage) give every open arc a
    reduced-cost vector that is lexicographically non-negative — they exist exactly when
    the placement is optimal for this graph — so each search is one Dijkstra per stage.
    """

    def __init__(self, problem: Problem, cand: Candidates, x: IntArray) -> None:
        self.problem = problem
        self.cand = cand
        self.x = x
        model = FlowModel(problem, cand)
        net = model.net
        self.n, self.sink, self.num_nodes = net.num_persons, net.sink, net.num_nodes
        flow = model.flow_of(x)
        if flow is None:  # not a placement of this model: no path method
            flow = np.zeros(model.num_arcs, dtype=np.int64)
            self.usable = False
        else:
            self.usable = True
        fwd = np.flatnonzero(flow < net.cap)
        bwd = np.flatnonzero(flow > 0)
        arc = np.concatenate([fwd, bwd])
        back = np.arange(len(arc)) >= len(fwd)
        self.tail = np.where(back, net.head[arc], net.tail[arc])
        self.head = np.where(back, net.tail[arc], net.head[arc])
        kind = net.kind[arc]
        #: forward pair arcs (a person takes a post line) and forward unplaced arcs
        self.takes = ~back & (kind == PAIR)
        self.leaves = ~back & (kind == UNPLACED)
        self.ref = net.ref[arc]  # candidate index of a pair arc
        #: the room of each residual arc (what its network arc carries, or can still take)
        self.room = np.where(back, flow[arc], net.cap[arc] - flow[arc])
        self.blocked = np.zeros(len(arc), dtype=bool)
        takes = np.flatnonzero(self.takes)
        self.blocked[takes] = self._ban(self.ref[takes])
        self.has_bans = bool(self.blocked.any())
        sign = np.where(back, -1, 1)
        #: the solver's stages, ``(terms, weights)``
        self.stages = stage_plan(problem, model)
        self.costs = [sign * model.stage_cost(*stage)[arc] for stage in self.stages]
        self.costs.append((self.takes | self.leaves).astype(np.int64))  # hops
        self.by_tail = _Index(self.tail, self.head, self.num_nodes)
        self.by_head = _Index(self.head, self.tail, self.num_nodes)
        self._potentials: dict[bool, _Potentials | None] = {}

    def _ban(self, idx: IntArray, moved: tuple[int, int, bool] | None = None) -> np.ndarray:
        """For the candidate pairs ``idx``: closed by the relatives rule, given where every
        relative sits; ``moved = (person, unit, leadership)`` puts one person elsewhere."""
        c = self.cand
        return relatives.closed(self.problem, self.x, c.person[idx], c.post[idx], c.unit[idx], moved)

    def potentials(self, relaxed: bool = False) -> _Potentials | None:
        """Lexicographic potentials over the open arcs (every arc with ``relaxed``), or
        ``None`` when a stage has a negative cycle (the placement is not optimal there)
        or, with ``relaxed``, when the graph is larger than ``CERTIFY_MAX_ARCS`` (its
        costs are then dropped once the potentials are known: the reduced costs serve)."""
        if relaxed and len(self.tail) > CERTIFY_MAX_ARCS:
            return None
        if relaxed not in self._potentials:
            tight = np.ones(len(self.tail), dtype=bool) if relaxed else ~self.blocked
            pis, reduced = [], []
            for cost in self.costs:
                idx = np.flatnonzero(tight)
                ones, zeros = np.ones(len(idx), dtype=np.int64), np.zeros(len(idx), dtype=np.int64)
                try:
                    pi = potentials(
                        self.num_nodes, self.tail[idx], self.head[idx], ones, cost[idx], zeros, MAX_ROUNDS
                    )
                except RuntimeError:
                    self._potentials[relaxed] = None
                    return None
                rc = cost + pi[self.tail] - pi[self.head]
                pis.append(pi)
                reduced.append(rc.astype(np.int32) if np.abs(rc).max(initial=0) < 2**31 else rc)
                tight &= rc == 0
            self._potentials[relaxed] = _Potentials(pis, reduced)
            if len(self.tail) > CERTIFY_MAX_ARCS:
                self.costs = []  # the city's: 2.3 million arcs × stages, no longer needed
        return self._potentials[relaxed]

    def target(self, person: int) -> int:
        """Where the forced person's unit of flow is missing: their post line, or the sink."""
        return self.n + int(self.x[person]) if self.x[person] >= 0 else self.sink

    def _without(self, person: int) -> np.ndarray:
        """The open arcs, less every arc of ``person``."""
        active = ~self.blocked
        active[self.by_tail.arcs(person)] = False
        active[self.by_head.arcs(person)] = False
        return active

    def _active(self, person: int, lines: IntArray, unit: int) -> np.ndarray:
        """Arcs open once ``person`` gave up their own arc and may take only ``lines`` of
        ``unit``.  The person's relatives are closed out of ``unit`` (taken as a leadership
        post when any of ``lines`` is one) and no longer out of the person's old unit."""
        active = self._without(person)
        own = self.by_tail.arcs(person)
        active[own] = self.takes[own] & np.isin(self.head[own] - self.n, lines)
        rel = self.problem.relations
        kin = np.concatenate([rel.b_idx[rel.a_idx == person], rel.a_idx[rel.b_idx == person]]).astype(
            np.int64
        )
        if len(kin) and relatives.active(self.problem):
            arcs = np.concatenate([self.by_tail.arcs(k) for k in np.unique(kin)])
            arcs = arcs[self.takes[arcs]]
            moved = (person, unit, bool(self.problem.posts.leadership[lines].any()))
            active[arcs] = ~self._ban(self.ref[arcs], moved)
        return active

    def _search(self, source: int, active: np.ndarray, backward: bool, relaxed: bool) -> _Search | None:
        """Lexicographic shortest distances from ``source`` (to it when ``backward``) over
        the ``active`` arcs: one Dijkstra per stage over the arcs tight in the stages
        before; ``None`` when some active arc's reduced costs are lexicographically
        negative (the potentials do not hold for this graph) or too large to be exact."""
        pots = self.potentials(relaxed)
        if pots is None:
            return None
        index = self.by_head if backward else self.by_tail
        pos = np.flatnonzero(active[index.order])  # positions in the index's order, kept so
        arcs = index.order[pos]
        near, far = index.near[pos], index.far[pos]
        dists: list[np.ndarray] = []
        scales: list[float] = []
        previous = np.zeros(len(arcs))
        for rc in pots.reduced:
            lifted = _lifted(rc[arcs], previous)
            if lifted is None:
                return None
            weight, scale = lifted
            dist = dijkstra(index.graph(pos, weight), indices=source)
            finite = np.isfinite(dist)
            if dist[finite].max(initial=0.0) > _EXACT:
                return None
            dists.append(dist)
            scales.append(scale)
            a = dist[near]
            keep = np.isfinite(a) & (a + weight == dist[far])
            pos, arcs, near, far, previous = pos[keep], arcs[keep], near[keep], far[keep], weight[keep]
        active = np.zeros(len(self.tail), dtype=bool)
        active[arcs] = True
        return _Search(source, backward, dists, scales, pots.pis, active)

    def shortest_path(
        self, person: int, lines: IntArray, unit: int, *, relaxed: bool = False
    ) -> tuple[Literal["ok", "none", "diverged"], IntArray, list[int]]:
        """Route ``person`` into ``lines`` of ``unit`` along a lexicographically shortest
        augmenting path.

        Returns a status, the new placement (the base one unless ``"ok"``) and the path's
        cost per stage: ``"none"`` when no path exists, ``"diverged"`` when the placement
        is not optimal for this graph (no potentials, or a relative's reopened arc is
        lexicographically improving).  With ``relaxed`` every arc closed by the
        relatives rule is open.
        """
        target = self.target(person)
        active = self._active(person, lines, unit)
        if relaxed:
            active |= self.blocked
        search = self._search(person, active, False, relaxed)
        if search is None and not relaxed:
            search = self._search(person, active, False, True)  # potentials valid for any arcs
        if search is None:
            return "diverged", self.x, []
        if not np.isfinite(search.dists[-1][target]):
            return "none", self.x, []
        return "ok", self._apply_path(person, target, search.active), search.real(target)

    def independent(self, person: int) -> bool:
        """Whether the residual graph of forcing ``person`` is the same whatever the unit:
        true unless the person has relatives under the relatives rule."""
        rel = self.problem.relations
        if not relatives.active(self.problem):
            return True
        return not bool((rel.a_idx == person).any() or (rel.b_idx == person).any())

    def backward(self, person: int) -> _Search | None:
        """Lexicographic distances from every node to the person's missing unit of flow,
        without the person's own arcs; ``None`` when the potentials do not hold."""
        return self._search(self.target(person), self._without(person), True, False)

    def path_via(
        self, tree: _Search | None, person: int, lines: IntArray
    ) -> tuple[Literal["ok", "none", "diverged"], IntArray, list[int]]:
        """The forcing of ``person`` into ``lines`` from the distances of :meth:`backward`:
        the first arc minimises, stage by stage, its cost plus the distance from its post
        line; the rest of the path follows the tight arcs.  Same results as
        :meth:`shortest_path` (without the unit-dependent relatives closures)."""
        if tree is None:
            return "diverged", self.x, []
        own = self.by_tail.arcs(person)
        best = own[self.takes[own] & ~self.blocked[own] & np.isin(self.head[own] - self.n, lines)]
        pots = self.potentials()
        assert pots is not None  # the tree exists
        values = []
        for k, rc in enumerate(pots.reduced):
            via = rc[best] + tree.real_from(self.head[best], k)
            reachable = np.isfinite(via)
            if not reachable.any():
                return "none", self.x, []
            low = via[reachable].min()
            best = best[reachable & (via == low)]
            values.append(int(low) - int(pots.pis[k][person]) + int(pots.pis[k][tree.source]))
        first = int(best[0])
        new = self._apply_path(int(self.head[first]), tree.source, tree.active)
        new[person] = self.cand.post[self.ref[first]]
        return "ok", new, values

    def _apply_path(self, source: int, target: int, active: np.ndarray) -> IntArray:
        """Apply a path to the placement: the breadth-first tree of the tight arcs gives a
        simple path from ``source`` to the target, every arc of it tight, hence shortest."""
        arcs = np.flatnonzero(active)
        # one arc per pair of nodes (a post line's two arcs to the sink are parallel)
        arcs = arcs[np.unique(self.tail[arcs] * self.num_nodes + self.head[arcs], return_index=True)[1]]
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
            if self.takes[arc]:
                new[self.tail[arc]] = self.cand.post[self.ref[arc]]
            elif self.leaves[arc]:
                new[self.tail[arc]] = -1
            node = prev
        return new

    def relative_moves_back(self, person: int, lines: IntArray, unit: int) -> list[IntArray] | None:
        """The forcings of ``person`` into ``lines`` of ``unit`` when a relative of the
        person would gain by moving into the unit the person leaves: the best placement
        where no relative takes such an arc, and the best where the relative does.

        Leaving the unit opens the relatives' arcs into it (closed while the person sat
        there); the potentials of the placement do not cover them, and one of them with
        a lexicographically negative reduced cost makes the forced optimum more than one
        augmenting path.  Every other arc keeps a non-negative reduced cost, so an
        optimum either uses none of those negative arcs — one shortest path without them
        — or moves that relative into the unit by one of its reopened arcs: then two
        units of flow are re-routed, the person's and the relative's, a min-cost flow of
        two units solved by successive shortest paths (:func:`_two_paths`).  Returns the
        two placements (either may be missing), or ``None`` when the method does not
        apply (no potentials, or more than one relative with such arcs).
        """
        pots = self.potentials()
        if pots is None:
            return None
        active = self._active(person, lines, unit)
        reopened = active & self.blocked
        negative = _lex_negative(pots.reduced, reopened)
        movers = np.unique(self.tail[negative])
        if len(movers) != 1:
            return None
        relative = int(movers[0])
        found: list[IntArray] = []
        without = active & ~negative
        search = self._search(person, without, False, False)
        target = self.target(person)
        if search is not None and np.isfinite(search.dists[-1][target]):
            found.append(self._apply_path(person, target, search.active))
        # the relative moves into the person's unit: it leaves its own arc, takes a
        # reopened one, and its arcs' reduced costs are shifted by the cheapest of those
        # (a constant for every flow of this kind)
        moving = active.copy()
        moving[self.by_tail.arcs(relative)] = False
        moving[self.by_head.arcs(relative)] = False
        own = self.by_tail.arcs(relative)
        own = own[reopened[own]]
        moving[own] = True
        order = self.by_tail.order
        idx = order[moving[order]]  # sorted by tail: the searches' graphs build fast
        mine = np.zeros(len(self.tail), dtype=bool)
        mine[own] = True
        mine = mine[idx]
        low = _lex_min([rc[own] for rc in pots.reduced])

        def costs(k: int, arcs: IntArray) -> np.ndarray:
            out = pots.reduced[k][idx[arcs]].astype(np.int64)
            out[mine[arcs]] -= low[k]
            return out

        paths = _two_paths(
            self.num_nodes,
            self.tail[idx],
            self.head[idx],
            self.room[idx],
            costs,
            len(pots.reduced),
            (person, relative),
            (target, self.target(relative)),
        )
        if paths is not None:
            new = self.x.copy()
            for tails, heads in paths:  # a person node's arcs out: a post line, or unplaced
                out = tails < self.n
                new[tails[out]] = np.where(heads[out] == self.sink, -1, heads[out] - self.n)
            found.append(new)
        return found

    def blocking_rule(self, person: int, lines: IntArray, unit: int) -> str:
        """Which hard rule keeps ``person`` out of ``lines`` when no augmenting path exists:
        ``one_post`` when the person could displace someone who may not stay unplaced only
        because everyone must be placed (require_all_placed), else ``post_max`` (the posts
        are held by people who cannot move)."""
        if not self.problem.rules.require_all_placed:
            return "post_max"
        active = self._active(person, lines, unit)
        pos = np.flatnonzero(active[self.by_tail.order])
        graph = self.by_tail.graph(pos, np.ones(len(pos)))
        reach = breadth_first_order(graph, person, directed=True, return_predecessors=False)
        pins = self.problem.pins
        fixed = np.zeros(self.n, dtype=bool)
        fixed[pins.staff_idx[np.array(pins.mode, dtype=object) == "fix"]] = True
        movable = (self.x >= 0) & ~fixed
        movable[person] = False
        reached = np.zeros(self.n, dtype=bool)
        reached[reach[reach < self.n]] = True
        return "one_post" if (movable & reached).any() else "post_max"


@dataclass(frozen=True)
class _Potentials:
    """Node potentials per stage and every arc's reduced cost under them."""

    pis: list[IntArray]
    reduced: list[IntArray]


@dataclass(frozen=True)
class _Search:
    """The distances of one lexicographic search (in reduced costs, one array per stage)
    and the arcs tight in every stage.

    Stage ``k`` weighs an arc ``rc_k + scales[k] × w_{k-1}`` (``w_{k-1}`` its weight in the
    stage before), and over arcs tight in that stage the second part sums to
    ``scales[k] × dists[k-1]`` at the far node whatever the path: it is subtracted back.
    """

    source: int
    backward: bool
    dists: list[np.ndarray]
    scales: list[float]
    pis: list[IntArray]
    active: np.ndarray

    def real_from(self, nodes: IntArray, k: int) -> np.ndarray:
        """Stage ``k``'s distance between ``nodes`` and the source in reduced costs (``inf``
        when unreachable), the earlier stages' share taken out."""
        dist = self.dists[k][nodes]
        if k == 0:
            return dist
        return np.where(np.isfinite(dist), dist - self.scales[k] * self.dists[k - 1][nodes], np.inf)

    def real(self, node: int) -> list[int]:
        """The path's cost in each stage, in the stage's own costs."""
        sign = -1 if self.backward else 1
        return [
            int(self.real_from(np.array([node]), k)[0]) + sign * int(pi[node] - pi[self.source])
            for k, pi in enumerate(self.pis)
        ]


def _lifted(rc: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, float] | None:
    """A stage's weights over the arcs tight in the stages before: their reduced costs
    ``rc``, plus the least multiple ``scale`` of the earlier stage's weights ``previous``
    that makes the arcs dearer there non-negative (constant over the tight paths to one
    node: see :class:`_Search`); ``None`` when an arc stays negative."""
    weight = rc.astype(np.float64)
    paid = previous > 0
    scale = float(np.max(np.ceil((1 - weight[paid]) / previous[paid]), initial=0.0))
    if scale:
        weight += scale * previous
    if (weight < 0).any():
        return None
    return weight, scale


def _lex_negative(reduced: list[IntArray], mask: np.ndarray) -> np.ndarray:
    """Which arcs of ``mask`` have a lexicographically negative reduced-cost vector
    (``reduced``: one array per stage)."""
    negative = np.zeros(len(mask), dtype=bool)
    decided = ~mask
    for rc in reduced:
        negative |= ~decided & (rc < 0)
        decided |= rc != 0
    return negative


def _lex_min(vectors: list[np.ndarray]) -> list[int]:
    """The lexicographically least of the vectors given by component (one array per
    stage, one entry per vector)."""
    keep = np.ones(len(vectors[0]), dtype=bool)
    low: list[int] = []
    for v in vectors:
        least = int(v[keep].min())
        low.append(least)
        keep &= v == least
    return low


#: The reduced costs of a stage at some arcs: ``costs(stage, arcs)`` (computed only for
#: the arcs a search still uses, as the later stages keep only the tight ones).
StageCosts = Callable[[int, IntArray], np.ndarray]


def _lex_distances(
    num_nodes: int, tail: IntArray, head: IntArray, costs: StageCosts, stages: int, sources: tuple[int, ...]
) -> tuple[list[np.ndarray], np.ndarray] | None:
    """Lexicographic shortest distances from the nearest of ``sources`` over the arcs
    ``(tail, head)`` (best sorted by tail) with the reduced costs ``costs`` of
    ``stages`` stages: each stage one Dijkstra over the arcs tight in the stages before
    (as :meth:`_Residual._search`).  Returns each stage's distance in its own reduced
    costs (``inf`` where unreachable) and the arcs tight in every stage; ``None`` when
    an arc's vector is lexicographically negative or a distance too large to be exact."""
    arcs = np.arange(len(tail))
    previous = np.zeros(len(tail))
    dists: list[np.ndarray] = []
    real: list[np.ndarray] = []
    for k in range(stages):
        lifted = _lifted(costs(k, arcs), previous)
        if lifted is None:
            return None
        weight, scale = lifted
        graph = arc_matrix(num_nodes, tail[arcs], head[arcs], weight)
        dist = dijkstra(graph, indices=list(sources), min_only=True)
        finite = np.isfinite(dist)
        if dist[finite].max(initial=0.0) > _EXACT:
            return None
        real.append(dist if not dists else np.where(finite, dist - scale * dists[-1], np.inf))
        dists.append(dist)
        a = dist[tail[arcs]]
        keep = np.isfinite(a) & (a + weight == dist[head[arcs]])
        arcs, previous = arcs[keep], weight[keep]
    tight = np.zeros(len(tail), dtype=bool)
    tight[arcs] = True
    return real, tight


def _tight_path(
    num_nodes: int, tail: IntArray, head: IntArray, tight: np.ndarray, source: int, target: int
) -> IntArray | None:
    """The arcs of a simple path of ``tight`` arcs from ``source`` to ``target`` (the
    breadth-first tree's), or ``None``."""
    arcs = np.flatnonzero(tight)
    arcs = arcs[np.unique(tail[arcs] * num_nodes + head[arcs], return_index=True)[1]]
    arc_id = sp.csr_matrix((np.arange(1, len(arcs) + 1), (tail[arcs], head[arcs])), shape=(num_nodes,) * 2)
    _, pred = breadth_first_order(arc_id, source, directed=True, return_predecessors=True)
    path: list[int] = []
    node = target
    while node != source:
        prev = int(pred[node])
        if prev < 0:
            return None
        path.append(int(arcs[int(arc_id[prev, node]) - 1]))
        node = prev
    return np.array(path[::-1], dtype=np.int64)


def _two_paths(
    num_nodes: int,
    tail: IntArray,
    head: IntArray,
    room: IntArray,
    costs: StageCosts,
    stages: int,
    sources: tuple[int, int],
    sinks: tuple[int, int],
) -> list[tuple[IntArray, IntArray]] | None:
    """A min-cost flow of two units from ``sources`` (one each) to ``sinks`` (one
    each) over arcs with ``room`` whose reduced-cost vectors are lexicographically
    non-negative: successive shortest paths.  The first path goes from the nearer
    source to the nearer sink; the potentials then rise by its distances (capped at the
    sink's, so that every arc keeps a non-negative vector and the path's reversed arcs
    a zero one) and the second path runs in the residual graph, where it may undo part
    of the first.  Returns the two paths as (tails, heads) in the order to apply them,
    or ``None`` when a unit cannot be routed."""
    first = _lex_distances(num_nodes, tail, head, costs, stages, sources)
    if first is None:
        return None
    real, tight = first
    reach = [s for s in sinks if np.isfinite(real[-1][s])]
    if not reach:
        return None
    sink = min(reach, key=lambda z: [float(d[z]) for d in real])
    path = None
    for source in sources:
        path = _tight_path(num_nodes, tail, head, tight, source, sink)
        if path is not None:
            break
    if path is None:
        return None
    other_source = sources[1] if source == sources[0] else sources[0]
    other_sink = sinks[1] if sink == sinks[0] else sinks[0]
    # distances capped at the sink's, lexicographically
    cap = [float(d[sink]) for d in real]
    beyond = np.zeros(num_nodes, dtype=bool)
    decided = np.zeros(num_nodes, dtype=bool)
    for d, c in zip(real, cap, strict=True):
        beyond |= ~decided & ~(d <= c)  # inf (unreachable) is beyond
        decided |= d != c
    pot = [np.where(beyond, c, d) for d, c in zip(real, cap, strict=True)]
    used = np.zeros(len(tail), dtype=bool)
    used[path] = room[path] <= 1  # full once the first unit passes
    kept = np.flatnonzero(~used)
    tail2 = np.concatenate([tail[kept], head[path]])
    head2 = np.concatenate([head[kept], tail[path]])

    def residual(k: int, arcs: IntArray) -> np.ndarray:
        """Stage ``k``'s reduced costs after the first path: the reversed arcs cost
        minus what they cost, every arc raised by the potentials ``pot``."""
        old = arcs < len(kept)
        out = np.empty(len(arcs), dtype=np.int64)
        out[old] = costs(k, kept[arcs[old]])
        out[~old] = -costs(k, path[arcs[~old] - len(kept)])
        return out + (pot[k][tail2[arcs]] - pot[k][head2[arcs]]).astype(np.int64)

    second = _lex_distances(num_nodes, tail2, head2, residual, stages, (other_source,))
    if second is None or not np.isfinite(second[0][-1][other_sink]):
        return None
    back = _tight_path(num_nodes, tail2, head2, second[1], other_source, other_sink)
    if back is None:
        return None
    return [(tail[path], head[path]), (tail2[back], head2[back])]


class _Index:
    """Arcs sorted by one endpoint (``near``): a CSR structure over ``far``, of which every
    search takes the arcs it uses, by their positions in this order, with their weights."""

    def __init__(self, near: IntArray, far: IntArray, num_nodes: int) -> None:
        self.order = np.argsort(near, kind="stable")
        self.start = np.searchsorted(near[self.order], np.arange(num_nodes + 1))
        self.near = near[self.order].astype(np.int32)
        self.far = far[self.order].astype(np.int32)
        self.num_nodes = num_nodes

    def arcs(self, node: int) -> IntArray:
        """Indices of every arc at ``node``."""
        return self.order[self.start[node] : self.start[node + 1]]

    def graph(self, pos: IntArray, weight: np.ndarray) -> sp.csr_matrix:
        """The arcs at positions ``pos`` (ascending) of this order as a sparse matrix of
        ``weight`` (parallel arcs kept)."""
        indptr = np.searchsorted(pos, self.start).astype(np.int32)
        shape = (self.num_nodes, self.num_nodes)
        return sp.csr_matrix((weight, self.far[pos], indptr), shape=shape)
