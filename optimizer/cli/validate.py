"""``staffplan validate``: check a scenario's inputs and report every problem at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from optimizer.cli.common import bad_input_exits, guard_outputs, print_issues, set_option
from optimizer.errors import InputError
from optimizer.i18n import t

if TYPE_CHECKING:
    from optimizer.data import Problem
    from optimizer.io import Scenario


def _counts(codes: Iterable[str], order: Iterable[str]) -> str:
    """``"label n, label n"`` in the given order, skipping codes that do not occur."""
    from optimizer.labels import enum_label

    counter = Counter(codes)
    return ", ".join(f"{enum_label(c)} {counter[c]}" for c in order if counter[c])


def summary_lines(scenario: Scenario, problem: Problem, num_warnings: int) -> list[str]:
    """The summary ``staffplan validate`` prints for valid input, one line per fact.

    Parameters
    ----------
    scenario
        The loaded scenario.
    problem
        The problem built from it.
    num_warnings
        How many warnings validation produced.
    """
    from optimizer.data import BLOCS, CATEGORIES, KINDS, PIN_MODES
    from optimizer.io.tables import display_path

    staff, posts = problem.staff, problem.posts
    return [
        t("io.summary.scenario", name=scenario.name, path=display_path(scenario.path)),
        t("io.summary.units", count=problem.num_units, detail=_counts(problem.units.kinds, KINDS)),
        t("io.summary.people", count=problem.num_staff, detail=_counts(staff.bloc, BLOCS)),
        t("io.summary.categories", detail=_counts(staff.category, CATEGORIES)),
        t(
            "io.summary.posts",
            count=problem.num_posts,
            min=int(posts.min.sum()),
            max=int(posts.max.sum()),
        ),
        t(
            "io.summary.pins",
            count=len(problem.pins),
            detail=_counts(problem.pins.mode, PIN_MODES) or "-",
        ),
        t("io.summary.relations", count=len(problem.relations)),
        t("io.summary.warnings", count=num_warnings),
    ]


@click.command("validate")
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@set_option
@click.option(
    "--errors-xlsx",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write every problem to this Excel file (sheet 'Lỗi'), for planners to fix.",
)
@bad_input_exits
def validate(scenario: Path, overrides: tuple[str, ...], errors_xlsx: Path | None) -> None:
    """Check the input tables of SCENARIO and report every problem at once.

    Exit code 0 with a summary when the input is usable (warnings are listed), 2 with the
    list of problems (file, sheet, row, column, value, what to do) when it is not.
    """
    from optimizer import service

    checked = service.validate(scenario, overrides)
    if checked.valid and checked.warnings:
        print_issues(list(checked.warnings))
    if errors_xlsx is not None:
        from optimizer.io.scenario import scenario_input_files

        try:
            with guard_outputs(None, inputs=scenario_input_files(scenario)):
                service.write_issues(checked.issues, errors_xlsx)
        except InputError as write_error:  # report both: the input's problems and the sheet's
            raise InputError([*checked.issues, *write_error.issues]) from None
        click.echo(t("io.summary.errors_written", path=str(errors_xlsx)), err=True)
    if not checked.valid:
        raise InputError(list(checked.issues))
    assert checked.scenario is not None and checked.problem is not None
    for line in summary_lines(checked.scenario, checked.problem, len(checked.warnings)):
        click.echo(line)
    click.echo(t("io.summary.ok"))


COMMANDS: list[click.Command] = [validate]
