"""``staffplan synth``: generate a synthetic roster and staffing tables for given units."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import rich_click as click

from optimizer.cli.common import bad_input_exits
from optimizer.i18n import t

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {"csv": ("csv",), "xlsx": ("xlsx",), "both": ("csv", "xlsx")}


@click.command("synth")
@click.option(
    "--units",
    "units_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="STAFFPLAN_UNITS",
    help="Units table (CSV, contract columns). Default: units.csv in $STAFFPLAN_HCMC_DATA, "
    "else the shipped data/hcmc/units.csv next to the source tree, else ./data/hcmc/units.csv.",
)
@click.option(
    "--former-units",
    "former_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pre-merger units (old_name, old_district, new_unit_name) used for former_unit. "
    "Default with the shipped units: data/hcmc/hcmc_former_units.csv; otherwise invented names.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the tables to (created if needed).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same files.")
@click.option(
    "--party",
    type=click.IntRange(min=1),
    default=3878,
    show_default=True,
    help="People in the Party/mass bloc.",
)
@click.option(
    "--government",
    type=click.IntRange(min=1),
    default=12119,
    show_default=True,
    help="People in the government bloc.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default="both",
    show_default=True,
    help="CSV files, one workbook (tables.xlsx), or both.",
)
@click.option(
    "--units-from-hcmc",
    "hcmc_raw",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Only convert the research table hcmc_units_2025.csv into OUT/units.csv "
    "(this is how data/hcmc/units.csv is made) and stop.",
)
@click.option(
    "--shape",
    "shape_name",
    help="Generate a whole province of a named shape (units, tables and scenario.toml) "
    "instead of a roster for given units; `--shape list` lists the shapes.",
)
@click.option(
    "--people",
    type=click.IntRange(min=300),
    default=1000,
    show_default=True,
    help="People in a --shape province (e.g. 1000, 7000, 16000).",
)
@bad_input_exits
def synth(
    units_path: Path | None,
    former_path: Path | None,
    out_dir: Path,
    seed: int,
    party: int,
    government: int,
    fmt: str,
    hcmc_raw: Path | None,
    shape_name: str | None,
    people: int,
) -> None:
    """Generate a synthetic roster and staffing tables for given units.

    Writes units, posts (calibrated on HCMC 2025: surplus in office and service desks,
    shortage in health, IT, land, construction and finance), posts_transition (keeps
    everyone), posts_norm2030 (the raw norm), staff, relations and pins, deterministic
    by --seed. With --units-from-hcmc, only converts the HCMC research table.

    \b
    Examples:
      staffplan synth --out scenarios/hcmc-2025/generated --seed 0
      staffplan synth --units my_units.csv --party 900 --government 2800 --out out/
      staffplan synth --units-from-hcmc data/hcmc/hcmc_units_2025.csv --out data/hcmc
      staffplan synth --shape pinned-relatives-any --people 7000 --out provinces/pra-7k
    """
    from optimizer import synth as gen
    from optimizer.errors import InputError, Issue
    from optimizer.io.places import shipped_data_dir

    if shape_name is not None:
        _write_shape(shape_name, people, out_dir, seed, FORMATS[fmt])
        return

    if hcmc_raw is not None:
        units = gen.units_from_hcmc(gen.read_hcmc_units(hcmc_raw))
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "units.csv"
        gen.write_csv(units, path)
        kinds = ", ".join(f"{k} {n}" for k, n in units["kind"].value_counts().sort_index().items())
        click.echo(t("synth.wrote_units", path=path, count=len(units), kinds=kinds))
        return

    if units_path is None:
        folder = shipped_data_dir()
        if folder is None:
            raise InputError(
                [
                    Issue(
                        file="--units",
                        message=t("synth.no_default_units"),
                        hint=t("synth.no_default_units_hint"),
                    )
                ]
            )
        units_path = folder / "units.csv"
        if former_path is None and (folder / "hcmc_former_units.csv").is_file():
            former_path = folder / "hcmc_former_units.csv"
    units = gen.read_units(units_path)
    former = gen.read_former_units(former_path) if former_path is not None else None
    tables = gen.synthesize(units, party=party, government=government, seed=seed, former_units=former)
    for path in gen.write_tables(tables, out_dir, FORMATS[fmt]):
        click.echo(t("synth.wrote", path=path))
    _print_summary(tables, seed)


def _write_shape(name: str, people: int, out_dir: Path, seed: int, formats: tuple[str, ...]) -> None:
    """Write a province of the named shape (or list the shapes)."""
    from optimizer.errors import InputError, Issue
    from optimizer.shapes import SHAPES, write_province

    if name == "list":
        for shape in SHAPES.values():
            click.echo(f"{shape.name:30} {shape.description}")
        return
    if name not in SHAPES:
        raise InputError(
            [
                Issue(
                    file="--shape",
                    value=name,
                    message=t("synth.unknown_shape"),
                    hint=t("synth.unknown_shape_hint", shapes=", ".join(SHAPES)),
                )
            ]
        )
    for path in write_province(SHAPES[name], people, out_dir, seed, ("csv", *formats)):
        click.echo(t("synth.wrote", path=path))


def _print_summary(tables: Mapping[str, pd.DataFrame], seed: int) -> None:
    """Counts per bloc and category, post lines, pins, relations and the mismatch."""
    from optimizer.synth import position_balance

    staff = tables["staff"]
    click.echo(t("synth.summary_title", seed=seed, units=len(tables["units"]), people=len(staff)))
    for bloc, group in staff.groupby("bloc", sort=False):
        cats = group["category"].value_counts()
        text = ", ".join(f"{t(f'synth.category.{c}')} {n}" for c, n in cats.items())
        click.echo(t("synth.summary_bloc", bloc=t(f"synth.bloc.{bloc}"), count=len(group), categories=text))
    for name in ("posts", "posts_transition", "posts_norm2030"):
        posts = tables[name]
        click.echo(
            t(
                "synth.summary_posts",
                table=name,
                lines=len(posts),
                min=int(posts["min"].sum()),
                max=int(posts["max"].sum()),
            )
        )
    pins = tables["pins"]
    click.echo(
        t(
            "synth.summary_pins",
            pins=len(pins),
            fix=int((pins["mode"] == "fix").sum()),
            relations=len(tables["relations"]),
        )
    )
    balance = position_balance(tables["posts"], staff)
    click.echo(t("synth.summary_balance"))
    for row in balance[(balance["surplus"] > 0) | (balance["shortage"] > 0)].itertuples():
        click.echo(
            t(
                "synth.summary_balance_row",
                position=row.position,
                people=row.people,
                max=row.max,
                surplus=row.surplus,
                shortage=row.shortage,
            )
        )
    surplus, shortage = int(balance["surplus"].sum()), int(balance["shortage"].sum())
    click.echo(t("synth.summary_balance_total", surplus=surplus, shortage=shortage, net=surplus - shortage))


COMMANDS: list[click.Command] = [synth]
