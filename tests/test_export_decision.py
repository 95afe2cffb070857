"""The draft decision (``export --format decision``): Decree 30/2020 layout, its texts,
its annexes attached, and its template."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import docx
import pytest
from docx.enum.section import WD_ORIENT
from docxtpl import DocxTemplate
from test_export_docx import assert_shipped_is_made, person_rows
from test_export_support import SURPLUS_NAMES, make_run

from optimizer.errors import InputError
from optimizer.export.annex import DocumentFields, export_annexes
from optimizer.export.decision import (
    DECISION_FIELDS,
    DECISION_TEMPLATE,
    build_decision,
    decision_context,
    place_name,
)
from optimizer.templates import make_template

FIELDS = DocumentFields(
    decision_no="5",
    date=dt.date(2026, 1, 5),
    issuer="Ủy ban nhân dân Thành phố Hồ Chí Minh",
    signer="TM. ỦY BAN NHÂN DÂN|KT. CHỦ TỊCH|PHÓ CHỦ TỊCH|Nguyễn Văn Được",
)


@pytest.fixture(scope="module")
def decision_docx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    [path] = export_annexes(make_run(), "decision", tmp_path_factory.mktemp("decision"), fields=FIELDS)
    return path


def texts(path: Path) -> list[str]:
    document = docx.Document(str(path))
    cells = [p.text for t in document.tables for r in t.rows for c in r.cells for p in c.paragraphs]
    return [p.text for p in document.paragraphs] + cells


def test_the_decision_has_the_parts_of_decree_30(decision_docx: Path) -> None:
    assert decision_docx.name == "quyet-dinh-r0001-abc123.docx"
    found = texts(decision_docx)
    for text in (
        "ỦY BAN NHÂN DÂN", "THÀNH PHỐ HỒ CHÍ MINH", "Số: 05/QĐ-UBND",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
        "Thành phố Hồ Chí Minh, ngày 05 tháng 01 năm 2026", "QUYẾT ĐỊNH",
        "Về việc bố trí cán bộ, công chức tại các xã, phường, đặc khu",
        "ỦY BAN NHÂN DÂN THÀNH PHỐ HỒ CHÍ MINH", "QUYẾT ĐỊNH:", "Nơi nhận:", "- Như Điều 3;",
        "- Lưu: VT.", "TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Nguyễn Văn Được",
        "Phụ lục I", "Phụ lục II", "Phụ lục III",
    ):  # fmt: skip
        assert text in found, text
    assert sum(t.startswith("Căn cứ ") for t in found) == 4
    articles = [t for t in found if t.startswith("Điều ")]
    assert [a[:7] for a in articles] == ["Điều 1.", "Điều 2.", "Điều 3."]
    run = make_run()
    placed, surplus = len(run.tables.placements), len(run.tables.unplaced)
    assert f"Bố trí {placed} cán bộ, công chức" in articles[0] and "tại 3 đơn vị" in articles[0]
    assert f"{surplus} người dôi dư" in articles[0] and "Phụ lục III" in articles[0]
    assert "Chánh Văn phòng Ủy ban nhân dân Thành phố Hồ Chí Minh" in articles[2]


def test_the_annexes_are_attached_in_landscape_after_a_portrait_decision(decision_docx: Path) -> None:
    document = docx.Document(str(decision_docx))
    orientations = [s.orientation for s in document.sections]
    assert orientations == [WD_ORIENT.PORTRAIT] + [WD_ORIENT.LANDSCAPE] * 3
    run = make_run()
    assert [r[1] for r in person_rows(document, "III")] == SURPLUS_NAMES
    assert len(person_rows(document)) == len(run.tables.placements)
    reference = (
        "(Kèm theo Quyết định số 05/QĐ-UBND ngày 05 tháng 01 năm 2026 "
        "của Ủy ban nhân dân Thành phố Hồ Chí Minh)"
    )
    assert texts(decision_docx).count(reference) == 3


def test_bases_recipients_and_place_can_be_given(tmp_path: Path) -> None:
    fields = DocumentFields(
        decision_no="15/QĐ-UBND",
        issuer="Ủy ban nhân dân phường Sài Gòn",
        place="Phường Sài Gòn",
        bases="Căn cứ Luật A;\nXét đề nghị của Chánh Văn phòng.",
        recipients="- Như Điều 3;\n- Lưu: VT, VP.",
    )
    decision = build_decision(make_run(), fields, ["26734"])
    assert decision.bases == ("Căn cứ Luật A;", "Xét đề nghị của Chánh Văn phòng.")
    assert decision.recipients == ("- Như Điều 3;", "- Lưu: VT, VP.")
    assert decision.place_date == "Phường Sài Gòn, ngày … tháng … năm …"
    assert decision.subject == "Về việc bố trí cán bộ, công chức tại Phường Sài Gòn"
    assert decision.number == "Số: 15/QĐ-UBND"
    assert "tại 1 đơn vị" in decision.articles[0][1]
    assert place_name(DocumentFields(issuer="Ủy ban nhân dân|Tỉnh Lâm Đồng")) == "Tỉnh Lâm Đồng"
    assert place_name(DocumentFields()) == "…"


def test_template_fields_are_exactly_the_decision_context() -> None:
    with DECISION_TEMPLATE.open("rb") as fh:
        used = DocxTemplate(fh).get_undeclared_template_variables()
    assert used == set(decision_context(build_decision(make_run(), FIELDS))) == set(DECISION_FIELDS)


def test_shipped_decision_template_is_what_make_template_makes(tmp_path: Path) -> None:
    assert_shipped_is_made(DECISION_TEMPLATE, make_template.build_decision_template(), tmp_path)


def test_an_annex_template_is_not_a_decision_template(tmp_path: Path) -> None:
    template = tmp_path / "office.docx"
    document = make_template.build_template()
    document.add_paragraph("{{ so_van_ban }}")
    document.save(str(template))
    with pytest.raises(InputError) as err:
        export_annexes(make_run(), "decision", tmp_path / "out", template=template)
    assert "so_van_ban" in err.value.issues[0].message
    assert not (tmp_path / "out").exists()
