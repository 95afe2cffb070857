"""Speed changes of the solve that must not change what it computes (issue 19).

The one-key sort of the pricing masks gives ``lexsort``'s order exactly; the relatives
rows of the stage programs are built once per solve and are the rule's rows; HiGHS's
interrupt callback, given straight to HiGHS, still stops simplex, interior point and
MIP runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_solve_properties import instances

from optimizer.data import Problem
from optimizer.solve import flow
from optimizer.solve.candidates import build_candidates
from optimizer.solve.flow import FlowModel, by_person
from optimizer.solve.highs import new_highs, pass_model, run_highs
from optimizer.solve.relatives import relative_rows


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
