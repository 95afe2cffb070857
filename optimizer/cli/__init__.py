"""The ``staffplan`` command line: a thin click layer (parse, call, print, exit code).

Each command group lives in its own module of this package and exposes ``COMMANDS``;
heavy libraries are imported inside the commands so that ``--help`` is instant.
Exit codes: 0 done, 1 infeasible or no solution, 2 bad input.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import rich_click as click

from optimizer import __version__
from optimizer.cli import common, explain, export, runs, serve, solve, sweep, synth, template, validate
from optimizer.cli.help import localise, start_lang
from optimizer.i18n import set_lang, t
from optimizer.localtime import TZ_ENV, set_zone


def _choose_lang(ctx: click.Context, param: click.Parameter, lang: str) -> str:
    """``--lang`` is parsed first (eager): messages and every ``--help`` follow it."""
    set_lang(lang)
    localise(ctx.find_root().command, lang)
    return lang


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the command like Ctrl-C's abort: through the clean-ups (temporary
    files and export work folders removed, the store's transaction rolled back)."""
    raise SystemExit(128 + signum)


def _choose_zone(ctx: click.Context, param: click.Parameter, zone: str | None) -> str | None:
    """``--tz``: the zone times are shown in (checked at once)."""
    try:
        set_zone(zone)
    except ValueError as exc:
        raise click.BadParameter(t("cli.bad_tz", zone=zone), ctx, param) from exc
    return zone


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="staffplan")
@click.option(
    "--lang",
    type=click.Choice(["vi", "en"]),
    default="vi",
    show_default=True,
    envvar="STAFFPLAN_LANG",
    is_eager=True,
    callback=_choose_lang,
    help="Language of messages: Vietnamese (vi) or English (en).",
)
@click.option(
    "--tz",
    default=None,
    envvar=TZ_ENV,
    metavar="ZONE",
    expose_value=False,
    callback=_choose_zone,
    help="Time zone times are shown in (an IANA name); default Asia/Ho_Chi_Minh.",
)
def main(lang: str) -> None:
    """staffplan: place commune-level staff under quotas and rules, explain, export.

    Exit codes: 0 done, 1 infeasible or no solution, 2 bad input.
    """
    set_lang(lang)
    signal.signal(signal.SIGTERM, _terminate)


for _module in (validate, template, synth, solve, runs, export, explain, sweep, serve):
    for _command in _module.COMMANDS:
        main.add_command(_command)

set_lang(start_lang(sys.argv[1:], os.environ))
localise(main, start_lang(sys.argv[1:], os.environ))

__all__ = ["common", "main"]
