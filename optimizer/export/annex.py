"""Decision annexes of a run, per Decree 30/2020: Excel, Word, PDF and CSV (layer 8).

Typical use::

    from optimizer.export.annex import DocumentFields, export_annexes
    from optimizer.store import RunStore

    run = RunStore().get("latest")
    fields = DocumentFields(decision_no="15", issuer="Ủy ban nhân dân Thành phố Hồ Chí Minh")
    paths = export_annexes(run, "pdf", Path("out"), fields=fields, per_unit=True)

Each annex file holds Annex I (the people placed, grouped by receiving unit in the run's
order) and Annex II (staffing per unit and bloc, and per job position); see
:mod:`optimizer.export.model` for what they say and the ``*_annex`` modules for each
format.  Every page's footer carries the run id and the first digits of the run's
manifest hash, checked against the run's content before anything is written.  Files are
written atomically, readable by their owner only, with names that stay inside the output
folder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from optimizer.export.csv_annex import redact_tables, write_annex_csv, write_csv_tables
from optimizer.export.decision import build_decision, check_decision_template, write_decision_docx
from optimizer.export.docx_annex import check_template, write_annex_docx
from optimizer.export.files import make_out_dir, output_path, private_workdir
from optimizer.export.labels import vi
from optimizer.export.model import (
    Annex,
    DocumentFields,
    build_annex,
    check_has_placements,
    check_units,
    select_units,
    unit_order,
    verify_manifest,
)
from optimizer.export.pdf_annex import convert_to_pdf
from optimizer.export.xlsx_annex import write_annex_xlsx
from optimizer.io.outputs import check_replaceable, publish
from optimizer.store import StoredRun

__all__ = [
    "FORMATS",
    "DocumentFields",
    "ExportFormat",
    "build_annex",
    "export_annexes",
    "redact_tables",
    "write_csv_tables",
]

logger = logging.getLogger(__name__)

ExportFormat = Literal["xlsx", "docx", "pdf", "csv", "decision"]
#: The formats of ``staffplan export --format``.
FORMATS: tuple[ExportFormat, ...] = ("xlsx", "docx", "pdf", "csv", "decision")


def _plan(
    run: StoredRun,
    unit_ids: tuple[str, ...] | None,
    per_unit: bool,
    prefix: str,
) -> list[tuple[list[str] | None, list[str]]]:
    """The files to write: the units of each (``None``: all) and the parts of its name."""
    names = dict(unit_order(run.tables))
    if per_unit:
        ids = unit_ids if unit_ids is not None else tuple(names)
        return [([u], [prefix, run.run_id, u, names[u]]) for u in ids]
    parts = [prefix, run.run_id]
    if unit_ids is not None and len(unit_ids) == 1:
        parts += [unit_ids[0], names[unit_ids[0]]]
    return [(list(unit_ids) if unit_ids is not None else None, parts)]


def _write_pdfs(
    plan: list[tuple[Annex, list[str]]], out_dir: Path, template: Path | None, taken: set[str]
) -> list[Path]:
    finals = [output_path(out_dir, parts, ".pdf", taken) for _, parts in plan]
    for final in finals:  # before the conversion, which takes a while
        check_replaceable(final)
    with private_workdir(out_dir) as work:
        docx_files = [
            write_annex_docx(annex, work / (final.stem + ".docx"), template)
            for (annex, _), final in zip(plan, finals, strict=True)
        ]
        pdf_dir = work / "pdf"
        pdf_dir.mkdir(mode=0o700)
        for pdf, final in zip(convert_to_pdf(docx_files, pdf_dir), finals, strict=True):
            publish(pdf, final)
    return finals


def export_annexes(
    run: StoredRun,
    fmt: ExportFormat,
    out_dir: Path,
    *,
    fields: DocumentFields | None = None,
    unit_ids: Sequence[str] | None = None,
    per_unit: bool = False,
    redact: bool = False,
    template: Path | None = None,
) -> list[Path]:
    """Write the decision annexes of a run.

    Parameters
    ----------
    run
        A stored run (``RunStore(...).get(ref)``).
    fmt
        ``"xlsx"`` (a workbook with sheets "Phụ lục I", "Phụ lục II" and "Phụ lục III"),
        ``"docx"``, ``"pdf"`` (the Word file converted by LibreOffice), ``"csv"`` (Annex I,
        the two tables of Annex II and Annex III as flat CSV, plus ``placements.csv``,
        ``unplaced.csv`` and ``units.csv`` of the selected units), or ``"decision"`` (the
        draft Quyết định with its annexes, one Word file; see
        :mod:`optimizer.export.decision`).
    out_dir
        Output folder, created if missing.
    fields
        Decision number, date, issuing body and signer (and, for the decision, place,
        bases and recipients); blanks are printed as "…".
    unit_ids
        Only these units; ``None`` for the whole run.
    per_unit
        One file per unit instead of one for all.
    redact
        Initials and birth year only (annexes shared outside).
    template
        An office's own Word template for ``docx`` and ``pdf`` (an annex template) or
        ``decision`` (a decision template).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        Unknown unit, unusable template, missing LibreOffice or failed conversion, or a
        run whose stored hash does not match its content.
    ValueError
        For a format not in :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown annex format {fmt!r}; use one of {FORMATS}")
    fields = fields or DocumentFields()
    verify_manifest(run)
    check_has_placements(run)
    if fmt in ("docx", "pdf"):
        check_template(template)
    elif fmt == "decision":
        check_decision_template(template)
    selected = check_units(run, unit_ids) if unit_ids is not None else None
    out_dir = make_out_dir(Path(out_dir))
    files = _plan(
        run, selected, per_unit, vi("export.file.decision" if fmt == "decision" else "export.file.annex")
    )
    taken: set[str] = set()
    written: list[Path] = []
    if fmt == "decision":
        for units, parts in files:
            decision = build_decision(run, fields, units, redact=redact)
            written.append(
                write_decision_docx(decision, output_path(out_dir, parts, ".docx", taken), template)
            )
        logger.info("wrote %d decision file(s) of run %s to %s", len(written), run.run_id, out_dir)
        return written
    plan = [(build_annex(run, fields, units, redact=redact), parts) for units, parts in files]
    if fmt == "xlsx":
        written = [
            write_annex_xlsx(annex, output_path(out_dir, parts, ".xlsx", taken)) for annex, parts in plan
        ]
    elif fmt == "docx":
        written = [
            write_annex_docx(annex, output_path(out_dir, parts, ".docx", taken), template)
            for annex, parts in plan
        ]
    elif fmt == "pdf":
        written = _write_pdfs(plan, out_dir, template, taken)
    else:
        tables = select_units(run.tables, selected) if selected is not None else run.tables
        # the run's tables first: a folder holding another scenario's tables is refused
        # before any file is written
        tables_written = write_csv_tables(redact_tables(tables) if redact else tables, out_dir)
        for annex, parts in plan:
            written += write_annex_csv(annex, out_dir, parts[1:], taken)
        written += tables_written
    logger.info("wrote %d %s file(s) of run %s to %s", len(written), fmt, run.run_id, out_dir)
    return written
