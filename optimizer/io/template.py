"""``staffplan template``: a ready province to start from, in a planner's words (layer 2).

:func:`write_template` writes into a folder

* ``tinh-mau.xlsx``: the five tables of the data contract as Vietnamese-headed sheets
  (``Đơn vị``, ``Biên chế``, ``Nhân sự``, ``Quan hệ gia đình``, ``Ghim``) with a few example
  rows that validate and solve — four units one of which is an island, relatives, a
  signed pin, a home given as a unit —, a sheet ``Mã`` listing every code with its
  Vietnamese name, a sheet ``Hướng dẫn``, and Excel drop-down lists on the coded columns;
* ``scenario.toml``: a scenario pointing at those sheets, every key commented.

Every header is one of the accepted aliases of :mod:`optimizer.io.vocab` and every coded
cell is a Vietnamese spelling the parser accepts (the tests check both), so what the
template shows is exactly what a planner may type.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from optimizer.data import BLOCS, CATEGORIES, DEPARTMENTS, GENDERS, KINDS, PIN_MODES, RELATIONS
from optimizer.errors import InputError, Issue
from optimizer.i18n import catalogue, t
from optimizer.io.vocab import TABLES
from optimizer.labels import CodeKind, label, yes_no

#: File names written by :func:`write_template`.
WORKBOOK = "tinh-mau.xlsx"
SCENARIO = "scenario.toml"

#: Sheet of each table, in the order written.
SHEETS = {
    "units": "Đơn vị",
    "posts": "Biên chế",
    "staff": "Nhân sự",
    "relations": "Quan hệ gia đình",
    "pins": "Ghim",
}
CODES_SHEET = "Mã"
GUIDE_SHEET = "Hướng dẫn"

#: The Vietnamese header of every column (each an accepted alias of the column).
HEADERS: dict[str, dict[str, str]] = {
    "units": {
        "unit_id": "Mã ĐVHC",
        "name": "Tên đơn vị",
        "kind": "Loại đơn vị",
        "lat": "Vĩ độ",
        "lon": "Kinh độ",
        "population": "Dân số",
        "area_km2": "Diện tích",
        "island": "Hải đảo",
    },
    "posts": {
        "unit_id": "Mã ĐVHC",
        "bloc": "Khối",
        "department": "Phòng ban",
        "position": "Vị trí việc làm",
        "category": "Loại",
        "min": "Tối thiểu",
        "max": "Biên chế",
        "leadership": "Lãnh đạo",
        "non_local": "Không là người địa phương",
    },
    "staff": {
        "staff_id": "Mã cán bộ",
        "full_name": "Họ và tên",
        "birth_date": "Ngày sinh",
        "gender": "Giới tính",
        "category": "Loại",
        "bloc": "Khối",
        "positions": "Các vị trí",
        "grade": "Ngạch",
        "former_unit": "Đơn vị cũ",
        "origin_unit": "Đơn vị gốc",
        "home_lat": "Vĩ độ nơi ở",
        "home_lon": "Kinh độ nơi ở",
        "home_unit": "Nơi ở",
        "local_units": "Đơn vị địa phương",
        "island_ok": "Đồng ý ra đảo",
        "preferences": "Nguyện vọng",
    },
    "relations": {"staff_id": "Mã cán bộ", "relative_id": "Mã người thân", "relation": "Quan hệ"},
    "pins": {
        "staff_id": "Mã cán bộ",
        "unit_id": "Mã ĐVHC",
        "position": "Vị trí việc làm",
        "mode": "Chế độ",
        "note": "Ghi chú",
    },
}

#: Kinds of code listed on the codes sheet, with their codes.
CODE_LISTS: dict[CodeKind | str, tuple[str, ...]] = {
    "kind": KINDS,
    "bloc": BLOCS,
    "category": CATEGORIES,
    "department": DEPARTMENTS,
    "gender": GENDERS,
    "relation": RELATIONS,
    "mode": PIN_MODES,
    "yes_no": ("yes", "no"),
    "position": (),  # filled from the catalogue: every position it names
}
#: Which code list each coded column takes (a drop-down list in the workbook).
CODED_COLUMNS: dict[str, dict[str, str]] = {
    "units": {"kind": "kind", "island": "yes_no"},
    "posts": {
        "bloc": "bloc",
        "department": "department",
        "category": "category",
        "leadership": "yes_no",
        "non_local": "yes_no",
        "position": "position",
    },
    "staff": {"gender": "gender", "category": "category", "bloc": "bloc", "island_ok": "yes_no"},
    "relations": {"relation": "relation"},
    "pins": {"mode": "mode"},
}
#: Lists that only suggest (another value may be typed: a province's own position).
_OPEN_LISTS = ("position",)
#: Columns whose cells hold a unit id of the units sheet (suggested, names accepted too).
_UNIT_COLUMNS = {"posts": ("unit_id",), "staff": ("origin_unit",), "pins": ("unit_id",)}
#: Rows given a drop-down list and a text format below each header.
_ROWS = 500

_U = ("10001", "10002", "10003", "10004")
_CHAIR, _OFFICE, _FINANCE, _SECRETARY = (
    "Chủ tịch UBND",
    "Hành chính – văn phòng",
    "Tài chính",
    "Bí thư Đảng ủy",
)


def _examples() -> dict[str, list[list[object]]]:
    """The example rows, in Vietnamese spellings the parser accepts (columns of HEADERS)."""
    gov, party = label("government", "bloc", "vi"), label("party", "bloc", "vi")
    cadre, civil = label("cadre", "category", "vi"), label("civil_servant", "category", "vi")
    office, party_office = label("dept_office", "department", "vi"), label("party_office", "department", "vi")
    kind = {k: label(k, "kind", "vi") for k in KINDS}
    y, n = yes_no(True, "vi"), yes_no(False, "vi")
    units = [
        [_U[0], "Phường Trung Tâm", kind["ward"], 10.800, 106.700, 52000, 8.4, n],
        [_U[1], "Xã Bình An", kind["commune"], 10.880, 106.620, 31000, 42.0, n],
        [_U[2], "Xã Phú Lộc", kind["commune"], 10.720, 106.580, 27000, 55.5, n],
        [_U[3], "Đặc khu Hòn Mây", kind["special_zone"], 9.600, 106.550, 6500, 75.0, y],
    ]
    posts: list[list[object]] = []
    for unit in _U:
        posts.append([unit, gov, office, _CHAIR, cadre, 1, 1, y, y])
        posts.append([unit, gov, office, _OFFICE, civil, 1, 2 if unit != _U[3] else 1, n, n])
    posts.append([_U[0], gov, label("dept_economy_urban", "department", "vi"), _FINANCE, civil, 1, 1, n, n])
    posts.append([_U[1], gov, label("dept_economy", "department", "vi"), _FINANCE, civil, 0, 1, n, n])
    posts.append([_U[0], party, party_office, _SECRETARY, cadre, 1, 1, y, y])
    born = dt.date
    # id, name, birth, gender, category, bloc, positions, grade, former unit, origin,
    # home lat, home lon, home unit, local units, island ok, preferences
    staff: list[list[object]] = [
        ["NV001", "Nguyễn Văn An", born(1972, 3, 12), "Nam", cadre, gov, _CHAIR, "Chuyên viên chính",
         "UBND phường Trung Tâm", _U[0], 10.805, 106.705, "", "", n, ""],
        ["NV002", "Trần Thị Bình", born(1976, 9, 5), "Nữ", cadre, gov, _CHAIR, "Chuyên viên chính",
         "UBND xã Bình An", _U[1], 10.875, 106.615, "", "", y, f"{_U[3]};{_U[0]}"],
        ["NV003", "Lê Văn Cường", born(1970, 1, 20), "Nam", cadre, gov, _CHAIR, "Chuyên viên chính",
         "UBND xã Phú Lộc", _U[2], "", "", "Xã Phú Lộc", "", n, ""],
        ["NV004", "Phạm Thị Dung", born(1974, 6, 30), "Nữ", cadre, gov, _CHAIR, "Chuyên viên chính",
         "UBND xã Hòa Thạnh", _U[2], 10.760, 106.600, "", "", y, ""],
        ["NV005", "Hoàng Văn Em", born(1975, 11, 2), "Nam", cadre, party, _SECRETARY, "Chuyên viên cao cấp",
         "Đảng ủy xã Bình An", _U[1], 10.870, 106.640, "", "", n, ""],
        ["NV006", "Võ Thị Phượng", born(1985, 4, 14), "Nữ", civil, gov, f"{_OFFICE};{_FINANCE}",
         "Chuyên viên", "UBND phường Trung Tâm", _U[0], 10.810, 106.690, "", "", n, ""],
        ["NV007", "Đặng Văn Giang", born(1988, 8, 8), "Nam", civil, gov, _OFFICE, "Cán sự",
         "UBND xã Bình An", _U[1], "", "", "Xã Bình An", "", n, ""],
        ["NV008", "Bùi Thị Hạnh", born(1990, 2, 25), "Nữ", civil, gov, _OFFICE, "Chuyên viên",
         "UBND xã Phú Lộc", _U[2], 10.715, 106.575, "", "", n, ""],
        ["NV009", "Đỗ Văn Ích", born(1983, 12, 1), "Nam", civil, gov, f"{_FINANCE};{_OFFICE}", "Chuyên viên",
         "UBND phường Trung Tâm", _U[0], 10.790, 106.710, "", "", n, _U[0]],
        ["NV010", "Ngô Thị Kim", born(1987, 5, 19), "Nữ", civil, gov, _OFFICE, "Chuyên viên",
         "UBND đặc khu Hòn Mây", _U[3], 9.605, 106.545, "", "", y, ""],
        ["NV011", "Dương Văn Long", born(1979, 10, 10), "Nam", civil, gov, f"{_FINANCE};{_OFFICE}",
         "Chuyên viên", "UBND xã Bình An", _U[1], 10.885, 106.625, "", "", n, ""],
    ]  # fmt: skip
    relations: list[list[object]] = [["NV002", "NV011", label("sibling", "relation", "vi")]]
    pins: list[list[object]] = [
        [
            "NV001",
            _U[1],
            _CHAIR,
            label("fix", "mode", "vi"),
            "Chủ tịch UBND xã Bình An do HĐND xã bầu (đã có quyết định)",
        ]
    ]
    return {"units": units, "posts": posts, "staff": staff, "relations": relations, "pins": pins}


@dataclass(frozen=True)
class CodeRange:
    """Where a code list sits on the codes sheet (Excel rows, 1-based, inclusive)."""

    first: int
    last: int

    def source(self) -> str:
        """The drop-down source: the Vietnamese names of the list."""
        return f"='{CODES_SHEET}'!$C${self.first}:$C${self.last}"


def code_rows() -> list[tuple[str, str, str, str]]:
    """Rows of the codes sheet: (list, code, Vietnamese name to type, English name)."""
    texts = catalogue()
    rows = []
    for kind, codes in CODE_LISTS.items():
        if kind == "position":
            codes = tuple(k.removeprefix("label.position.") for k in texts if k.startswith("label.position."))
        for code in codes:
            key = f"label.{kind}.{code}" if kind != "yes_no" else f"label.{code}"
            rows.append((t(f"template.list.{kind}", "vi"), code, texts[key]["vi"], texts[key]["en"]))
    return rows


def write_template(folder: Path, force: bool = False) -> list[Path]:
    """Write the template workbook and scenario into ``folder`` (created if missing).

    Parameters
    ----------
    folder
        Where to write :data:`WORKBOOK` and :data:`SCENARIO`.
    force
        Replace those files when they exist.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        When a file exists and ``force`` is not set (nothing is written).
    """
    targets = [folder / WORKBOOK, folder / SCENARIO]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise InputError(
            [
                Issue(
                    file=str(p),
                    message=t("template.exists"),
                    hint=t("template.exists.hint"),
                    code="template_exists",
                )
                for p in existing
            ]
        )
    folder.mkdir(parents=True, exist_ok=True)
    for path, write in ((targets[0], _write_workbook), (targets[1], _write_scenario)):
        partial = path.with_name(f".{path.name}.part")
        write(partial)
        os.replace(partial, path)
    return targets


def _write_workbook(path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    head = book.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
    )
    text = book.add_format({"num_format": "@"})
    date = book.add_format({"num_format": "dd/mm/yyyy"})
    guide = book.add_worksheet(GUIDE_SHEET)
    ranges = _write_codes(book, head)
    examples = _examples()
    for table, sheet_name in SHEETS.items():
        sheet = book.add_worksheet(sheet_name)
        columns = list(HEADERS[table])
        for c, column in enumerate(columns):
            sheet.write_string(0, c, HEADERS[table][column], head)
            kind = TABLES[table].column(column).kind
            width = max(12, len(HEADERS[table][column]) + 2)
            sheet.set_column(c, c, width, text if kind in ("id", "text", "list") else None)
            comment = t(f"template.column.{table}.{column}", "vi")
            sheet.write_comment(0, c, comment, {"x_scale": 2.5, "y_scale": 1.6})
            coded = CODED_COLUMNS[table].get(column)
            if coded is not None:
                _drop_down(sheet, c, ranges[coded].source(), coded in _OPEN_LISTS, coded)
            elif column in _UNIT_COLUMNS.get(table, ()):
                _drop_down(sheet, c, f"='{SHEETS['units']}'!$A$2:$A${_ROWS + 1}", True, "unit")
        for r, row in enumerate(examples[table], start=1):
            for c, value in enumerate(row):
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), date)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif value != "":
                    sheet.write_string(r, c, str(value), text)
        sheet.freeze_panes(1, 0)
        sheet.set_row(0, 32)
    guide.set_column(0, 0, 110)
    for r, line in enumerate(t("template.guide", "vi").splitlines()):
        guide.write_string(r, 0, line, head if r == 0 else None)
    book.close()


def _write_codes(book: object, head: object) -> dict[str, CodeRange]:
    sheet = book.add_worksheet(CODES_SHEET)  # type: ignore[attr-defined]
    for c, title in enumerate(("list", "code", "name", "english")):
        sheet.write_string(0, c, t(f"template.codes.{title}", "vi"), head)
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, 3, 44)
    ranges: dict[str, list[int]] = {}
    kinds = list(CODE_LISTS)
    rows = code_rows()
    names = [t(f"template.list.{k}", "vi") for k in kinds]
    for r, (group, code, name, english) in enumerate(rows, start=1):
        for c, value in enumerate((group, code, name, english)):
            sheet.write_string(r, c, value)
        kind = kinds[names.index(group)]
        ranges.setdefault(kind, [r + 1, r + 1])[1] = r + 1
    sheet.freeze_panes(1, 0)
    return {k: CodeRange(first, last) for k, (first, last) in ranges.items()}


def _drop_down(sheet: object, column: int, source: str, open_list: bool, what: str) -> None:
    """A drop-down list on rows 2…:data:`_ROWS` + 1 of a column."""
    options = {
        "validate": "list",
        "source": source,
        "error_type": "information" if open_list else "stop",
        "error_title": t("template.dropdown.title", "vi"),
        "error_message": t(f"template.dropdown.{'open' if open_list else 'closed'}", "vi"),
        "input_title": t("template.dropdown.title", "vi"),
        "input_message": t(f"template.dropdown.input.{what}", "vi"),
    }
    sheet.data_validation(1, column, _ROWS, column, options)  # type: ignore[attr-defined]


def _write_scenario(path: Path) -> None:
    data = "\n".join(f'{table} = "{WORKBOOK}#{sheet}"' for table, sheet in SHEETS.items())
    text = catalogue()["template.scenario"]["vi"].replace("data_placeholder", data)
    path.write_text(text, encoding="utf-8")
