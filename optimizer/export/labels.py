"""Vietnamese names of codes as printed in the annexes (layer 8).

The names come from :mod:`optimizer.labels` (one name per code for the whole program) and
are always read in Vietnamese: annexes are Vietnamese documents whatever ``--lang`` says.
A code the catalogue does not know (another province's own position, say) is printed as is.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from optimizer.i18n import known, t
from optimizer.labels import enum_label, label, number

#: Annexes are written in this language.
ANNEX_LANG = "vi"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_ROMAN = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)  # fmt: skip


def vi(key: str, **kwargs: object) -> str:
    """Message ``key`` of the catalogue in Vietnamese, formatted with ``kwargs``."""
    return t(key, ANNEX_LANG, **kwargs)


def capitalise(text: str) -> str:
    """Upper-case the first letter only: ``"chuyên viên chính"`` → ``"Chuyên viên chính"``."""
    return text[:1].upper() + text[1:]


def nfc(text: object) -> str:
    """``text`` as an NFC-normalised string without control characters (``""`` if missing).

    Control characters cannot be stored in a Word or Excel file; tabs and line breaks are
    kept.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return _CONTROL.sub("", unicodedata.normalize("NFC", str(text)))


@cache
def code_label(code: str) -> str:
    """Vietnamese name of a bloc, category or unit kind code (``"khối chính quyền"``)."""
    return enum_label(code, ANNEX_LANG)


@cache
def department_label(department: str) -> str:
    """Short Vietnamese name of a department (``"Phòng VH-XH"``), DESIGN §2."""
    return label(department, "department", ANNEX_LANG)


@cache
def position_label(position: str) -> str:
    """Vietnamese name of a position or job position (``"Tài chính"``, ``"Chủ tịch UBND"``)."""
    return label(position, "position", ANNEX_LANG)


@cache
def placed_label(position: str, department: str, leadership: bool) -> str:
    """The "Vị trí bố trí mới" text of a post: the position with its department.

    Parameters
    ----------
    position, department
        Codes of the post line.
    leadership
        The post line is a leadership post.

    Returns
    -------
    str
        ``export.placed.<position>@<department>`` or ``export.placed.<position>`` from the
        catalogue when defined (e.g. ``"Chánh Văn phòng HĐND và UBND"``); else the
        position alone for a leadership post or a position whose name already holds the
        department's (``"Chủ tịch UBND"``, ``"Trợ lý BCHQS"``); else
        ``"<position> (<department>)"`` (``"Tài chính (Phòng KT-HT-ĐT)"``).
    """
    dept = department_label(department)
    for key in (f"export.placed.{position}@{department}", f"export.placed.{position}"):
        if known(key):
            return vi(key, dept=dept)
    label = position_label(position)
    if leadership or dept in label:
        return label
    return vi("export.placed.default", position=label, dept=dept)


def roman(number: int) -> str:
    """Roman numeral of a positive integer: ``14`` → ``"XIV"`` (group and annex numbers)."""
    if number < 1:
        raise ValueError(f"no Roman numeral for {number}")
    out = []
    for value, letters in _ROMAN:
        count, number = divmod(number, value)
        out.append(letters * count)
    return "".join(out)


def thousands(value: int) -> str:
    """An integer with the Vietnamese thousands separator: ``12119`` → ``"12.119"``."""
    return number(value, 0, ANNEX_LANG)
