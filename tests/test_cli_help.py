"""``--help`` of every command in Vietnamese by default, in English with ``--lang en``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.cli.help import CLICK_WORDS, SOURCE_HELP, commands, option_key, start_lang
from optimizer.i18n import catalogue

STAFFPLAN = Path(sys.executable).with_name("staffplan")


def test_every_command_and_option_has_help_in_both_languages() -> None:
    texts = catalogue()
    missing = []
    for path, command in commands(main):
        if f"help.cmd.{path}" not in texts:
            missing.append(path)
        for param in command.params:
            named = isinstance(param, click.Option) and param.name and param.name != "help"
            if named and option_key(path, str(param.name)) is None:
                missing.append(f"{path} --{param.name}")
    assert missing == [], "add help.cmd.* / help.opt.* keys to optimizer/locale/help.toml"


def test_the_english_help_is_the_text_written_in_the_code() -> None:
    texts = catalogue()
    stale = []
    for path, command in commands(main):
        items: list[tuple[str, object]] = [(f"help.cmd.{path}", command)]
        items += [
            (str(option_key(path, str(p.name))), p)
            for p in command.params
            if isinstance(p, click.Option) and p.name != "help" and option_key(path, str(p.name))
        ]
        for key, item in items:
            source = getattr(item, SOURCE_HELP, None)
            if source is not None and texts[key]["en"] != source:
                stale.append(key)
    assert stale == [], "update en (and vi) of these keys in optimizer/locale/help.toml"


def test_click_words_keep_click_text_as_english() -> None:
    texts = catalogue()
    for msgid, key in CLICK_WORDS.items():
        assert texts[key]["en"] == msgid
        assert texts[key]["vi"] != msgid


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, "vi"),
        (["--lang", "en", "run", "--help"], {}, "en"),
        (["--lang=en", "--help"], {"STAFFPLAN_LANG": "vi"}, "en"),
        (["run", "--help"], {"STAFFPLAN_LANG": "en"}, "en"),
        (["run", "--help"], {"STAFFPLAN_LANG": "fr"}, "vi"),
    ],
)
def test_the_language_is_known_before_parsing(argv: list[str], env: dict[str, str], expected: str) -> None:
    assert start_lang(argv, env) == expected


def test_help_follows_lang_in_process() -> None:
    runner = CliRunner()
    en = runner.invoke(main, ["--lang", "en", "run", "--help"], env={"COLUMNS": "200"})
    assert en.exit_code == 0 and "Solve SCENARIO, store the run" in en.output
    assert "Show this message and exit." in en.output
    vi = runner.invoke(main, ["--lang", "vi", "run", "--help"], env={"COLUMNS": "200"})
    assert vi.exit_code == 0 and "Giải KỊCH BẢN, lưu phương án" in vi.output
    assert "Hiện hướng dẫn này rồi thoát." in vi.output and "Solve SCENARIO" not in vi.output


@pytest.mark.skipif(not STAFFPLAN.exists(), reason="the staffplan script is not installed")
@pytest.mark.parametrize(
    ("argv", "env_lang", "words"),
    [
        (["run", "--help"], None, ("Cách dùng:", "Giải KỊCH BẢN", "Hạt giống ngẫu nhiên")),
        (["--lang", "en", "run", "--help"], None, ("Usage:", "Solve SCENARIO", "Random seed")),
        (["validate", "--help"], "en", ("Usage:", "Check the input tables", "Options")),
        (["--help"], None, ("Tùy chọn", "Lệnh", "Mã thoát")),
        (["users", "add", "--help"], None, ("Thêm người dùng",)),
    ],
)
def test_help_of_the_installed_command(argv: list[str], env_lang: str | None, words: tuple[str, ...]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STAFFPLAN_LANG"} | {"COLUMNS": "200"}
    if env_lang:
        env["STAFFPLAN_LANG"] = env_lang
    out = subprocess.run([str(STAFFPLAN), *argv], capture_output=True, text=True, env=env, check=True).stdout
    for word in words:
        assert word in out
