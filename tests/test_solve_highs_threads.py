"""HiGHS's thread pool across solves of one process (``optimizer.solve.highs.run_highs``).

HiGHS keeps one pool per process and each calling thread a handle on it: after a solve
on one worker, a solve on two workers in another thread (the service runs solves and
explanations in threads), a solve on two workers back in the first thread failed every
HiGHS run without a word — the stage relaxations and exact finishes gave no solution and
the run was stored unproven. The whole test suite met it when the explain tests ran
before a solve (test_solve_backends, pinned-relatives-leadership).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from optimizer.data import Problem
from optimizer.io.build import load_problem
from optimizer.io.scenario import load_scenario
from optimizer.shapes import SHAPES, write_province
from optimizer.solve import engine


def province(folder: Path, workers: int) -> Problem:
    """A generated 300-person province whose solve needs HiGHS (relatives, pinned leaders)."""
    write_province(SHAPES["pinned-relatives-leadership"], 300, folder, seed=1)
    problem, _ = load_problem(load_scenario(folder / "scenario.toml"))
    return dataclasses.replace(problem, solver=dataclasses.replace(problem.solver, workers=workers))


@pytest.mark.parametrize(
    "steps", [("main", 1, "thread", 2, "main", 2), ("thread", 2, "main", 1, "thread", 1)]
)
def test_every_solve_is_proven_whatever_thread_and_pool_size_ran_before(
    steps: tuple[str | int, ...], tmp_path: Path
) -> None:
    statuses: list[str] = []
    for k in range(0, len(steps), 2):
        where, workers = str(steps[k]), int(steps[k + 1])
        problem = province(tmp_path / str(k), workers)

        def solve(problem: Problem = problem) -> None:
            statuses.append(engine.solve(problem).status)

        if where == "thread":
            worker = threading.Thread(target=solve)
            worker.start()
            worker.join()
        else:
            solve()
    assert statuses == ["optimal"] * (len(steps) // 2)
