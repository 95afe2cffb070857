"""The pricing mask of the flow model (``FlowModel.cheapest``) against its definition.

Every non-pair arc is kept, and of each person's pair arcs the ``k`` first in the order
of the keys (the first key decides, the next ones break ties, then the arc's position),
whatever the keys' ranges (packed into one sort key or not).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from test_solve_properties import instances

from optimizer.data import Problem
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
