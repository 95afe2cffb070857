"""Word annexes: the template's fields, layout per Decree 30/2020, rows read back."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from docx.shared import Cm
from docxtpl import DocxTemplate
from test_export_support import PEOPLE, make_run

from optimizer.errors import InputError
from optimizer.export.annex import DocumentFields, build_annex, export_annexes
from optimizer.export.docx_annex import CONTEXT_FIELDS, DEFAULT_TEMPLATE, annex_context
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


def person_rows(document: docx.document.Document) -> list[list[str]]:
    rows = []
    for table in document.tables:
        if len(table.columns) != len(make_template.PLACEMENT_WIDTHS_CM):
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


def test_shipped_template_is_what_make_template_makes(tmp_path: Path) -> None:
    fresh = tmp_path / "annex.docx"
    make_template.build_template().save(str(fresh))
    with (
        DEFAULT_TEMPLATE.open("rb") as fh,
        zipfile.ZipFile(fh) as shipped,
        zipfile.ZipFile(fresh) as made,
    ):
        for part in TEMPLATE_PARTS:
            assert shipped.read(part) == made.read(part), part


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
    assert "Phụ lục I" in texts and "Phụ lục II" in texts
    assert "DANH SÁCH BỐ TRÍ CÁN BỘ, CÔNG CHỨC TẠI CÁC XÃ, PHƯỜNG, ĐẶC KHU" in texts
    assert "(Kèm theo Quyết định số 15/QĐ-UBND ngày … tháng … năm … của Ủy ban nhân dân " \
        "Thành phố Hồ Chí Minh)" in texts  # fmt: skip
    for text in ("I. PHƯỜNG SÀI GÒN", "II. XÃ BÌNH CHÁNH", "III. ĐẶC KHU CÔN ĐẢO",
                 "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                 "ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "Tổng cộng"):  # fmt: skip
        assert text in cell_texts, text
    assert cell_texts.count("…") == 4  # signer title and name, in both annexes


def test_page_setup_header_rows_and_footer(annex_docx: Path) -> None:
    document = docx.Document(str(annex_docx))
    assert len(document.sections) == 2  # Annex I and Annex II, numbered separately
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
    unit_tables = [t for t in document.tables if len(t.columns) == 8]
    assert len(unit_tables) == 3
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
