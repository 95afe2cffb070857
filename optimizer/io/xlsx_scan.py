"""A streaming look at an xlsx sheet before it is read (layer 2).

An xlsx file is a zip of XML parts; a 10 MB file can describe 2,000,000 rows, or one
cell at A1 and one at XFD1048576 (a 17-billion-cell rectangle for a reader that fills
the grid).  :func:`scan_sheet` reads the sheet's XML in blocks, with bounded memory,
and stops as soon as a limit is passed, so such a file is refused with a clear message
instead of exhausting the machine.  On the way it notes what a planner cannot see in
the cells pandas returns: hidden sheets and rows, formulas saved without their value,
and error values such as ``#N/A``.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

#: Most rows a sheet may have (the 250,000-person roster has 250,001).
MAX_ROWS = 1_000_000
#: Most cells of the sheet's used rectangle (rows × columns of the last used cell).
MAX_CELLS = 20_000_000
#: Bytes of XML read at a time.
BLOCK = 1 << 20
#: Suffixes of the workbooks :func:`scan_sheet` understands (zip of XML parts).
ZIP_SUFFIXES = (".xlsx", ".xlsm")

_SHEET = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)/?>")
_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')
_REL = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)/?>")
_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*)>")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb"([A-Z]+)(\d+)")
_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>]")
_ROW_NUMBER = re.compile(rb"<(?:\w+:)?row\b[^>]*?\br=\"(\d+)\"")
_CELL_COLUMN = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]+)")


class SheetTooLarge(Exception):
    """The sheet passes :data:`MAX_ROWS` or :data:`MAX_CELLS`."""


@dataclass
class SheetScan:
    """What :func:`scan_sheet` found in a sheet.

    ``formula_cells`` and ``error_cells`` are ``(Excel row, 0-based column)`` pairs;
    ``hidden_rows`` Excel row numbers.
    """

    hidden_sheet: bool = False
    rows: int = 0
    hidden_rows: list[int] = field(default_factory=list)
    formula_cells: list[tuple[int, int]] = field(default_factory=list)
    error_cells: list[tuple[int, int]] = field(default_factory=list)


def _attrs(text: bytes) -> dict[str, str]:
    return {k.decode().rsplit(":", 1)[-1]: v.decode() for k, v in _ATTR.findall(text)}


def _column(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number - 1


def _sheet_part(book: zipfile.ZipFile, sheet: str | None) -> tuple[str, bool] | None:
    """The zip member of the sheet named ``sheet`` (the first when ``None``) and whether
    the sheet is hidden; ``None`` when it cannot be found."""
    sheets = [_attrs(m) for m in _SHEET.findall(book.read("xl/workbook.xml"))]
    wanted = next((s for s in sheets if sheet is None or s.get("name") == sheet), None)
    if wanted is None:
        return None
    rels = [_attrs(m) for m in _REL.findall(book.read("xl/_rels/workbook.xml.rels"))]
    target = next((r.get("Target", "") for r in rels if r.get("Id") == wanted.get("id")), "")
    if not target:
        return None
    member = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    return member, wanted.get("state", "visible") != "visible"


def scan_sheet(path: Path, sheet: str | None) -> SheetScan | None:
    """Scan one sheet of an xlsx workbook in blocks of :data:`BLOCK` bytes.

    Parameters
    ----------
    path
        The workbook.
    sheet
        The sheet's exact name, or ``None`` for the first sheet.

    Returns
    -------
    SheetScan or None
        ``None`` when the file is not a readable xlsx zip or the sheet is not found
        (the reader then reports the problem in its own words).

    Raises
    ------
    SheetTooLarge
        As soon as the sheet passes :data:`MAX_ROWS` rows or :data:`MAX_CELLS` cells.
    """
    try:
        with zipfile.ZipFile(path) as book:
            found = _sheet_part(book, sheet)
            if found is None:
                return None
            member, hidden = found
            scan = SheetScan(hidden_sheet=hidden)
            with book.open(member) as xml:
                _scan_xml(xml, scan)
            return scan
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return None


def _scan_xml(xml: IO[bytes], scan: SheetScan) -> None:
    tail, last = b"", [0, 0, 0]  # row number, largest row, largest column
    while True:
        block = xml.read(BLOCK)
        data = tail + block
        if block:
            cut = data.rfind(b"<row")  # the last row may be unfinished: keep it for later
            if cut <= 0:
                tail = data
                continue
            part, tail = data[:cut], data[cut:]
        else:
            part, tail = data, b""
        if b'hidden="' in part or b't="e"' in part or b"<f" in part:  # rare: row by row
            for chunk in re.split(rb"(?=<(?:\w+:)?row\b)", part):
                _scan_row(chunk, scan, last)
        else:  # the usual sheet: counted at C speed
            _count_rows(part, scan, last)
        if scan.rows > MAX_ROWS or last[1] > MAX_ROWS or last[1] * last[2] > MAX_CELLS:
            raise SheetTooLarge
        if not block:
            return


def _count_rows(part: bytes, scan: SheetScan, last: list[int]) -> None:
    numbers = _ROW_NUMBER.findall(part)
    count = len(_ROW_TAG.findall(part))
    scan.rows += count
    last[0] = int(numbers[-1]) if numbers else last[0] + count
    last[1] = max(last[1], last[0])
    letters = set(_CELL_COLUMN.findall(part))
    if letters:
        last[2] = max(last[2], *(_column(c) + 1 for c in letters))


def _scan_row(chunk: bytes, scan: SheetScan, last: list[int]) -> None:
    head = _ROW.match(chunk)
    if head is None:
        return
    attrs = _attrs(head.group(1))
    row = int(attrs["r"]) if attrs.get("r", "").isdigit() else last[0] + 1
    scan.rows += 1
    if attrs.get("hidden") in ("1", "true"):
        scan.hidden_rows.append(row)
    col = -1
    for cell in _CELL.finditer(chunk, head.end()):
        cattrs = _attrs(cell.group(1))
        ref = _REF.fullmatch(cattrs.get("r", "").encode())
        col = _column(ref.group(1)) if ref else col + 1
        body = cell.group(3) or b""
        if cattrs.get("t") == "e":
            scan.error_cells.append((row, col))
        elif b"<f" in body and b"<v" not in body:
            scan.formula_cells.append((row, col))
        last[2] = max(last[2], col + 1)
    last[0], last[1] = row, max(last[1], row)
