"""Speed changes of the solve that must not change what it computes (issue 19).

The one-key sort of the pricing masks gives ``lexsort``'s order exactly, and so does
greedy's nearest-first order; the relatives rows of the stage programs are built once
per solve and are the rule's rows, worked out pair by pair; the terms' ranges, the
cached stage costs, the flow of a placement and the in-place great-circle distances are
what the plain formulas give; HiGHS's interrupt callback, given straight to HiGHS, still
stops simplex, interior point and MIP runs; a solve keeps NumPy off huge pages and
gives the setting back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_solve_properties import instances

from optimizer import data
from optimizer.data import EARTH_RADIUS_KM, Problem, haversine_km
from optimizer.rules import relatives
from optimizer.solve import flow
from optimizer.solve.baselines import _Chains, greedy, valid_greedy
from optimizer.solve.candidates import Candidates, build_candidates
from optimizer.solve.flow import PAIR, POST_MIN, POST_REST, UNPLACED, FlowModel, by_person, shortfall_constant
from optimizer.solve.highs import new_highs, pass_model, run_highs
from optimizer.solve.relatives import relative_rows

ROOT = Path(__file__).resolve().parents[1]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_by_person_is_lexsort_order(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 60))
    person = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 9)))
    # small ranges (packed into one key) and huge ones (the lexsort fallback)
    bound = data.draw(st.sampled_from([3, 2**20, 2**62]))
    keys = [
        data.draw(hnp.arrays(np.int64, n, elements=st.integers(-bound, bound)))
        for _ in range(data.draw(st.integers(0, 3)))
    ]
    expected = np.lexsort((*reversed(keys), person)) if n else np.zeros(0, dtype=np.int64)
    assert by_person(person, keys).tolist() == expected.tolist()


@settings(max_examples=30, deadline=None)
@given(instances())
def test_relative_rows_are_built_once_per_model(problem: Problem) -> None:
    model = FlowModel(problem, build_candidates(problem))
    calls = []
    real = flow.relative_rows

    def counted(*args: object) -> list[np.ndarray]:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    flow.relative_rows = counted  # type: ignore[assignment]
    try:
        first, again = model.relative_rows, model.relative_rows
    finally:
        flow.relative_rows = real
    assert first is again and len(calls) == 1
    expected = relative_rows(problem, model.cand)
    assert [r.tolist() for r in first] == [r.tolist() for r in expected]


@settings(max_examples=200, deadline=None)
@given(instances())
def test_relatives_rows_are_the_rows_worked_out_pair_by_pair(problem: Problem) -> None:
    """The rows built over arrays at once are, in order, those of every pair of
    relatives, shared unit and side of ``row_keys``: the first side's pairs that
    ``first_side`` keeps, then the second side's (rows of one pair left out)."""
    cand = build_candidates(problem)
    expected: list[list[int]] = []
    if relatives.active(problem):
        for a, b in zip(*relatives.pairs_of(problem), strict=True):
            shared = sorted(
                set(cand.unit[cand.person == a].tolist()) & set(cand.unit[cand.person == b].tolist())
            )
            for unit in shared:
                for first, _, _ in relatives.row_keys(problem, int(a), int(b), unit):
                    sides = []
                    for person in (a, b):
                        pairs = np.flatnonzero((cand.person == person) & (cand.unit == unit))
                        if person == first:
                            pairs = pairs[relatives.first_side(problem, cand.post[pairs])]
                        sides.append(pairs.tolist())
                    expected.append(sides[0] + sides[1])
    expected = [row for row in expected if len(row) > 1]
    assert [row.tolist() for row in relative_rows(problem, cand)] == expected


@settings(max_examples=60, deadline=None)
@given(instances())
def test_nearest_first_is_lexsort_order(problem: Problem) -> None:
    """The order sorted at the call, and the one sorted ahead in a thread (handed over
    once, then sorted again at the next call), are ``lexsort``'s."""
    cand = build_candidates(problem)
    expected = np.lexsort((cand.dist_km, cand.person)).tolist()
    assert cand.nearest_first().tolist() == expected
    cand.sort_nearest_ahead()
    cand.sort_nearest_ahead()  # already sorting: not again
    assert len(cand._ahead) == 1
    assert cand.nearest_first().tolist() == expected
    assert not cand._ahead
    assert cand.nearest_first().tolist() == expected


def test_a_solve_sorts_the_greedy_order_ahead_unless_greedy_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The solve starts the greedy floor's sort before building its flow model, and the
    greedy floor takes that order; without a greedy floor nothing is sorted ahead."""
    from optimizer.io import load_problem, load_scenario
    from optimizer.solve import solve
    from optimizer.solve.engine import EngineParams

    problem, _ = load_problem(load_scenario(ROOT / "scenarios" / "tiny" / "scenario.toml"))
    started: list[Candidates] = []
    taken: list[bool] = []
    real_ahead, real_first = Candidates.sort_nearest_ahead, Candidates.nearest_first

    def ahead(cand: Candidates) -> None:
        started.append(cand)
        real_ahead(cand)

    def first(cand: Candidates) -> np.ndarray:
        taken.append(bool(cand._ahead))
        return real_first(cand)

    monkeypatch.setattr(Candidates, "sort_nearest_ahead", ahead)
    monkeypatch.setattr(Candidates, "nearest_first", first)
    with_floor = solve(problem)
    assert len(started) == 1 and taken[0]
    started.clear()
    without = solve(problem, params=EngineParams(greedy_floor=False))
    assert not started
    assert with_floor.values == without.values


@settings(max_examples=80, deadline=None)
@given(instances(), st.sampled_from(["allow", "penalize", "forbid"]), st.data())
def test_candidate_costs_are_each_pairs_own(problem: Problem, bloc_change: str, data: st.DataObject) -> None:
    """Each candidate's costs, written in place over whole arrays, are those of its pair
    worked out alone: preference lists may name a unit twice (its first rank counts)."""
    lists = st.lists(st.integers(0, problem.num_units - 1), max_size=4)
    prefs = tuple(tuple(data.draw(lists)) for _ in range(problem.num_staff))
    staff = dataclasses.replace(problem.staff, preferences=prefs)
    rules = dataclasses.replace(problem.rules, bloc_change=bloc_change)
    problem = dataclasses.replace(problem, staff=staff, rules=rules)
    cand = build_candidates(problem)
    for name in ("person", "post", "unit", "moves", "long_commute", "commute", "preference", "changes"):
        assert getattr(cand, name).dtype == np.int64
    assert cand.dist_km.dtype == np.float64
    for k, (i, p) in enumerate(zip(cand.person.tolist(), cand.post.tolist(), strict=True)):
        u = int(problem.posts.unit_idx[p])
        km = float(problem.dist_km[i, u])
        crosses = problem.staff.bloc[i] != problem.posts.bloc[p]
        assert cand.unit[k] == u
        assert cand.dist_km[k] == km
        moved = problem.staff.origin_idx[i] != u
        assert cand.moves[k] == int(moved) + int(bloc_change == "penalize" and crosses)
        assert cand.long_commute[k] == int(km > problem.rules.long_commute_km)
        assert cand.commute[k] == round(km * 10)
        assert cand.preference[k] == (prefs[i].index(u) if u in prefs[i] else len(prefs[i]))
        assert cand.changes[k] == 0


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_term_ranges_and_stage_costs_are_the_plain_ones(problem: Problem, data: st.DataObject) -> None:
    model = FlowModel(problem, build_candidates(problem))
    net = model.net
    for kind in (PAIR, UNPLACED, POST_MIN, POST_REST):
        block = net.block(kind)
        assert np.arange(len(net.tail))[block].tolist() == np.flatnonzero(net.kind == kind).tolist()
    for term in ("unplaced", "moves", "long_commute", "commute", "preference"):
        cost = model.cost_of(term)
        dearest = np.zeros(net.num_persons, dtype=np.int64)
        persons = net.tail < net.num_persons
        np.maximum.at(dearest, net.tail[persons], cost[persons])
        assert model.term_range(term) == int(dearest.sum())
    terms, weights = ("moves", "commute"), (7, 1)
    cached = model.stage_cost(terms, weights)
    assert cached.tolist() == (7 * model.cost_of("moves") + model.cost_of("commute")).tolist()
    assert model.stage_cost(terms, weights) is cached and not cached.flags.writeable
    # a stage of one term of weight 1 is the term's own (read-only) cost, not a copy
    single = model.stage_cost(("commute",), (1,))
    assert single is model.cost_of("commute") and not single.flags.writeable
    assert model.stage_cost(("commute",), (2,)).tolist() == (2 * model.cost_of("commute")).tolist()
    # read from each term's blocks (FlowModel.parts_of), not from arrays over every arc
    every = ("shortfall", "unplaced", "moves", "long_commute", "commute", "preference")
    mixed: list[tuple[tuple[str, ...], tuple[int, ...]]] = [
        (("shortfall", "unplaced"), (5, 1)),
        (("unplaced", "moves", "commute"), (3, 2, 1)),
    ]
    for merged, lexicographic in mixed:
        plain = np.sum([w * model.cost_of(t) for t, w in zip(merged, lexicographic, strict=True)], axis=0)
        assert model.stage_cost(merged, lexicographic).tolist() == plain.tolist()
    for term in every:
        assert model.max_arc(((term,), (1,))) == int(np.abs(model.cost_of(term)).max(initial=0))
    flow = np.array(data.draw(st.lists(st.integers(0, 3), min_size=model.num_arcs, max_size=model.num_arcs)))
    values = model.term_values(flow, every)
    for term in every:
        constant = shortfall_constant(problem) if term == "shortfall" else 0
        assert values[term] == int(model.cost_of(term) @ flow) + constant


@settings(max_examples=60, deadline=None)
@given(instances(), st.data())
def test_flow_of_a_placement_is_its_flow(problem: Problem, data: st.DataObject) -> None:
    model = FlowModel(problem, build_candidates(problem))
    cand, net = model.cand, model.net
    # each person on one of their candidate lines or unplaced, as drawn
    assignment = np.full(problem.num_staff, -1, dtype=np.int64)
    for i in range(problem.num_staff):
        lines = cand.post[cand.person == i].tolist()
        assignment[i] = data.draw(st.sampled_from([-1, *lines]))
    flow = model.flow_of(assignment)
    filled = np.bincount(assignment[assignment >= 0], minlength=problem.num_posts)
    stays = ((assignment >= 0) | cand.can_stay_unplaced).all()
    if not stays or (filled > problem.posts.max).any():
        assert flow is None
        return
    assert flow is not None and model.assignment(flow).tolist() == assignment.tolist()
    pair = net.kind == PAIR
    assert int(flow[pair].sum()) == int((assignment >= 0).sum())
    assert int(flow[net.kind == UNPLACED].sum()) == int((assignment < 0).sum())
    placed = np.flatnonzero(assignment >= 0)
    if len(placed):  # a line that is not a candidate of its person: no flow
        i = int(placed[0])
        others = np.setdiff1d(np.arange(problem.num_posts), cand.post[cand.person == i])
        if len(others):
            wrong = assignment.copy()
            wrong[i] = int(others[0])
            assert model.flow_of(wrong) is None


@settings(max_examples=40, deadline=None)
@given(instances(), st.booleans(), st.sampled_from([1, 5, 1 << 16]))
def test_distances_in_two_halves_are_the_whole_matrix(problem: Problem, split: bool, block: int) -> None:
    """Problem.dist_km, by two threads or one, a row or a few or all at a time, holds the
    one-array formula's float32s."""
    st_, un = problem.staff, problem.units
    whole = haversine_km(st_.home_lat[:, None], st_.home_lon[:, None], un.lat[None, :], un.lon[None, :])
    expected = (whole * problem.rules.road_factor).astype(np.float32)
    problem.__dict__.pop("dist_km", None)  # worked out anew below
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(data, "DIST_SPLIT_MIN", 1 if split else 1 << 60)
        patch.setattr(data, "DIST_BLOCK", block)
        found = problem.dist_km
    assert found.dtype == np.float32
    assert found.tobytes() == expected.tobytes()


def test_either_halfs_failure_is_raised_and_both_halves_are_filled() -> None:
    done: list[tuple[int, int]] = []

    def fill(rows: slice) -> None:
        done.append((rows.start, rows.stop))

    data.in_two_halves(fill, 7)
    assert sorted(done) == [(0, 3), (3, 7)]
    for bad in (0, 3):

        def failing(rows: slice, bad: int = bad) -> None:
            if rows.start == bad:
                raise ValueError(bad)

        with pytest.raises(ValueError, match=str(bad)):
            data.in_two_halves(failing, 7)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-80, 80)),
    hnp.arrays(np.float64, 4, elements=st.floats(-179, 179)),
)
def test_haversine_is_the_textbook_formula(lats: np.ndarray, lons: np.ndarray) -> None:
    def textbook(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
        p1, p2 = np.radians(lat1), np.radians(lat2)
        dlmb = np.radians(lon2) - np.radians(lon1)
        a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
        return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))

    grid = (lats[:, None], lons[:1, None], lats[None, :1], lons[None, :])  # (n, 1) and (1, 4)
    assert np.array_equal(haversine_km(*grid), textbook(*grid))
    # Scalars: the same number as the array of that one pair; NumPy's scalar maths, which
    # the textbook uses on floats, round the last bits otherwise (up to 7 ulp seen on short
    # distances), so the textbook is met there within a micrometre.
    one = (float(lats[0]), float(lons[0]), float(lats[-1]), float(lons[-1]))
    assert np.ndim(haversine_km(*one)) == 0
    assert haversine_km(*one) == haversine_km(*(np.array([v]) for v in one))[0]
    assert np.isclose(haversine_km(*one), textbook(*one), rtol=1e-12, atol=1e-9)


def _program(h: object, integer: bool) -> None:
    m, n = 300, 1200
    a = sp.random(m, n, density=0.01, random_state=0, format="csc")
    a.data[:] = 1.0
    cost = -np.random.default_rng(1).random(n)
    pass_model(h, a, cost, np.ones(n), np.full(m, -np.inf), np.ones(m), np.full(n, integer))


@pytest.mark.parametrize(("solver", "integer"), [("simplex", False), ("ipm", False), ("choose", True)])
def test_the_stop_interrupts_every_kind_of_highs_run(solver: str, integer: bool) -> None:
    import highspy

    calls = []
    after = 0 if integer else 3  # a MIP this small calls at its root, then ends

    def stop() -> bool:
        calls.append(1)
        return len(calls) > after

    h = new_highs(0, stop)
    h.setOptionValue("presolve", "off")
    h.setOptionValue("solver", solver)
    _program(h, integer)
    run_highs(h, 1)
    assert h.getModelStatus() == highspy.HighsModelStatus.kInterrupt
    assert len(calls) == after + 1
    if not integer:  # a stop never set lets the run end optimal
        quiet = new_highs(0, lambda: False)
        quiet.setOptionValue("presolve", "off")
        quiet.setOptionValue("solver", solver)
        _program(quiet, integer)
        run_highs(quiet, 1)
        assert quiet.getModelStatus() == highspy.HighsModelStatus.kOptimal


def test_a_solve_keeps_numpy_off_huge_pages_and_gives_the_setting_back() -> None:
    from pathlib import Path

    from optimizer.io import load_problem, load_scenario
    from optimizer.solve import solve

    toggle = np._core.multiarray._set_madvise_hugepage
    tiny = Path(__file__).resolve().parents[1] / "scenarios" / "tiny" / "scenario.toml"
    problem, _ = load_problem(load_scenario(tiny))
    seen: list[bool] = []

    def progress(_event: object) -> None:
        state = toggle(False)  # read the setting (and put it back)
        toggle(state)
        seen.append(bool(state))

    before = toggle(True)
    try:
        assert solve(problem, progress=progress).proven
        assert seen and not any(seen)
        assert toggle(False) is True  # given back as it was before the solve
    finally:
        toggle(before)


def _chain_reading_the_queue(chains: _Chains, person: int, avoid: int) -> list[tuple[int, int]]:
    """The chain search as first written: a line is looked at for room when the queue
    reaches it (every line queued before it expanded first)."""
    came: dict[int, tuple[int, int]] = {}
    queue = [q for q in chains.posts_of[person] if q != avoid and chains.fits(person, q)]
    came.update({q: (person, -1) for q in queue})
    evict = None
    for q in queue:
        if len(chains.holders[q]) < chains.room[q]:
            return chains._unwind(came, q, [])
        for j in sorted(chains.holders[q]):
            evict = evict or ((j, q) if chains.may_stay[j] else None)
            fresh = [q2 for q2 in chains.posts_of[j] if q2 not in came and chains.fits(j, q2)]
            came.update({q2: (j, q) for q2 in fresh})
            queue += fresh
    return [] if evict is None else chains._unwind(came, evict[1], [(evict[0], -1)])


@settings(max_examples=100, deadline=None)
@given(instances(), st.data())
def test_greedy_chains_end_where_reading_the_queue_would(problem: Problem, data: st.DataObject) -> None:
    cand = build_candidates(problem)
    chains = _Chains(problem, cand, greedy(problem, cand).assignment)
    for person in range(problem.num_staff):
        avoid = data.draw(st.sampled_from([-1, *chains.posts_of[person]]))
        assert chains._placing(person, avoid) == _chain_reading_the_queue(chains, person, avoid)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_greedy_made_valid_sorts_the_nearest_order_once(problem: Problem) -> None:
    """Greedy and its chains (which run when someone must be placed or a minimum is
    hard) share one nearest-first sort."""
    rules = dataclasses.replace(problem.rules, require_all_placed=True, min_is_hard=True)
    problem = dataclasses.replace(problem, rules=rules)
    cand = build_candidates(problem)
    sorts: list[int] = []
    real = Candidates._nearest_order

    def counted(self: Candidates) -> np.ndarray:
        sorts.append(1)
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Candidates, "_nearest_order", counted)
        valid_greedy(problem, cand)
    assert len(sorts) == 1


@settings(max_examples=60, deadline=None)
@given(instances())
def test_the_network_s_arcs_are_those_listed_one_by_one(problem: Problem) -> None:
    """The arrays written block by block (the pair block straight into them) hold, in
    order: each candidate's arc, each unplaced arc, each ``min`` arc, each arc above
    ``min`` (tail, head, capacity, kind, what it refers to)."""
    cand = build_candidates(problem)
    net = flow.build_network(problem, cand)
    n, p = problem.num_staff, problem.num_posts
    sink = n + p
    pmin, pmax = problem.posts.min.tolist(), problem.posts.max.tolist()
    pairs = enumerate(zip(cand.person.tolist(), cand.post.tolist(), strict=True))
    arcs = [(i, n + q, 1, PAIR, k) for k, (i, q) in pairs]
    arcs += [(i, sink, 1, UNPLACED, i) for i in range(n) if cand.can_stay_unplaced[i]]
    arcs += [(n + q, sink, pmin[q], POST_MIN, q) for q in range(p) if pmin[q] > 0]
    arcs += [(n + q, sink, pmax[q] - pmin[q], POST_REST, q) for q in range(p) if pmax[q] > pmin[q]]
    columns = (net.tail, net.head, net.cap, net.kind, net.ref)
    assert list(zip(*(c.tolist() for c in columns), strict=True)) == arcs
    assert all(a.dtype == np.int64 for a in (net.tail, net.head, net.cap, net.ref))


@settings(max_examples=150, deadline=None)
@given(instances())
def test_greedy_is_the_greedy_read_pair_by_pair(problem: Problem) -> None:
    """Greedy (each person's nearest line taken at once when it has room and the person
    has no relatives) places everyone as greedy written plainly: people who must be
    placed first, each taking the nearest line with room that puts no relatives against
    the rule."""
    cand = build_candidates(problem)
    room = problem.posts.max.tolist()
    out = np.full(problem.num_staff, -1, dtype=np.int64)
    order = np.lexsort((cand.dist_km, cand.person))
    for i in np.argsort(cand.can_stay_unplaced, kind="stable").tolist():
        for p in cand.post[order][cand.person[order] == i].tolist():
            if room[p] > 0:
                out[i] = p
                if relatives.conflicts(problem, out):
                    out[i] = -1
                    continue
                room[p] -= 1
                break
    assert greedy(problem, cand).assignment.tolist() == out.tolist()
