"""A reason as data: a code and its parameters, rendered in the reader's language (layer 2).

Rules, the solver's unplaced reasons and the explanations say *why* with a
:class:`Reason` — a stable code (``commute_cap``, ``relatives_leadership``, ``full``…)
and JSON-able parameters (names, numbers) — instead of a sentence.  The sentence is made
only when a reader sees it, by :func:`render`, from the catalogue key ``rule.<code>``
(``optimizer/locale/rules.toml``), so a reason stored by a run solved in one language
reads right in the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optimizer.i18n import get_lang, t
from optimizer.labels import CodeKind, label, number

#: Separator of the entries of the ``items`` parameter (the units of an unplaced
#: reason); other lists are joined with a comma.
_ITEM_SEP = "; "


@dataclass(frozen=True)
class Reason:
    """Why, as data: a code (the catalogue key ``rule.<code>``) and its parameters.

    Parameters are JSON values: text, numbers, booleans, nested reasons (as
    :meth:`to_dict` dictionaries) and lists of them.  A float parameter is shown with
    at most one decimal in the reader's style (``31,5`` in Vietnamese); the codes of
    :data:`CODE_PARAMS` (positions, categories, blocs) by their names.
    """

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, lang: str | None = None) -> str:
        """The sentence in ``lang`` (the current language by default)."""
        return render(self, lang)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dictionary ``{"code": ..., "params": {...}}``."""
        return {"code": self.code, "params": dict(self.params)}

    def to_json(self) -> str:
        """The reason as a compact JSON text (what a store keeps)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        """The reason of a :meth:`to_dict` dictionary."""
        return cls(str(data["code"]), dict(data.get("params", {})))

    @classmethod
    def from_json(cls, text: str) -> Reason:
        """The reason of a :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))


#: Parameters that hold codes, shown by their names (:func:`optimizer.labels.label`).
CODE_PARAMS: dict[str, CodeKind] = {
    "position": "position",
    "positions": "position",
    "category": "category",
    "bloc": "bloc",
}


def _value(value: Any, lang: str, kind: CodeKind | None = None) -> str:
    """One parameter as shown in ``lang``; ``kind`` when it holds codes."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return number(value, 0 if value.is_integer() else 1, lang)
    if isinstance(value, Mapping) and "code" in value:
        return render(Reason.from_dict(value), lang)
    if isinstance(value, list | tuple):
        return ", ".join(_value(v, lang, kind) for v in value)
    if kind is not None:
        return label(value, kind, lang)
    return str(value)


def render(reason: Reason, lang: str | None = None) -> str:
    """The sentence of ``reason`` in ``lang`` (the current language by default).

    Parameters
    ----------
    reason
        The code and its parameters.
    lang
        ``"vi"`` or ``"en"``; the session's language when ``None``.
    """
    lang = lang or get_lang()
    args = {
        name: _ITEM_SEP.join(_value(v, lang) for v in value)
        if name == "items"
        else _value(value, lang, CODE_PARAMS.get(name))
        for name, value in reason.params.items()
    }
    return t(f"rule.{reason.code}", lang, **args)
