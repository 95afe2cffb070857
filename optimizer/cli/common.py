"""Helpers shared by the CLI commands: printing input problems and exit codes."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click
from rich.console import Console

from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.labels import parse_day

if TYPE_CHECKING:
    pass

P = ParamSpec("P")
R = TypeVar("R")

#: Width of printed tables when the output is not a terminal (a file or a pipe).
NON_TERMINAL_WIDTH = 160

EXIT_INFEASIBLE = 1
EXIT_BAD_INPUT = 2


def format_issue(issue: Issue) -> str:
    """One line per issue: severity, location, value, what is wrong, what to do."""
    label = t("cli.error") if issue.severity == "error" else t("cli.warning")
    value = f" [{issue.value}]" if issue.value != "" else ""
    hint = f" → {issue.hint}" if issue.hint else ""
    return f"{label} {issue.location()}{value}: {issue.message}{hint}"


def print_issues(issues: list[Issue]) -> None:
    """Print issues to standard error, errors first, then a count."""
    for issue in issues:
        click.echo(format_issue(issue), err=True)
    n_err = sum(i.severity == "error" for i in issues)
    n_warn = len(issues) - n_err
    click.echo(t("cli.issue_count", errors=n_err, warnings=n_warn), err=True)


def bad_input_exits(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`InputError` raised by a command into the problem list and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            print_issues(exc.issues)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper


#: The ``--set KEY=VALUE`` option (repeatable) of the commands that load a scenario;
#: the command receives ``overrides``.
set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a scenario key, e.g. --set rules.max_commute_km=20 (repeatable).",
)

#: The ``--store PATH`` option (envvar ``STAFFPLAN_STORE``); the command gets ``store_path``.
store_option = click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="STAFFPLAN_STORE",
    show_envvar=True,
    default=None,
    help="Run store file (SQLite). Default: ./staffplan.db.",
)


class Day(click.ParamType):
    """A date option: ``dd/mm/yyyy`` (as planners write it) or ISO ``yyyy-mm-dd``."""

    name = "date"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        """The date written, or a usage error in the planner's language."""
        if isinstance(value, dt.date):
            return value
        day = parse_day(str(value))
        if day is None:
            self.fail(t("cli.bad_date", value=value), param, ctx)
        return day


def console(*, stderr: bool = False) -> Console:
    """A rich console for tables: as wide as the terminal, or :data:`NON_TERMINAL_WIDTH`
    columns when the output is a file or a pipe (not 80, which squeezes the tables)."""
    out = Console(highlight=False, stderr=stderr)
    return out if out.is_terminal else Console(highlight=False, stderr=stderr, width=NON_TERMINAL_WIDTH)
