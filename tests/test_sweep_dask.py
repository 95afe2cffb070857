"""A real Dask cluster (a local scheduler and two worker processes started here, on
127.0.0.1) and the local process pool store identical runs for the same sweep."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.i18n import set_lang
from optimizer.store import RunStore
from optimizer.sweep import open_executor, plan_sweep, run_sweep

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
GRID = ("rules.max_commute_km=20,30", "rules.bloc_change=allow,penalize")


@pytest.fixture(autouse=True)
def vietnamese() -> Iterator[None]:
    yield
    set_lang("vi")  # a CLI call with --lang en must not leak into the next test


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    ) as running:
        yield running


@pytest.mark.slow
def test_dask_and_local_pool_store_identical_runs(cluster: distributed.LocalCluster, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "scenarios" / "tiny", tmp_path / "tiny")
    scenario = tmp_path / "tiny" / "scenario.toml"
    plan = plan_sweep(scenario, GRID)

    local_store = RunStore(tmp_path / "local.db")
    set_lang("en")  # as the command below: unplaced reasons are stored in the run's language
    with open_executor("local", 2) as (pool, _):
        local = run_sweep(plan, local_store, pool, threads=1)

    address = cluster.scheduler_address.removeprefix("tcp://")
    dask_db = tmp_path / "dask.db"
    args = [
        "--lang",
        "en",
        "sweep",
        str(scenario),
        "--executor",
        f"dask://{address}",
        "--threads-per-solve",
        "1",
        "--store",
        str(dask_db),
    ]
    for option in GRID:
        args += ["--set", option]
    res = CliRunner().invoke(main, args, env={"COLUMNS": "220"})
    assert res.exit_code == 0, res.output
    assert f"Running on the Dask cluster tcp://{address} (2 worker threads)" in res.output

    with distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert os.getpid() not in worker_pids and len(worker_pids) == 2

    dask_store = RunStore(dask_db)
    remote = {h.meta["tags"]["combination"]: h for h in dask_store.heads(sweep=plan.sweep_id)}
    assert sorted(remote) == sorted(c.key for c in plan.combinations)
    for run in local.runs:
        a = local_store.get(run.run_id)
        b = dask_store.get(remote[run.combination.key].run_id)
        assert a.manifest_hash == b.manifest_hash
        assert a.kpis == b.kpis
        assert a.meta["tags"] == b.meta["tags"]
        assert a.meta["values"] == b.meta["values"] and a.meta["bounds"] == b.meta["bounds"]
        for name in ("placements", "unplaced", "units"):
            pd.testing.assert_frame_equal(getattr(a.tables, name), getattr(b.tables, name))
