"""The annexes as an Excel workbook, written with xlsxwriter (layer 8).

Sheet "Phụ lục I" lists the people placed, grouped by receiving unit; sheet "Phụ lục II"
holds the staffing summary; sheet "Phụ lục III" lists the surplus people (dôi dư) by unit
of origin with the reason.  Each sheet follows the Decree 30/2020 frame (issuing body |
national title and motto, annex number, title, reference line, signature) in Times New
Roman and is set up for printing: A4 landscape, fitted to the page width, table header
repeated on every page and frozen on screen, page number at the top, run id and check
code at the bottom, rows as tall as their wrapped text.  Every text goes through
``write_string``: nothing is ever read as a formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from optimizer import __version__
from optimizer.data import BLOCS
from optimizer.errors import InputError, Issue
from optimizer.export.files import atomic_output
from optimizer.export.labels import capitalise, code_label, vi
from optimizer.export.model import Annex, Counts, PersonRow, SurplusGroup, UnitGroup
from optimizer.i18n import t
from optimizer.io.issues_xlsx import MAX_CELL_CHARS

FONT = "Times New Roman"
#: Paper size code of A4 in Excel's page setup.
PAPER_A4 = 9
#: Decree 30/2020 margins, in inches: left 30 mm, right 15 mm, top and bottom 20 mm.
MARGINS_IN = {"left": 30 / 25.4, "right": 15 / 25.4, "top": 20 / 25.4, "bottom": 20 / 25.4}
#: Column widths (characters) of Annex I: STT, name, born (man), born (woman), post/grade,
#: former workplace, new position, notes.
PLACEMENT_WIDTHS = (6, 26, 12, 12, 18, 32, 36, 16)
#: Column widths of Annex III: STT, name, born (man), born (woman), post/grade, former
#: workplace, current job position, reason.
SURPLUS_WIDTHS = (6, 26, 12, 12, 16, 28, 24, 44)
#: Height (points) of one line of 12 pt Times New Roman in a cell, and of a row's padding.
LINE_HEIGHT = 15.0
ROW_PADDING = 3.0
#: Column widths of Annex II: STT, unit or position, then 3 × 4 figures.
STAFFING_WIDTHS = (6, 32, *(9,) * 12)
#: Row heights (points) of the two-line title and reference rows.
TITLE_HEIGHT = 36
FIGURES = ("quota", "present", "surplus", "shortfall")
#: The column (``export.col.*``) a person's or a unit's text field is printed in.
FIELD_COLUMNS = {
    "name": "name",
    "title": "title",
    "former_unit": "former_unit",
    "new_position": "new_position",
    "note": "note",
    "position": "current_position",
    "reason": "reason",
    "unit_name": "unit_name",
    "label": "unit",
}
#: At most this many over-long cells are named (the count says how many there are).
LONG_CELLS_NAMED = 20

_WORKBOOK_OPTIONS = {
    "in_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


class _Formats:
    """The cell formats of the annexes, created once per workbook."""

    def __init__(self, book: xlsxwriter.Workbook) -> None:
        def fmt(**props: Any) -> Format:
            return book.add_format({"font_name": FONT, "font_size": 12, **props})

        center = {"align": "center", "valign": "vcenter", "text_wrap": True}
        cell = {"border": 1, "valign": "vcenter", "text_wrap": True}
        self.body = fmt(**center, bold=True, font_size=13)
        self.motto = fmt(**center, bold=True, font_size=13, underline=1)
        self.annex_no = fmt(**center, bold=True, font_size=14)
        self.title = fmt(**center, bold=True, font_size=14)
        self.reference = fmt(**center, italic=True, font_size=13)
        self.section = fmt(bold=True, font_size=13)
        self.legend = fmt(italic=True, font_size=11, text_wrap=True, valign="top")
        self.head = fmt(**cell, bold=True, align="center")
        self.numbering = fmt(**cell, italic=True, align="center", font_size=11)
        self.group = fmt(**cell, bold=True)
        self.text = fmt(**cell)
        self.centered = fmt(**cell, align="center")
        self.date = fmt(**cell, align="center", num_format="dd/mm/yyyy")
        self.number = fmt(**cell, num_format="#,##0")
        self.total_text = fmt(**cell, bold=True, align="center")
        self.total_number = fmt(**cell, bold=True, num_format="#,##0")
        self.sign = fmt(align="center", bold=True, font_size=13)


def _escape(text: str) -> str:
    """Text for an Excel page header or footer, where ``&`` starts a control code."""
    return text.replace("&", "&&")


def _page_setup(sheet: Worksheet, annex: Annex, header_rows: tuple[int, int]) -> None:
    sheet.set_paper(PAPER_A4)
    sheet.set_landscape()
    sheet.set_margins(**MARGINS_IN)
    sheet.fit_to_pages(1, 0)
    sheet.center_horizontally()
    sheet.repeat_rows(*header_rows)
    sheet.freeze_panes(header_rows[1] + 1, 0)
    sheet.set_header(f'&C&"{FONT},Regular"&13&P')
    sheet.set_footer(f'&L&"{FONT},Regular"&9{_escape(annex.footer)}')


def _frame(sheet: Worksheet, f: _Formats, annex: Annex, number: str, title: str, last_col: int) -> int:
    """Write the Decree 30 frame on top of a sheet; return the next free row."""
    split = 2 if last_col < 8 else 3  # issuer over columns A..split, the motto after it
    lines = annex.issuer_lines
    right = (vi("export.annex.national_title"), vi("export.annex.motto"))
    for row in range(max(len(lines), len(right))):
        text = lines[row] if row < len(lines) else ""
        sheet.merge_range(row, 0, row, split, "", f.body)
        sheet.write_string(row, 0, text, f.body)
        sheet.merge_range(row, split + 2, row, last_col, "", f.body)
        if row < len(right):
            sheet.write_string(row, split + 2, right[row], f.motto if row == 1 else f.body)
    row = max(len(lines), len(right)) + 1
    for text, fmt, height in (
        (vi("export.annex.number", number=number), f.annex_no, None),
        (title, f.title, TITLE_HEIGHT),
        (annex.reference, f.reference, TITLE_HEIGHT),
    ):
        sheet.merge_range(row, 0, row, last_col, "", fmt)
        sheet.write_string(row, 0, text, fmt)
        if height:
            sheet.set_row(row, height)
        row += 1
    return row + 1


def wrapped_lines(text: str, width: float) -> int:
    """How many lines ``text`` takes in a wrapping cell ``width`` characters wide.

    Words are laid out greedily on lines of about ``width - 1`` characters (Excel's width
    unit is about one character of 12 pt Times New Roman); a word longer than a line is
    broken.  Excel and LibreOffice do not grow a row for wrapped text on their own when
    the file sets no height, so printed cells would overlap.
    """
    room = max(1, int(width) - 1)
    lines = 0
    for paragraph in text.split("\n"):
        used = 0
        lines += 1
        for word in paragraph.split():
            size = len(word)
            if used and used + 1 + size <= room:
                used += 1 + size
                continue
            if used:
                lines += 1
            lines += (size - 1) // room
            used = (size - 1) % room + 1
    return lines


def fit_row(sheet: Worksheet, row: int, texts: dict[int, str], widths: tuple[int, ...]) -> None:
    """Give ``row`` the height of its tallest wrapped cell (``texts`` by column)."""
    lines = max((wrapped_lines(text, widths[col]) for col, text in texts.items()), default=1)
    if lines > 1:
        sheet.set_row(row, lines * LINE_HEIGHT + ROW_PADDING)


def _signature(sheet: Worksheet, f: _Formats, annex: Annex, row: int, first: int, last: int) -> None:
    row += 1
    for line in annex.signer_lines:
        sheet.merge_range(row, first, row, last, "", f.sign)
        sheet.write_string(row, first, line, f.sign)
        row += 1
    row += 3
    sheet.merge_range(row, first, row, last, "", f.sign)
    sheet.write_string(row, first, annex.signer_name, f.sign)


def _people_sheet(
    book: xlsxwriter.Workbook,
    f: _Formats,
    annex: Annex,
    number: str,
    title: str,
    groups: Sequence[UnitGroup | SurplusGroup],
    last_keys: tuple[str, str],
) -> None:
    """A sheet of people grouped by unit (Annex I, Annex III), rows as tall as their text."""
    widths = PLACEMENT_WIDTHS if number == "I" else SURPLUS_WIDTHS
    sheet = book.add_worksheet(vi("export.annex.number", number=number))
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width)
    last = len(widths) - 1
    top = _frame(sheet, f, annex, number, title, last)
    heads = ("no", "name", None, None, "title", "former_unit", *last_keys)
    for col, key in enumerate(heads):
        if key is not None:
            sheet.merge_range(top, col, top + 1, col, "", f.head)
            sheet.write_string(top, col, vi(f"export.col.{key}"), f.head)
    sheet.merge_range(top, 2, top, 3, "", f.head)
    sheet.write_string(top, 2, vi("export.col.birth"), f.head)
    sheet.write_string(top + 1, 2, vi("export.col.male"), f.head)
    sheet.write_string(top + 1, 3, vi("export.col.female"), f.head)
    fit_row(sheet, top, {col: vi(f"export.col.{k}") for col, k in enumerate(heads) if k}, widths)
    for col in range(len(heads)):
        sheet.write_string(top + 2, col, f"({col + 1})", f.numbering)
    _page_setup(sheet, annex, (top, top + 2))
    row = top + 3
    if not groups:
        sheet.merge_range(row, 0, row, last, "", f.legend)
        sheet.write_string(row, 0, vi("export.annex.no_surplus"), f.legend)
        row += 1
    for group in groups:
        sheet.merge_range(row, 0, row, last, "", f.group)
        sheet.write_string(row, 0, group.label, f.group)
        row += 1
        for p in group.rows:
            last_texts = (p.new_position, p.note) if isinstance(p, PersonRow) else (p.position, p.reason)
            sheet.write_number(row, 0, p.no, f.centered)
            birth_col, blank_col = (3, 2) if p.female else (2, 3)
            if p.birth_date is not None:
                sheet.write_datetime(row, birth_col, p.birth_date, f.date)
            else:
                sheet.write_string(row, birth_col, p.birth, f.centered)
            sheet.write_blank(row, blank_col, None, f.centered)
            texts = dict(zip((1, 4, 5, 6, 7), (p.name, p.title, p.former_unit, *last_texts), strict=True))
            for col, text in texts.items():
                sheet.write_string(row, col, text, f.text)
            fit_row(sheet, row, texts, widths)
            row += 1
    _signature(sheet, f, annex, row, 5, last)


def _figures(sheet: Worksheet, row: int, col: int, counts: Counts, fmt: Format) -> None:
    for k, value in enumerate(counts.as_tuple()):
        sheet.write_number(row, col + k, value, fmt)


def _staffing_sheet(book: xlsxwriter.Workbook, f: _Formats, annex: Annex) -> None:
    sheet = book.add_worksheet(vi("export.annex.number", number="II"))
    for col, width in enumerate(STAFFING_WIDTHS):
        sheet.set_column(col, col, width)
    last = len(STAFFING_WIDTHS) - 1
    row = _frame(sheet, f, annex, "II", annex.staffing_title, last)
    sheet.write_string(row, 0, vi("export.annex.section_units"), f.section)
    top = row + 1
    for col, key in ((0, "no"), (1, "unit_name")):
        sheet.merge_range(top, col, top + 1, col, "", f.head)
        sheet.write_string(top, col, vi(f"export.col.{key}"), f.head)
    groups = [capitalise(code_label(b)) for b in BLOCS] + [vi("export.col.total")]
    for g, label in enumerate(groups):
        first = 2 + 4 * g
        sheet.merge_range(top, first, top, first + 3, "", f.head)
        sheet.write_string(top, first, label, f.head)
        for k, key in enumerate(FIGURES):
            sheet.write_string(top + 1, first + k, vi(f"export.col.{key}"), f.head)
    _page_setup(sheet, annex, (top, top + 1))
    row = top + 2
    for u in annex.units:
        sheet.write_number(row, 0, u.no, f.centered)
        sheet.write_string(row, 1, u.unit_name, f.text)
        fit_row(sheet, row, {1: u.unit_name}, STAFFING_WIDTHS)
        for g, counts in enumerate([*(u.by_bloc[b] for b in BLOCS), u.total]):
            _figures(sheet, row, 2 + 4 * g, counts, f.number)
        row += 1
    sheet.merge_range(row, 0, row, 1, "", f.total_text)
    sheet.write_string(row, 0, vi("export.col.total"), f.total_text)
    totals = [*(annex.bloc_total(b) for b in BLOCS), annex.unit_total]
    for g, counts in enumerate(totals):
        _figures(sheet, row, 2 + 4 * g, counts, f.total_number)
    row += 2
    sheet.write_string(row, 0, vi("export.annex.section_positions"), f.section)
    row += 1
    heads = ("no", "position", *FIGURES)
    for col, key in enumerate(heads):
        sheet.write_string(row, col, vi(f"export.col.{key}"), f.head)
    row += 1
    for p in annex.positions:
        sheet.write_number(row, 0, p.no, f.centered)
        sheet.write_string(row, 1, p.label, f.text)
        fit_row(sheet, row, {1: p.label}, STAFFING_WIDTHS)
        _figures(sheet, row, 2, p.counts, f.number)
        row += 1
    sheet.merge_range(row, 0, row, 1, "", f.total_text)
    sheet.write_string(row, 0, vi("export.col.total"), f.total_text)
    _figures(sheet, row, 2, annex.position_total, f.total_number)
    row += 2
    sheet.merge_range(row, 0, row, last, "", f.legend)
    sheet.write_string(row, 0, vi("export.annex.legend"), f.legend)
    sheet.set_row(row, 2 * TITLE_HEIGHT)
    _signature(sheet, f, annex, row + 1, last - 5, last)


def _long_texts(annex: Annex) -> Iterator[tuple[str, str, int]]:
    """(staff or unit id, field, length) of every text too long for a cell of a workbook."""
    groups: list[UnitGroup | SurplusGroup] = [*annex.groups, *annex.surplus]
    for group in groups:
        for name in ("unit_name", "label"):
            if len(getattr(group, name)) > MAX_CELL_CHARS:
                yield group.unit_id, name, len(getattr(group, name))
        for row in group.rows:
            for field in dataclasses.fields(row):
                value = getattr(row, field.name)
                if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                    yield row.staff_id, field.name, len(value)
    for unit in annex.units:
        if len(unit.unit_name) > MAX_CELL_CHARS:
            yield unit.unit_id, "unit_name", len(unit.unit_name)


def check_cells_fit(annex: Annex) -> None:
    """Refuse a workbook one of whose texts is longer than a cell holds; never cut it.

    New runs cannot hold such a text (the input check refuses it), but a run stored by
    an older version may.

    Raises
    ------
    InputError
        Naming the run, the person or unit, the column and the length, with what to do.
    """
    long = list(_long_texts(annex))
    issues = [
        Issue(
            file=annex.run_id,
            column=t(f"export.col.{FIELD_COLUMNS.get(field, field)}"),
            value=who,
            message=t("export.cell_too_long", length=length, limit=MAX_CELL_CHARS, count=len(long)),
            hint=t("export.cell_too_long_hint", run_id=annex.run_id),
            code="export.cell_too_long",
        )
        for who, field, length in long[:LONG_CELLS_NAMED]
    ]
    if issues:
        raise InputError(issues)


def write_annex_xlsx(annex: Annex, path: Path) -> Path:
    """Write the annexes as one workbook (sheets "Phụ lục I", "Phụ lục II", "Phụ lục III").

    Parameters
    ----------
    annex
        What to write (see :func:`~optimizer.export.model.build_annex`).
    path
        The ``.xlsx`` file; written atomically, readable by its owner only.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When a text is longer than a cell holds (:func:`check_cells_fit`): nothing written.
    """
    check_cells_fit(annex)
    with atomic_output(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp), _WORKBOOK_OPTIONS)
        book.set_properties(
            {
                "title": annex.placement_title,
                "subject": annex.reference,
                "comments": annex.footer,
            }
        )
        book.set_custom_property("staffplan_run_id", annex.run_id)
        book.set_custom_property("staffplan_manifest_hash", annex.manifest_hash)
        book.set_custom_property("staffplan_version", __version__)
        formats = _Formats(book)
        _people_sheet(
            book, formats, annex, "I", annex.placement_title, annex.groups, ("new_position", "note")
        )
        _staffing_sheet(book, formats, annex)
        _people_sheet(
            book, formats, annex, "III", annex.surplus_title, annex.surplus, ("current_position", "reason")
        )
        book.close()
    return path
