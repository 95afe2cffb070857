"""Read one input table from CSV, an XLSX sheet or Parquet, and parse its cells (layer 2).

Reading keeps every record's Excel row number (the header is row 1 when it sits on the
first line; a title above the header is skipped and counted) so that every problem can be
located.  Headers are matched through :mod:`optimizer.io.vocab`; text is NFC-normalised
and stripped.  Parsing turns cells into typed values (numbers, booleans, dates, codes,
lists) and leaves a cell that cannot be parsed as its original text, so the validator
(:mod:`optimizer.io.validate`) can report it with its value.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import difflib
import gc
import io
import logging
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from numbers import Integral
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from optimizer.errors import Issue, Severity
from optimizer.i18n import t
from optimizer.io.encodings import guess_legacy_encoding
from optimizer.io.vocab import BOOL_VALUES, ColumnSpec, TableSpec, fold
from optimizer.io.xlsx_scan import MAX_CELLS, MAX_ROWS, ZIP_SUFFIXES, SheetScan, SheetTooLarge, scan_sheet

logger = logging.getLogger(__name__)

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")

#: How many leading rows of a sheet may hold a title above the header row.
HEADER_SEARCH_ROWS = 10
#: Largest table file read, in bytes.
MAX_TABLE_BYTES = 1 << 30
#: Most characters in one cell (Excel's own limit: a longer text would be cut in xlsx).
MAX_CELL_CHARS = 32_767
#: How many hidden rows, or cells with a formula or an error, are named one by one.
CELLS_NAMED = 20

SourceKind = Literal["csv", "workbook", "parquet", "unknown"]


def display_path(path: Path) -> str:
    """A path as a planner should see it: relative to the working folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


@dataclass(frozen=True)
class TableSource:
    """Where a table is read from: a file, and for a workbook optionally a sheet.

    In a scenario a workbook sheet is written ``"book.xlsx#sheet"``; without ``#sheet``
    the first sheet is read.  ``str()`` gives back that notation.
    """

    path: Path
    sheet: str | None = None

    @classmethod
    def parse(cls, text: str, base_dir: Path) -> TableSource:
        """Split ``"book.xlsx#sheet"`` and resolve a relative path against ``base_dir``.

        Parameters
        ----------
        text
            The path as written, possibly with a ``#sheet`` suffix after a workbook name.
        base_dir
            The folder relative paths are resolved against.
        """
        head, sep, tail = text.rpartition("#")
        sheet: str | None = None
        path_text = text
        if sep and tail and Path(head).suffix.lower() in WORKBOOK_SUFFIXES:
            path_text, sheet = head, tail
        path = Path(path_text).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        return cls(Path(os.path.normpath(path)), sheet)

    @property
    def kind(self) -> SourceKind:
        """The file format, from the file name's suffix."""
        suffix = self.path.suffix.lower()
        if suffix in CSV_SUFFIXES:
            return "csv"
        if suffix in WORKBOOK_SUFFIXES:
            return "workbook"
        if suffix in PARQUET_SUFFIXES:
            return "parquet"
        return "unknown"

    def __str__(self) -> str:
        return f"{self.path}#{self.sheet}" if self.sheet else str(self.path)


@dataclass
class RawTable:
    """One table as read: canonical columns of NFC text (``None`` for blank cells).

    Attributes
    ----------
    spec
        The table's column contract.
    source
        Where it was read from.
    file, sheet
        The file as shown to the planner and the sheet actually read (``""`` if none).
    headers
        Canonical column name → the header as written in the file.
    cells
        One row per record, indexed by Excel row number; ``None`` when the file could
        not be read.
    from_workbook
        Cells came from a workbook, where a bare number in a date column is an Excel
        date serial.
    issues
        Problems met while reading.
    values
        The parsed cells (:func:`parse_table`), set once the table has been read.
    """

    spec: TableSpec
    source: TableSource
    file: str
    sheet: str
    headers: dict[str, str] = field(default_factory=dict)
    cells: pd.DataFrame | None = None
    from_workbook: bool = False
    issues: list[Issue] = field(default_factory=list)
    values: pd.DataFrame | None = None
    scan: SheetScan | None = None

    def issue(
        self,
        code: str,
        severity: Severity = "error",
        *,
        row: int | None = None,
        column: str = "",
        value: str = "",
        hint: str | None = None,
        **kwargs: object,
    ) -> Issue:
        """Build an issue located in this table; message ``io.<code>``, hint ``io.<code>.hint``."""
        shown = self.headers.get(column, column)
        return Issue(
            file=self.file,
            sheet=self.sheet,
            row=row,
            column=shown,
            value=value,
            message=t(f"io.{code}", column=shown, value=value, table=self.spec.name, **kwargs),
            hint=hint
            if hint is not None
            else t(f"io.{code}.hint", column=shown, value=value, table=self.spec.name, **kwargs),
            severity=severity,
            code=code,
        )

    def value_at(self, row: int, column: str) -> str:
        """The cell text at an Excel row and canonical column (``""`` when blank or absent)."""
        if self.cells is None or column not in self.cells.columns or row not in self.cells.index:
            return ""
        value = self.cells.at[row, column]
        return "" if value is None else str(value)


# --------------------------------------------------------------------------- cells


def _clean_text(text: str) -> str | None:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).strip("\u200b\ufeff")
    text = text.strip()
    return text or None


def cell_text(value: object) -> str | None:
    """One spreadsheet or Parquet cell as NFC text without surrounding spaces.

    Whole numbers lose their ``.0`` (Excel stores ``26506`` as ``26506.0``), dates become
    ISO 8601, lists are joined with ``"; "`` and blank cells become ``None``.
    """
    if isinstance(value, str):
        return _clean_text(value)
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else cell_text(pd.Timestamp(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | np.ndarray):
        items = [cell_text(v) for v in value]
        return "; ".join(i for i in items if i) or None
    return _clean_text(str(value))


def _clean_texts(texts: list[str]) -> tuple[list[str | None], int]:
    """:func:`_clean_text` of many cells at once: the cells joined by NULs are normalised
    in one call (a NUL never composes nor reorders with its neighbours, so each cell comes
    out as alone), and only the cells that are not ASCII lose their zero-width marks.

    Every cell comes out as a string made anew from the joined text (the same text): the
    column's strings then lie together in memory, in row order.  A reader makes them row
    by row, each among the other columns' cells, and every later pass over the column
    (blanks, distinct cells, parsing, checks) read each one from its own far place: on
    the city, the staff's cells read for blanks in 53 ms against 1.2 ms by address, and
    a whole load 0.15 s of CPU more (0.61 against 0.78 s, medians of eight, alternated).

    Returns
    -------
    cells, longest
        The cells, and at least the length of the longest (``-1``: not known).
    """
    joined = "\x00".join(texts)
    if joined.isascii():
        made = joined.split("\x00")
        if len(made) != len(texts):  # a cell holds a NUL itself: the cells as they are
            made = list(texts)
        if not _has_edges(joined):  # no cell blank or with spaces around: all kept as they are
            return list[str | None](made), _longest_part(joined)
        return [text.strip() or None for text in made], _longest_part(joined)
    normal = unicodedata.normalize("NFC", joined)
    parts = normal.split("\x00")
    if len(parts) != len(texts):  # a cell holds a NUL itself
        return [_clean_text(text) for text in texts], -1
    if not _has_edges(normal):
        return list(parts), _longest_part(normal)
    cells = [
        (text.strip() if text.isascii() else text.strip("\u200b\ufeff").strip()) or None for text in parts
    ]
    return cells, _longest_part(normal)


def _longest_part(joined: str) -> int:
    """The length of the longest of the NUL-separated parts of ``joined``, by one pass
    over its code points (the parts' own objects are scattered in memory: reading each
    one's length costs more)."""
    if len(joined) <= MAX_CELL_CHARS:
        return len(joined)  # enough to tell that no part is longer than a cell may be
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    bounds = np.concatenate(([-1], np.flatnonzero(codes == 0), [len(codes)]))
    return int(np.diff(bounds).max()) - 1


#: A NUL followed by a blank cell's NUL, a space or a zero-width mark (``\s`` is exactly
#: what ``str.strip`` removes).
_EDGE = re.compile(r"\x00[\s\u200b\ufeff\x00]")


def _has_edges(joined: str) -> bool:
    """Whether, in cells joined by NULs, a cell is blank or starts or ends with a space or
    a zero-width mark: with a NUL around the whole, a NUL followed by one of those, read
    forwards (a cell's start) or backwards (its end).  The pattern starts with a fixed
    character, which the regular expression engine finds by a fast scan."""
    framed = f"\x00{joined}\x00"
    return _EDGE.search(framed) is not None or _EDGE.search(framed[::-1]) is not None


def _text_column(values: pd.Series) -> tuple[pd.Series, bool]:
    """Normalise a column of cells into NFC text or ``None`` (:func:`cell_text`; the text
    cells all at once, :func:`_clean_texts`), and tell whether a cell may be longer than
    :data:`MAX_CELL_CHARS` (``False``: none is)."""
    cells = values.tolist()
    if set(map(type, cells)) <= {str}:  # the usual column (every CSV cell): one pass in C
        out, longest = _clean_texts(cells)
        may_be_long = not 0 <= longest <= MAX_CELL_CHARS
    else:
        at = [k for k, v in enumerate(cells) if type(v) is str]
        out = [None if type(v) is str else cell_text(v) for v in cells]
        for k, text in zip(at, _clean_texts([cells[k] for k in at])[0], strict=True):
            out[k] = text
        may_be_long = True
    return pd.Series(out, index=values.index, dtype=object), may_be_long


# --------------------------------------------------------------------------- reading


def _decode_csv(data: bytes, raw: RawTable) -> str | None:
    """Decode CSV bytes as UTF-8 (BOM tolerated) or UTF-16 (Excel's "Unicode text"),
    or report why not."""
    if b"\x00" in data and not looks_utf16(data):
        row = data[: data.index(b"\x00")].count(b"\n") + 1
        raw.issues.append(raw.issue("csv_nul", row=row, line=row))
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        bom = data.startswith((b"\xff\xfe", b"\xfe\xff"))
        codec = "utf-16" if bom else ("utf-16-le" if data[1:2] == b"\x00" else "utf-16-be")
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            text = ""
        if text and "\x00" not in text:
            return text
        raw.issues.append(raw.issue("csv_broken"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = guess_legacy_encoding(data)
        name = {"windows-1258": "Windows-1258", "tcvn3": "TCVN3 (ABC)", "vni": "VNI"}.get(encoding or "")
        if name:
            raw.issues.append(raw.issue("encoding_legacy", encoding=name))
        else:
            raw.issues.append(raw.issue("encoding_unknown"))
        return None


def looks_utf16(data: bytes) -> bool:
    """UTF-16 text (Excel's "Unicode text"): a byte-order mark, or the zero bytes of
    ASCII characters on every other byte — not one stray NUL in UTF-8 text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    head = data[:4096]
    half = max(1, len(head) // 2)
    return max(head[0::2].count(0), head[1::2].count(0)) > half * 0.3


def _sniff_delimiter(text: str) -> str:
    """The delimiter of the first line: the most frequent of comma, semicolon and tab."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_csv_grid(raw: RawTable) -> pd.DataFrame | None:
    data = raw.source.path.read_bytes()
    text = _decode_csv(data, raw)
    if text is None:
        return None
    if not text.strip():
        raw.issues.append(raw.issue("file_empty"))
        return None
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text), strict=True)
        rows = list(reader)
    except csv.Error as exc:
        logger.debug("csv error in %s: %s", raw.source, exc)
        raw.issues.append(raw.issue("csv_broken"))
        return None
    width = max(map(len, rows))
    if min(map(len, rows)) < width:  # a ragged file: short rows padded with blank cells
        rows = [row + [""] * (width - len(row)) for row in rows]
    return pd.DataFrame(rows, dtype=object)


def _read_workbook_grid(raw: RawTable, books: dict[Path, pd.ExcelFile]) -> pd.DataFrame | None:
    path = raw.source.path
    book = books.get(path)
    if book is None:
        try:
            book = pd.ExcelFile(path, engine="calamine")
        except Exception as exc:  # any failure to open is the same problem for a planner
            logger.debug("cannot open workbook %s: %s", path, exc)
            raw.issues.append(raw.issue("file_unreadable"))
            return None
        books[path] = book
    names = [str(n) for n in book.sheet_names]
    wanted = raw.source.sheet
    if wanted is None:
        if not names:
            raw.issues.append(raw.issue("file_empty"))
            return None
        sheet = names[0]
    else:
        exact = [n for n in names if n == wanted]
        loose = [n for n in names if fold(n) == fold(wanted)]
        if not (exact or loose):
            raw.issues.append(raw.issue("sheet_missing", sheet=wanted, sheets=", ".join(names)))
            return None
        sheet = (exact or loose)[0]
    raw.sheet = sheet
    if path.suffix.lower() in ZIP_SUFFIXES:
        try:
            raw.scan = scan_sheet(path, sheet)
        except SheetTooLarge:
            raw.issues.append(raw.issue("sheet_too_large", rows=MAX_ROWS, cells=MAX_CELLS))
            return None
    try:
        grid = pd.read_excel(book, sheet_name=sheet, header=None, dtype=object)
    except Exception as exc:  # a corrupt sheet is reported, never a traceback
        logger.debug("cannot read sheet %s of %s: %s", sheet, path, exc)
        raw.issues.append(raw.issue("file_unreadable"))
        return None
    raw.from_workbook = True
    return grid.astype(object)


def _read_parquet(raw: RawTable) -> pd.DataFrame | None:
    try:
        frame = pd.read_parquet(raw.source.path)
    except Exception as exc:  # corrupt or foreign file
        logger.debug("cannot read parquet %s: %s", raw.source.path, exc)
        raw.issues.append(raw.issue("file_unreadable"))
        return None
    header = pd.DataFrame([list(frame.columns)], dtype=object)
    body = frame.astype(object).set_axis(range(len(frame.columns)), axis=1)
    return pd.concat([header, body], ignore_index=True)


def _find_header_row(grid: pd.DataFrame, lookup: dict[str, str]) -> int:
    """The first of the leading rows that names the most known columns (0 if none does)."""
    best_row, best = 0, 0
    for r in range(min(len(grid), HEADER_SEARCH_ROWS)):
        names = {lookup.get(fold(text)) for v in grid.iloc[r] if (text := cell_text(v))}
        found = len(names - {None})
        if found > best:
            best_row, best = r, found
    return best_row


def _map_headers(raw: RawTable, header_cells: list[object]) -> dict[int, str]:
    """Column position → canonical name; reports duplicated and near-miss headers."""
    lookup = raw.spec.header_lookup
    positions: dict[int, str] = {}
    for pos, cell in enumerate(header_cells):
        text = cell_text(cell)
        if not text:
            continue
        canonical = lookup.get(fold(text))
        if canonical is None:
            raw.issues.append(_unknown_column(raw, text))
            continue
        if canonical in raw.headers:
            raw.issues.append(
                raw.issue("duplicate_column", column=canonical, first=raw.headers[canonical], second=text)
            )
            continue
        raw.headers[canonical] = text
        positions[pos] = canonical
    return positions


def _unknown_column(raw: RawTable, header: str) -> Issue:
    """A warning for a header no column of the table answers to, naming the closest one.

    The column is ignored, so a misspelt optional column (``island_ok``, say) would
    silently fall back to its default: the planner is always told.
    """
    lookup = raw.spec.header_lookup
    close = difflib.get_close_matches(fold(header), list(lookup), n=1, cutoff=0.6)
    if close:
        return raw.issue("unknown_column", "warning", column=header, suggestion=lookup[close[0]])
    known = ", ".join(c.name for c in raw.spec.columns)
    return raw.issue("unknown_column_unmatched", "warning", column=header, known=known)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector does not run for the duration (as it was after).

    Reading a table makes container objects by the row and by the cell (the city's
    roster: 16,000 rows of 15 cells, lists of cells, tuples of list items) that live
    until the table's columns are made, then die by reference counting: the collector,
    run every 700 new containers, walked them again and again and found nothing to
    free (on the city 104 of its runs during a load against 44 with it paused here:
    0.67-0.85 s of CPU against 0.63-0.71 s, six loads each, alternated).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@collector_paused()
def read_table(spec: TableSpec, source: TableSource, books: dict[Path, pd.ExcelFile]) -> RawTable:
    """Read one table into canonical columns of text, locating every record.

    Parameters
    ----------
    spec
        The table's column contract.
    source
        The file (and sheet) to read.
    books
        Workbooks already opened during this load, by path (filled in as needed), so a
        book holding several tables is opened once.

    Returns
    -------
    RawTable
        ``cells`` is ``None`` when the file could not be read; ``issues`` says why.
    """
    raw = RawTable(spec, source, display_path(source.path), source.sheet or "")
    if not source.path.is_file():
        code = "not_a_file" if os.path.lexists(source.path) else "file_not_found"
        raw.issues.append(raw.issue(code, path=str(source.path)))
        return raw
    if source.path.stat().st_size > MAX_TABLE_BYTES:
        raw.issues.append(raw.issue("file_too_large", limit=MAX_TABLE_BYTES >> 20))
        return raw
    kind = source.kind
    if kind == "csv":
        grid = _read_csv_grid(raw)
    elif kind == "workbook":
        grid = _read_workbook_grid(raw, books)
    elif kind == "parquet":
        grid = _read_parquet(raw)
    else:
        raw.issues.append(raw.issue("file_format", suffix=source.path.suffix or "?"))
        return raw
    if grid is None:
        return raw
    if grid.empty:
        raw.issues.append(raw.issue("file_empty"))
        return raw
    header_row = 0 if kind == "parquet" else _find_header_row(grid, spec.header_lookup)
    positions = _map_headers(raw, list(grid.iloc[header_row]))
    body = grid.iloc[header_row + 1 :]
    body.index = pd.RangeIndex(header_row + 2, header_row + 2 + len(body))  # Excel row numbers
    texts = {name: _text_column(body.iloc[:, pos]) for pos, name in positions.items()}
    # copy=False: the columns as they are, not copied into one block (pandas copies on write)
    cells = pd.DataFrame({name: text for name, (text, _) in texts.items()}, index=body.index, copy=False)
    if kind == "csv":
        _report_extra_cells(raw, grid, header_row, body)
    _report_long_cells(raw, cells, [name for name, (_, may_be_long) in texts.items() if may_be_long])
    if raw.scan is not None:
        _report_scan(raw, raw.scan, positions, header_row + 1)
    if any(not cells[name].hasnans for name in cells.columns):
        raw.cells = cells  # a column without a blank cell: no blank record (the usual table)
    else:
        keep = cells.notna().any(axis=1) if len(cells.columns) else pd.Series(False, index=cells.index)
        raw.cells = cells[keep]
    if not spec.optional and len(raw.cells) == 0:
        raw.issues.append(raw.issue("file_no_rows"))
    raw.values = parse_table(raw)
    return raw


def _report_extra_cells(raw: RawTable, grid: pd.DataFrame, header_row: int, body: pd.DataFrame) -> None:
    """In a CSV, a value under no header usually means a stray delimiter: report the row."""
    unnamed = [pos for pos, v in enumerate(grid.iloc[header_row]) if not cell_text(v)]
    if not unnamed:
        return
    stray = body.iloc[:, unnamed].map(cell_text).notna().any(axis=1)
    for row in body.index[stray.to_numpy()]:
        values = [cell_text(v) for v in body.loc[row].iloc[unnamed]]
        raw.issues.append(raw.issue("extra_cells", row=int(row), value="; ".join(v for v in values if v)))


def _report_long_cells(raw: RawTable, cells: pd.DataFrame, names: list[str]) -> None:
    """A cell longer than Excel holds is refused: it would be cut in every xlsx output
    (the columns ``names``, those that may hold one)."""
    for name in names:
        if max(map(len, filter(None, cells[name].tolist())), default=0) <= MAX_CELL_CHARS:
            continue  # the usual case, told by one pass over the column's text
        lengths = cells[name].str.len()
        for row in lengths.index[(lengths > MAX_CELL_CHARS).to_numpy()][:CELLS_NAMED]:
            length = int(lengths[row])
            raw.issues.append(
                raw.issue("cell_too_long", row=int(row), column=name, length=length, limit=MAX_CELL_CHARS)
            )


def _report_scan(raw: RawTable, scan: SheetScan, positions: dict[int, str], header_excel_row: int) -> None:
    """What the streaming scan of an xlsx sheet saw that the cells do not show."""
    if scan.hidden_sheet:
        raw.issues.append(raw.issue("sheet_hidden", "warning", sheet=raw.sheet))
    hidden = [r for r in scan.hidden_rows if r > header_excel_row]
    if hidden:
        shown = ", ".join(map(str, hidden[:CELLS_NAMED])) + (", …" if len(hidden) > CELLS_NAMED else "")
        raw.issues.append(raw.issue("rows_hidden", "warning", count=len(hidden), rows=shown))
    for code, found in (("formula_no_value", scan.formula_cells), ("cell_error", scan.error_cells)):
        named = [(r, c) for r, c in found if r > header_excel_row and c in positions]
        for row, col in named[:CELLS_NAMED]:
            raw.issues.append(raw.issue(code, row=row, column=positions[col]))


# --------------------------------------------------------------------------- parsing

_ISO_DATE = r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_DMY_DATE = r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$"
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _keep_failures(parsed: pd.Series, ok: pd.Series, text: pd.Series) -> pd.Series:
    """Parsed values where ``ok``, the original text where parsing failed, ``None`` if blank."""
    out = np.array(parsed.astype(object), dtype=object)
    cells = text.to_numpy(dtype=object)
    failed = ~ok.to_numpy(dtype=bool)
    out[failed] = cells[failed]
    out[text.isna().to_numpy()] = None
    return pd.Series(out, index=text.index, dtype=object)


def _parse_number(text: pd.Series, col: ColumnSpec) -> pd.Series:
    number = pd.to_numeric(text, errors="coerce").astype("float64")
    retry = number.isna() & text.notna()
    if retry.any():
        cleaned = text[retry].str.replace(r"\s+", "", regex=True)
        if col.decimal_comma:
            cleaned = cleaned.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        number[retry] = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    ok = number.abs() < np.inf
    if col.kind == "int":
        ok &= number.round() == number
    return _keep_failures(number, ok, text)


def _parse_date(text: pd.Series, from_workbook: bool) -> pd.Series:
    # the two usual forms by one fixed format each (fast), then every other accepted form
    parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    for day_first in (True, False):
        retry = parsed.isna() & text.notna()
        if not retry.any():
            break
        rest = text[retry]
        parsed[retry] = (
            pd.Series(pd.to_datetime(rest, format="%d/%m/%Y", errors="coerce"), index=rest.index)
            if day_first
            else _parse_date_forms(rest, from_workbook)
        )
    return _keep_failures(parsed, parsed.notna(), text)


def _parse_date_forms(text: pd.Series, from_workbook: bool) -> pd.Series:
    """Dates written yyyy-mm-dd (time allowed), d/m/yyyy, with ``-``, ``/`` or ``.``; and
    Excel date serials when the cells came from a workbook."""
    iso = text.str.extract(_ISO_DATE)
    dmy = text.str.extract(_DMY_DATE)
    parts = pd.DataFrame(
        {
            "year": pd.to_numeric(iso[0].fillna(dmy[2]), errors="coerce"),
            "month": pd.to_numeric(iso[1].fillna(dmy[1]), errors="coerce"),
            "day": pd.to_numeric(iso[2].fillna(dmy[0]), errors="coerce"),
        }
    )
    parsed = pd.to_datetime(parts, errors="coerce")
    if from_workbook:
        bare = text.str.fullmatch(r"\d{1,5}").fillna(False).astype(bool)
        serial = pd.to_numeric(text.where(bare), errors="coerce")
        parsed = parsed.fillna(_EXCEL_EPOCH + pd.to_timedelta(serial, unit="D"))
    return parsed


def _distinct(text: pd.Series, cells: list[object]) -> list[Any]:
    """The distinct non-blank cells of a column, ``cells`` being ``text.tolist()``: one
    set of the cells when they are text or ``None`` (the read cells), else what pandas'
    ``dropna().unique()`` gives."""
    distinct = set(cells)
    distinct.discard(None)
    if all(type(v) is str for v in distinct):
        return list(distinct)
    return text.dropna().unique().tolist()


def _map_unique(
    text: pd.Series, cells: list[object], convert: dict[object, object], blank: object = None
) -> pd.Series:
    """Each cell through ``convert`` (made from the column's distinct non-blank cells),
    ``blank`` for blank cells."""
    return pd.Series(list(map(convert.get, cells, repeat(blank))), index=text.index, dtype=object)


def _parse_enum(text: pd.Series, col: ColumnSpec) -> pd.Series:
    lookup, cells = col.lookup, text.tolist()
    return _map_unique(text, cells, {v: lookup.get(fold(v), v) for v in _distinct(text, cells)})


def _parse_bool(text: pd.Series) -> pd.Series:
    cells = text.tolist()
    return _map_unique(text, cells, {v: BOOL_VALUES.get(fold(v), v) for v in _distinct(text, cells)}, False)


def split_list(text: str) -> tuple[str, ...]:
    """Split a ``;``- (or ``,``-) separated cell into its non-blank, stripped items."""
    items = (unicodedata.normalize("NFC", p).strip() for p in text.replace(",", ";").split(";"))
    return tuple(p for p in items if p)


def _parse_list(text: pd.Series) -> pd.Series:
    cells = text.tolist()
    convert: dict[object, object] = {}
    for v in _distinct(text, cells):
        items = split_list(v)
        convert[v] = items if items else None
    return _map_unique(text, cells, convert)


def parse_column(text: pd.Series, col: ColumnSpec, from_workbook: bool = False) -> pd.Series:
    """Parse one column of text into typed values, keeping unparsable cells as text.

    Parameters
    ----------
    text
        NFC text or ``None`` per record.
    col
        The column contract (its ``kind`` chooses the parser).
    from_workbook
        Accept bare numbers as Excel date serials in a date column.

    Returns
    -------
    pandas.Series
        Of dtype object: ``float`` for numbers, ``bool``, ``pandas.Timestamp`` for dates,
        the code for enumerations, a tuple for lists, the text itself for ids and text;
        ``None`` for blank cells (``False`` for blank booleans).
    """
    if col.kind in ("float", "int"):
        return _parse_number(text, col)
    if col.kind == "date":
        return _parse_date(text, from_workbook)
    if col.kind == "enum":
        return _parse_enum(text, col)
    if col.kind == "bool":
        return _parse_bool(text)
    if col.kind == "list":
        return _parse_list(text)
    return text.astype(object)


def parse_table(raw: RawTable) -> pd.DataFrame:
    """Parse every column of a read table (see :func:`parse_column`).

    Optional columns absent from the file are added blank (``False`` for booleans);
    required columns absent from the file stay absent, for the validator to report.
    """
    assert raw.cells is not None
    index = raw.cells.index
    out: dict[str, pd.Series] = {}
    for col in raw.spec.columns:
        if col.name in raw.cells.columns:
            out[col.name] = parse_column(raw.cells[col.name], col, raw.from_workbook)
        elif not col.required:
            blank: object = False if col.kind == "bool" else None
            out[col.name] = pd.Series([blank] * len(index), index=index, dtype=object)
    return pd.DataFrame(out, index=index, copy=False)  # the parsed columns as they are
