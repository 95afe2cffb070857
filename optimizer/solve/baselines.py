"""Reference solvers on the same candidate set: greedy, HiGHS MIP, naive CP-SAT (layer 6).

They exist to measure staffplan against (``benchmarks/``) and to serve as independent
optima in tests on small instances.  All three model every hard rule; the MIP and
CP-SAT solve the lexicographic objective stage by stage, each stage constrained to
the values of the previous ones.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.data import CHANGES, LEADERSHIP_SHORTFALL_WEIGHT, IntArray, Problem
from optimizer.rules import relatives
from optimizer.solve.candidates import Candidates, build_candidates
from optimizer.solve.killable import ColumnMatrix, MipJob, solve_mip
from optimizer.solve.relatives import relative_conflicts, relative_rows
from optimizer.solve.stages import objective_stages


@dataclass(frozen=True)
class BaselineResult:
    """A baseline's placement and how it ended."""

    name: str
    assignment: IntArray
    status: str  # optimal | feasible | no_solution | infeasible
    time_s: float
    bounds: dict[str, float]


def greedy(problem: Problem, cand: Candidates | None = None, order: IntArray | None = None) -> BaselineResult:
    """Each person in roster order takes the nearest candidate post with room whose unit
    holds no relative in conflict; else stays unplaced (people who must be placed first).
    ``order`` is ``cand.nearest_first()`` when the caller has it already."""
    t0 = time.perf_counter()
    cand = cand or build_candidates(problem)
    post = cand.post[cand.nearest_first() if order is None else order]
    # each person's pairs, nearest first, are post[starts[i] : starts[i + 1]]
    counts = np.bincount(cand.person, minlength=problem.num_staff)
    ends = np.cumsum(counts)
    starts = [0, *ends.tolist()]
    # each person's nearest line (-1: none), read in one pass
    nearest = np.full(problem.num_staff, -1, dtype=np.int64)
    some = counts > 0
    nearest[some] = post[(ends - counts)[some]]
    nearest_of = nearest.tolist()
    room = problem.posts.max.tolist()
    out = np.full(problem.num_staff, -1, dtype=np.int64)
    relatives: dict[int, list[int]] = {}
    for a, b in zip(problem.relations.a_idx, problem.relations.b_idx, strict=True):
        relatives.setdefault(int(a), []).append(int(b))
        relatives.setdefault(int(b), []).append(int(a))
    people = np.argsort(cand.can_stay_unplaced, kind="stable").tolist()  # who must be placed first
    for i in people:
        p = nearest_of[i]
        if p >= 0 and room[p] > 0 and i not in relatives:  # the usual: the nearest line has room
            out[i] = p
            room[p] -= 1
            continue
        for p in _nearest(post, starts[i], starts[i + 1]):
            if room[p] <= 0:
                continue
            out[i] = p
            if relatives.get(i) and relative_conflicts(problem, out):
                out[i] = -1
                continue
            room[p] -= 1
            break
    return BaselineResult("greedy", out, "feasible", time.perf_counter() - t0, {})


def _nearest(post: IntArray, start: int, stop: int, window: int = 16) -> Iterator[int]:
    """``post[start:stop]`` as Python ints, a few at a time: greedy mostly stops at one of
    a person's first lines, so the rest are never turned into Python objects."""
    while start < stop:
        yield from post[start : min(stop, start + window)].tolist()
        start += window
        window *= 4


def valid_greedy(problem: Problem, cand: Candidates | None = None) -> BaselineResult:
    """The greedy baseline made valid: chains of moves place everyone who must be placed
    (``fix`` pins, ``require_all_placed``) and fill every hard minimum (``min_is_hard``).

    The pair-wise hard rules (qualification, commute cap, island, non-local, service
    left, ``fix`` and ``forbid`` pins, ``bloc_change = "forbid"``) hold already: greedy
    only takes candidate pairs, and ``max`` is never exceeded.  Each chain (see
    :class:`_Chains`) keeps the relatives rule; when some person or post line has no
    such chain, greedy cannot be made valid this way and the status is
    ``"no_solution"`` (the assignment is then the best attempt, not valid).
    """
    t0 = time.perf_counter()
    cand = cand or build_candidates(problem)
    order = cand.nearest_first()  # sorted once for greedy and the chains
    out = greedy(problem, cand, order).assignment
    filled = np.bincount(out[out >= 0], minlength=problem.num_posts)
    short = problem.rules.min_is_hard and bool((filled < problem.posts.min).any())
    if short or ((out < 0) & ~cand.can_stay_unplaced).any():
        chains = _Chains(problem, cand, out, order)
        valid = chains.place_everyone() and chains.fill_minimums()
        out = chains.out
    else:
        valid = True
    status = "feasible" if valid else "no_solution"
    return BaselineResult("greedy", out, status, time.perf_counter() - t0, {})


class _Runs:
    """``values`` split by their sorted ``keys`` ``0 … count - 1``: run ``k`` as a Python
    list, made when first asked (the chains read the runs of few people and lines)."""

    def __init__(self, values: IntArray, keys: IntArray, count: int) -> None:
        self._values = values
        self._starts: list[int] = np.searchsorted(keys, np.arange(count + 1)).tolist()
        self._made: dict[int, list[int]] = {}

    def __getitem__(self, k: int) -> list[int]:
        run = self._made.get(k)
        if run is None:
            run = self._made[k] = self._values[self._starts[k] : self._starts[k + 1]].tolist()
        return run


class _Chains:
    """Chains of moves (augmenting paths over the candidate pairs) that make a placement
    obey the cardinality rules without breaking the others.

    A chain that places person ``i`` runs from ``i`` through full post lines, each of
    whose holders moves on to another of their candidate post lines, and ends at a line
    with room, or else at a holder who may stay unplaced; a chain that fills a post line
    short of its hard minimum runs backwards through holders of lines at their minimum
    and ends at an unplaced person or at a line above its minimum.  Moves skip the post
    lines where a relative would break the rule; a chain whose moves together still
    break it is undone.  A person whom a placed relative keeps out of every line is
    placed by making way: the relative leaves their post and is placed again by a chain
    (e.g. a leader kept in their unit steps down to a professional line there so that
    a relative kept there too can be placed).
    """

    def __init__(
        self, problem: Problem, cand: Candidates, assignment: IntArray, order: IntArray | None = None
    ) -> None:
        self.problem = problem
        self.cand = cand
        self.out = assignment.copy()
        if order is None:
            order = cand.nearest_first()
        #: each person's candidate lines, nearest first
        self.posts_of = _Runs(cand.post[order], cand.person[order], problem.num_staff)
        #: each line's maximum and who may stay unplaced, as Python lists (read per step)
        self.room: list[int] = problem.posts.max.tolist()
        self.may_stay: list[bool] = cand.can_stay_unplaced.tolist()
        placed = np.flatnonzero(self.out >= 0)
        self.holders: list[set[int]] = [set() for _ in range(problem.num_posts)]
        for i, q in zip(placed.tolist(), self.out[placed].tolist(), strict=True):
            self.holders[q].add(i)
        self.relatives: dict[int, list[int]] = {}
        for a, b in zip(problem.relations.a_idx.tolist(), problem.relations.b_idx.tolist(), strict=True):
            self.relatives.setdefault(a, []).append(b)
            self.relatives.setdefault(b, []).append(a)

    @functools.cached_property
    def people_of(self) -> _Runs:
        """Each line's candidates (only the hard minimums' chains read them)."""
        by_post = np.argsort(self.cand.post, kind="stable")
        return _Runs(self.cand.person[by_post], self.cand.post[by_post], self.problem.num_posts)

    def fits(self, person: int, post: int) -> bool:
        """Whether ``person`` on ``post`` keeps the relatives rule with the others as they are."""
        posts = self.problem.posts
        for other in self.relatives.get(person, ()):
            there = int(self.out[other])
            if (
                there >= 0
                and posts.unit_idx[there] == posts.unit_idx[post]
                and relatives.forbids(
                    self.problem, bool(posts.leadership[post]), bool(posts.leadership[there])
                )
            ):
                return False
        return True

    def move(self, person: int, post: int) -> None:
        """Put ``person`` on ``post`` (``-1``: unplaced)."""
        before = int(self.out[person])
        if before >= 0:
            self.holders[before].discard(person)
        if post >= 0:
            self.holders[post].add(person)
        self.out[person] = post

    def apply(self, moves: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """Make ``moves`` (person, post) and give the moves that undo them; ``None`` (and
        nothing made) when there is no move or together they break the relatives rule."""
        undo = [(i, int(self.out[i])) for i, _ in reversed(moves)]
        for i, q in moves:
            self.move(i, q)
        if moves and not relatives.conflicts(self.problem, self.out):
            return undo
        for i, q in undo:
            self.move(i, q)
        return None

    def place_everyone(self) -> bool:
        """Place every unplaced person who must be placed; whether all were."""
        must = np.flatnonzero((self.out < 0) & ~self.cand.can_stay_unplaced)
        return all(self._place(int(i)) for i in must.tolist())

    def _place(self, person: int) -> bool:
        """Place ``person`` by a chain, or else by making way (:meth:`_make_way`) with
        one of their placed relatives."""
        if self.apply(self._placing(person)) is not None:
            return True
        return any(
            self.out[other] >= 0 and self._make_way(person, other) for other in self.relatives.get(person, ())
        )

    def _make_way(self, person: int, other: int) -> bool:
        """Take relative ``other`` off their post, then place ``person`` and ``other`` by
        chains, in this order (``other`` may stay unplaced when allowed) or ``other``
        first on another post; whether it worked (else nothing changed)."""
        before = int(self.out[other])
        self.move(other, -1)
        undo = self.apply(self._placing(person))
        if undo is not None:
            if self.cand.can_stay_unplaced[other] or self.apply(self._placing(other)) is not None:
                return True
            self.apply(undo)
        undo = self.apply(self._placing(other, avoid=before))
        if undo is not None:
            if self.apply(self._placing(person)) is not None:
                return True
            self.apply(undo)
        self.move(other, before)
        return False

    def _placing(self, person: int, avoid: int = -1) -> list[tuple[int, int]]:
        """The moves of a shortest chain that places ``person`` (on another line than
        ``avoid``); empty when there is none.

        Breadth first; a line is looked at for room as it joins the queue, so the chain
        ends at the first line with room in queue order (the one reading the queue would
        reach first) without expanding the lines queued before it."""
        room, may_stay = self.room, self.may_stay
        came: dict[int, tuple[int, int]] = {}
        queue: list[int] = []
        for q in self.posts_of[person]:
            if q != avoid and q not in came and self.fits(person, q):
                came[q] = (person, -1)
                if len(self.holders[q]) < room[q]:
                    return self._unwind(came, q, [])
                queue.append(q)
        evict: tuple[int, int] | None = None
        for q in queue:  # the queue grows as it is read
            for j in sorted(self.holders[q]):
                if evict is None and may_stay[j]:
                    evict = (j, q)
                for q2 in self.posts_of[j]:
                    if q2 not in came and self.fits(j, q2):
                        came[q2] = (j, q)
                        if len(self.holders[q2]) < room[q2]:
                            return self._unwind(came, q2, [])
                        queue.append(q2)
        if evict is None:
            return []
        return self._unwind(came, evict[1], [(evict[0], -1)])

    @staticmethod
    def _unwind(
        came: dict[int, tuple[int, int]], post: int, moves: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The moves along ``came`` back from ``post`` (each person onto the line it reached)."""
        while post >= 0:
            person, before = came[post]
            moves.append((person, post))
            post = before
        return moves

    def fill_minimums(self) -> bool:
        """Bring every post line to its hard minimum (``min_is_hard``); whether all were."""
        if not self.problem.rules.min_is_hard:
            return True
        low = self.problem.posts.min
        for q in range(self.problem.num_posts):
            while len(self.holders[q]) < low[q]:
                if self.apply(self._filling(q)) is None:
                    return False
        return True

    def _filling(self, post: int) -> list[tuple[int, int]]:
        """The moves of a shortest chain that brings one more person to ``post``: from an
        unplaced person or a line above its minimum, through lines at their minimum."""
        low = self.problem.posts.min
        sent: dict[int, tuple[int, int]] = {post: (-1, -1)}  # line -> (who leaves it, for which line)
        queue = [post]
        for q in queue:
            for j in self.people_of[q]:
                there = int(self.out[j])
                if there == q or there in sent or not self.fits(j, q):
                    continue
                if there < 0 or len(self.holders[there]) > low[there]:
                    moves = [(j, q)]
                    while q != post:
                        person, q = sent[q]
                        moves.append((person, q))
                    return moves
                sent[there] = (j, q)
                queue.append(there)
        return []


def _term_vectors(problem: Problem, cand: Candidates) -> dict[str, np.ndarray]:
    """Objective coefficient of each term over the columns [pairs | unplaced | shortfall]."""
    n_pairs, n, p = len(cand), problem.num_staff, problem.num_posts
    mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1).astype(float)
    zeros_p, zeros_n = np.zeros(n_pairs), np.zeros(n)
    vecs = {
        "shortfall": np.concatenate([zeros_p, zeros_n, mult]),
        "unplaced": np.concatenate([zeros_p, np.ones(n), np.zeros(p)]),
    }
    for term in ("moves", "long_commute", "commute", "preference"):
        vecs[term] = np.concatenate([cand.term(term).astype(float), zeros_n, np.zeros(p)])
    was_placed = (cand.reference >= 0).astype(float) if cand.reference is not None else zeros_n
    vecs[CHANGES] = np.concatenate([cand.changes.astype(float), was_placed, np.zeros(p)])
    return vecs


def _whole_model_rows(problem: Problem, cand: Candidates) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """The rows of the whole model over the columns [pairs | unplaced | shortfall], with
    their lower and upper bounds: one post per person (``Σ x + u = 1``), each line's
    minimum (``min ≤ Σ x + s``) and maximum (``Σ x ≤ max``), and the relatives rows
    (``Σ x ≤ 1``)."""
    n_pairs, n, p = len(cand), problem.num_staff, problem.num_posts
    rows_i: list[np.ndarray] = [cand.person, np.arange(n)]
    rows_j: list[np.ndarray] = [np.arange(n_pairs), n_pairs + np.arange(n)]
    lower: list[np.ndarray] = [np.ones(n)]
    upper: list[np.ndarray] = [np.ones(n)]
    r = n
    rows_i += [r + cand.post, r + np.arange(p)]
    rows_j += [np.arange(n_pairs), n_pairs + n + np.arange(p)]
    lower.append(problem.posts.min.astype(float))
    upper.append(np.full(p, np.inf))
    r += p
    rows_i.append(r + cand.post)
    rows_j.append(np.arange(n_pairs))
    lower.append(np.full(p, -np.inf))
    upper.append(problem.posts.max.astype(float))
    r += p
    for cols in relative_rows(problem, cand):
        rows_i.append(np.full(len(cols), r))
        rows_j.append(cols)
        lower.append(np.array([-np.inf]))
        upper.append(np.array([1.0]))
        r += 1
    a = sp.csc_matrix(
        (np.ones(sum(len(x) for x in rows_i)), (np.concatenate(rows_i), np.concatenate(rows_j))),
        shape=(r, n_pairs + n + p),
    )
    return a, np.concatenate(lower), np.concatenate(upper)


def highs_mip(
    problem: Problem,
    time_limit_s: float = 120.0,
    cand: Candidates | None = None,
    *,
    threads: int = 1,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
) -> BaselineResult:
    """Solve the full model (relatives included) with HiGHS, lexicographically.

    ``threads`` and ``seed`` go to HiGHS; ``stop()`` returning true interrupts it (the
    result is then that of an early stop).  A large model runs in a child process killed
    at the time limit (:func:`~optimizer.solve.killable.solve_mip`).
    """
    t0 = time.perf_counter()
    cand = cand or build_candidates(problem)
    n_pairs, n = len(cand), problem.num_staff
    a, lower, upper = _whole_model_rows(problem, cand)
    num_cols = a.shape[1]
    col_upper = np.concatenate(
        [
            np.ones(n_pairs),
            cand.can_stay_unplaced.astype(float),
            np.zeros(problem.num_posts) if problem.rules.min_is_hard else problem.posts.min.astype(float),
        ]
    )
    vecs = _term_vectors(problem, cand)
    stages = objective_stages(problem)
    costs = tuple(
        sum((w * vecs[term] for term, w in zip(terms, weights, strict=True)), np.zeros(num_cols))
        for terms, weights in stages
    )
    job = MipJob(ColumnMatrix.of(a), col_upper, lower, upper, np.arange(num_cols) < n_pairs, costs)
    outcome = solve_mip(job, time_limit_s - (time.perf_counter() - t0), threads=threads, seed=seed, stop=stop)
    status, bounds = "optimal", {}
    x = None
    for k, (terms, _) in enumerate(stages):
        stage = outcome.stages[k] if k < len(outcome.stages) else None
        if stage is not None and stage.status == "infeasible":
            return BaselineResult("highs", np.full(n, -1), "infeasible", time.perf_counter() - t0, {})
        if stage is None or stage.x is None:
            # No MIP solution for this stage (the time limit hit first): keep the last one.
            status = "no_solution" if x is None else "feasible"
            break
        x = stage.x
        bounds["+".join(terms)] = stage.bound
        if stage.status != "optimal":
            status = "feasible"
            break
    assignment = np.full(n, -1, dtype=np.int64)
    if x is not None:
        chosen = np.flatnonzero(x[:n_pairs] > 0.5)
        assignment[cand.person[chosen]] = cand.post[chosen]
    return BaselineResult("highs", assignment, status, time.perf_counter() - t0, bounds)


def naive_cpsat(
    problem: Problem,
    time_limit_s: float = 120.0,
    workers: int = 2,
    seed: int = 0,
    cand: Candidates | None = None,
) -> BaselineResult:
    """One Boolean per candidate pair, the whole model in CP-SAT, lexicographic stages."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    cand = cand or build_candidates(problem)
    n, p = problem.num_staff, problem.num_posts
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{k}") for k in range(len(cand))]
    by_person: list[list[int]] = [[] for _ in range(n)]
    by_post: list[list[int]] = [[] for _ in range(p)]
    for k, (i, q) in enumerate(zip(cand.person, cand.post, strict=True)):
        by_person[i].append(k)
        by_post[q].append(k)
    unplaced = []
    for i in range(n):
        if cand.can_stay_unplaced[i]:
            u = m.new_bool_var(f"u{i}")
            m.add(sum(x[k] for k in by_person[i]) + u == 1)
            unplaced.append(u)
        else:
            m.add(sum(x[k] for k in by_person[i]) == 1)
    short = []
    mult = np.where(problem.posts.leadership, LEADERSHIP_SHORTFALL_WEIGHT, 1)
    for q in range(p):
        filled = sum(x[k] for k in by_post[q])
        m.add(filled <= int(problem.posts.max[q]))
        s = m.new_int_var(0, 0 if problem.rules.min_is_hard else int(problem.posts.min[q]), f"s{q}")
        m.add(filled + s >= int(problem.posts.min[q]))
        short.append(int(mult[q]) * s)
    for cols in relative_rows(problem, cand):
        m.add(sum(x[k] for k in cols) <= 1)
    exprs = {"shortfall": sum(short), "unplaced": sum(unplaced)}
    for term in ("moves", "long_commute", "commute", "preference"):
        c = cand.term(term)
        nz = np.flatnonzero(c)
        exprs[term] = cp_model.LinearExpr.weighted_sum([x[k] for k in nz], [int(c[k]) for k in nz])
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status_name, bounds, best = "optimal", {}, None
    for terms, weights in objective_stages(problem):
        remaining = time_limit_s - (time.perf_counter() - t0)
        if remaining <= 0:
            status_name = "feasible" if best is not None else "no_solution"
            break
        solver.parameters.max_time_in_seconds = remaining
        obj = sum(int(w) * exprs[t] for t, w in zip(terms, weights, strict=True))
        m.minimize(obj)
        st = solver.solve(m)
        if st == cp_model.INFEASIBLE:
            return BaselineResult("cpsat", np.full(n, -1), "infeasible", time.perf_counter() - t0, {})
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            status_name = "no_solution" if best is None else "feasible"
            break
        best = np.array([solver.boolean_value(v) for v in x], dtype=bool)
        bounds["+".join(terms)] = solver.best_objective_bound
        if st != cp_model.OPTIMAL:
            status_name = "feasible"
            break
        m.add(obj <= round(solver.objective_value))
    assignment = np.full(n, -1, dtype=np.int64)
    if best is not None:
        chosen = np.flatnonzero(best)
        assignment[cand.person[chosen]] = cand.post[chosen]
    return BaselineResult("cpsat", assignment, status_name, time.perf_counter() - t0, bounds)
