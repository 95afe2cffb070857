"""``--help`` in the planner's language: every help text, and click's own words, from the catalogue.

Help texts live in ``optimizer/locale/help.toml``: ``help.cmd.<path>`` for a command
(``help.cmd.main``, ``help.cmd.run``, ``help.cmd.users.add``) and ``help.opt.<path>.<option>``,
else ``help.opt.<option>``, for an option.  :func:`localise` writes them onto the command tree
in one language; the CLI calls it when the program starts (language from ``--lang`` on the
command line, else ``STAFFPLAN_LANG``, else Vietnamese) and again when ``--lang`` is parsed,
so that ``staffplan --lang en run --help`` is English.  click's own words ("Usage:",
"Options", "Show this message and exit.", its error messages) go through the same catalogue
(``click.*``, whose English text is click's message itself).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Sequence

import click

from optimizer.i18n import LANGS, get_lang, known, message, text

#: click's messages translated, msgid → catalogue key (the key's ``en`` is the msgid).
CLICK_WORDS = {
    "Show this message and exit.": "click.help_option",
    "Show the version and exit.": "click.version_option",
    "Usage:": "click.usage",
    "Options": "click.options",
    "Commands": "click.commands",
    "Arguments": "click.arguments",
    "Positional arguments": "click.positional",
    "Error": "click.error_title",
    "Error: {message}": "click.error",
    "Try '{command} {option}' for help.": "click.try_help",
    "Missing argument": "click.missing_argument",
    "Missing option": "click.missing_option",
    "Missing parameter": "click.missing_parameter",
    "Missing command.": "click.missing_command",
    "No such option {name!r}.": "click.no_such_option",
    "No such command {name!r}.": "click.no_such_command",
    "Invalid value: {message}": "click.invalid_value",
    "Invalid value for {param_hint}: {message}": "click.invalid_value_for",
    "default: {default}": "click.default",
    "env var: {var}": "click.env_var",
    "Aborted!": "click.aborted",
}

#: Attribute keeping the help text a command or option was written with in the code.
SOURCE_HELP = "source_help"

#: The rich-click panel titles, by the click word each one shows.
_RICH_TITLES = {
    "OPTIONS_PANEL_TITLE": "Options",
    "COMMANDS_PANEL_TITLE": "Commands",
    "ARGUMENTS_PANEL_TITLE": "Arguments",
    "ERRORS_PANEL_TITLE": "Error",
}


def click_word(msgid: str) -> str:
    """click's message ``msgid`` in the current language (unformatted, as gettext returns it)."""
    key = CLICK_WORDS.get(msgid)
    texts = message(key) if key else None
    return msgid if texts is None else texts[get_lang()]


def commands(group: click.Command, path: str = "main") -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree with its path (``"main"``, ``"run"``, ``"users.add"``)."""
    yield path, group
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            yield from commands(group.commands[name], name if path == "main" else f"{path}.{name}")


def option_key(path: str, name: str) -> str | None:
    """The catalogue key of an option's help: the command's own, else the shared one."""
    for key in (f"help.opt.{path}.{name}", f"help.opt.{name}"):
        if known(key):
            return key
    return None


def localise(root: click.Command, lang: str) -> None:
    """Write the help texts of ``lang`` onto every command and option of ``root``'s tree.

    Commands and options the catalogue does not name keep their own text (a test checks
    that there are none).
    """
    for path, command in commands(root):
        texts = message(f"help.cmd.{path}")
        if texts is not None:
            _keep_source(command)
            command.help = texts[lang]
            command.short_help = None
        cached = getattr(command, "_help_option", None)  # click and rich-click keep it once made
        if isinstance(cached, click.Option):
            cached.help = text(CLICK_WORDS["Show this message and exit."], lang)
        for param in command.params:
            if isinstance(param, click.Option) and param.name:
                opt = option_key(path, param.name)
                if opt is not None:
                    _keep_source(param)
                    param.help = text(opt, lang)
    _localise_click()


def _keep_source(item: click.Command | click.Option) -> None:
    """Remember the help text written in the code (the tests compare it with the catalogue)."""
    if not hasattr(item, SOURCE_HELP):
        setattr(item, SOURCE_HELP, inspect.cleandoc(item.help or ""))


def _localise_click() -> None:
    """Route click's own words through :func:`click_word` (idempotent)."""
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import rich_click.decorators
    import rich_click.rich_click as rich_config
    from rich_click.rich_help_formatter import RichHelpFormatter

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser):
        module._ = click_word  # type: ignore[attr-defined]
    rich_click.decorators.gettext = click_word  # type: ignore[attr-defined]
    for name, msgid in _RICH_TITLES.items():
        setattr(rich_config, name, click_word(msgid))
    rich_config.DEFAULT_STRING = "\\[" + click_word("default: {default}").replace("{default}", "{}") + "]"
    if not getattr(RichHelpFormatter.write_usage, "localised", False):
        write_usage: Callable[..., None] = RichHelpFormatter.write_usage

        def usage(self: RichHelpFormatter, prog: str, args: str = "", prefix: str | None = None) -> None:
            write_usage(self, prog, args, click_word("Usage:") if prefix is None else prefix)

        usage.localised = True  # type: ignore[attr-defined]
        RichHelpFormatter.write_usage = usage  # type: ignore[method-assign]


def start_lang(argv: Sequence[str], environ: dict[str, str] | os._Environ[str]) -> str:
    """The language of a command line before click parses it: ``--lang X`` or ``--lang=X``
    ahead of the command, else ``STAFFPLAN_LANG``, else Vietnamese."""
    for k, arg in enumerate(argv):
        if arg == "--lang" and k + 1 < len(argv):
            value = argv[k + 1]
        elif arg.startswith("--lang="):
            value = arg.split("=", 1)[1]
        else:
            continue
        return value if value in LANGS else "vi"
    env = environ.get("STAFFPLAN_LANG", "vi")
    return env if env in LANGS else "vi"
