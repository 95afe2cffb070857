"""The leaders' report (issue 16, part 9): the summary first with good/bad colours by
each KPI's direction, the long table folded, charts that inform (the worst units, the
commute clipped with the island apart), local time, short hash, names escaped everywhere."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_kpis import tiny_assignment, tiny_problem
from test_store import new_run

from optimizer.export.report import build_report
from optimizer.export.report_charts import commute_clip, commute_figure, worst_units
from optimizer.kpi_display import delta_quality, kpi_direction
from optimizer.localtime import TZ_ENV, local_time, set_zone
from optimizer.store import RunStore, StoredRun

HOSTILE = "<img src=x onerror=alert(1)></script><b>Phường"


@pytest.fixture(autouse=True)
def default_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TZ_ENV, raising=False)
    set_zone(None)
    yield
    set_zone(None)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[StoredRun, StoredRun]:
    """The tiny run and one that leaves two more people unplaced (worse)."""
    store = RunStore(tmp_path / "s.db")
    problem = tiny_problem()
    a = store.get(store.save(new_run(problem, tiny_assignment())))
    worse = tiny_assignment().copy()
    worse[np.flatnonzero(worse >= 0)[:2]] = -1
    b = store.get(store.save(new_run(problem, worse, scenario_name="tiny-b")))
    return a, b


def test_a_change_is_good_or_bad_by_the_kpis_direction_not_its_sign() -> None:
    assert delta_quality("unplaced", 3327) == "bad"  # more unplaced: bad, though positive
    assert delta_quality("placed", -3327) == "bad"
    assert delta_quality("commute_mean_km", -0.77) == "good"  # shorter: good, though negative
    assert delta_quality("fill_rate", 0.01) == "good"
    assert delta_quality("fairness.blocking_pairs", -471) == "good"
    assert delta_quality("terms.moves", 2) == "bad"
    assert delta_quality("quota", 10) == ""  # a size, neither good nor bad
    assert delta_quality("unplaced", 0) == "" and delta_quality("unplaced", None) == ""
    assert kpi_direction("unplaced_by_category.cadre") == -1


def _row(text: str, label: str) -> str:
    """The HTML of the first table row whose first cell is ``label``."""
    match = re.search(r"<tr><td[^>]*>" + re.escape(html.escape(label)) + r"</td>.*?</tr>", text)
    assert match, label
    return match.group(0)


def test_summary_comes_first_coloured_by_direction_and_the_long_table_is_folded(
    pair: tuple[StoredRun, StoredRun],
) -> None:
    a, b = pair
    text = build_report([a, b])
    summary = text.index("Tóm tắt")
    assert summary < text.index("<details>") < text.index("Phân bố quãng đường đi làm")
    head = text[summary : text.index("<details>")]
    unplaced = _row(head, "Số người chưa bố trí")  # +2 unplaced: red
    assert 'class="n bad">+2<' in unplaced
    placed = _row(head, "Số người được bố trí")  # -2 placed: red too, though negative
    assert 'class="n bad">-2<' in placed
    assert 'class="n good">-1<' in _row(head, "Số người chuyển sang đơn vị khác")  # fewer moves
    folded = text[text.index("<details>") : text.index("</details>")]
    assert folded.count("<tr>") > 30  # every KPI, folded
    assert len(head.split("<table")[1].split("<tr>")) - 2 <= 8  # the summary stays short


def test_times_are_local_and_the_hash_is_short_with_the_whole_on_hover(
    pair: tuple[StoredRun, StoredRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pair
    a = dataclasses.replace(a, created_at="2026-12-06T11:33:05+00:00")
    text = build_report([a])
    assert "06/12/2026 18:33" in text and "Asia/Ho_Chi_Minh" in text  # UTC+7
    assert f'<abbr title="{a.manifest_hash}">{a.manifest_hash[:12]}</abbr>' in text
    assert f">{a.manifest_hash}<" not in text
    monkeypatch.setenv(TZ_ENV, "Europe/Paris")
    assert "06/12/2026 12:33" in build_report([a])
    set_zone("UTC")
    assert local_time("2026-12-06T11:33:05+00:00", "en") == "2026-12-06 11:33"
    with pytest.raises(ValueError, match="Mars/Olympus"):
        set_zone("Mars/Olympus")


def test_worst_units_are_those_short_most_and_full_units_are_left_out(
    pair: tuple[StoredRun, StoredRun],
) -> None:
    a, b = pair
    worst = worst_units([a, b])
    shortfall = worst[[f"shortfall@{r.run_id}" for r in (a, b)]].max(axis=1).tolist()
    assert shortfall == sorted(shortfall, reverse=True) and len(worst) <= 20
    full = [u for u, f in zip(worst["unit_id"], worst[f"fill_rate@{a.run_id}"], strict=True) if f >= 1]
    for unit in full:  # listed only because run b leaves it short
        assert worst.loc[worst["unit_id"] == unit, f"shortfall@{b.run_id}"].iloc[0] > 0


def test_the_island_is_shown_apart_and_the_axis_is_clipped(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.db")
    stored = store.get(store.save(new_run(tiny_problem(), tiny_assignment())))
    pl = stored.tables.placements.copy()
    island = pl["unit_kind"] == "special_zone"
    assert island.any()  # someone is placed on the island: say they came from 333 km away
    pl.loc[island, "distance_km"] = 333.0
    stored = dataclasses.replace(stored, tables=dataclasses.replace(stored.tables, placements=pl))
    fig, notes = commute_figure([stored])
    clip = commute_clip([stored])
    assert clip < 333.0  # the island's distance does not stretch the axis
    assert fig.layout.xaxis.range == (0, clip)
    assert sorted(fig.data[0].x) == sorted(pl.loc[~island, "distance_km"])  # mainland only
    assert any("Đặc khu Cồn" in n and "333" in n and "không đi lại hằng ngày" in n for n in notes)


def test_names_are_escaped_everywhere_even_in_charts(tmp_path: Path) -> None:
    problem = tiny_problem()
    names = (HOSTILE, "Xã Bình", "Đặc khu Cồn")
    problem = dataclasses.replace(problem, units=dataclasses.replace(problem.units, names=names))
    store = RunStore(tmp_path / "s.db")
    worse = tiny_assignment().copy()
    worse[np.flatnonzero(worse >= 0)[:2]] = -1
    a = store.get(store.save(new_run(problem, tiny_assignment())))
    b = store.get(store.save(new_run(problem, worse)))
    text = build_report([a, b])
    assert "<img" not in text and "<b>Phường" not in text
    assert text.count("</script>") == text.count("<script")  # no script closed early
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # shown, as text
