"""Generated provinces (``optimizer.shapes``) solved once per test session, for the tests
that compare planner actions (explain, re-plan) with full solves."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import numpy as np

from optimizer.data import Problem
from optimizer.io.build import load_problem
from optimizer.io.scenario import load_scenario
from optimizer.shapes import SHAPES, write_province
from optimizer.solve import solve


@functools.cache
def solved_province(name: str, people: int) -> tuple[Problem, np.ndarray]:
    """A generated province of shape ``name`` and its proven placement, solved with one
    HiGHS thread (the same placement on every run, README ``[solver]``)."""
    folder = Path(tempfile.mkdtemp(prefix=f"province-{name}-"))
    write_province(SHAPES[name], people, folder, 0)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    problem = dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, workers=1))
    result = solve(problem)
    assert result.status == "optimal"
    return problem, result.assignment
