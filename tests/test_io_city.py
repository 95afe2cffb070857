"""The full synthetic city loads and validates (slow: generates 15,997 people first)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from optimizer.io import load_problem, load_scenario


@pytest.mark.slow
def test_full_city_loads_without_errors(full_city: Path) -> None:
    start = time.perf_counter()
    problem, warnings = load_problem(load_scenario(full_city))
    elapsed = time.perf_counter() - start
    assert problem.num_units == 168
    assert Counter(problem.staff.bloc) == {"party": 3878, "government": 12119}
    assert all(w.severity == "warning" for w in warnings)
    assert (problem.posts.min <= problem.posts.max).all()
    print(f"\nfull city: loaded and validated in {elapsed:.2f} s, {len(warnings)} warnings")
