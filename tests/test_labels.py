"""One name per code for the whole program, and numbers and dates in the planner's style."""

from __future__ import annotations

import datetime as dt

import pytest

from optimizer.data import (
    BLOCS,
    CATEGORIES,
    CHANGES,
    DEPARTMENTS,
    KINDS,
    PIN_MODES,
    RELATIONS,
    RULE_IDS,
    TERMS,
)
from optimizer.i18n import catalogue
from optimizer.labels import day, enum_label, has_label, label, number, parse_day, terms_label, yes_no
from optimizer.solve.engine import Progress
from optimizer.synth import POSITIONS


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("bloc", BLOCS),
        ("category", CATEGORIES),
        ("kind", KINDS),
        ("mode", PIN_MODES),
        ("department", DEPARTMENTS),
        ("relation", RELATIONS),
        ("term", (*TERMS, CHANGES)),
        ("rule", RULE_IDS),
        ("position", tuple(p.code for p in POSITIONS)),
        ("status", ("optimal", "feasible", "infeasible", "no_solution")),
    ],
)
def test_every_code_of_the_program_has_a_name_in_both_languages(kind: str, codes: tuple[str, ...]) -> None:
    missing = [c for c in codes if not has_label(c, kind)]  # type: ignore[arg-type]
    assert missing == []
    for code in codes:
        vi, en = label(code, kind, "vi"), label(code, kind, "en")  # type: ignore[arg-type]
        assert vi and en and vi != code
        assert "_" not in vi and "_" not in en


def test_an_unknown_code_is_shown_as_written() -> None:
    assert label("Cán bộ địa chính", "position", "vi") == "Cán bộ địa chính"
    assert label(None, "position") == ""


def test_enum_label_finds_the_kind_of_a_code() -> None:
    assert enum_label("civil_servant", "vi") == "công chức"
    assert enum_label("government", "en") == "government bloc"
    assert enum_label("special_zone", "vi") == "đặc khu"


def test_no_label_keys_are_left_in_the_old_places() -> None:
    old = [k for k in catalogue() if k.startswith(("export.position.", "export.department.", "io.label."))]
    assert old == []


def test_numbers_follow_the_language() -> None:
    assert number(12119, 0, "vi") == "12.119"
    assert number(12119, 0, "en") == "12,119"
    assert number(16.14, 1, "vi") == "16,1"
    assert number(-0.001, 2, "vi") == "0,00"
    assert number(3, 0, "vi", signed=True) == "+3"
    assert number(None) == "–"
    assert number(float("nan")) == "–"


def test_dates_and_yes_no_follow_the_language() -> None:
    assert day(dt.date(2025, 7, 1), "vi") == "01/07/2025"
    assert day("2025-07-01", "en") == "2025-07-01"
    assert day("1975", "vi") == "1975"
    assert yes_no(True, "vi") == "có" and yes_no(False, "en") == "no"
    assert terms_label("shortfall+unplaced", "vi") == "thiếu so với tối thiểu (lãnh đạo ×10) + chưa bố trí"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-07-01", dt.date(2025, 7, 1)),
        ("01/07/2025", dt.date(2025, 7, 1)),
        ("1.7.2025", dt.date(2025, 7, 1)),
        ("31/02/2025", None),
        ("07/2025", None),
        ("hôm nay", None),
    ],
)
def test_parse_day_accepts_iso_and_day_month_year(text: str, expected: dt.date | None) -> None:
    assert parse_day(text) == expected


def test_progress_lines_are_words() -> None:
    stage = Progress(
        "shortfall+unplaced", 2509227, 2509227, 11.14, "iteration", {"iteration": 1, "conflicts": 13}
    )
    vi = stage.describe("vi")
    assert "chưa bố trí" in vi and "vòng 1, 13 xung đột" in vi and "2.509.227" in vi and "0,000 %" in vi
    cand = Progress("candidates", None, None, 0.92, "candidates", {"pairs": 2288169}).describe("en")
    assert cand == "[   0.92s] 2,288,169 candidate (person, post) pairs"
    exact = Progress("exact", None, None, 1.0, "exact", {"status": "optimal"}).describe("vi")
    assert exact.endswith("giải chính xác: tối ưu")
