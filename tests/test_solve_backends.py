"""The two min-cost flow back-ends (``optimizer/solve/mincostflow.py``) against each other.

LEMON's network simplex (``pylmcf``) and OR-Tools' ``SimpleMinCostFlow`` must agree on
whether a flow exists and on its optimal cost, and each must return optimal potentials:
complementary slackness holds on every arc and the dual objective equals the flow's
cost.  The pointwise largest optimal potentials ``π ≤ 0`` are unique, so the two
back-ends' potentials must be equal too.  Checked on random graphs (negative costs and
cycles included) and on the flow models of generated provinces of several shapes, at
their stage costs moved by multipliers of either sign, from a small start with bans.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.data import IntArray, Problem
from optimizer.io.build import load_problem
from optimizer.io.scenario import load_scenario
from optimizer.shapes import SHAPES, write_province
from optimizer.solve import engine
from optimizer.solve.candidates import build_candidates
from optimizer.solve.flow import PAIR, POST_MIN, UNPLACED, UNREACHABLE, FlowModel, FlowSolution
from optimizer.solve.mincostflow import (
    FlowInfeasible,
    LemonFlow,
    OrToolsFlow,
    backend,
    canonical_potentials,
    reoptimise,
    residual,
)

BACKENDS = (LemonFlow(), OrToolsFlow())


@st.composite
def graphs(draw: st.DrawFn) -> tuple[int, IntArray, IntArray, IntArray, IntArray, IntArray]:
    """A random min-cost flow problem: parallel arcs, negative costs and cycles allowed,
    supplies summing to zero (often infeasible)."""
    n = draw(st.integers(2, 8))
    m = draw(st.integers(0, 24))
    tail = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    step = np.array(draw(st.lists(st.integers(1, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    head = (tail + step) % n  # no loops
    cap = np.array(draw(st.lists(st.integers(0, 4), min_size=m, max_size=m)), dtype=np.int64)
    cost = np.array(draw(st.lists(st.integers(-20, 20), min_size=m, max_size=m)), dtype=np.int64)
    supply = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=np.int64)
    supply[-1] -= supply.sum()
    return n, tail, head, cap, cost, supply


def assert_optimal_duals(
    tail: IntArray,
    head: IntArray,
    cap: IntArray,
    cost: IntArray,
    supply: IntArray,
    flow: IntArray,
    pot: IntArray,
) -> None:
    """``pot`` proves ``flow`` optimal: complementary slackness on every arc, and the dual
    objective ``Σ_{rc<0} rc·cap − π·supply`` equals the flow's cost; ``π ≤ 0``."""
    rc = cost + pot[tail] - pot[head]
    assert ((rc >= 0) | (flow == cap)).all() and ((rc <= 0) | (flow == 0)).all()
    assert int((np.minimum(rc, 0) * cap).sum() - (pot * supply).sum()) == int((cost * flow).sum())
    assert (pot <= 0).all()


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_both_back_ends_agree_on_random_graphs(problem: tuple[int, ...]) -> None:
    n, tail, head, cap, cost, supply = problem  # type: ignore[misc]
    answers = []
    for solver in BACKENDS:
        try:
            flow, pot = solver.solve(n, tail, head, cap, cost, supply)
        except FlowInfeasible:
            answers.append(None)
            continue
        out = np.zeros(n, dtype=np.int64)
        np.add.at(out, tail, flow)
        np.subtract.at(out, head, flow)
        assert np.array_equal(out, supply) and ((flow >= 0) & (flow <= cap)).all()
        assert_optimal_duals(tail, head, cap, cost, supply, flow, pot)
        answers.append((int((cost * flow).sum()), pot.tolist()))
    assert answers[0] == answers[1]


#: Shapes of the differential test on flow models (every one is cheap at 300 people).
SHAPE_NAMES = sorted(SHAPES)


@functools.cache
def province(name: str, people: int = 300) -> Problem:
    """A generated province of shape ``name`` (cached for the session)."""
    folder = Path(tempfile.mkdtemp(prefix=f"backends-{name}-"))
    write_province(SHAPES[name], people, folder, seed=1)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    return problem


def assert_valid(model: FlowModel, sol: FlowSolution, cost: IntArray, banned: np.ndarray) -> None:
    """``sol`` carries no banned arc and its reduced costs prove it optimal over every free
    arc that is not banned (complementary slackness)."""
    free = model.free & ~banned
    assert not (sol.flow[banned & model.free] > 0).any()
    rc, flow, cap = sol.reduced[free], sol.flow[free], model.net.cap[free]
    assert ((rc >= 0) | (flow == cap)).all() and ((rc <= 0) | (flow == 0)).all()
    assert sol.value == int((cost * sol.flow).sum())


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_both_back_ends_give_the_same_optimum_on_each_shape(name: str) -> None:
    problem = province(name)
    cand = build_candidates(problem)
    models = {solver: FlowModel(problem, cand, solver) for solver in ("lemon", "ortools")}
    plan = engine.stage_plan(problem, models["lemon"])
    rng = np.random.default_rng(len(name))
    rows = models["lemon"].relative_rows
    pairs = np.flatnonzero(models["lemon"].net.kind == PAIR)
    for terms, weights in plan:
        base = models["lemon"].stage_cost(terms, weights)
        scale = max(1, int(np.abs(base).max(initial=0)))
        # multipliers of either sign on the relatives rows (equality rows carry negative ones)
        cost = base.copy()
        for row in rows:
            cost[row] += int(rng.integers(-scale, scale + 1))
        banned = np.zeros(len(cost), dtype=bool)
        if len(pairs):
            banned[rng.choice(pairs, size=min(len(pairs), 5), replace=False)] = True
        values = []
        for model in models.values():
            start = model.cheapest([cost], 2)
            try:
                sol = model.solve(cost, start, banned, guide=base)
            except FlowInfeasible:
                values.append(None)
                continue
            assert_valid(model, sol, cost, banned)
            assert sol.value == model.solve(cost, np.ones(len(cost), dtype=bool), banned).value
            values.append(sol.value)
        assert values[0] == values[1]


@pytest.mark.parametrize("name", ["pinned-relatives-leadership", "min-hard", "decimal-weights"])
def test_the_solve_proves_the_same_values_with_either_back_end(name: str) -> None:
    problem = province(name)
    results = [
        engine.solve(problem, params=engine.EngineParams(flow_backend=b)) for b in ("lemon", "ortools")
    ]
    assert [r.status for r in results] == ["optimal", "optimal"]
    assert results[0].values == results[1].values
    assert [s.bound for s in results[0].stages] == [s.bound for s in results[1].stages]


def test_the_back_end_is_chosen_by_name_setting_or_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend("ortools").name == "ortools" and backend("lemon").name == "lemon"
    monkeypatch.setenv("STAFFPLAN_FLOW", "ortools")
    assert backend().name == "ortools"
    monkeypatch.delenv("STAFFPLAN_FLOW")
    assert backend().name == "lemon"
    monkeypatch.setattr("optimizer.solve.mincostflow.lemon_available", lambda: False)
    assert backend().name == "ortools"
    with pytest.raises(ValueError, match="pylmcf"):
        backend("lemon")
    with pytest.raises(ValueError, match="unknown"):
        backend("networkx")


def recorded_supplies(model: FlowModel, monkeypatch: pytest.MonkeyPatch) -> list[IntArray]:
    """The supplies of every min-cost flow that ``model``'s back-end solves from now on
    (all zero when a solve starts from a flow: only the circulation is left)."""
    supplies: list[IntArray] = []
    solve, circulate = model.flow_solver.solve, model.flow_solver.circulate

    def solved(num_nodes: int, *arrays: IntArray) -> tuple[IntArray, IntArray]:
        supplies.append(arrays[-1])
        return solve(num_nodes, *arrays)

    def circulated(num_nodes: int, *arrays: IntArray) -> tuple[IntArray, IntArray]:
        supplies.append(np.zeros(num_nodes, dtype=np.int64))
        return circulate(num_nodes, *arrays)

    monkeypatch.setattr(model.flow_solver, "solve", solved)
    monkeypatch.setattr(model.flow_solver, "circulate", circulated)
    return supplies


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_reoptimising_a_feasible_flow_reaches_the_optimum_and_the_largest_potentials(
    problem: tuple[int, ...], seed: int
) -> None:
    n, tail, head, cap, cost, supply = problem  # type: ignore[misc]
    try:
        # a feasible flow: optimal for other costs
        start, _ = OrToolsFlow().solve(n, tail, head, cap, cost[::-1].copy(), supply)
    except FlowInfeasible:
        return
    best, canonical = LemonFlow().solve(n, tail, head, cap, cost, supply)
    rng = np.random.default_rng(seed)
    for solver in BACKENDS:
        for pot in (np.zeros(n, dtype=np.int64), -rng.integers(0, 30, n)):
            flow, found = reoptimise(solver, n, (tail, head, cap, cost), (start, pot))
            assert int((cost * flow).sum()) == int((cost * best).sum())
            assert_optimal_duals(tail, head, cap, cost, supply, flow, found)
            assert found.tolist() == canonical.tolist()  # whatever the flow and the start


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_a_circulation_comes_with_optimal_potentials_from_either_back_end(problem: tuple[int, ...]) -> None:
    n, tail, head, cap, cost, _ = problem  # type: ignore[misc]
    zero = np.zeros(n, dtype=np.int64)
    best, _ = OrToolsFlow().solve(n, tail, head, cap, cost, zero)  # a circulation always exists
    for solver in BACKENDS:
        flow, pot = solver.circulate(n, tail, head, cap, cost)
        out = np.zeros(n, dtype=np.int64)
        np.add.at(out, tail, flow)
        np.subtract.at(out, head, flow)
        assert not out.any() and ((flow >= 0) & (flow <= cap)).all()
        assert int((cost * flow).sum()) == int((cost * best).sum())
        assert_optimal_duals(tail, head, cap, cost, zero, flow, pot)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(0, 2**32 - 1))
def test_the_largest_optimal_potentials_from_any_optimal_ones(problem: tuple[int, ...], seed: int) -> None:
    n, tail, head, cap, cost, supply = problem  # type: ignore[misc]
    try:
        flow, canonical = OrToolsFlow().solve(n, tail, head, cap, cost, supply)
    except FlowInfeasible:
        return
    # other optimal potentials: the canonical ones lowered at random, while optimal
    pot = canonical.copy()
    rng = np.random.default_rng(seed)
    for node in rng.permutation(n):
        lowered = pot.copy()
        lowered[node] -= int(rng.integers(1, 10))
        rc = cost + lowered[tail] - lowered[head]
        if (((rc >= 0) | (flow == cap)) & ((rc <= 0) | (flow == 0))).all():
            pot = lowered
    src, dst, _, reduced, _ = residual(tail, head, cap, cost + pot[tail] - pot[head], flow)
    assert canonical_potentials(n, src, dst, reduced, pot).tolist() == canonical.tolist()


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_a_solve_from_a_feasible_flow_proves_what_solving_every_round_afresh_proves(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = province(name)
    cand = build_candidates(problem)
    for solver in ("lemon", "ortools"):
        model = FlowModel(problem, cand, solver)
        first_cost = model.stage_cost(*engine.stage_plan(problem, model)[0])
        first = model.solve(first_cost, model.cheapest([first_cost], 2))
        model.fix(first, UNREACHABLE)  # nothing fixed: the first stage's flow is the known feasible one
        # costs that take several pricing rounds: random pairs, dear unplaced arcs, rewarded mins
        kind = model.net.kind
        rng = np.random.default_rng(len(name))
        cost = np.where(kind == PAIR, rng.integers(0, 1000, model.num_arcs), 0)
        cost += 2000 * (kind == UNPLACED) - 1000 * (kind == POST_MIN)
        start = model.cheapest([cost], 1)
        supplies = recorded_supplies(model, monkeypatch)
        warm = model.solve(cost, start)
        monkeypatch.undo()
        # every round from a flow (only the circulation left: no supply), none afresh
        assert len(supplies) >= 3 and not any(supply.any() for supply in supplies)
        assert_valid(model, warm, cost, np.zeros(model.num_arcs, dtype=bool))
        net, size = model.net, model.net.num_nodes
        out = np.bincount(net.tail, warm.flow, size) - np.bincount(net.head, warm.flow, size)
        assert np.array_equal(out, net.supply) and ((warm.flow >= 0) & (warm.flow <= net.cap)).all()
        known, model.feasible = model.feasible, None
        afresh = model.solve(cost, start | (known > 0))  # the same arcs to start from, afresh
        # the same optimum, the same pricing and the same proof (the largest optimal
        # potentials, hence the same reduced costs); the flow may be another optimum
        assert warm.value == afresh.value
        assert np.array_equal(warm.reduced, afresh.reduced)
        assert np.array_equal(warm.active, afresh.active)


def test_a_solve_starts_afresh_unless_its_start_is_a_flow_of_the_network_free_of_bans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = province("single-posts")
    model = FlowModel(problem, build_candidates(problem), "lemon")
    cost = model.stage_cost(*engine.stage_plan(problem, model)[0])
    start = model.cheapest([cost], 2)
    first = model.solve(cost, start)
    used = np.flatnonzero((first.flow > 0) & (model.net.kind == PAIR))
    arc = used[np.argmax([len(model.person_arcs(p)) for p in model.net.tail[used]])]  # one with a way out
    banned = np.zeros(model.num_arcs, dtype=bool)
    banned[arc] = True
    broken = first.flow.copy()
    broken[arc] = 0  # one person's unit of flow lost
    supplies = recorded_supplies(model, monkeypatch)
    for feasible, ban, warm in ((first.flow, None, True), (broken, None, False), (first.flow, banned, False)):
        model.feasible = feasible
        supplies.clear()
        sol = model.solve(cost, start, ban)
        assert sol.value == first.value if ban is None else sol.value >= first.value
        assert not supplies[0].any() if warm else np.array_equal(supplies[0], model.supply)
