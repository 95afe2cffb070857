"""Write input problems as an Excel sheet a planner can work through ("Lỗi")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xlsxwriter

from optimizer import __version__
from optimizer.errors import Issue
from optimizer.i18n import t
from optimizer.io.outputs import GENERATOR, atomic_output, make_out_dir

#: Catalogue keys of the sheet's columns, in order.
COLUMN_KEYS = (
    "io.xlsx.file",
    "io.xlsx.sheet",
    "io.xlsx.row",
    "io.xlsx.column",
    "io.xlsx.value",
    "io.xlsx.message",
    "io.xlsx.hint",
    "io.xlsx.severity",
)
_WIDTHS = (28, 14, 7, 18, 22, 60, 60, 11)
#: Most characters a cell of a workbook holds (Excel's limit).
MAX_CELL_CHARS = 32_767


def fit_cell(text: str) -> str:
    """``text``, or its beginning with the number of characters left out when it is
    longer than an Excel cell holds (:data:`MAX_CELL_CHARS`): never cut silently."""
    if len(text) <= MAX_CELL_CHARS:
        return text
    note = t("io.xlsx.cut", total=len(text))
    return text[: MAX_CELL_CHARS - len(note)] + note


def issue_cells(issue: Issue) -> list[str]:
    """The sheet's cells for one issue, all text, in :data:`COLUMN_KEYS` order."""
    severity = t("io.xlsx.error") if issue.severity == "error" else t("io.xlsx.warning")
    row = "" if issue.row is None else str(issue.row)
    return [
        issue.file,
        issue.sheet,
        row,
        issue.column,
        issue.value,
        issue.message,
        issue.hint,
        severity,
    ]


def write_issues_xlsx(issues: Sequence[Issue], path: str | Path) -> Path:
    """Write every issue as one row of the sheet "Lỗi" (headers in the current language).

    Every cell is written as text, never as a formula or a number, so a value such as
    ``=1+1`` or ``00123`` appears exactly as it was in the input.  The workbook is written
    through :func:`~optimizer.io.outputs.atomic_output` (temporary name, fsync, rename),
    so a reader never sees half a file.  A text longer than a cell holds is cut with a
    note saying so (:func:`fit_cell`).

    Parameters
    ----------
    issues
        The problems to list, in order.
    path
        The ``.xlsx`` file to create or replace.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    target = Path(path)
    make_out_dir(target.parent)
    with atomic_output(target) as tmp:
        book = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_numbers": False})
        book.set_custom_property(f"{GENERATOR}_version", __version__)  # staffplan's own file
        sheet = book.add_worksheet(t("io.xlsx.sheet_name"))
        bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        error = book.add_format({"text_wrap": True, "valign": "top", "font_color": "#C00000"})
        for col, (key, width) in enumerate(zip(COLUMN_KEYS, _WIDTHS, strict=True)):
            sheet.write_string(0, col, t(key), bold)
            sheet.set_column(col, col, width)
        for r, issue in enumerate(issues, start=1):
            cells = issue_cells(issue)
            for col, text in enumerate(cells):
                fmt = error if (issue.severity == "error" and col == len(cells) - 1) else wrap
                sheet.write_string(r, col, fit_cell(text), fmt)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(len(issues), 1), len(COLUMN_KEYS) - 1)
        book.close()
    return target
