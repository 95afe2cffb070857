"""``staffplan validate``: check a scenario's inputs and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import click

from optimizer.cli.common import bad_input_exits, print_issues, set_option
from optimizer.errors import InputError
from optimizer.i18n import t


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
        try:
            with service.guard_outputs(None, inputs=service.input_files(scenario)):
                service.write_issues(checked.issues, errors_xlsx)
        except InputError as write_error:  # report both: the input's problems and the sheet's
            raise InputError([*checked.issues, *write_error.issues]) from None
        click.echo(t("io.summary.errors_written", path=str(errors_xlsx)), err=True)
    if not checked.valid:
        raise InputError(list(checked.issues))
    for line in checked.summary():
        click.echo(line)
    click.echo(t("io.summary.ok"))


COMMANDS: list[click.Command] = [validate]
