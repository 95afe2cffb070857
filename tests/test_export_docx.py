"""Word annexes: the template's fields, layout per Decree 30/2020, rows read back."""

from __future__ import annotations

import dataclasses
import unicodedata
import zipfile
from importlib.resources.abc import Traversable
from pathlib import Path

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from docx.shared import Cm
from docxtpl import DocxTemplate
from test_export_support import PEOPLE, SURPLUS_NAMES, SURPLUS_REASON, make_run

from optimizer.errors import InputError
from optimizer.export.annex import DocumentFields, build_annex, export_annexes
from optimizer.export.docx_annex import CONTEXT_FIELDS, DEFAULT_TEMPLATE, annex_context
from optimizer.store import manifest_hash, run_manifest
from optimizer.templates import make_template

FIELDS = DocumentFields(decision_no="15", issuer="Ủy ban nhân dân|Thành phố Hồ Chí Minh")
#: Parts of the template that :mod:`make_template` writes (the rest is python-docx's own).
TEMPLATE_PARTS = ("word/document.xml", "word/styles.xml")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def annex_docx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [path] = export_annexes(make_run(), "docx", tmp_path_factory.mktemp("docx"), fields=FIELDS)
    return path


def person_rows(document: docx.document.Document, annex: str = "I") -> list[list[str]]:
    """The numbered rows of the person tables of Annex I (or III, by its last heading);
    a table without headings (the last rows, kept with the signature) belongs to the
    annex of the table above it."""
    last = "Ghi chú" if annex == "I" else "Lý do chưa bố trí được"
    rows, current = [], ""
    for table in document.tables:
        if len(table.columns) != len(make_template.PLACEMENT_WIDTHS_CM):
            continue
        if not table.rows[0].cells[0].text.isdigit():  # a table with headings
            current = table.rows[0].cells[-1].text
        if current != last:
            continue
        for row in table.rows:
            cells = [c.text for c in row.cells]
            if cells[0].isdigit():
                rows.append(cells)
    return rows


def test_template_fields_are_exactly_the_context() -> None:
    with DEFAULT_TEMPLATE.open("rb") as fh:
        used = DocxTemplate(fh).get_undeclared_template_variables()
    context = annex_context(build_annex(make_run(), FIELDS))
    assert used == set(context) == set(CONTEXT_FIELDS)


def assert_shipped_is_made(shipped_file: Traversable, made: docx.document.Document, tmp_path: Path) -> None:
    """The shipped template holds the parts the script writes, byte for byte."""
    fresh = tmp_path / "fresh.docx"
    made.save(str(fresh))
    with shipped_file.open("rb") as fh, zipfile.ZipFile(fh) as shipped, zipfile.ZipFile(fresh) as ours:
        for part in TEMPLATE_PARTS:
            assert shipped.read(part) == ours.read(part), part


def test_shipped_template_is_what_make_template_makes(tmp_path: Path) -> None:
    assert_shipped_is_made(DEFAULT_TEMPLATE, make_template.build_template(), tmp_path)


def test_rows_equal_the_placements_in_order(annex_docx: Path) -> None:
    rows = person_rows(docx.Document(str(annex_docx)))
    pl = make_run().tables.placements
    assert [r[1] for r in rows] == [nfc(n) for n in pl["full_name"]]
    assert "Đặng Quỳnh Như <b>&amp;" in [r[1] for r in rows]  # XML characters survive
    born = [r[2] or r[3] for r in rows]
    assert born == [f"{d[8:10]}/{d[5:7]}/{d[:4]}" for d in pl["birth_date"]]
    assert [r[6] for r in rows][:2] == ["Chủ tịch UBND", "Tài chính (Phòng KT-HT-ĐT)"]


def test_groups_frame_and_reference(annex_docx: Path) -> None:
    document = docx.Document(str(annex_docx))
    texts = [p.text for p in document.paragraphs]
    cell_texts = [p.text for t in document.tables for r in t.rows for c in r.cells for p in c.paragraphs]
    assert {"Phụ lục I", "Phụ lục II", "Phụ lục III"} <= set(texts)
    assert "DANH SÁCH BỐ TRÍ CÁN BỘ, CÔNG CHỨC TẠI CÁC XÃ, PHƯỜNG, ĐẶC KHU" in texts
    assert "(Kèm theo Quyết định số 15/QĐ-UBND ngày … tháng … năm … của Ủy ban nhân dân " \
        "Thành phố Hồ Chí Minh)" in texts  # fmt: skip
    for text in ("I. PHƯỜNG SÀI GÒN", "II. XÃ BÌNH CHÁNH", "III. ĐẶC KHU CÔN ĐẢO",
                 "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                 "ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "Tổng cộng"):  # fmt: skip
        assert text in cell_texts, text
    assert cell_texts.count("…") == 6  # signer title and name, in the three annexes


def test_page_setup_header_rows_and_footer(annex_docx: Path) -> None:
    document = docx.Document(str(annex_docx))
    assert len(document.sections) == 3  # Annexes I, II and III, numbered separately
    run = make_run()
    for section in document.sections:
        assert section.orientation == WD_ORIENT.LANDSCAPE
        sizes = (section.page_width, section.page_height, section.left_margin, section.right_margin)
        for size, cm in zip(sizes, (29.7, 21.0, 3.0, 1.5), strict=True):
            assert size is not None and abs(size - Cm(cm)) < Cm(0.01)  # twips rounding
        assert section.different_first_page_header_footer  # no number on page 1
        [num] = section._sectPr.findall(qn("w:pgNumType"))
        assert num.get(qn("w:start")) == "1"
        for footer in (section.footer, section.first_page_footer):
            assert run.run_id in footer.paragraphs[0].text
            assert run.manifest_hash[:12] in footer.paragraphs[0].text
        field = section.header._element.find(".//" + qn("w:fldSimple"))
        assert field is not None and field.get(qn("w:instr")).strip() == "PAGE"
    unit_tables = [
        t for t in document.tables if len(t.columns) == 8 and not t.rows[0].cells[0].text.isdigit()
    ]
    assert len(unit_tables) == 3 + 3  # Annex I: 3 receiving units; Annex III: 3 of origin
    for table in unit_tables:
        flags = [r._tr.trPr is not None and r._tr.trPr.find(qn("w:tblHeader")) is not None
                 for r in table.rows]  # fmt: skip
        assert flags[:4] == [True] * 4 and not any(flags[4:])  # headings and the unit's name
    fonts = document.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:ascii")) == fonts.get(qn("w:hAnsi")) == "Times New Roman"


def test_redacted_word_file_has_no_full_name(tmp_path: Path) -> None:
    [path] = export_annexes(make_run(), "docx", tmp_path, redact=True)
    with zipfile.ZipFile(path) as z:
        xml = nfc(z.read("word/document.xml").decode("utf-8"))
    assert not [p[0] for p in PEOPLE if nfc(p[0]) in xml]
    assert "N.V.Á." in xml and ">1975<" in xml


def test_an_office_template_is_used(tmp_path: Path) -> None:
    template = tmp_path / "office.docx"
    document = make_template.build_template()
    document.paragraphs[0].runs[0].text = "Phụ lục kèm theo (mẫu của Sở Nội vụ)"
    document.save(str(template))
    [path] = export_annexes(make_run(), "docx", tmp_path / "out", template=template)
    texts = [p.text for p in docx.Document(str(path)).paragraphs]
    assert "Phụ lục kèm theo (mẫu của Sở Nội vụ)" in texts
    assert len(person_rows(docx.Document(str(path)))) == len(make_run().tables.placements)


def test_template_with_unknown_fields_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "bad.docx"
    document = make_template.build_template()
    document.add_paragraph("{{ so_quyet_dinh }} {{ nguoi_ky }}")
    document.save(str(template))
    with pytest.raises(InputError) as err:
        export_annexes(make_run(), "docx", tmp_path / "out", template=template)
    assert "nguoi_ky, so_quyet_dinh" in err.value.issues[0].message
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_word_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "notes.docx"
    template.write_text("not a Word file", encoding="utf-8")
    with pytest.raises(InputError) as err:
        export_annexes(make_run(), "pdf", tmp_path / "out", template=template)
    assert err.value.issues[0].code == "export.bad_template"


def test_surplus_annex_lists_the_unplaced_by_unit_of_origin(annex_docx: Path) -> None:
    document = docx.Document(str(annex_docx))
    run = make_run()
    un = run.tables.unplaced
    rows = person_rows(document, "III")
    # grouped by unit of origin in the annex order: Sài Gòn, Bình Chánh, Côn Đảo
    assert [r[1] for r in rows] == SURPLUS_NAMES
    assert [r[7] for r in rows] == [SURPLUS_REASON.render("vi")] * len(un)  # the reason, in words
    assert [r[6] for r in rows] == ["Tài chính", "Y tế", "Hành chính – văn phòng"]
    former = dict(zip(un["full_name"].map(nfc), un["former_unit"].map(nfc), strict=True))
    assert [r[5] for r in rows] == [former[n] for n in SURPLUS_NAMES]
    texts = [p.text for p in document.paragraphs]
    assert "DANH SÁCH CÁN BỘ, CÔNG CHỨC DÔI DƯ, CHƯA BỐ TRÍ ĐƯỢC VỊ TRÍ TẠI CÁC XÃ, PHƯỜNG, ĐẶC KHU" in texts
    labels = [
        t.rows[3].cells[0].text for t in document.tables if t.rows[0].cells[-1].text.startswith("Lý do")
    ]
    assert labels == ["I. PHƯỜNG SÀI GÒN", "II. XÃ BÌNH CHÁNH", "III. ĐẶC KHU CÔN ĐẢO"]


def test_a_run_without_surplus_says_so_in_annex_iii(tmp_path: Path) -> None:
    run = make_run()
    tables = run.tables
    run = dataclasses.replace(run, tables=dataclasses.replace(tables, unplaced=tables.unplaced.iloc[0:0]))
    context = annex_context(build_annex(run, FIELDS))
    assert context["surplus"] == []
    [path] = export_annexes(
        dataclasses.replace(run, manifest_hash=manifest_hash(run_manifest(run))), "docx", tmp_path
    )
    document = docx.Document(str(path))
    assert person_rows(document, "III") == []
    assert "Không có người dôi dư: mọi người trong danh sách đều được bố trí." in [
        p.text for p in document.paragraphs
    ]


def test_the_last_rows_keep_with_the_signature() -> None:
    """The last person row of Annex I and III and the total row of Annex II keep with the
    next paragraph, and so do the spacers before every signature block."""
    document = make_template.build_template()
    body = document.element.body
    keep = [p for p in body.iter(qn("w:p")) if p.find(f"{qn('w:pPr')}/{qn('w:keepNext')}") is not None]
    texts = ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in keep]
    assert texts.count("{{ p.name }}") == 2  # Annex I and III: the last group's last row only
    assert "{{ position_total.quota }}" in texts  # Annex II: its total row and legend
    assert texts.count("") >= 3  # the spacer before each of the three signature blocks
