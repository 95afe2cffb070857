"""``staffplan template``: a ready province to start from (workbook and scenario)."""

from __future__ import annotations

from pathlib import Path

import rich_click as click

from optimizer.cli.common import bad_input_exits
from optimizer.i18n import t


@click.command("template")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite the template files when they exist.")
@bad_input_exits
def template(folder: Path, force: bool) -> None:
    """Write a ready province to start from into FOLDER: a workbook and its scenario.

    The workbook holds the five tables as Vietnamese-headed sheets with example rows that
    validate (four units one of which is an island, relatives, a signed pin, a home given
    as a unit), a sheet of every code with its Vietnamese name, and drop-down lists on the
    coded columns; scenario.toml points at it, every key commented.  `staffplan validate
    FOLDER/scenario.toml` and `staffplan run FOLDER/scenario.toml` work at once.
    """
    from optimizer import service

    written = service.template(folder, force=force)
    click.echo(
        t(
            "template.written",
            folder=str(folder),
            files=", ".join(p.name for p in written.paths),
            scenario=str(written.scenario),
        )
    )


COMMANDS: list[click.Command] = [template]
