"""What a planner reads instead of a code, a number or a date (the lowest layer, beside i18n).

Every code the program shows — a position, department, category, bloc, unit kind, pin
mode, run status, objective term, rule id, relation — is shown through :func:`label`,
which reads the message catalogue (``optimizer/locale/labels.toml``: ``label.<kind>.<code>``;
run statuses and objective terms keep their ``store.status.*`` and ``kpi.terms.*`` keys).
A code the catalogue does not know (another province's own position, say) is shown as
written.  Numbers, dates and yes/no follow the language: ``1.234,5`` and ``31/12/2025`` in
Vietnamese, ``1,234.5`` and ``2025-12-31`` in English.

The CLI, the reports, the explanations, the annexes and the web pages all use this module,
so that one code has one name everywhere.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from typing import Literal

from optimizer.i18n import get_lang, known, t

CodeKind = Literal[
    "position",
    "department",
    "category",
    "bloc",
    "kind",
    "mode",
    "status",
    "term",
    "rule",
    "relation",
    "gender",
    "timing",
    "method",
]

#: Catalogue prefix of each kind of code (``label.<kind>`` unless listed).
_PREFIX: dict[str, str] = {"status": "store.status", "term": "kpi.terms"}

_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY_DAY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def label_key(code: str, kind: CodeKind) -> str:
    """The catalogue key naming ``code`` of ``kind`` (whether it exists or not)."""
    return f"{_PREFIX.get(kind, 'label.' + kind)}.{code}"


def has_label(code: str, kind: CodeKind) -> bool:
    """Whether the catalogue names ``code`` of ``kind``."""
    return known(label_key(code, kind))


def label(code: object, kind: CodeKind, lang: str | None = None) -> str:
    """The planner's name of a code, in the current (or given) language.

    Parameters
    ----------
    code
        The code, e.g. ``"civil_servant"`` (``None`` and blanks give ``""``).
    kind
        What the code is, e.g. ``"category"``.
    lang
        ``"vi"`` or ``"en"``; default: the current language.

    Returns
    -------
    str
        e.g. ``"công chức"``; the code itself when the catalogue does not name it.
    """
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return ""
    text = str(code)
    key = label_key(text, kind)
    return t(key, lang) if known(key) else text


#: Kinds of code that share no code with one another, named by :func:`enum_label`.
ENUM_KINDS: tuple[CodeKind, ...] = ("bloc", "category", "kind", "mode")


def enum_label(code: object, lang: str | None = None) -> str:
    """The name of a bloc, category, unit kind or pin mode code (these kinds share no code)."""
    for kind in ENUM_KINDS:
        if has_label(str(code), kind):
            return label(code, kind, lang)
    return label(code, "bloc", lang)


def labels(codes: Iterable[object], kind: CodeKind, lang: str | None = None, sep: str = ", ") -> str:
    """Several codes named and joined (``"Chủ tịch UBND, Tài chính"``)."""
    return sep.join(label(c, kind, lang) for c in codes)


def terms_label(stage: str, lang: str | None = None) -> str:
    """A solver stage ``"shortfall+unplaced"`` as its objective terms' names joined by ``" + "``."""
    return " + ".join(label(term, "term", lang) for term in stage.split("+"))


def yes_no(flag: object, lang: str | None = None) -> str:
    """``"có"``/``"không"`` (``"yes"``/``"no"``)."""
    return t("label.yes" if flag else "label.no", lang)


def relative_gap(value: float, bound: float) -> float:
    """``(value − bound) / |value|`` (against 1 when the value is 0)."""
    return (value - bound) / max(1.0, abs(value))


def gap_decimals(value: float, bound: float, least: int = 2) -> int:
    """Decimals to show a percentage gap with so that it never reads 0 when ``value`` and
    ``bound`` differ: ``least``, or as many as its first significant digit and one more."""
    gap = abs(100 * relative_gap(value, bound))
    if value == bound or round(gap, least) != 0:
        return least
    return max(least, 1 - math.floor(math.log10(gap)))


def gap_percent(value: float, bound: float, least: int = 2, lang: str | None = None) -> str:
    """The relative gap of ``value`` over ``bound`` in per cent, in the language's style,
    with :func:`gap_decimals` decimals (at least ``least``)."""
    return number(100 * relative_gap(value, bound), gap_decimals(value, bound, least), lang)


def number(value: object, digits: int = 0, lang: str | None = None, *, signed: bool = False) -> str:
    """A number with thousands grouped, in the language's style.

    Parameters
    ----------
    value
        Any real number (``None`` and NaN give ``"–"``).
    digits
        Decimals shown.
    lang
        ``"vi"`` (``12.119``, ``16,10``) or ``"en"`` (``12,119``, ``16.10``); default: current.
    signed
        Show ``+`` before a positive number.
    """
    if value is None:
        return "–"
    x = float(value)  # type: ignore[arg-type]
    if not math.isfinite(x):
        return "–"
    x = round(x, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    sign = "+" if signed and x != 0 else ""
    text = f"{x:{sign},.{digits}f}"
    if (lang or get_lang()) == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def km(value: object, lang: str | None = None) -> str:
    """A distance with one decimal and its unit: ``"16,1 km"``."""
    return f"{number(value, 1, lang)} km"


def day(value: dt.date | str | None, lang: str | None = None) -> str:
    """A date as a planner reads it: ``31/12/2025`` (Vietnamese) or ``2025-12-31`` (English).

    A string is parsed first (:func:`parse_day`); ``None`` or an unparsable string is
    returned unchanged (``""`` for ``None``).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        parsed = parse_day(value)
        if parsed is None:
            return value
        value = parsed
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.strftime("%d/%m/%Y") if (lang or get_lang()) == "vi" else value.isoformat()


def parse_day(text: str) -> dt.date | None:
    """A date written ``yyyy-mm-dd`` or ``dd/mm/yyyy`` (also with ``.`` or ``-``), else ``None``."""
    text = text.strip()
    iso = _ISO_DAY.match(text)
    dmy = _DMY_DAY.match(text)
    try:
        if iso:
            return dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        if dmy:
            return dt.date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
    except ValueError:
        return None
    return None
