"""``staffplan export``: the decision annexes of a stored run (xlsx, docx, pdf, csv) or the
draft decision with its annexes (decision)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, cast

import rich_click as click

from optimizer.cli.common import Day, bad_input_exits, store_option
from optimizer.i18n import t

if TYPE_CHECKING:
    from optimizer.export.annex import ExportFormat

#: The formats of ``--format`` (kept equal to ``optimizer.export.annex.FORMATS``, which a
#: test checks; repeated here so that ``--help`` does not import pandas).
FORMAT_CHOICES = ("xlsx", "docx", "pdf", "csv", "decision")


@click.command("export")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="xlsx",
    show_default=True,
    help="xlsx workbook, Word file (docx), PDF made from it by LibreOffice, CSV "
    "(annexes plus placements.csv, unplaced.csv, units.csv), or decision: the draft "
    "Quyết định (Word) with its annexes attached.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Output folder (created if missing).",
)
@click.option("--per-unit", is_flag=True, help="One file per unit instead of one for the city.")
@click.option(
    "--unit",
    "unit_ids",
    multiple=True,
    metavar="UNIT_ID",
    help="Only this unit (its id in the units table); repeatable.",
)
@click.option("--decision-no", default="", help="Decision number, e.g. 15 or 15/QĐ-UBND.")
@click.option(
    "--date",
    "doc_date",
    type=Day(),
    default=None,
    metavar="DD/MM/YYYY",
    help="Decision date, dd/mm/yyyy or YYYY-MM-DD.",
)
@click.option(
    "--issuer",
    default="",
    help="Issuing body, e.g. 'Ủy ban nhân dân Thành phố Hồ Chí Minh' ('|' splits header lines).",
)
@click.option(
    "--signer",
    default="",
    help="Signature block, lines split by '|', the name last, "
    "e.g. 'TM. ỦY BAN NHÂN DÂN|CHỦ TỊCH|Nguyễn Văn A'.",
)
@click.option(
    "--place",
    default="",
    help="Decision only: the place of the date line; default: the issuer's, e.g. 'Thành phố Hồ Chí Minh'.",
)
@click.option(
    "--basis",
    "bases",
    multiple=True,
    metavar="TEXT",
    help="Decision only: a legal basis (căn cứ) line; repeatable; default: the shipped drafts.",
)
@click.option(
    "--recipient",
    "recipients",
    multiple=True,
    metavar="TEXT",
    help="Decision only: a recipient (Nơi nhận) line; repeatable; default: the shipped drafts.",
)
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="An office's own Word template (an annex template for docx and pdf, a decision "
    "template for decision); default: the shipped one.",
)
@click.option(
    "--redact",
    is_flag=True,
    help="Initials and birth year only, for annexes shared outside.",
)
@store_option
@bad_input_exits
def export(
    run_ref: str,
    fmt: str,
    out_dir: Path,
    per_unit: bool,
    unit_ids: tuple[str, ...],
    decision_no: str,
    doc_date: dt.date | None,
    issuer: str,
    signer: str,
    place: str,
    bases: tuple[str, ...],
    recipients: tuple[str, ...],
    template: Path | None,
    redact: bool,
    store_path: Path | None,
) -> None:
    """Write the decision annexes of RUN (a run id, a unique prefix, or 'latest').

    Annex I lists the people placed, grouped by receiving unit; Annex II sums up the
    staffing per unit and bloc and per job position; Annex III lists the surplus people
    by name with the reason.  --format decision writes the draft Quyết định (A4 portrait)
    with the three annexes attached.  Layout per Decree 30/2020 (A4 landscape annexes,
    Times New Roman); every page carries the run id and a check code of the run.  Blanks
    are left as '…' for the fields not given.  A run that placed nobody is refused
    (exit 2).  Files are readable by their owner only.
    """
    from optimizer import service

    fields = {
        "decision_no": decision_no,
        "date": doc_date,
        "issuer": issuer,
        "signer": signer,
        "place": place,
        "bases": "\n".join(bases),
        "recipients": "\n".join(recipients),
    }
    store = service.open_store(store_path)
    exported = service.export(  # refuses an output onto an input of the run or the store
        store,
        run_ref,
        cast("ExportFormat", fmt),
        out_dir,
        fields=fields,
        unit_ids=unit_ids,
        per_unit=per_unit,
        redact=redact,
        template=template,
    )
    paths = exported.paths
    click.echo(t("export.written", count=len(paths), folder=out_dir))
    for path in paths:
        click.echo(f"  {path.name}")
    if redact:
        click.echo(t("export.redacted"))


COMMANDS: list[click.Command] = [export]
