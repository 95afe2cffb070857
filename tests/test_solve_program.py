"""A stage's linear program kept in two parts (``exact.StageProgram``: the flow
conservation rows by each column's ends, the other rows as a sparse matrix): the whole
matrix, its columns taken a few at a time and the reduced costs priced without it must
be one and the same program, which the best placement satisfies row by row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from test_solve_warm_basis import moves_stage

from optimizer.solve import exact
from optimizer.solve.flow import PAIR, UNPLACED, FlowModel
from optimizer.solve.highs import run_highs
from optimizer.solve.lagrange import RelativesRows
from optimizer.solve.relatives import relative_conflicts


@pytest.mark.parametrize("name", ["single-posts", "pinned-relatives-leadership"])
def test_the_program_in_two_parts_is_one_program(name: str) -> None:
    model, rows, plan, k, incumbent, _ = moves_stage(name)
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    a = prog.a
    assert a.shape == (len(prog.lower), len(prog.free))
    # the best placement so far keeps every row: conservation, relatives, earlier stages
    activity = a @ incumbent[prog.free].astype(float)
    assert np.all(activity >= prog.lower - 1e-9) and np.all(activity <= prog.upper + 1e-9)
    # a flow breaking conservation at one node breaks that node's row
    moved = incumbent[prog.free].astype(float)
    moved[np.flatnonzero(moved)[0]] = 0.0
    assert not np.all(np.abs(a @ moved - activity) < 1e-9)
    rng = np.random.default_rng(0)
    cols = np.sort(rng.choice(len(prog.free), size=len(prog.free) // 3, replace=False))
    assert (prog.columns(cols) != a[:, cols]).nnz == 0
    y = rng.normal(size=len(prog.lower))
    bound, rc = prog.safe_bound(y)
    signed = np.where(np.isinf(prog.lower), np.minimum(y, 0.0), y)
    signed = np.where(np.isinf(prog.upper), np.maximum(signed, 0.0), signed)
    assert np.allclose(rc, prog.cost - a.T @ signed)
    # written into a given array (a relaxation's rounds reuse one), whatever it held
    out = np.full(len(prog.free), np.nan)
    again, into = prog.safe_bound(y, out)
    assert into is out and again == bound and np.array_equal(out, rc)
    # the bound from any duals is below the best placement's value
    assert bound <= prog.value(incumbent[prog.free]) + 1e-6


def test_a_solution_over_some_columns_is_read_as_the_flow_over_every_arc() -> None:
    model, rows, plan, k, incumbent, _ = moves_stage("single-posts")
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    x = incumbent[prog.free].astype(float)
    used = np.flatnonzero(x)
    near = x[used] + 1e-9  # within the tolerance of the integers
    rounded = prog.rounded(near, used)
    assert rounded is not None and np.array_equal(prog.flow(rounded, used), incumbent)
    assert prog.value(rounded, used) == pytest.approx(prog.value(x))
    assert prog.value(rounded, used) == float(model.stage_cost(*plan[k]) @ incumbent) + exact.stage_constant(
        model, plan[k]
    )
    near[0] = 0.5
    assert prog.rounded(near, used) is None
    x[used[0]] = 0.5
    assert prog.rounded(x) is None


def test_a_first_stage_program_reads_the_network_arrays_without_copies() -> None:
    """While every arc is free, the program's ends, costs and capacities are the
    network's own arrays; its conservation rows are still each arc's +1 at its tail and
    -1 at its head (none at the sink), and a placement keeps every row."""
    model, _, plan, _, incumbent, _ = moves_stage("city-like")
    fresh = FlowModel(model.problem, model.cand)
    prog = exact.stage_program(fresh, RelativesRows(fresh), plan, 0, incumbent)
    net = fresh.net
    assert len(prog.free) == fresh.num_arcs
    assert prog.tail is net.tail and prog.head is net.head and prog.cap is net.cap
    assert prog.cost is fresh.stage_cost(*plan[0])
    a = prog.a
    arcs = np.arange(fresh.num_arcs)
    to_sink = net.head == net.sink
    expected = sp.coo_matrix(
        (
            np.concatenate([np.ones(len(arcs)), -np.ones(int((~to_sink).sum()))]),
            (np.concatenate([net.tail, net.head[~to_sink]]), np.concatenate([arcs, arcs[~to_sink]])),
        ),
        shape=(net.sink, fresh.num_arcs),
    )
    assert (a[: net.sink] != expected.tocsc()).nnz == 0
    activity = a @ incumbent.astype(float)
    assert np.all(activity >= prog.lower - 1e-9) and np.all(activity <= prog.upper + 1e-9)


@pytest.mark.parametrize("name", ["single-posts", "pinned-relatives-leadership"])
def test_the_integer_and_first_columns_are_those_of_their_definitions(name: str) -> None:
    """A program's integer columns are its pair and unplaced arcs; a relaxation's first
    columns are the arcs the flow brought in at a reduced cost (less the multipliers')
    not positive, the arcs either placement uses, every arc but the pairs and every arc
    of the relatives in conflict, or every free arc when those are at least
    ``ALL_COLUMNS_SHARE`` of them in a stage whose pairs cost more than a few units: for
    a later stage (some arcs fixed) and a first one (every arc free)."""
    model, rows, plan, k, incumbent, first = moves_stage(name)
    fresh = FlowModel(model.problem, model.cand)
    net = model.net
    costs = np.random.default_rng(2).integers(0, 3, model.num_arcs)
    conflicted = np.zeros(net.num_nodes, dtype=bool)
    conflicts = relative_conflicts(model.problem, model.assignment(first.flow))
    people = [person for a, b, _ in conflicts for person in (a, b)]
    conflicted[people] = True
    wanted = ((first.reduced - costs <= 0) & first.active) | (first.flow > 0) | (incumbent > 0)
    wanted |= (net.kind != PAIR) | conflicted[net.tail]
    for flows, stage, prog_rows in ((model, k, rows), (fresh, 0, RelativesRows(fresh))):
        prog = exact.stage_program(flows, prog_rows, plan, stage, incumbent)
        kind = net.kind[prog.free]
        assert np.array_equal(prog.integer, (kind == PAIR) | (kind == UNPLACED))
        expected = wanted[prog.free]
        pairs = prog.cost[kind == PAIR]
        if expected.mean() >= exact.ALL_COLUMNS_SHARE and np.abs(pairs).max(initial=0) > exact.FEW_COSTS:
            expected = np.ones_like(expected)  # many, in a stage of costly pairs: every free arc
        found = exact.first_columns(flows, prog, first, incumbent, costs)
        assert np.array_equal(found, expected)


def test_a_stage_of_costly_pairs_starts_from_every_free_arc_when_its_first_columns_are_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a relaxation's first columns are at least ``ALL_COLUMNS_SHARE`` of the free
    arcs and the stage's pairs cost more than ``FEW_COSTS`` somewhere, every free arc is
    a first column, and the relaxation is one HiGHS run at the bound of the pricing; a
    stage whose pairs cost nothing (the first, blind to who takes which post) or only a
    few units keeps its first columns whatever their share."""
    model, rows, plan, k, incumbent, first = moves_stage("city-like")
    none = np.zeros(model.num_arcs, dtype=np.int64)
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    priced = exact.first_columns(model, prog, first, incumbent, none)
    share = float(priced.mean())
    assert 0 < share < exact.ALL_COLUMNS_SHARE and not priced.all()
    runs: list[int] = []

    def counted(h: Any, threads: int) -> None:
        runs.append(threads)
        run_highs(h, threads)

    monkeypatch.setattr(exact, "run_highs", counted)
    relaxation = exact.relax_stage(model, rows, plan, k, incumbent, first, none, 60.0)
    assert relaxation is not None and len(runs) > 1
    monkeypatch.setattr(exact, "ALL_COLUMNS_SHARE", share)
    assert exact.first_columns(model, prog, first, incumbent, none).all()
    runs.clear()
    every = exact.relax_stage(model, rows, plan, k, incumbent, first, none, 60.0)
    assert every is not None and len(runs) == 1
    assert every.bound == pytest.approx(relaxation.bound, abs=1e-6)
    # pairs of few costs (moves and long commutes weighed 1 each), or none (the first stage)
    terms, weights = plan[k]
    few = [*plan[:k], (terms, tuple(1 for _ in weights)), *plan[k + 1 :]]
    fresh = FlowModel(model.problem, model.cand)
    for flows, stages, stage, prog_rows in ((model, few, k, rows), (fresh, plan, 0, RelativesRows(fresh))):
        other = exact.stage_program(flows, prog_rows, stages, stage, incumbent)
        monkeypatch.setattr(exact, "ALL_COLUMNS_SHARE", 1.0)
        kept = exact.first_columns(flows, other, first, incumbent, none)
        monkeypatch.setattr(exact, "ALL_COLUMNS_SHARE", 0.0)
        assert not kept.all()
        assert np.array_equal(exact.first_columns(flows, other, first, incumbent, none), kept)


@pytest.mark.parametrize("name", ["single-posts", "pinned-relatives-leadership"])
@pytest.mark.parametrize("first", [True, False])
def test_lowering_people_s_duals_raises_the_bound_by_what_their_negative_arcs_cost(
    name: str, first: bool
) -> None:
    model, rows, plan, k, incumbent, _ = moves_stage(name)
    if first:  # every arc free: a first stage's program over a fresh model
        model = FlowModel(model.problem, model.cand)
        rows, k = RelativesRows(model), 0
    prog = exact.stage_program(model, rows, plan, k, incumbent)
    assert (len(prog.free) == model.num_arcs) == first
    y = np.random.default_rng(1).normal(size=len(prog.lower))
    bound, rc = prog.safe_bound(y)
    negative = np.flatnonzero((rc < 0) & (prog.free < model.net.block(PAIR).stop))
    people = np.unique(prog.tail[negative])[:5]
    entering = negative[np.isin(prog.tail[negative], people)]
    lifted = exact._people_lifted(model, prog, y, rc, entering, -np.inf)
    assert lifted is not None
    lifted_bound, lifted_rc = prog.safe_bound(lifted)
    owned = np.isin(prog.tail, people)  # every free arc out of those people
    assert lifted_rc[owned].min() >= -1e-9  # priced out
    assert np.array_equal(lifted_rc[~owned], rc[~owned])  # the other arcs as they were
    # each person gains what its negative arcs cost, less its supply times the lowering
    gain = 0.0
    for person in people:
        mine = rc[owned & (prog.tail == person)]
        gain += -mine[mine < 0].sum() + mine.min() * prog.lower[person]
    assert gain > 0 and lifted_bound == pytest.approx(bound + gain)
    # asked for more than that: left to HiGHS
    assert exact._people_lifted(model, prog, y, rc, entering, gain + 1.0) is None


def test_a_relaxation_whose_pricing_ends_by_lowering_people_s_duals_proves_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On this province the moves stage's relaxation ends its pricing so after its first
    simplex: the solve proves the same values with one HiGHS run less."""
    from test_solve_shapes import province

    from optimizer.solve import engine

    problem = province("single-posts")
    runs: list[int] = []
    lifted: list[bool] = []
    counted = exact.run_highs
    lift = exact._people_lifted

    def count(h: Any, threads: int) -> None:
        runs.append(1)
        counted(h, threads)

    def spy(*args: Any) -> np.ndarray | None:
        out = lift(*args)
        lifted.append(out is not None)
        return out

    monkeypatch.setattr(exact, "run_highs", count)
    monkeypatch.setattr(exact, "_people_lifted", spy)
    with_lift = engine.solve(problem)
    with_runs = len(runs)
    assert any(lifted)
    monkeypatch.setattr(exact, "_people_lifted", lambda *_: None)
    runs.clear()
    without = engine.solve(problem)
    assert with_lift.proven and without.proven
    assert with_lift.values == without.values
    assert with_runs < len(runs)
