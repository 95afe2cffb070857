"""The input vocabulary: table columns, their Vietnamese header aliases and value aliases.

Headers and enumerated values are matched after :func:`fold`: case-, accent- and
punctuation-insensitively, so ``"Mã ĐVHC"``, ``"ma dvhc"`` and ``"MA_DVHC"`` are the same
header.  The column list of each table is the data contract of DESIGN §3.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from optimizer.data import BLOCS, CATEGORIES, DEPARTMENTS, GENDERS, KINDS, PIN_MODES, RELATIONS

ColumnKind = Literal["id", "text", "enum", "list", "float", "int", "bool", "date"]

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def fold(text: str) -> str:
    """Fold a header or a value for matching: NFC, casefold, no accents, ``_`` separators.

    Parameters
    ----------
    text
        Any text, e.g. ``"Mã ĐVHC"``.

    Returns
    -------
    str
        The folded key, e.g. ``"ma_dvhc"``.
    """
    decomposed = unicodedata.normalize("NFD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("đ", "d")
    return _NON_ALNUM.sub("_", plain).strip("_")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input table.

    Attributes
    ----------
    name
        Canonical column name (DESIGN §3).
    kind
        How cells are parsed: identifier, text, enumerated code, ``;``-separated list,
        number, whole number, boolean or date.
    required
        The column must be present in the file.
    nullable
        A cell may be blank.  Blank boolean cells mean ``False``.
    unique
        No two rows may hold the same value.
    aliases
        Accepted headers besides the canonical name (compared after :func:`fold`).
    choices
        Allowed codes of an enumerated column.
    value_aliases
        Accepted spellings of the codes, folded spelling → code.
    lo, hi
        Inclusive bounds of a number column (``None``: unbounded).
    lo_strict
        The lower bound is exclusive.
    decimal_comma
        Accept ``10,77`` for ``10.77`` (coordinates, where no thousands separator occurs).
    """

    name: str
    kind: ColumnKind
    required: bool = True
    nullable: bool = False
    unique: bool = False
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    value_aliases: Mapping[str, str] = field(default_factory=dict)
    lo: float | None = None
    hi: float | None = None
    lo_strict: bool = False
    decimal_comma: bool = False

    @cached_property
    def lookup(self) -> dict[str, str]:
        """Folded spelling → code for an enumerated column (codes included)."""
        out = {fold(c): c for c in self.choices}
        out.update({fold(k): v for k, v in self.value_aliases.items()})
        return out


@dataclass(frozen=True)
class TableSpec:
    """One input table: its columns and its multi-column key, if any."""

    name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...] = ()
    optional: bool = False

    def column(self, name: str) -> ColumnSpec:
        """Return the column called ``name``."""
        return next(c for c in self.columns if c.name == name)

    @cached_property
    def header_lookup(self) -> dict[str, str]:
        """Folded header → canonical column name (canonical names and aliases)."""
        out: dict[str, str] = {}
        for col in self.columns:
            for alias in (col.name, *col.aliases):
                out.setdefault(fold(alias), col.name)
        return out


_BOOL_TRUE = ("true", "t", "1", "1.0", "yes", "y", "có", "co", "x", "đúng", "v")
_BOOL_FALSE = ("false", "f", "0", "0.0", "no", "n", "không", "khong", "k", "sai")
#: Folded spelling → boolean, for boolean cells (blank means ``False``).
BOOL_VALUES: dict[str, bool] = {fold(v): True for v in _BOOL_TRUE} | {fold(v): False for v in _BOOL_FALSE}

_KIND_ALIASES = {
    "phường": "ward",
    "xã": "commune",
    "đặc khu": "special_zone",
    "special zone": "special_zone",
}
_BLOC_ALIASES = {
    "đảng": "party",
    "khối đảng": "party",
    "đảng, đoàn thể": "party",
    "khối đảng, đoàn thể": "party",
    "đảng đoàn thể": "party",
    "chính quyền": "government",
    "khối chính quyền": "government",
    "gov": "government",
}
_CATEGORY_ALIASES = {
    "cán bộ": "cadre",
    "công chức": "civil_servant",
    "civil servant": "civil_servant",
    "viên chức": "public_employee",
    "public employee": "public_employee",
    "người hoạt động không chuyên trách": "part_time_worker",
    "không chuyên trách": "part_time_worker",
    "part time worker": "part_time_worker",
    "hđkct": "part_time_worker",
}
_DEPARTMENT_ALIASES = {
    "văn phòng hđnd và ubnd": "dept_office",
    "văn phòng hđnd ubnd": "dept_office",
    "vp hđnd và ubnd": "dept_office",
    "vp hđnd ubnd": "dept_office",
    "phòng kinh tế": "dept_economy",
    "phòng kt": "dept_economy",
    "phòng kt-ht-đt": "dept_economy_urban",
    "phòng kinh tế, hạ tầng và đô thị": "dept_economy_urban",
    "phòng kinh tế hạ tầng đô thị": "dept_economy_urban",
    "phòng vh-xh": "dept_culture_social",
    "phòng văn hóa - xã hội": "dept_culture_social",
    "phòng văn hóa xã hội": "dept_culture_social",
    "ttpvhcc": "public_service_center",
    "trung tâm phục vụ hành chính công": "public_service_center",
    "bchqs": "military_command",
    "ban chỉ huy quân sự": "military_command",
    "văn phòng đảng ủy": "party_office",
    "vp đảng ủy": "party_office",
    "ban xây dựng đảng": "party_building_board",
    "cơ quan ubkt": "inspection_office",
    "cơ quan ủy ban kiểm tra": "inspection_office",
    "ubmttq": "fatherland_front",
    "ủy ban mặt trận tổ quốc": "fatherland_front",
    "mặt trận tổ quốc": "fatherland_front",
}
_GENDER_ALIASES = {"nữ": "F", "nam": "M", "female": "F", "male": "M"}
_RELATION_ALIASES = {
    "vợ": "spouse",
    "chồng": "spouse",
    "vợ chồng": "spouse",
    "vợ/chồng": "spouse",
    "cha": "parent",
    "mẹ": "parent",
    "bố": "parent",
    "cha mẹ": "parent",
    "bố mẹ": "parent",
    "con": "child",
    "con đẻ": "child",
    "anh": "sibling",
    "chị": "sibling",
    "em": "sibling",
    "anh chị em": "sibling",
    "anh em": "sibling",
    "chị em": "sibling",
    "anh chị em ruột": "sibling",
    "in law": "in_law",
    "thông gia": "in_law",
    "thông gia (dâu, rể)": "in_law",
    "con dâu": "in_law",
    "con rể": "in_law",
    "dâu": "in_law",
    "rể": "in_law",
    "bố vợ": "in_law",
    "mẹ vợ": "in_law",
    "bố chồng": "in_law",
    "mẹ chồng": "in_law",
}
_MODE_ALIASES = {
    "cố định": "fix",
    "giữ": "fix",
    "chỉ định": "fix",
    "bố trí": "fix",
    "cấm": "forbid",
    "không bố trí": "forbid",
    "loại trừ": "forbid",
}

_UNIT_ID = ("mã đvhc", "mã đơn vị", "ma dvhc", "code", "mã")
_POSITION = ("vị trí việc làm", "vị trí", "vtvl", "chức vụ")


def _enum(name: str, choices: tuple[str, ...], aliases: Mapping[str, str], *names: str) -> ColumnSpec:
    return ColumnSpec(name, "enum", choices=choices, value_aliases=aliases, aliases=names)


UNITS = TableSpec(
    "units",
    (
        ColumnSpec("unit_id", "id", unique=True, aliases=_UNIT_ID),
        ColumnSpec("name", "text", aliases=("tên đơn vị", "tên", "tên đvhc")),
        _enum("kind", KINDS, _KIND_ALIASES, "loại đơn vị", "loại đvhc", "loại hình"),
        ColumnSpec("lat", "float", lo=-90, hi=90, decimal_comma=True, aliases=("vĩ độ", "latitude")),
        ColumnSpec(
            "lon",
            "float",
            lo=-180,
            hi=180,
            decimal_comma=True,
            aliases=("kinh độ", "longitude", "lng"),
        ),
        ColumnSpec("population", "float", required=False, nullable=True, lo=0, hi=1e9, aliases=("dân số",)),
        ColumnSpec(
            "area_km2",
            "float",
            required=False,
            nullable=True,
            lo=0,
            hi=1e7,
            lo_strict=True,
            aliases=("diện tích", "diện tích km2", "area"),
        ),
        ColumnSpec("island", "bool", required=False, nullable=True, aliases=("hải đảo", "đảo")),
    ),
)

POSTS = TableSpec(
    "posts",
    (
        ColumnSpec("unit_id", "id", aliases=_UNIT_ID),
        _enum("bloc", BLOCS, _BLOC_ALIASES, "khối"),
        _enum("department", DEPARTMENTS, _DEPARTMENT_ALIASES, "phòng ban", "cơ quan"),
        ColumnSpec("position", "text", aliases=_POSITION),
        _enum("category", CATEGORIES, _CATEGORY_ALIASES, "loại", "loại cán bộ", "đối tượng"),
        ColumnSpec("min", "int", lo=0, hi=100_000, aliases=("tối thiểu", "số tối thiểu")),
        ColumnSpec("max", "int", lo=0, hi=100_000, aliases=("biên chế", "tối đa", "số tối đa")),
        ColumnSpec(
            "leadership",
            "bool",
            required=False,
            nullable=True,
            aliases=("lãnh đạo", "lãnh đạo quản lý"),
        ),
        ColumnSpec(
            "non_local",
            "bool",
            required=False,
            nullable=True,
            aliases=(
                "không là người địa phương",
                "không phải người địa phương",
                "ngoài địa phương",
            ),
        ),
    ),
    key=("unit_id", "bloc", "department", "position", "category"),
)

STAFF = TableSpec(
    "staff",
    (
        ColumnSpec("staff_id", "id", unique=True, aliases=("mã cán bộ", "mã cb", "mã nhân sự", "mã số")),
        ColumnSpec("full_name", "text", aliases=("họ và tên", "họ tên")),
        ColumnSpec("birth_date", "date", aliases=("ngày sinh", "ngày tháng năm sinh")),
        _enum("gender", GENDERS, _GENDER_ALIASES, "giới tính"),
        _enum("category", CATEGORIES, _CATEGORY_ALIASES, "loại", "loại cán bộ", "đối tượng"),
        _enum("bloc", BLOCS, _BLOC_ALIASES, "khối"),
        ColumnSpec("positions", "list", aliases=(*_POSITION, "các vị trí")),
        ColumnSpec("grade", "text", required=False, nullable=True, aliases=("ngạch",)),
        ColumnSpec(
            "former_unit",
            "text",
            nullable=True,
            aliases=("đơn vị cũ", "đơn vị công tác cũ", "nơi công tác cũ"),
        ),
        ColumnSpec("origin_unit", "id", aliases=("đơn vị gốc", "mã đvhc gốc", "đơn vị tiếp nhận")),
        ColumnSpec(
            "home_lat",
            "float",
            required=False,
            nullable=True,
            lo=-90,
            hi=90,
            decimal_comma=True,
            aliases=("vĩ độ nhà", "vĩ độ nơi ở", "vĩ độ"),
        ),
        ColumnSpec(
            "home_lon",
            "float",
            required=False,
            nullable=True,
            lo=-180,
            hi=180,
            decimal_comma=True,
            aliases=("kinh độ nhà", "kinh độ nơi ở", "kinh độ"),
        ),
        ColumnSpec(
            "home_unit",
            "text",
            required=False,
            nullable=True,
            aliases=(
                "nơi ở",
                "nơi cư trú",
                "nơi ở hiện nay",
                "nơi thường trú",
                "địa chỉ",
                "địa chỉ nơi ở",
                "đơn vị nơi ở",
                "xã phường nơi ở",
                "phường xã nơi ở",
                "home",
            ),
        ),
        ColumnSpec(
            "local_units",
            "list",
            required=False,
            nullable=True,
            aliases=("đơn vị địa phương", "địa phương"),
        ),
        ColumnSpec(
            "island_ok",
            "bool",
            required=False,
            nullable=True,
            aliases=(
                "ra đảo",
                "tình nguyện ra đảo",
                "hải đảo",
                "đồng ý ra đảo",
                "đồng ý công tác hải đảo",
                "tình nguyện công tác hải đảo",
                "sẵn sàng ra đảo",
            ),
        ),
        ColumnSpec("preferences", "list", required=False, nullable=True, aliases=("nguyện vọng",)),
    ),
)

RELATIONS_TABLE = TableSpec(
    "relations",
    (
        ColumnSpec("staff_id", "id", aliases=("mã cán bộ", "mã cb")),
        ColumnSpec("relative_id", "id", aliases=("mã người thân", "mã cán bộ người thân")),
        _enum("relation", RELATIONS, _RELATION_ALIASES, "quan hệ"),
    ),
    optional=True,
)

PINS = TableSpec(
    "pins",
    (
        ColumnSpec("staff_id", "id", aliases=("mã cán bộ", "mã cb")),
        ColumnSpec("unit_id", "id", aliases=_UNIT_ID),
        ColumnSpec("position", "text", required=False, nullable=True, aliases=_POSITION),
        _enum("mode", PIN_MODES, _MODE_ALIASES, "chế độ", "hình thức"),
        ColumnSpec("note", "text", required=False, nullable=True, aliases=("ghi chú",)),
    ),
    optional=True,
)

#: Every input table, in the order they are read and reported.
TABLES: dict[str, TableSpec] = {t.name: t for t in (UNITS, POSTS, STAFF, RELATIONS_TABLE, PINS)}
