"""The pricing mask of the flow model (``FlowModel.cheapest``) against its definition.

Every non-pair arc is kept, and of each person's pair arcs the ``k`` first in the order
of the keys (the first key decides, the next ones break ties, then the arc's position),
whatever the keys' ranges (packed into one sort key or not), whether the order was sorted
there, kept from the call before or sorted ahead in a thread of its own.  The arc blocks and each
person's arcs read from them (``Network.block``, ``FlowModel.person_arcs``) against the
arcs' tails and kinds.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_solve_properties import instances

from optimizer.data import Problem
from optimizer.solve import flow
from optimizer.solve.candidates import build_candidates
from optimizer.solve.flow import PAIR, FlowModel


@settings(max_examples=150, deadline=None)
@given(instances(), st.data())
def test_cheapest_keeps_each_persons_first_k_pairs(problem: Problem, data: st.DataObject) -> None:
    model = FlowModel(problem, build_candidates(problem))
    bound = data.draw(st.sampled_from([2, 50, 2**40]))
    keys = [
        np.array(
            data.draw(st.lists(st.integers(-bound, bound), min_size=model.num_arcs, max_size=model.num_arcs))
        )
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    k = data.draw(st.integers(0, 4))
    expected = model.net.kind != PAIR
    for person in range(problem.num_staff):
        arcs = [a for a in range(model.num_arcs) if model.net.kind[a] == PAIR and model.net.tail[a] == person]
        arcs.sort(key=lambda a: (*(int(key[a]) for key in keys), a))
        expected[arcs[:k]] = True
    assert model.cheapest(keys, k).tolist() == expected.tolist()


@settings(max_examples=40, deadline=None)
@given(instances(), st.data())
def test_cheapest_sorts_only_new_or_changeable_keys(problem: Problem, data: st.DataObject) -> None:
    model = FlowModel(problem, build_candidates(problem))

    def drawn() -> np.ndarray:
        values = st.lists(st.integers(-5, 5), min_size=model.num_arcs, max_size=model.num_arcs)
        return np.array(data.draw(values), dtype=np.int64)

    def fresh(keys: list[np.ndarray], k: int) -> list[bool]:
        """The mask of a model that never sorted before."""
        return FlowModel(problem, model.cand).cheapest([key.copy() for key in keys], k).tolist()

    stage, later, mine, changed = drawn(), drawn(), drawn(), drawn()
    for key in (stage, later):
        key.flags.writeable = False  # as the stage costs are
    pairs = len(model.cand)
    assume(pairs > 1 and np.ptp(mine[:pairs]) > 0 and np.ptp(changed[:pairs]) > 0)  # keys that order
    constant = np.full(model.num_arcs, 7)
    constant.flags.writeable = False
    expected = fresh([stage, later], 3), fresh([changed], 2)
    sorts = []
    inner = flow.by_person
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "by_person", lambda *args: sorts.append(1) or inner(*args))
        model.cheapest([stage, later], 2)
        assert len(sorts) == 1
        # the same stage costs behind a key the same on every pair: the order sorted before
        assert model.cheapest([constant, stage, later], 3).tolist() == expected[0]
        assert len(sorts) == 1
        # a key that may change is sorted every time
        model.cheapest([mine], 2)
        mine[:] = changed
        assert model.cheapest([mine], 2).tolist() == expected[1]
        assert len(sorts) == 3


@settings(max_examples=40, deadline=None)
@given(instances(), st.data())
def test_orders_sorted_ahead_are_those_cheapest_sorts_once_each(
    problem: Problem, data: st.DataObject
) -> None:
    model = FlowModel(problem, build_candidates(problem))

    def drawn() -> np.ndarray:
        values = st.lists(st.integers(-5, 5), min_size=model.num_arcs, max_size=model.num_arcs)
        return np.array(data.draw(values), dtype=np.int64)

    def fresh(keys: list[np.ndarray]) -> list[bool]:
        """The mask of a model that never sorted before."""
        return FlowModel(problem, model.cand).cheapest([key.copy() for key in keys], 3).tolist()

    stage, later, last, mine = drawn(), drawn(), drawn(), drawn()
    for key in (stage, later, last):
        key.flags.writeable = False  # as the stage costs are
    pairs = len(model.cand)
    assume(pairs > 1 and all(np.ptp(key[:pairs]) > 0 for key in (stage, later, last, mine)))
    constant = np.full(model.num_arcs, 7)
    constant.flags.writeable = False
    lists = [[constant, stage, later], [later, last], [last], [mine]]
    expected = [fresh(keys) for keys in lists]
    sorts: list[str] = []
    inner = flow.by_person

    def counted(*args: object) -> np.ndarray:
        sorts.append(threading.current_thread().name)
        return inner(*args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "by_person", counted)
        model.cheapest([stage, later], 3)  # sorted here, and kept
        model.sort_ahead(lists)
        model.sort_ahead(lists[1:3])  # already sorting: not again
        assert [model.cheapest(keys, 3).tolist() for keys in lists] == expected
    # the kept order serves the first list; the next two sorted ahead, once each; the
    # writeable key left to cheapest
    assert [name.split("_")[0] for name in sorts] == [
        "MainThread",
        "staffplan-sort-ahead",
        "staffplan-sort-ahead",
        "MainThread",
    ]


@settings(max_examples=10, deadline=None)
@given(instances())
def test_an_error_sorting_ahead_is_raised_where_the_order_is_asked_for(problem: Problem) -> None:
    model = FlowModel(problem, build_candidates(problem))
    key = np.arange(model.num_arcs)
    key.flags.writeable = False
    assume(len(model.cand) > 1)

    def failing(*args: object) -> np.ndarray:
        raise MemoryError("no room to sort")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow, "by_person", failing)
        model.sort_ahead([[key]])
        with pytest.raises(MemoryError, match="no room to sort"):
            model.cheapest([key], 2)


@settings(max_examples=60, deadline=None)
@given(instances())
def test_each_kinds_block_holds_exactly_its_arcs(problem: Problem) -> None:
    net = FlowModel(problem, build_candidates(problem)).net
    for kind in (flow.PAIR, flow.UNPLACED, flow.POST_MIN, flow.POST_REST):
        block = net.block(kind)
        assert list(range(block.start, block.stop)) == np.flatnonzero(net.kind == kind).tolist()


@settings(max_examples=60, deadline=None)
@given(instances())
def test_a_persons_arcs_are_those_leaving_them_in_arc_order(problem: Problem) -> None:
    model = FlowModel(problem, build_candidates(problem))
    tail = model.net.tail
    for person in range(problem.num_staff):
        assert model.person_arcs(person).tolist() == np.flatnonzero(tail == person).tolist()
