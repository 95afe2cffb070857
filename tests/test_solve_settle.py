"""A stage's first flow settled early (``FlowModel.solve``'s ``settle``): it stops its
pricing a few arcs short and only starts the stage's linear relaxation, which prices
those arcs in; it proves nothing itself, so the stages' values and proofs must be those
of a solve without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from test_solve_shapes import province

from optimizer.check import check_placement
from optimizer.solve import engine
from optimizer.solve.candidates import build_candidates
from optimizer.solve.engine import EngineParams, stage_plan
from optimizer.solve.flow import FlowModel
from optimizer.solve.lagrange import RelativesRows, StageSearch


def moves_start(name: str) -> tuple[FlowModel, np.ndarray, np.ndarray]:
    """A province's model after its first stage, the moves stage's cost and first arcs."""
    problem = province(name)
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    StageSearch(model, RelativesRows(model), plan, 0, lambda: None, lambda *_: None).run(None)
    k = next(i for i, (terms, _) in enumerate(plan) if "moves" in terms)
    cost = np.array(model.stage_cost(*plan[k]))
    return model, cost, model.cheapest([cost], 12)


def balance(model: FlowModel, flow: np.ndarray) -> np.ndarray:
    """Out-flow less in-flow at every node."""
    net = model.net
    out = np.bincount(net.tail, weights=flow, minlength=net.num_nodes)
    return out - np.bincount(net.head, weights=flow, minlength=net.num_nodes)


def test_a_settled_flow_is_a_flow_not_priced_and_a_declined_settle_changes_nothing() -> None:
    model, cost, active = moves_start("single-posts")
    full = model.solve(cost, active)
    asked: list[np.ndarray] = []

    def decline(flow: np.ndarray) -> bool:
        asked.append(flow)
        return False

    declined = model.solve(cost, active, settle=decline)
    assert asked, "no pricing round left few enough arcs to ask"
    assert declined.priced and full.priced
    assert declined.value == full.value
    assert np.array_equal(declined.reduced, full.reduced)
    settled = model.solve(cost, active, settle=lambda flow: True)
    assert not settled.priced
    assert np.array_equal(settled.flow, asked[0])
    assert np.array_equal(balance(model, settled.flow), model.net.supply)
    # arcs of negative reduced cost were left out: its value is no bound of the stage
    assert (model.free & ~settled.active & (settled.reduced < 0)).any()
    assert settled.value >= full.value


def settling(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Record, for every settle asked, the stage and the answer."""
    answers: list[tuple[int, bool]] = []
    inner = StageSearch._settle

    def recorded(self: StageSearch, iteration: int) -> Callable[[np.ndarray], bool] | None:
        ask = inner(self, iteration)
        if ask is None:
            return None

        def answer(flow: np.ndarray, ask: Callable[[np.ndarray], bool] = ask) -> bool:
            answers.append((self.stage, ask(flow)))
            return answers[-1][1]

        return answer

    monkeypatch.setattr(StageSearch, "_settle", recorded)
    return answers


def test_settled_stages_keep_the_values_and_proofs(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = province("short-commute")
    answers = settling(monkeypatch)
    settled = engine.solve(problem)
    assert (0, True) in answers, "the first stage did not settle its first flow"
    plain = engine.solve(problem, params=EngineParams(settle=False))
    assert settled.proven and plain.proven
    assert [s.value for s in settled.stages] == [s.value for s in plain.stages]
    assert [s.bound for s in settled.stages] == [s.value for s in settled.stages]
    assert not check_placement(problem, settled.assignment)


def test_a_flow_that_keeps_the_rule_is_priced_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = province("single-posts")
    answers = settling(monkeypatch)
    engine.solve(problem)
    assert (0, False) in answers  # its first stage's flow put no relatives together
    assert not any(stage == 0 and yes for stage, yes in answers)


def test_re_plans_and_quick_placements_never_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = province("single-posts")
    answers = settling(monkeypatch)
    engine.solve(problem, params=EngineParams(parting=2))
    engine.solve(problem, prove=False)
    assert not answers


@pytest.mark.parametrize("name", ["single-posts", "short-commute", "pinned-relatives-any", "all-placed"])
def test_only_stages_blind_to_the_posts_settle(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    problem = province(name)
    model = FlowModel(problem, build_candidates(problem))
    plan = stage_plan(problem, model)
    answers = settling(monkeypatch)
    engine.solve(problem)
    for stage, _ in answers:
        terms = plan[stage][0]
        assert set(terms) <= {"shortfall", "unplaced"}, terms
