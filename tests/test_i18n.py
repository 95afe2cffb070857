"""The message catalogue: one message reads only the file that holds it, with the same
text as the whole catalogue; a catalogue file that breaks the header rule is refused."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import pytest

from optimizer import i18n
from optimizer.i18n import CatalogueError, catalogue, known, message, t, text


def _forget() -> None:
    for cached in (i18n._sources, i18n._index, i18n._file, catalogue):
        cached.cache_clear()


@pytest.fixture
def fresh() -> Iterator[None]:
    """Every cache of the catalogue emptied before and after the test."""
    _forget()
    yield
    _forget()


def _files(monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> None:
    """Catalogue files of the test's own instead of the package's."""
    monkeypatch.setattr(i18n, "_sources", lru_cache(maxsize=1)(lambda: files))


def test_one_message_reads_only_its_file(fresh: None) -> None:
    assert t("io.person_no_post", "en") == catalogue()["io.person_no_post"]["en"]
    _forget()
    t("io.person_no_post", "vi")
    assert i18n._file.cache_info().currsize == 1
    assert catalogue.cache_info().currsize == 0
    assert known("label.category.civil_servant")
    assert i18n._file.cache_info().currsize == 1  # known() parses nothing


def test_every_message_is_the_catalogue_s(fresh: None) -> None:
    """Looked up one by one from cold caches, each key gives the whole catalogue's texts."""
    whole = {key: dict(texts) for key, texts in catalogue().items()}
    _forget()
    for key, texts in whole.items():
        assert known(key)
        assert message(key) == texts
        assert text(key, "en") == texts["en"]
    assert set(i18n._index()) == set(whole)


def test_unknown_message(fresh: None) -> None:
    assert not known("io.no_such_message")
    assert message("io.no_such_message") is None
    with pytest.raises(CatalogueError, match="unknown message"):
        t("io.no_such_message")


A = '["a.one"]\nvi = "một"\nen = "one"\n\n["a.two"]  # a comment\nvi = "hai {n}"\nen = "two {n}"\n'
B = '["b.one"]\nvi = "một"\nen = "one"\n'


def test_messages_of_a_test_catalogue(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _files(monkeypatch, {"a.toml": A, "b.toml": B})
    assert t("a.two", "vi", n=2) == "hai 2"
    assert t("b.one", "en") == "one"
    assert list(catalogue()) == ["a.one", "a.two", "b.one"]


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"a.toml": A, "b.toml": B + A.split("\n\n")[0]}, "'a.one' defined twice"),
        ({"a.toml": A, "b.toml": '"b.two" = { vi = "hai", en = "two" }\n' + B}, "header line"),
        ({"a.toml": A, "b.toml": B + '["b.two"]\nvi = """\n["b.three"]\n"""\nen = "two"\n'}, "header line"),
        ({"a.toml": A, "b.toml": B + '["b.two"]\nvi = "hai"\n'}, r"'b.two' in b.toml lacks \['en'\]"),
    ],
    ids=["twice", "no-header", "header-in-a-string", "one-language"],
)
def test_a_broken_catalogue_is_refused(
    fresh: None, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], match: str
) -> None:
    _files(monkeypatch, files)
    with pytest.raises(CatalogueError, match=match):
        catalogue()
    # a message of the broken file is refused too, never read wrongly
    _forget()
    with pytest.raises(CatalogueError, match=match):
        message("b.one")
