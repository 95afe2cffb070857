"""The stage relaxation's warm basis (``exact.warm_basis``), built from a flow of the stage.

The basis must be one HiGHS accepts, with no dual infeasibility at its start (with the
multipliers at zero and away from zero), and it must shorten the simplex; the bound and
the proven values must not depend on it.  Its tree starts as a spanning forest of the
arcs of zero reduced cost, those strictly between their bounds first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from test_solve_shapes import province

from optimizer.check import check_placement
from optimizer.data import Problem
from optimizer.solve import engine, exact
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import stage_plan
from optimizer.solve.flow import PAIR, FlowModel, FlowSolution
from optimizer.solve.highs import new_highs, pass_model, run_highs, set_basis
from optimizer.solve.lagrange import RelativesRows, StageSearch
from optimizer.solve.relatives import relative_conflicts

Stage = tuple[FlowModel, RelativesRows, list[exact.Stage], int, np.ndarray, FlowSolution]


def moves_stage(name: str) -> Stage:
    """A province's model after its first stage is solved, at the start of the moves
    stage: the best placement so far and the stage's first flow (no multipliers)."""
    problem = province(name)
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    rows = RelativesRows(model)
    search = StageSearch(model, rows, plan, 0, lambda: None, lambda *_: None)
    search.run(None)
    assert search.incumbent is not None
    k = next(i for i, (terms, _) in enumerate(plan) if "moves" in terms)
    cost = model.stage_cost(*plan[k])
    first = model.solve(cost, model.cheapest([cost], 12))
    return model, rows, plan, k, search.incumbent.flow, first


def start_of(stage: Stage, first: FlowSolution, costs: np.ndarray) -> Any:
    """HiGHS's info after setting the warm basis from ``first`` (solved at multipliers
    adding ``costs``) and running no iteration."""
    model, rows, plan, k, incumbent, _ = stage
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    cols = np.flatnonzero(exact.first_columns(model, prog, first, incumbent, costs))
    h = new_highs()
    h.setOptionValue("presolve", "off")
    pass_model(
        h, prog.a[:, cols], prog.cost[cols], prog.cap[cols], prog.lower, prog.upper, np.zeros(len(cols))
    )
    assert set_basis(h, *exact.warm_basis(prog, cols, model.net, first, costs))
    h.setOptionValue("simplex_iteration_limit", 0)
    run_highs(h, 1)
    return h.getInfo()


def relax(
    monkeypatch: pytest.MonkeyPatch, stage: Stage, first: FlowSolution, costs: np.ndarray, warm: bool
) -> tuple[float, int]:
    """The relaxation's bound and its simplex iterations, warm or cold."""
    model, rows, plan, k, incumbent, _ = stage
    iterations = [0]

    def counted(h: Any, threads: int) -> None:
        run_highs(h, threads)
        iterations[0] += int(h.getInfo().simplex_iteration_count)

    monkeypatch.setattr(exact, "run_highs", counted)
    free = model.free.copy()
    relaxation = exact.relax_stage(model, rows, plan, k, incumbent, first, costs, 60.0, warm=warm)
    assert np.array_equal(model.free, free)  # the relaxation itself fixes nothing
    assert relaxation is not None
    return relaxation.bound, iterations[0]


@pytest.mark.parametrize("name", ["city-like", "islands"])
def test_the_flow_basis_is_dual_feasible_and_shortens_the_simplex(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = moves_stage(name)
    model, first = stage[0], stage[-1]
    none = np.zeros(model.num_arcs, dtype=np.int64)
    assert start_of(stage, first, none).num_dual_infeasibilities == 0
    warm_bound, warm_iterations = relax(monkeypatch, stage, first, none, True)
    cold_bound, cold_iterations = relax(monkeypatch, stage, first, none, False)
    assert warm_bound == pytest.approx(cold_bound, abs=1e-6)
    assert warm_iterations < cold_iterations / 2


def test_a_basis_from_a_flow_at_nonzero_multipliers_is_dual_feasible(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipliers on the rows the first flow breaks: the flow at those multipliers
    gives a basis whose arcs the multipliers moved start at their other bound, still
    with no dual infeasibility, and the relaxation reaches the same bound."""
    stage = moves_stage("city-like")
    model, rows, plan, k, _, first = stage
    rows.violated(model.assignment(first.flow))
    assert len(rows) > 0
    lam = np.full(len(rows), int(np.abs(model.stage_cost(*plan[k])).max()), dtype=np.int64)
    costs = rows.arc_costs(lam)
    cost = model.stage_cost(*plan[k])
    priced = model.solve(cost + costs, first.active)
    kept_out = (costs > 0) & (priced.flow != first.flow)
    assert kept_out.any()  # the multipliers changed the flow
    assert start_of(stage, priced, costs).num_dual_infeasibilities == 0
    warm_bound, _ = relax(monkeypatch, stage, priced, costs, True)
    cold_bound, _ = relax(monkeypatch, stage, priced, costs, False)
    assert warm_bound == pytest.approx(cold_bound, abs=1e-6)


def test_proven_values_do_not_depend_on_the_warm_basis() -> None:
    problem: Problem = province("city-like")
    warm = engine.solve(problem)
    cold = engine.solve(problem, params=engine.EngineParams(warm_basis=False))
    assert warm.proven and cold.proven
    assert warm.values == cold.values and warm.bounds == cold.bounds
    assert check_placement(problem, warm.assignment) == []


@pytest.mark.parametrize("name", ["city-like", "islands"])
def test_the_first_columns_leave_positive_reduced_costs_to_the_pricing(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relaxation's first columns hold no arc of positive reduced cost that neither
    flow carries and no relative in conflict holds; the pricing brings back what
    enters, so the bound is the one from every arc, and an integral relaxation ends at
    its placement's value (gap 0: its reduced costs fix every arc they can)."""
    stage = moves_stage(name)
    model, rows, plan, k, incumbent, first = stage
    none = np.zeros(model.num_arcs, dtype=np.int64)
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    arcs = prog.free[exact.first_columns(model, prog, first, incumbent, none)]
    positive = arcs[(first.reduced[arcs] > 0) & (first.flow[arcs] == 0) & (incumbent[arcs] == 0)]
    conflicts = relative_conflicts(model.problem, model.assignment(first.flow))
    people = {person for a, b, _ in conflicts for person in (a, b)}
    assert set(model.net.tail[positive][model.net.kind[positive] == PAIR].tolist()) <= people
    assert (first.active[prog.free] & (first.reduced[prog.free] > 0)).sum() > len(positive)
    bound, _ = relax(monkeypatch, stage, first, none, True)
    every = replace(first, active=np.ones(model.num_arcs, dtype=bool))
    whole = exact.relax_stage(model, rows, plan, k, incumbent, every, none, 60.0)
    assert whole is not None and bound == pytest.approx(whole.bound, abs=1e-6)
    relaxation = exact.relax_stage(model, rows, plan, k, incumbent, first, none, 60.0)
    assert relaxation is not None and relaxation.flow is not None
    assert relaxation.bound == pytest.approx(prog.value(relaxation.flow[prog.free]), abs=1e-6)


def _components(num_nodes: int, tail: np.ndarray, head: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(tail)), (tail, head)), shape=(num_nodes, num_nodes))
    return connected_components(graph, directed=False)[1]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_zero_forest_spans_the_zero_arcs_between_their_bounds_first(data: st.DataObject) -> None:
    num_nodes = data.draw(st.integers(1, 12))
    arcs = data.draw(st.lists(st.tuples(*[st.integers(0, num_nodes - 1)] * 2, st.booleans(), st.booleans())))
    tail = np.array([a[0] for a in arcs], dtype=np.int64)
    head = np.array([a[1] for a in arcs], dtype=np.int64)
    zero = np.array([a[2] for a in arcs], dtype=bool)
    between = zero & np.array([a[3] for a in arcs], dtype=bool)
    tree, group = exact._zero_forest(tail, head, zero, between, num_nodes)
    assert not (tree & ~zero).any()
    # a forest: as many arcs as it joins nodes, and its groups those of the zero arcs
    joined = _components(num_nodes, tail[tree], head[tree])
    assert int(tree.sum()) == num_nodes - len(np.unique(joined))
    zero_groups = _components(num_nodes, tail[zero], head[zero])
    assert np.array_equal(joined, zero_groups) and np.array_equal(group, zero_groups)
    # as many arcs between their bounds as a spanning forest of those arcs alone has
    within = _components(num_nodes, tail[between], head[between])
    assert int((tree & between).sum()) == num_nodes - len(np.unique(within))


def test_a_relaxation_reads_its_column_values_only_after_its_last_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS hands its column values over as a list (20 ms a round on the city's first
    stage, 213,613 columns): over several pricing rounds the relaxation reads them once,
    after its last run, and still ends at its placement's value."""
    stage = moves_stage("city-like")
    model, rows, plan, k, incumbent, first = stage
    runs: list[int] = []
    reads: list[int] = []

    class Solution:
        def __init__(self, inner: Any) -> None:
            self.row_dual = inner.row_dual
            self._inner = inner

        @property
        def col_value(self) -> Any:
            reads.append(len(runs))
            return self._inner.col_value

    class Spy:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def run(self) -> Any:
            runs.append(len(runs))
            return self._inner.run()

        def getSolution(self) -> Solution:
            return Solution(self._inner.getSolution())

    made = exact.new_highs
    monkeypatch.setattr(exact, "new_highs", lambda *args, **kwargs: Spy(made(*args, **kwargs)))
    none = np.zeros(model.num_arcs, dtype=np.int64)
    relaxation = exact.relax_stage(model, rows, plan, k, incumbent, first, none, 60.0)
    assert relaxation is not None and relaxation.flow is not None
    assert len(runs) >= 2
    assert reads == [len(runs)]
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    assert relaxation.bound == pytest.approx(prog.value(relaxation.flow[prog.free]), abs=1e-6)
