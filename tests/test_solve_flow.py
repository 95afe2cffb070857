"""The flow core's column generation (``optimizer/solve/flow.py``).

Whatever arcs a solve starts from, and however the active arcs fail to admit a flow,
it ends at the optimum over every free arc that is not banned.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solve_properties import instances

from optimizer.data import Problem
from optimizer.solve.candidates import build_candidates
from optimizer.solve.flow import PAIR, UNREACHABLE, FlowInfeasible, FlowModel


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_a_solve_from_few_arcs_with_bans_reaches_the_optimum(problem: Problem, data: st.DataObject) -> None:
    model = FlowModel(problem, build_candidates(problem))
    cost = model.stage_cost(("unplaced", "moves", "commute"), (10_000, 100, 1))
    everything = np.ones(model.num_arcs, dtype=bool)
    try:
        first = model.solve(cost, everything)
    except FlowInfeasible:
        return
    pairs = np.flatnonzero(model.net.kind == PAIR)
    banned = np.zeros(model.num_arcs, dtype=bool)
    banned[data.draw(st.lists(st.sampled_from(pairs.tolist()), max_size=3)) if len(pairs) else []] = True
    used = first.flow > 0  # only the arcs of the first flow: often no flow after the bans
    try:
        expected = model.solve(cost, everything, banned).value
    except FlowInfeasible:
        expected = None
    for guide in (first.reduced, None):
        try:
            found = model.solve(cost, used, banned, guide)
        except FlowInfeasible:
            assert expected is None
            continue
        assert found.value == expected
        assert not (found.flow[banned] > 0).any()
        assert (found.reduced[model.free & ~banned & (found.flow == 0)] >= 0).all()
        # the arcs fixed or banned, and only they, read as unreachable
        assert np.array_equal(found.reduced == UNREACHABLE, ~(model.free & ~banned))
