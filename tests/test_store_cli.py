"""The ``runs``, ``show`` and ``rm`` commands, and the ``--store`` option."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_store import tiny_run

from optimizer.cli import main
from optimizer.cli.runs import kpi_table, store_option
from optimizer.store import RunStore


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "220", **(env or {})})


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "s.db")
    s.save(tiny_run(scenario_name="base"))
    s.save(tiny_run(scenario_name="tight", sweep_id="sw1"))
    return s


def test_runs_lists_newest_first_and_filters(store: RunStore) -> None:
    ids = [r.run_id for r in store.list()]
    res = invoke("--lang", "en", "runs", "--store", str(store.path))
    assert res.exit_code == 0, res.output
    assert res.output.index(ids[0]) < res.output.index(ids[1])
    assert "optimal" in res.output and "75.0 %" in res.output
    res = invoke("runs", "--scenario", "base", "--store", str(store.path))
    assert ids[1] in res.output and ids[0] not in res.output
    assert "tối ưu" in res.output  # Vietnamese by default
    res = invoke("runs", "--sweep", "nope", "--store", str(store.path))
    assert res.exit_code == 0 and "Kho lưu chưa có phương án nào" in res.output


def test_store_option_reads_the_environment(store: RunStore) -> None:
    res = invoke("runs", env={"STAFFPLAN_STORE": str(store.path)})
    assert res.exit_code == 0 and store.list()[0].run_id in res.output
    assert callable(store_option)


def test_missing_store_is_bad_input(tmp_path: Path) -> None:
    res = invoke("runs", "--store", str(tmp_path / "none.db"))
    assert res.exit_code == 2
    assert "none.db" in res.output
    assert not (tmp_path / "none.db").exists()


def test_show_prints_kpis_balance_and_units(store: RunStore) -> None:
    res = invoke("--lang", "en", "show", "latest", "--store", str(store.path))
    assert res.exit_code == 0, res.output
    latest = store.list()[0].run_id
    assert latest in res.output
    for text in (
        "People placed",
        "Relatives conflicts (must be 0)",
        "Surplus and shortage",
        "By unit and bloc",
        "Đặc khu Cồn",
        "Objective by term",
    ):
        assert text in res.output


def test_show_one_unit_lists_its_people(store: RunStore) -> None:
    res = invoke("--lang", "en", "show", "latest", "--unit", "U2", "--store", str(store.path))
    assert res.exit_code == 0, res.output
    assert "People placed in Xã Bình: 2" in res.output
    assert "Phạm Thị Dung" in res.output and "Hoàng Văn Em" in res.output
    assert "Nguyễn Thị Lan" not in res.output  # in U1
    decomposed = unicodedata.normalize("NFD", "Xã Bình")  # as some terminals send it
    by_name = invoke("show", "latest", "--unit", decomposed, "--store", str(store.path))
    assert by_name.exit_code == 0 and "Phạm Thị Dung" in by_name.output
    bad = invoke("show", "latest", "--unit", "U9", "--store", str(store.path))
    assert bad.exit_code == 2 and "U9" in bad.output


def test_rm_deletes_one_run(store: RunStore) -> None:
    first, second = [r.run_id for r in reversed(store.list())]
    res = invoke("--lang", "en", "rm", first[:5], "--store", str(store.path))
    assert res.exit_code == 0 and f"Deleted run {first}" in res.output
    assert [r.run_id for r in store.list()] == [second]
    again = invoke("rm", first, "--store", str(store.path))
    assert again.exit_code == 2


def test_kpi_table_has_one_column_per_run_and_deltas(store: RunStore) -> None:
    a, b = (store.get(r.run_id) for r in store.list())
    table = kpi_table({a.run_id: a.kpis, b.run_id: b.kpis})
    assert [c.header for c in table.columns][1:] == [a.run_id, b.run_id, f"Δ {b.run_id}"]
    assert table.row_count == len(a.kpis) - 6 + sum(len(v) for v in a.kpis.values() if isinstance(v, dict))
