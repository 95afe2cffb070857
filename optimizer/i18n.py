"""One message catalogue for every user-facing text (Vietnamese default, English).

Messages live in ``optimizer/locale/*.toml``; each file holds tables keyed by message
id with a ``vi`` and an ``en`` string (``str.format`` placeholders).  All files are
merged into one catalogue; a key defined twice is an error caught by the tests.
The language is chosen once per process by the CLI (``--lang``) with :func:`set_lang`;
a server answering readers of both languages at once speaks one request's language with
:func:`speaking` (a context variable, so concurrent requests do not see each other's).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from typing import Literal

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")

_state: dict[str, Lang] = {"lang": "vi"}
_request_lang: ContextVar[Lang | None] = ContextVar("staffplan_request_lang", default=None)


class CatalogueError(RuntimeError):
    """The message catalogue itself is inconsistent (a duplicate or missing key)."""


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Return the merged catalogue ``{key: {"vi": ..., "en": ...}}``."""
    merged: dict[str, dict[str, str]] = {}
    folder = resources.files("optimizer") / "locale"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        table = tomllib.loads(entry.read_text(encoding="utf-8"))
        for key, texts in table.items():
            if key in merged:
                raise CatalogueError(f"message {key!r} defined twice (again in {entry.name})")
            missing = [lang for lang in LANGS if lang not in texts]
            if missing:
                raise CatalogueError(f"message {key!r} in {entry.name} lacks {missing}")
            merged[key] = {lang: str(texts[lang]) for lang in LANGS}
    return merged


def set_lang(lang: str) -> None:
    """Choose the language of every later message (``"vi"`` or ``"en"``)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {LANGS}")
    _state["lang"] = "en" if lang == "en" else "vi"


def get_lang() -> Lang:
    """Return the current language: the one being spoken (:func:`speaking`), else the process's."""
    return _request_lang.get() or _state["lang"]


@contextmanager
def speaking(lang: Lang) -> Iterator[None]:
    """Speak ``lang`` in this context only (one web request), whatever the process's language."""
    token = _request_lang.set(lang)
    try:
        yield
    finally:
        _request_lang.reset(token)


def t(key: str, lang: str | None = None, /, **kwargs: object) -> str:
    """Return message ``key`` in the current (or given) language, formatted with kwargs."""
    texts = catalogue().get(key)
    if texts is None:
        raise CatalogueError(f"unknown message {key!r}")
    return texts[lang or get_lang()].format(**kwargs)
