"""Decision annexes: what they say, file safety, CSV and Excel read back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_export_support import PEOPLE, SURPLUS_NAMES, SURPLUS_REASON, make_run

from optimizer.cli.export import FORMAT_CHOICES
from optimizer.errors import InputError
from optimizer.export import xlsx_annex
from optimizer.export.annex import FORMATS, DocumentFields, build_annex, export_annexes
from optimizer.export.csv_annex import TABLE_FILES, write_csv_tables
from optimizer.export.files import atomic_output, name_part, neutralise, output_path
from optimizer.export.labels import placed_label, roman
from optimizer.export.model import (
    decision_date,
    decision_number,
    issuer_lines,
    reference_line,
    signer_block,
)

FIELDS = DocumentFields(
    decision_no="7",
    date=dt.date(2026, 1, 5),
    issuer="Ủy ban nhân dân Thành phố Hồ Chí Minh",
    signer="TM. Ủy ban nhân dân|KT. Chủ tịch|Phó Chủ tịch|Trần Văn Được",
)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def annex_people(annex: object) -> list[tuple[str, str]]:
    return [(p.staff_id, p.name) for g in annex.groups for p in g.rows]  # type: ignore[attr-defined]


def expected_people() -> list[tuple[str, str]]:
    pl = make_run().tables.placements
    return [(s, nfc(n)) for s, n in zip(pl["staff_id"], pl["full_name"], strict=True)]


def is_private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


# ------------------------------------------------------------------ the annex model


def test_rows_are_the_placements_in_order_with_names_in_nfc() -> None:
    annex = build_annex(make_run(), FIELDS)
    assert annex_people(annex) == expected_people()
    assert len(annex_people(annex)) == sum(p[9] >= 0 for p in PEOPLE)
    # the name given decomposed (NFD) comes out composed
    assert "Lê Hoàng Phúc" in [n for _, n in annex_people(annex)]
    assert all(unicodedata.is_normalized("NFC", n) for _, n in annex_people(annex))


def test_groups_are_the_receiving_units_numbered_in_roman() -> None:
    annex = build_annex(make_run(), FIELDS)
    labels = [g.label for g in annex.groups]
    assert labels == ["I. PHƯỜNG SÀI GÒN", "II. XÃ BÌNH CHÁNH", "III. ĐẶC KHU CÔN ĐẢO"]
    for g in annex.groups:
        assert [p.no for p in g.rows] == list(range(1, len(g.rows) + 1))


def test_birth_date_goes_to_the_column_of_the_gender() -> None:
    annex = build_annex(make_run(), FIELDS)
    pl = make_run().tables.placements.set_index("staff_id")
    for g in annex.groups:
        for p in g.rows:
            iso = pl.at[p.staff_id, "birth_date"]
            shown = dt.date.fromisoformat(iso).strftime("%d/%m/%Y")
            female = pl.at[p.staff_id, "gender"] == "F"
            assert (p.birth_female, p.birth_male) == ((shown, "") if female else ("", shown))


def test_notes_flag_pins_and_bloc_changes() -> None:
    pl = make_run().tables.placements.set_index("staff_id")
    rows = {p.staff_id: p for g in build_annex(make_run(), FIELDS).groups for p in g.rows}
    for staff_id, row in rows.items():
        assert ("Đã chỉ định" in row.note) == bool(pl.at[staff_id, "pinned"])
        assert ("Chuyển khối" in row.note) == bool(pl.at[staff_id, "bloc_changed"])
    assert any(r.note for r in rows.values())


def test_titles_name_categories_and_unit_kinds() -> None:
    annex = build_annex(make_run(), FIELDS)
    assert annex.placement_title == ("DANH SÁCH BỐ TRÍ CÁN BỘ, CÔNG CHỨC TẠI CÁC XÃ, PHƯỜNG, ĐẶC KHU")
    one = build_annex(make_run(), FIELDS, ["27004"])
    assert one.placement_title.endswith("TẠI XÃ BÌNH CHÁNH")
    assert [g.label for g in one.groups] == ["I. XÃ BÌNH CHÁNH"]


def test_title_names_every_category_listed() -> None:
    run = make_run()
    pl = run.tables.placements.copy()
    pl.loc[1, "category"], pl.loc[2, "category"] = "public_employee", "part_time_worker"
    tables = dataclasses.replace(run.tables, placements=pl)
    annex = build_annex(dataclasses.replace(run, tables=tables), FIELDS)
    assert annex.placement_title.startswith(
        "DANH SÁCH BỐ TRÍ CÁN BỘ, CÔNG CHỨC, VIÊN CHỨC VÀ NGƯỜI HOẠT ĐỘNG KHÔNG CHUYÊN TRÁCH TẠI"
    )


def test_document_fields_follow_decree_30() -> None:
    assert decision_number("7") == "07/QĐ-UBND"
    assert decision_number("15") == "15/QĐ-UBND"
    assert decision_number("123/QĐ-UBND") == "123/QĐ-UBND"
    assert decision_number("") == "…/QĐ-UBND"
    assert decision_date(dt.date(2026, 1, 5)) == "05 tháng 01 năm 2026"
    assert decision_date(dt.date(2025, 11, 20)) == "20 tháng 11 năm 2025"
    assert decision_date(dt.date(2025, 3, 9)) == "09 tháng 3 năm 2025"
    assert reference_line(FIELDS) == (
        "(Kèm theo Quyết định số 07/QĐ-UBND ngày 05 tháng 01 năm 2026 "
        "của Ủy ban nhân dân Thành phố Hồ Chí Minh)"
    )


def test_missing_fields_are_blanks() -> None:
    blank = DocumentFields()
    assert reference_line(blank) == "(Kèm theo Quyết định số …/QĐ-UBND ngày … tháng … năm … của …)"
    assert issuer_lines("") == ("…",)
    assert signer_block("") == (("…",), "…")


def test_issuer_and_signer_lines() -> None:
    assert issuer_lines("Ủy ban nhân dân Thành phố Hồ Chí Minh") == (
        "ỦY BAN NHÂN DÂN",
        "THÀNH PHỐ HỒ CHÍ MINH",
    )
    assert issuer_lines("Ủy ban nhân dân|Phường Sài Gòn") == ("ỦY BAN NHÂN DÂN", "PHƯỜNG SÀI GÒN")
    assert issuer_lines("Sở Nội vụ") == ("SỞ NỘI VỤ",)
    assert signer_block(FIELDS.signer) == (
        ("TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"),
        "Trần Văn Được",
    )


def test_placed_position_names() -> None:
    assert placed_label("dept_head", "dept_office", True) == "Chánh Văn phòng HĐND và UBND"
    assert placed_label("dept_deputy", "public_service_center", True) == "Phó Giám đốc TTPVHCC"
    assert placed_label("dept_head", "dept_culture_social", True) == "Trưởng Phòng VH-XH"
    assert placed_label("committee_chair", "dept_office", True) == "Chủ tịch UBND"
    assert placed_label("finance", "dept_economy", False) == "Tài chính (Phòng Kinh tế)"
    assert placed_label("military_assistant", "military_command", False) == "Trợ lý BCHQS"
    assert placed_label("beekeeping", "dept_economy", False) == "beekeeping (Phòng Kinh tế)"


def _from_roman(text: str) -> int:
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for a, b in zip(text, [*text[1:], ""], strict=True):
        total += -values[a] if b and values[b] > values[a] else values[a]
    return total


@given(st.integers(min_value=1, max_value=3999))
def test_roman_numerals_read_back(n: int) -> None:
    assert _from_roman(roman(n)) == n
    assert roman(168) == "CLXVIII"


def test_staffing_sums_agree_with_the_run() -> None:
    run = make_run()
    annex = build_annex(run, FIELDS)
    lines, unplaced = run.tables.units, run.tables.unplaced
    total = annex.unit_total
    assert total.quota == lines["max"].sum()
    assert total.present == len(run.tables.placements) == lines["filled"].sum()
    assert total.surplus == len(unplaced)
    assert total.shortfall == lines["shortfall"].sum()
    assert annex.position_total == total
    saigon = annex.units[0]
    assert saigon.unit_name == "Phường Sài Gòn"
    assert saigon.by_bloc["party"].present == 2
    assert saigon.by_bloc["government"].surplus == 1  # Bùi Thị Xuân
    health = next(p for p in annex.positions if p.position == "health")
    assert (health.label, health.counts.shortfall, health.counts.surplus) == ("Y tế", 1, 1)


def test_unknown_units_are_all_reported() -> None:
    with pytest.raises(InputError) as err:
        build_annex(make_run(), FIELDS, ["27004", "99999", "../etc"])
    assert [i.value for i in err.value.issues] == ["99999", "../etc"]
    assert "99999" in err.value.issues[0].message


def test_a_run_whose_hash_does_not_certify_it_is_refused(tmp_path: Path) -> None:
    forged = dataclasses.replace(make_run(), manifest_hash="f" * 64)
    with pytest.raises(InputError) as err:
        export_annexes(forged, "xlsx", tmp_path)
    assert err.value.issues[0].code == "export.hash_mismatch"
    assert list(tmp_path.iterdir()) == []


def test_redacted_annex_keeps_initials_and_birth_year() -> None:
    annex = build_annex(make_run(), FIELDS, redact=True)
    rows = [p for g in annex.groups for p in g.rows]
    assert rows[0].name == "N.V.Á."
    assert rows[0].birth == "1975" and rows[0].birth_date is None
    full_names = {nfc(p[0]) for p in PEOPLE}
    assert not full_names & {p.name for p in rows}


def test_a_run_that_places_nobody_is_refused_with_a_reason(tmp_path: Path) -> None:
    run = make_run(nobody_placed=True)
    annex = build_annex(run, FIELDS)  # the model still counts everyone as surplus
    assert [len(g.rows) for g in annex.groups] == [0, 0, 0]
    assert annex.unit_total.surplus == len(PEOPLE) and annex.unit_total.present == 0
    for fmt in ("xlsx", "docx", "pdf", "csv"):
        with pytest.raises(InputError) as info:
            export_annexes(run, fmt, tmp_path / fmt)
        (issue,) = info.value.issues
        assert issue.code == "export.no_placements"
        assert run.run_id in issue.message and str(len(PEOPLE)) in issue.message
        assert "diagnose" in issue.hint
        assert not (tmp_path / fmt).exists()  # nothing written, not even the folder


def test_cli_formats_match_the_library(tmp_path: Path) -> None:
    assert FORMAT_CHOICES == FORMATS
    with pytest.raises(ValueError, match="odt"):
        export_annexes(make_run(), "odt", tmp_path)  # type: ignore[arg-type]


# ------------------------------------------------------------------ file safety


def test_formula_cells_are_neutralised() -> None:
    for text in ("=1+1", "+84 90", "-2", "@SUM(A1)", "\tx"):
        assert neutralise(text) == "'" + text
    assert neutralise("Nguyễn Văn A") == "Nguyễn Văn A"


@given(st.text(max_size=80))
def test_file_names_stay_inside_the_folder(text: str) -> None:
    part = name_part(text)
    assert part and set(part) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert part not in (".", "..")


def test_hostile_unit_names_make_safe_unique_paths(tmp_path: Path) -> None:
    taken: set[str] = set()
    names = ["../../etc/passwd", "/abs/path", "Phường Sài Gòn", "Phường  Sài-Gòn", "con"]
    paths = [output_path(tmp_path, ["phu-luc", n], ".xlsx", taken) for n in names]
    assert all(p.parent == tmp_path for p in paths)
    assert len({p.name for p in paths}) == len(paths)
    assert paths[2].name == "phu-luc-phuong-sai-gon.xlsx"
    assert paths[3].name == "phu-luc-phuong-sai-gon-2.xlsx"


def test_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "a.csv"
    with pytest.raises(KeyboardInterrupt), atomic_output(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_interrupted_export_leaves_no_half_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(xlsx_annex, "_staffing_sheet", boom)
    with pytest.raises(RuntimeError):
        export_annexes(make_run(), "xlsx", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# ------------------------------------------------------------------ CSV


def test_csv_tables_round_trip_with_bom_and_privacy(tmp_path: Path) -> None:
    run = make_run()
    paths = write_csv_tables(run.tables, tmp_path / "tables")
    assert [p.name for p in paths] == list(TABLE_FILES.values())
    for path, frame in zip(paths, (run.tables.placements, run.tables.unplaced, run.tables.units),
                           strict=True):  # fmt: skip
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        assert is_private(path)
        back = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert list(back.columns) == list(frame.columns)
        assert len(back) == len(frame)
    back = pd.read_csv(paths[0], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back["staff_id"]) == list(run.tables.placements["staff_id"])
    names = list(back["full_name"])
    assert names[4] == "'" + PEOPLE[4][0]  # the formula-looking name is text
    assert names[0] == "Nguyễn Văn Ánh" and names[2] == "Lê Hoàng Phúc"
    assert set(back["moved"]) <= {"true", "false"}


def test_csv_annex_lists_every_row_in_order(tmp_path: Path) -> None:
    run = make_run()
    paths = export_annexes(run, "csv", tmp_path, fields=FIELDS)
    names = [p.name for p in paths]
    assert names[:4] == [
        "phu-luc-i-r0001-abc123.csv",
        "phu-luc-ii-don-vi-r0001-abc123.csv",
        "phu-luc-ii-vi-tri-r0001-abc123.csv",
        "phu-luc-iii-doi-du-r0001-abc123.csv",
    ]
    assert names[4:] == list(TABLE_FILES.values())
    annex = pd.read_csv(paths[0], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(annex.columns[:3]) == ["STT", "Đơn vị bố trí", "Họ và tên"]
    shown = [n[1:] if n.startswith("'") else n for n in annex["Họ và tên"]]
    assert shown == [n for _, n in expected_people()]
    assert annex["Họ và tên"].iloc[4].startswith("'=")
    units = pd.read_csv(paths[1], encoding="utf-8-sig")
    assert units["Có mặt"].sum() == len(run.tables.placements)
    surplus = pd.read_csv(paths[3], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(surplus.columns[:3]) == ["STT", "Đơn vị gốc", "Họ và tên"]
    assert list(surplus["Họ và tên"]) == SURPLUS_NAMES
    assert list(surplus["Đơn vị gốc"]) == ["Phường Sài Gòn", "Xã Bình Chánh", "Đặc khu Côn Đảo"]
    assert set(surplus["Lý do chưa bố trí được"]) == {SURPLUS_REASON.render("vi")}
    assert all(is_private(p) for p in paths)


def test_csv_for_one_unit_filters_the_machine_tables(tmp_path: Path) -> None:
    paths = export_annexes(make_run(), "csv", tmp_path, unit_ids=["27004"], redact=True)
    placements = pd.read_csv(tmp_path / "placements.csv", encoding="utf-8-sig", dtype=str)
    unplaced = pd.read_csv(tmp_path / "unplaced.csv", encoding="utf-8-sig", dtype=str)
    assert set(placements["unit_id"]) == {"27004"}
    assert list(unplaced["full_name"]) == ["D.T.M.H."]
    assert list(unplaced["birth_date"]) == ["1970"]
    assert "27004-xa-binh-chanh" in paths[0].name


# ------------------------------------------------------------------ Excel


def _xlsx_people(sheet: openpyxl.worksheet.worksheet.Worksheet) -> list[tuple[object, ...]]:
    rows = []
    for row in sheet.iter_rows(values_only=True):
        if isinstance(row[0], int) and isinstance(row[1], str):
            rows.append(row[:8])
    return rows


def test_xlsx_reads_back_with_print_setup(tmp_path: Path) -> None:
    run = make_run()
    [path] = export_annexes(run, "xlsx", tmp_path, fields=FIELDS)
    assert path.name == "phu-luc-r0001-abc123.xlsx" and is_private(path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Phụ lục I", "Phụ lục II", "Phụ lục III"]
    surplus = _xlsx_people(book["Phụ lục III"])
    assert [r[1] for r in surplus] == SURPLUS_NAMES
    assert [r[7] for r in surplus] == [SURPLUS_REASON.render("vi")] * len(surplus)
    sheet = book["Phụ lục I"]
    people = _xlsx_people(sheet)
    assert [r[1] for r in people] == [n for _, n in expected_people()]
    pl = run.tables.placements
    for row, (_, rec) in zip(people, pl.iterrows(), strict=True):
        born = row[3] if rec["gender"] == "F" else row[2]
        assert born.date() == dt.date.fromisoformat(rec["birth_date"])
    cells = {c.value: c for r in sheet.iter_rows() for c in r if isinstance(c.value, str)}
    hostile = cells[PEOPLE[4][0]]
    assert hostile.data_type == "s"  # a string, never a formula
    for text in ("I. PHƯỜNG SÀI GÒN", "Phụ lục I", "ỦY BAN NHÂN DÂN", "Độc lập - Tự do - Hạnh phúc",
                 reference_line(FIELDS), "TRẦN VĂN ĐƯỢC".title()):  # fmt: skip
        assert any(text == v for v in cells), text
    setup = sheet.page_setup
    assert setup.orientation == "landscape" and setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (setup.fitToWidth or 1) == 1 and setup.fitToHeight == 0  # 1 page wide, any height
    assert sheet.print_title_rows is not None
    header_top = int(sheet.print_title_rows.split(":")[0].strip("$"))
    assert sheet.cell(header_top, 1).value == "STT"
    assert sheet.freeze_panes is not None
    assert run.run_id in sheet.oddFooter.left.text
    assert run.manifest_hash[:12] in sheet.oddFooter.left.text
    assert sheet.cell(header_top, 2).font.name == "Times New Roman"
    props = {p.name: p.value for p in book.custom_doc_props.props}
    assert props["staffplan_manifest_hash"] == run.manifest_hash


def test_xlsx_staffing_sheet_totals(tmp_path: Path) -> None:
    run = make_run()
    [path] = export_annexes(run, "xlsx", tmp_path)
    sheet = openpyxl.load_workbook(path)["Phụ lục II"]
    totals = [r for r in sheet.iter_rows(values_only=True) if r[0] == "Tổng cộng"]
    assert len(totals) == 2
    by_unit, by_position = totals
    # grand total columns: quota, present, surplus, shortfall
    assert by_unit[10:14] == by_position[2:6]
    assert by_unit[11] == len(run.tables.placements)
    assert by_unit[12] == len(run.tables.unplaced)


def test_xlsx_per_unit_files(tmp_path: Path) -> None:
    paths = export_annexes(make_run(), "xlsx", tmp_path, per_unit=True)
    assert [p.name for p in paths] == [
        "phu-luc-r0001-abc123-26734-phuong-sai-gon.xlsx",
        "phu-luc-r0001-abc123-27004-xa-binh-chanh.xlsx",
        "phu-luc-r0001-abc123-26680-dac-khu-con-dao.xlsx",
    ]
    counts = [len(_xlsx_people(openpyxl.load_workbook(p)["Phụ lục I"])) for p in paths]
    assert counts == [6, 2, 1]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)


def test_xlsx_redacted_has_no_full_name(tmp_path: Path) -> None:
    [path] = export_annexes(make_run(), "xlsx", tmp_path, redact=True)
    texts = {
        c.value
        for ws in openpyxl.load_workbook(path).worksheets
        for r in ws.iter_rows()
        for c in r
        if isinstance(c.value, str)
    }
    assert not {nfc(p[0]) for p in PEOPLE} & texts
    assert "N.V.Á." in texts and "1975" in texts


def test_wrapped_lines_counts_greedy_word_wrap() -> None:
    assert xlsx_annex.wrapped_lines("", 10) == 1
    assert xlsx_annex.wrapped_lines("Phường Sài Gòn", 20) == 1
    assert xlsx_annex.wrapped_lines("Phường Sài Gòn", 10) == 2  # "Phường Sài" | "Gòn"
    assert xlsx_annex.wrapped_lines("a" * 25, 10) == 3  # a long word is broken: 9 + 9 + 7
    assert xlsx_annex.wrapped_lines("một\nhai", 30) == 2


def test_xlsx_rows_grow_with_their_wrapped_text(tmp_path: Path) -> None:
    run = make_run()
    [path] = export_annexes(run, "xlsx", tmp_path)
    sheet = openpyxl.load_workbook(path)["Phụ lục I"]
    heights = {}
    for row in sheet.iter_rows():
        if isinstance(row[0].value, int) and isinstance(row[1].value, str):
            heights[row[1].value] = sheet.row_dimensions[row[0].row].height
    # "Xã An Phú Tây, Huyện Bình Chánh" (31 characters) wraps in the 32-wide column only just
    # not; "Phường 2, Thành phố Vũng Tàu" fits; every row is at least as tall as its lines
    widths = xlsx_annex.PLACEMENT_WIDTHS
    for rec in sheet.iter_rows(values_only=True):
        if isinstance(rec[0], int) and isinstance(rec[1], str):
            lines = max(xlsx_annex.wrapped_lines(str(rec[c] or ""), widths[c]) for c in (1, 4, 5, 6, 7))
            height = heights[rec[1]]
            if lines == 1:
                assert height is None
            else:
                assert height >= lines * xlsx_annex.LINE_HEIGHT
    assert any(h is not None for h in heights.values())  # the tiny run has wrapped cells
