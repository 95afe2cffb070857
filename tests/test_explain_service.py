"""``service.explain`` on a stored run: the run is opened once and kept, and every later
explanation reuses its residual graph and potentials — with the same answers as an
explainer built afresh from the rebuilt run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from optimizer import replan, service
from optimizer.explain import Explainer
from optimizer.replan import load_run

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"


def test_a_run_is_opened_once_for_every_explanation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(TINY, tmp_path / "tiny")
    store = service.open_store(tmp_path / "runs.db", create=True)
    recorded = service.solve_and_record(service.load(tmp_path / "tiny" / "scenario.toml"), store)
    opened: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[1])
        return load_run(*args, **kwargs)

    monkeypatch.setattr(replan, "load_run", counted)
    people = [str(s) for s in recorded.run.tables.placements["staff_id"]]
    found = [service.explain(store, recorded.run_id, person, alternatives=2) for person in people]
    assert len(opened) == 1  # rebuilt for the first explanation only
    ctx = load_run(store, recorded.run_id)
    fresh = Explainer(ctx.problem, ctx.assignment, ctx.reference)
    forcings = 0
    for person, answer in zip(people, found, strict=True):
        assert answer.run.run_id == recorded.run_id
        expected = fresh.explain(ctx.problem.staff.id2idx[person], alternatives=2)
        assert [a.unit_idx for a in answer.person.alternatives] == [a.unit_idx for a in expected.alternatives]
        for got, want in zip(answer.person.alternatives, expected.alternatives, strict=True):
            assert [r.rule for r in got.excluded] == [r.rule for r in want.excluded]
            assert (got.forcing is None) == (want.forcing is None)
            if got.forcing is not None and want.forcing is not None:
                forcings += 1
                assert got.forcing.feasible == want.forcing.feasible
                assert got.forcing.values == want.forcing.values
                assert got.forcing.moves == want.forcing.moves
    assert forcings >= 2
