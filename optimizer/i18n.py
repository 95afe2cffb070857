"""One message catalogue for every user-facing text (Vietnamese default, English).

Messages live in ``optimizer/locale/*.toml``; each file holds tables keyed by message
id with a ``vi`` and an ``en`` string (``str.format`` placeholders), each table opened by
a header line of its own, ``["key"]``.  All files are merged into one catalogue
(:func:`catalogue`); a key defined twice, a message without both languages, or a
message not opened by such a header line is an error caught by the tests.
A single message (:func:`t`, :func:`message`, :func:`known`) reads only the file that
holds it: the header lines of all the files, found by one search of their text, say
which (parsing all sixteen files costs 0.05-0.1 s, one file a few ms).
The language is chosen once per process by the CLI (``--lang``) with :func:`set_lang`;
a server answering readers of both languages at once speaks one request's language with
:func:`speaking` (a context variable, so concurrent requests do not see each other's).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from itertools import zip_longest
from pathlib import Path
from typing import Literal

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")

_state: dict[str, Lang] = {"lang": "vi"}
_request_lang: ContextVar[Lang | None] = ContextVar("staffplan_request_lang", default=None)

#: A message's header line: ``["key"]`` alone on its line, a comment allowed after it.
_HEADER = re.compile(r'^\["([^"\\\n]*)"\][ \t]*(?:#.*)?$', re.MULTILINE)


class CatalogueError(RuntimeError):
    """The message catalogue itself is inconsistent (a duplicate or missing key)."""


@lru_cache(maxsize=1)
def _sources() -> dict[str, str]:
    """The text of each catalogue file, by file name, in name order."""
    folder = Path(__file__).with_name("locale")
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.toml"))}


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    """The file that holds each message, by key, from the files' header lines."""
    where: dict[str, str] = {}
    for name, text in _sources().items():
        for key in _HEADER.findall(text):
            if key in where:
                raise CatalogueError(f"message {key!r} defined twice (again in {name})")
            where[key] = name
    return where


@cache
def _file(name: str) -> dict[str, dict[str, str]]:
    """The messages of one catalogue file, checked: both languages in each, and each
    opened by its own header line (what :func:`_index` relies on)."""
    text = _sources()[name]
    table = tomllib.loads(text)
    headed = _HEADER.findall(text)
    if list(table) != headed:
        parsed, found = next((k, h) for k, h in zip_longest(table, headed) if k != h)
        raise CatalogueError(
            f'{name}: each message must open with its own header line, ["key"] alone on the line '
            f"(message {parsed!r} against header {found!r})"
        )
    messages: dict[str, dict[str, str]] = {}
    for key, texts in table.items():
        missing = [lang for lang in LANGS if lang not in texts]
        if missing:
            raise CatalogueError(f"message {key!r} in {name} lacks {missing}")
        messages[key] = {lang: str(texts[lang]) for lang in LANGS}
    return messages


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """Return the merged catalogue ``{key: {"vi": ..., "en": ...}}`` (every file read)."""
    merged: dict[str, dict[str, str]] = {}
    for name in _sources():
        for key, texts in _file(name).items():
            if key in merged:
                raise CatalogueError(f"message {key!r} defined twice (again in {name})")
            merged[key] = texts
    return merged


def message(key: str) -> dict[str, str] | None:
    """Message ``key`` in every language (``{"vi": ..., "en": ...}``), ``None`` when the
    catalogue has no such key: the same as ``catalogue().get(key)``, reading one file."""
    name = _index().get(key)
    return None if name is None else _file(name)[key]


def known(key: str) -> bool:
    """Whether the catalogue has message ``key`` (``key in catalogue()``, reading no file)."""
    return key in _index()


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


def text(key: str, lang: str | None = None, /) -> str:
    """Return message ``key`` in the current (or given) language as written (unformatted)."""
    texts = message(key)
    if texts is None:
        raise CatalogueError(f"unknown message {key!r}")
    return texts[lang or get_lang()]


def t(key: str, lang: str | None = None, /, **kwargs: object) -> str:
    """Return message ``key`` in the current (or given) language, formatted with kwargs."""
    return text(key, lang).format(**kwargs)
