"""Make ``annex.docx``, the Word template of the decision annexes (Decree 30/2020).

Run ``python -m optimizer.templates.make_template`` after changing this script or the
annex texts of ``optimizer/locale/export.toml``; a test checks that the shipped template
is what this script makes.  The template is an ordinary Word document an office can open
and restyle (fonts, widths, wording) and pass with ``staffplan export --template``; its
Jinja tags (docxtpl) are:

``issuer_lines``, ``placement_title``, ``staffing_title``, ``surplus_title``,
``reference``, ``groups`` (each ``label`` and ``rows``: ``no``, ``name``, ``birth_male``,
``birth_female``, ``title``, ``former_unit``, ``new_position``, ``note``), ``surplus``
(the same, with ``current_position`` and ``reason`` in place of the last two), ``units``
(``no``, ``name``, and ``party``,
``government``, ``total`` each with ``quota``, ``present``, ``surplus``, ``shortfall``),
``unit_total``, ``positions`` (``no``, ``label`` and the four figures), ``position_total``,
``signer_lines``, ``signer_name`` and ``footer``.

Layout: A4 landscape, margins top/bottom 20 mm, left 30 mm, right 15 mm; Times New Roman
(Liberation Serif stands in where Times is absent); the two-column header; "Phụ lục I",
"Phụ lục II" and "Phụ lục III", each in its own section starting on a new page with its own
page numbers (top centre, none on the first page); the signature block kept on the page
of the table's last rows (never alone on a page); one table per unit whose header rows
and unit name repeat on every page (one table per unit, not one for the city:
LibreOffice lays out a 16,000-row table in more than ten minutes, 168 tables of 95 rows
in well under a minute); the run id and check code in every page's footer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_ALIGN_VERTICAL
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Cm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph

from optimizer.data import BLOCS
from optimizer.export.labels import capitalise, code_label, vi

#: Where the template is written (next to this script, shipped as package data).
TEMPLATE_PATH = Path(__file__).with_name("annex.docx")
#: The decision's template (the Quyết định and its annexes), next to it.
DECISION_TEMPLATE_PATH = Path(__file__).with_name("decision.docx")
FONT = "Times New Roman"
PAGE_CM = (29.7, 21.0)
#: Margins (cm) of Decree 30/2020: top, bottom, left, right; header and footer distances.
MARGINS_CM = {"top": 2.0, "bottom": 2.0, "left": 3.0, "right": 1.5, "header": 1.0, "footer": 0.8}
TEXT_WIDTH_CM = PAGE_CM[0] - MARGINS_CM["left"] - MARGINS_CM["right"]
#: Header columns: issuing body | national title and motto.
HEADER_WIDTHS_CM = (9.2, TEXT_WIDTH_CM - 9.2)
#: Width of the decision's text (A4 portrait) and of its header and closing columns.
DECISION_TEXT_WIDTH_CM = PAGE_CM[1] - MARGINS_CM["left"] - MARGINS_CM["right"]
DECISION_HEADER_WIDTHS_CM = (6.2, DECISION_TEXT_WIDTH_CM - 6.2)
#: Annex I columns: STT, name, born (man), born (woman), post/grade, former workplace,
#: new position, notes.
PLACEMENT_WIDTHS_CM = (1.2, 4.0, 2.3, 2.3, 2.8, 4.6, 5.2, 2.8)
#: Annex III columns: STT, name, born (man), born (woman), post/grade, former workplace,
#: current job position, reason.
SURPLUS_WIDTHS_CM = (1.2, 4.0, 2.3, 2.3, 2.6, 4.0, 3.6, 5.2)
#: People of the last group printed in a small table of their own, kept with the signature.
TAIL_ROWS = 2
#: Font size (points) of the tables' rows.
TABLE_PT = 12
#: Annex II table A: STT, unit, then 3 × (quota, present, surplus, shortfall).
UNIT_WIDTHS_CM = (1.0, 5.0, *(1.6,) * 12)
#: Annex II table B: STT, job position, quota, present, surplus, shortfall.
POSITION_WIDTHS_CM = (1.2, 10.0, 3.5, 3.5, 3.5, 3.5)
#: Left and right padding inside table cells, in twentieths of a point (1 mm).
CELL_PADDING_TWIPS = 57
FIGURES = ("quota", "present", "surplus", "shortfall")
#: Fixed document dates, so that the template is the same file whenever it is made.
FIXED_DATE = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)

# Children of w:pPr that come after w:pBdr (schema order), for inserting a border.
_AFTER_PBDR = (
    "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap",
    "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi",
    "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing",
    "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
    "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
    "w:pPrChange",
)  # fmt: skip


# ------------------------------------------------------------------ low-level helpers


def _para(
    para: Paragraph,
    text: str = "",
    *,
    size: float = 13,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = WD_ALIGN_PARAGRAPH.CENTER,
    before: float = 0,
    after: float = 0,
) -> Paragraph:
    """Fill ``para`` with one run of ``text`` (one run keeps a Jinja tag whole)."""
    fmt = para.paragraph_format
    fmt.alignment = align
    fmt.space_before, fmt.space_after = Pt(before), Pt(after)
    run = para.add_run(text)
    run.font.size = Pt(size)
    run.font.bold = bold or None
    run.font.italic = italic or None
    return para


def _var(name: str) -> str:
    """A Jinja expression tag printing ``name``."""
    return "{{ " + name + " }}"


def _tag(para: Paragraph, tag: str) -> Paragraph:
    """A paragraph holding only a docxtpl block tag (removed when rendered)."""
    return _para(para, tag, size=2)


def _rule(para: Paragraph, width_cm: float, line_width_cm: float) -> Paragraph:
    """A centred horizontal rule ``line_width_cm`` long on a line ``width_cm`` wide."""
    _para(para, "", size=2)
    indent = Cm(max(0.0, (width_cm - line_width_cm) / 2))
    para.paragraph_format.left_indent = indent
    para.paragraph_format.right_indent = indent
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(key), value)
    border.append(bottom)
    para._p.get_or_add_pPr().insert_element_before(border, *_AFTER_PBDR)
    return para


def _page_field(para: Paragraph) -> None:
    """Make ``para`` a centred PAGE field (the page number), size 13."""
    _para(para, "", size=13)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), " PAGE ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    para._p.append(field)


def _keep_with_next(*paragraphs: Paragraph) -> None:
    """Keep each paragraph on the page of what follows it (so a signature block never
    stands alone on a page: the last rows of a table and the spacer before the block
    travel with it)."""
    for para in paragraphs:
        para.paragraph_format.keep_with_next = True


def _row_flag(row: _Row, *flags: str) -> None:
    """Set ``w:cantSplit`` / ``w:tblHeader`` on a row (in schema order)."""
    tr_pr = row._tr.get_or_add_trPr()
    for flag in flags:
        tr_pr.append(OxmlElement(flag))


def _borders() -> BaseOxmlElement:
    """Single black borders around and inside a table (set directly, not by a table style:
    LibreOffice lays out plain borders about a fifth faster)."""
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        node = OxmlElement(f"w:{side}")
        for key, value in (("w:val", "single"), ("w:sz", "4"), ("w:space", "0"), ("w:color", "000000")):
            node.set(qn(key), value)
        borders.append(node)
    return borders


def _table(doc: DocumentObject, rows: int, widths: Sequence[float], grid: bool = True) -> Table:
    """A fixed-layout table with the given column widths (cm), with borders if ``grid``."""
    table = doc.add_table(rows=rows, cols=len(widths))
    tbl_pr = table._tbl.tblPr
    if grid:
        tbl_pr.insert_element_before(
            _borders(), "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption"
        )
        margins = OxmlElement("w:tblCellMar")
        for side in ("left", "right"):
            node = OxmlElement(f"w:{side}")
            node.set(qn("w:w"), str(CELL_PADDING_TWIPS))
            node.set(qn("w:type"), "dxa")
            margins.append(node)
        tbl_pr.insert_element_before(margins, "w:tblLook", "w:tblCaption")
    table.autofit = False
    for col, width in zip(table.columns, widths, strict=True):
        col.width = Cm(width)
        for cell in col.cells:
            cell.width = Cm(width)
    return table


def _cell(
    cell: _Cell, text: str, *, size: float | None = None, bold: bool = False, italic: bool = False,
    align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT,
) -> _Cell:  # fmt: skip
    """Write ``text`` into ``cell``'s first paragraph, vertically centred."""
    cell.vertical_alignment = WD_ALIGN_VERTICAL.CENTER
    _para(cell.paragraphs[0], text, size=size or TABLE_PT, bold=bold, italic=italic, align=align)
    return cell


def _merge(table: Table, r0: int, c0: int, r1: int, c1: int, widths: Sequence[float]) -> _Cell:
    """Merge a rectangle of cells and give the result its full width."""
    cell = table.cell(r0, c0).merge(table.cell(r1, c1))
    cell.width = Cm(sum(widths[c0 : c1 + 1]))
    return cell


C = WD_ALIGN_PARAGRAPH.CENTER
R = WD_ALIGN_PARAGRAPH.RIGHT


# ------------------------------------------------------------------ document parts


def _setup_document(doc: DocumentObject) -> None:
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(13)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.line_spacing = 1.0
    fonts = normal.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "vi-VN")
    normal.element.get_or_add_rPr().append(lang)
    props = doc.core_properties
    props.author = "staffplan"
    props.last_modified_by = "staffplan"
    props.title = vi("export.annex.number", number="I, II")
    props.created = props.modified = props.last_printed = FIXED_DATE
    props.revision = 1


def _setup_section(section: Section, landscape: bool = True) -> None:
    """A4 landscape (portrait for the decision), Decree 30 margins, no page number on
    page 1, numbers from 1."""
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    width, height = PAGE_CM if landscape else PAGE_CM[::-1]
    section.page_width, section.page_height = Cm(width), Cm(height)
    section.top_margin = Cm(MARGINS_CM["top"])
    section.bottom_margin = Cm(MARGINS_CM["bottom"])
    section.left_margin = Cm(MARGINS_CM["left"])
    section.right_margin = Cm(MARGINS_CM["right"])
    section.header_distance = Cm(MARGINS_CM["header"])
    section.footer_distance = Cm(MARGINS_CM["footer"])
    section.different_first_page_header_footer = True
    if section._sectPr.find(qn("w:pgNumType")) is None:  # a new section copies the last
        numbering = OxmlElement("w:pgNumType")
        numbering.set(qn("w:start"), "1")
        section._sectPr.insert_element_before(
            numbering, "w:cols", "w:formProt", "w:vAlign", "w:noEndnote", "w:titlePg",
            "w:textDirection", "w:bidi", "w:rtlGutter", "w:docGrid", "w:printerSettings",
            "w:sectPrChange",
        )  # fmt: skip


def _headers_and_footers(section: Section) -> None:
    """Page number centred at the top except on page 1; run id and check code at the bottom."""
    _page_field(section.header.paragraphs[0])
    _para(section.first_page_header.paragraphs[0], "", size=2)
    for footer in (section.footer, section.first_page_footer):
        _para(footer.paragraphs[0], "{{ footer }}", size=9, align=WD_ALIGN_PARAGRAPH.LEFT)


def _frame(doc: DocumentObject, number: str, title_var: str) -> None:
    """The two-column header, the annex number, its title and the reference line."""
    head = _table(doc, 1, HEADER_WIDTHS_CM, grid=False)
    left, right = head.cell(0, 0), head.cell(0, 1)
    _tag(left.paragraphs[0], "{%p for line in issuer_lines %}")
    _para(left.add_paragraph(), "{{ line }}", bold=True)
    _tag(left.add_paragraph(), "{%p endfor %}")
    _rule(left.add_paragraph(), HEADER_WIDTHS_CM[0], 3.0)
    _para(right.paragraphs[0], vi("export.annex.national_title"), bold=True)
    _para(right.add_paragraph(), vi("export.annex.motto"), size=14, bold=True)
    _rule(right.add_paragraph(), HEADER_WIDTHS_CM[1], 6.2)
    _para(doc.add_paragraph(), vi("export.annex.number", number=number), size=14, bold=True,
          before=12)  # fmt: skip
    _para(doc.add_paragraph(), _var(title_var), size=14, bold=True, before=3)
    _para(doc.add_paragraph(), "{{ reference }}", size=14, italic=True, before=3)
    _rule(doc.add_paragraph(), TEXT_WIDTH_CM, 4.0)
    _para(doc.add_paragraph(), "", size=6)


def _signature(doc: DocumentObject) -> None:
    _keep_with_next(_para(doc.add_paragraph(), "", size=6))
    block = _table(doc, 1, (TEXT_WIDTH_CM - 11.0, 11.0), grid=False)
    _row_flag(block.rows[0], "w:cantSplit")
    cell = block.cell(0, 1)
    _tag(cell.paragraphs[0], "{%p for line in signer_lines %}")
    _para(cell.add_paragraph(), "{{ line }}", bold=True)
    _tag(cell.add_paragraph(), "{%p endfor %}")
    for _ in range(4):
        _para(cell.add_paragraph(), "")
    _para(cell.add_paragraph(), "{{ signer_name }}", bold=True)


def _person_rows(table: Table, first: int, rows: str, fields: Sequence[str], keep: bool) -> None:
    """Three template rows from ``first``: a loop over ``rows``, a person's cells, the loop's
    end; the person's paragraphs keep with what follows when ``keep``."""
    _cell(table.cell(first, 0), "{%tr for p in " + rows + " %}")
    _row_flag(table.rows[first + 1], "w:cantSplit")
    for col, key in enumerate(fields):
        align = C if key in ("no", "birth_male", "birth_female") else WD_ALIGN_PARAGRAPH.LEFT
        cell = _cell(table.cell(first + 1, col), _var(f"p.{key}"), align=align)
        if keep:
            _keep_with_next(*cell.paragraphs)
    _cell(table.cell(first + 2, 0), "{%tr endfor %}")


def _people(doc: DocumentObject, groups: str, widths: Sequence[float], last_keys: tuple[str, str]) -> None:
    """One table per group of people (Annex I by receiving unit, Annex III by unit of
    origin): the header rows and the group's name repeat on every page.

    The last :data:`TAIL_ROWS` people of the last group are a small table of their own
    right under it, kept with the signature block: LibreOffice keeps a table that fits on
    a page with the next paragraph, but not the last rows of a table of many pages, so a
    big last table would otherwise leave the signature alone on a page.
    """
    w = widths
    fields = ("no", "name", "birth_male", "birth_female", "title", "former_unit", *last_keys)
    _tag(doc.add_paragraph(), "{%p for g in " + groups + " %}")
    table = _table(doc, 7, w)
    for r in (0, 1, 2):
        _row_flag(table.rows[r], "w:cantSplit", "w:tblHeader")
    for col, key in ((0, "no"), (1, "name"), (4, "title"), (5, "former_unit"), (6, last_keys[0]),
                     (7, last_keys[1])):  # fmt: skip
        _cell(_merge(table, 0, col, 1, col, w), vi(f"export.col.{key}"), bold=True, align=C)
    _cell(_merge(table, 0, 2, 0, 3, w), vi("export.col.birth"), bold=True, align=C)
    _cell(table.cell(1, 2), vi("export.col.male"), bold=True, align=C)
    _cell(table.cell(1, 3), vi("export.col.female"), bold=True, align=C)
    for col in range(len(w)):
        _cell(table.cell(2, col), f"({col + 1})", size=11, italic=True, align=C)
    _row_flag(table.rows[3], "w:cantSplit", "w:tblHeader")  # the unit's name on every page
    _cell(_merge(table, 3, 0, 3, len(w) - 1, w), "{{ g.label }}", bold=True)
    _person_rows(table, 4, f"(g.rows[:-{TAIL_ROWS}] if loop.last else g.rows)", fields, keep=False)
    _tag(doc.add_paragraph(), "{%p if loop.last %}")
    _keep_with_next(_para(doc.add_paragraph(), "", size=1))  # keeps the two tables apart
    _person_rows(_table(doc, 3, w), 0, f"g.rows[-{TAIL_ROWS}:]", fields, keep=True)
    _tag(doc.add_paragraph(), "{%p else %}")
    _para(doc.add_paragraph(), "", size=6)
    _tag(doc.add_paragraph(), "{%p endif %}")
    _tag(doc.add_paragraph(), "{%p endfor %}")


def _placements(doc: DocumentObject) -> None:
    """Annex I: the people placed, one table per receiving unit."""
    _people(doc, "groups", PLACEMENT_WIDTHS_CM, ("new_position", "note"))


def _surplus(doc: DocumentObject) -> None:
    """Annex III: the surplus people, one table per unit of origin, or one sentence."""
    _tag(doc.add_paragraph(), "{%p if surplus %}")
    _people(doc, "surplus", SURPLUS_WIDTHS_CM, ("current_position", "reason"))
    _tag(doc.add_paragraph(), "{%p else %}")
    _para(doc.add_paragraph(), vi("export.annex.no_surplus"), italic=True, align=WD_ALIGN_PARAGRAPH.LEFT)
    _tag(doc.add_paragraph(), "{%p endif %}")


def _unit_table(doc: DocumentObject) -> None:
    """Annex II, table A: per unit and bloc."""
    w = UNIT_WIDTHS_CM
    _para(doc.add_paragraph(), vi("export.annex.section_units"), bold=True,
          align=WD_ALIGN_PARAGRAPH.LEFT, after=3)  # fmt: skip
    table = _table(doc, 6, w)
    for r in (0, 1):
        _row_flag(table.rows[r], "w:cantSplit", "w:tblHeader")
    _cell(_merge(table, 0, 0, 1, 0, w), vi("export.col.no"), size=11, bold=True, align=C)
    _cell(_merge(table, 0, 1, 1, 1, w), vi("export.col.unit_name"), size=11, bold=True, align=C)
    groups = [*BLOCS, "total"]
    labels = [capitalise(code_label(b)) for b in BLOCS] + [vi("export.col.total")]
    for g, label in enumerate(labels):
        first = 2 + 4 * g
        _cell(_merge(table, 0, first, 0, first + 3, w), label, size=11, bold=True, align=C)
        for k, key in enumerate(FIGURES):
            _cell(table.cell(1, first + k), vi(f"export.col.{key}"), size=11, bold=True, align=C)
    _cell(table.cell(2, 0), "{%tr for u in units %}")
    _row_flag(table.rows[3], "w:cantSplit")
    _cell(table.cell(3, 0), "{{ u.no }}", size=11, align=C)
    _cell(table.cell(3, 1), "{{ u.name }}", size=11)
    _cell(table.cell(4, 0), "{%tr endfor %}")
    _row_flag(table.rows[5], "w:cantSplit")
    _cell(_merge(table, 5, 0, 5, 1, w), vi("export.col.total"), size=11, bold=True, align=C)
    for g, group in enumerate(groups):
        for k, key in enumerate(FIGURES):
            col = 2 + 4 * g + k
            _cell(table.cell(3, col), _var(f"u.{group}.{key}"), size=11, align=R)
            _cell(table.cell(5, col), _var(f"unit_total.{group}.{key}"), size=11,
                  bold=True, align=R)  # fmt: skip


def _position_table(doc: DocumentObject) -> None:
    """Annex II, table B: per job position."""
    w = POSITION_WIDTHS_CM
    _para(doc.add_paragraph(), "", size=6)
    _para(doc.add_paragraph(), vi("export.annex.section_positions"), bold=True,
          align=WD_ALIGN_PARAGRAPH.LEFT, after=3)  # fmt: skip
    table = _table(doc, 5, w)
    _row_flag(table.rows[0], "w:cantSplit", "w:tblHeader")
    for col, key in enumerate(("no", "position", *FIGURES)):
        _cell(table.cell(0, col), vi(f"export.col.{key}"), bold=True, align=C)
    _cell(table.cell(1, 0), "{%tr for p in positions %}")
    _row_flag(table.rows[2], "w:cantSplit")
    _cell(table.cell(2, 0), "{{ p.no }}", align=C)
    _cell(table.cell(2, 1), "{{ p.label }}")
    _cell(table.cell(3, 0), "{%tr endfor %}")
    _row_flag(table.rows[4], "w:cantSplit")
    _cell(_merge(table, 4, 0, 4, 1, w), vi("export.col.total"), bold=True, align=C)
    for k, key in enumerate(FIGURES):
        _cell(table.cell(2, 2 + k), _var(f"p.{key}"), align=R)
        _cell(table.cell(4, 2 + k), _var(f"position_total.{key}"), bold=True, align=R)
    _keep_with_next(*(p for cell in table.rows[4].cells for p in cell.paragraphs))
    legend = _para(doc.add_paragraph(), vi("export.annex.legend"), size=11, italic=True,
                   align=WD_ALIGN_PARAGRAPH.JUSTIFY, before=6)  # fmt: skip
    _keep_with_next(legend)


def _new_section(doc: DocumentObject) -> Section:
    """A new landscape section on a new page.  The paragraph that ends the previous section
    is made 1 pt high, so that a full last page never spills it onto a blank page."""
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    ending = doc.paragraphs[-1]
    ending.paragraph_format.space_before = ending.paragraph_format.space_after = Pt(0)
    mark = OxmlElement("w:rPr")
    size = OxmlElement("w:sz")
    size.set(qn("w:val"), "2")
    mark.append(size)
    ending._p.get_or_add_pPr().insert_element_before(mark, "w:sectPr", "w:pPrChange")
    _setup_section(section)
    return section


def _annexes(doc: DocumentObject) -> None:
    """Annexes I, II and III, each in its own landscape section from the current one on."""
    parts = (
        ("I", "placement_title", (_placements,)),
        ("II", "staffing_title", (_unit_table, _position_table)),
        ("III", "surplus_title", (_surplus,)),
    )
    for k, (number, title, writers) in enumerate(parts):
        if k:
            _new_section(doc)
        _frame(doc, number, title)
        for write in writers:
            write(doc)
        _signature(doc)


def build_template() -> DocumentObject:
    """Build the annex template (Annexes I, II and III, one section each).

    Returns
    -------
    docx.document.Document
        The template, ready to save.
    """
    doc = _new_document(landscape=True)
    _annexes(doc)
    return doc


def _new_document(landscape: bool) -> DocumentObject:
    """An empty document with its styles, its first section, headers and footers."""
    doc = Document()
    _setup_document(doc)
    first = doc.sections[0]
    _setup_section(first, landscape)
    _headers_and_footers(first)
    return doc


def _decision_head(doc: DocumentObject) -> None:
    """Decree 30/2020's header of a decision: issuing body and number | national title,
    motto, place and date; then the kind of document, its subject and the authority."""
    widths = DECISION_HEADER_WIDTHS_CM
    head = _table(doc, 1, widths, grid=False)
    left, right = head.cell(0, 0), head.cell(0, 1)
    _tag(left.paragraphs[0], "{%p for line in issuer_lines %}")
    _para(left.add_paragraph(), "{{ line }}", size=12, bold=True)
    _tag(left.add_paragraph(), "{%p endfor %}")
    _rule(left.add_paragraph(), widths[0], 2.5)
    _para(left.add_paragraph(), "{{ number }}", before=6)
    _para(right.paragraphs[0], vi("export.annex.national_title"), size=12, bold=True)
    _para(right.add_paragraph(), vi("export.annex.motto"), size=13, bold=True)
    _rule(right.add_paragraph(), widths[1], 5.2)
    _para(right.add_paragraph(), "{{ place_date }}", size=13, italic=True, before=6)
    _para(doc.add_paragraph(), vi("export.decision.kind"), size=14, bold=True, before=18)
    _para(doc.add_paragraph(), "{{ subject }}", size=14, bold=True)
    _rule(doc.add_paragraph(), DECISION_TEXT_WIDTH_CM, 3.0)
    _para(doc.add_paragraph(), "{{ authority }}", size=14, bold=True, before=12, after=6)


def _body(para: Paragraph, text: str, *, italic: bool = False) -> Paragraph:
    """A justified body paragraph, size 14, first line indented 1.27 cm, 6 pt after."""
    _para(para, text, size=14, italic=italic, align=WD_ALIGN_PARAGRAPH.JUSTIFY, after=6)
    para.paragraph_format.first_line_indent = Cm(1.27)
    return para


def _decision_body(doc: DocumentObject) -> None:
    """The bases, "QUYẾT ĐỊNH:", and Articles 1–3 (each article's number in bold)."""
    _tag(doc.add_paragraph(), "{%p for line in bases %}")
    _body(doc.add_paragraph(), "{{ line }}", italic=True)
    _tag(doc.add_paragraph(), "{%p endfor %}")
    _para(doc.add_paragraph(), vi("export.decision.decides"), size=14, bold=True, before=6, after=6)
    # every article; the last one keeps with the recipients and the signature
    for articles in ("articles[:-1]", "articles[-1:]"):
        _tag(doc.add_paragraph(), "{%p for a in " + articles + " %}")
        para = _body(doc.add_paragraph(), "{{ a.title }}")
        para.runs[0].font.bold = True
        run = para.add_run(" {{ a.text }}")
        run.font.size = Pt(14)
        if articles == "articles[-1:]":
            _keep_with_next(para)
        _tag(doc.add_paragraph(), "{%p endfor %}")


def _decision_close(doc: DocumentObject) -> None:
    """Recipients (left) and the signature block (right), kept on one page."""
    _keep_with_next(_para(doc.add_paragraph(), "", size=6))
    block = _table(doc, 1, DECISION_HEADER_WIDTHS_CM, grid=False)
    _row_flag(block.rows[0], "w:cantSplit")
    left, right = block.cell(0, 0), block.cell(0, 1)
    _para(left.paragraphs[0], vi("export.decision.recipients"), size=12, bold=True, italic=True,
          align=WD_ALIGN_PARAGRAPH.LEFT)  # fmt: skip
    _tag(left.add_paragraph(), "{%p for line in recipients %}")
    _para(left.add_paragraph(), "{{ line }}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    _tag(left.add_paragraph(), "{%p endfor %}")
    _tag(right.paragraphs[0], "{%p for line in signer_lines %}")
    _para(right.add_paragraph(), "{{ line }}", size=14, bold=True)
    _tag(right.add_paragraph(), "{%p endfor %}")
    for _ in range(4):
        _para(right.add_paragraph(), "", size=14)
    _para(right.add_paragraph(), "{{ signer_name }}", size=14, bold=True)


def build_decision_template() -> DocumentObject:
    """Build the decision template: the Quyết định (A4 portrait) and its Annexes I, II and
    III (landscape sections), in one Word file.

    Returns
    -------
    docx.document.Document
        The template, ready to save.
    """
    doc = _new_document(landscape=False)
    _decision_head(doc)
    _decision_body(doc)
    _decision_close(doc)
    _new_section(doc)
    _annexes(doc)
    return doc


def main() -> None:
    """Write :data:`TEMPLATE_PATH` and :data:`DECISION_TEMPLATE_PATH`."""
    build_template().save(str(TEMPLATE_PATH))
    build_decision_template().save(str(DECISION_TEMPLATE_PATH))


if __name__ == "__main__":
    main()
