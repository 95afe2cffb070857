"""CSV outputs: the annexes as flat tables and the machine tables of DESIGN §7 (layer 8).

Every file is UTF-8 with a byte-order mark (so Excel shows Vietnamese correctly), written
atomically and readable by its owner only.  A text cell that a spreadsheet would read as a
formula gets a leading apostrophe (:func:`~optimizer.io.outputs.neutralise`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from optimizer.compare import redact
from optimizer.data import BLOCS
from optimizer.export.files import make_out_dir, output_path
from optimizer.export.labels import code_label, nfc, vi
from optimizer.export.model import Annex, PersonRow, SurplusGroup, UnitGroup
from optimizer.io.outputs import check_replaceable, write_csv_frame
from optimizer.placement_tables import RunTables, readable

#: File names of the machine tables (DESIGN §7).
TABLE_FILES = {"placements": "placements.csv", "unplaced": "unplaced.csv", "units": "units.csv"}


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` ready for CSV: text in NFC, booleans ``true``/``false``
    (formulas are neutralised when written, by :func:`write_csv`)."""
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_bool_dtype(values):
            out[col] = values.map({True: "true", False: "false"})
        elif pd.api.types.is_string_dtype(values) or values.dtype == object:
            out[col] = values.map(lambda v: nfc(v) if isinstance(v, str) else v)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write one frame as CSV (UTF-8 with BOM), atomically, mode 0600, formulas
    neutralised (:func:`~optimizer.io.outputs.write_csv_frame`); return ``path``."""
    return write_csv_frame(csv_frame(frame), path)


def redact_tables(tables: RunTables) -> RunTables:
    """The run tables with initials for names and birth years for birth dates."""
    return RunTables(redact(tables.placements), redact(tables.unplaced), tables.units)


def write_csv_tables(tables: RunTables, out_dir: Path) -> list[Path]:
    """Write ``placements.csv``, ``unplaced.csv`` and ``units.csv`` into ``out_dir``.

    The columns are those of :mod:`optimizer.placement_tables` (DESIGN §3 names), so any other tool
    can check a run against its inputs.

    Parameters
    ----------
    tables
        A run's tables (pass :func:`redact_tables` of them for files shared outside).
    out_dir
        The folder, created if missing.

    Returns
    -------
    list of Path
        The three files written.

    Raises
    ------
    InputError
        When one of the three may not be replaced (:func:`~optimizer.io.outputs.check_replaceable`):
        then none is written.
    """
    out_dir = make_out_dir(Path(out_dir))
    tables = readable(tables)  # why each one is unplaced, in the reader's language
    frames = {"placements": tables.placements, "unplaced": tables.unplaced, "units": tables.units}
    for name, file in TABLE_FILES.items():  # every file checked before any is written
        check_replaceable(out_dir / file, [str(c) for c in frames[name].columns])
    return [write_csv(frames[name], out_dir / file) for name, file in TABLE_FILES.items()]


def _people_frame(
    groups: Sequence[UnitGroup] | Sequence[SurplusGroup], unit_key: str, last_keys: tuple[str, str]
) -> pd.DataFrame:
    """People grouped by unit as one flat table, the unit on each row; the 4th and 5th
    columns are the birth date of a man and of a woman."""
    rows = [
        (p.no, g.unit_name, p.name, p.birth_male, p.birth_female, p.title, p.former_unit,
         *((p.new_position, p.note) if isinstance(p, PersonRow) else (p.position, p.reason)))
        for g in groups
        for p in g.rows
    ]  # fmt: skip
    keys = ("no", unit_key, "name", "male", "female", "title", "former_unit", *last_keys)
    columns = [vi(f"export.col.{k}") for k in keys]
    birth = vi("export.col.birth")
    columns[3], columns[4] = f"{birth} ({columns[3]})", f"{birth} ({columns[4]})"
    return pd.DataFrame(rows, columns=columns)


def placements_frame(annex: Annex) -> pd.DataFrame:
    """Annex I as one flat table: the annex columns, with the receiving unit on each row."""
    return _people_frame(annex.groups, "unit", ("new_position", "note"))


def surplus_frame(annex: Annex) -> pd.DataFrame:
    """Annex III as one flat table: the surplus people with their unit of origin."""
    return _people_frame(annex.surplus, "origin_unit", ("current_position", "reason"))


def staffing_frames(annex: Annex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Annex II as two flat tables: per unit and bloc, and per job position."""
    figures = [vi(f"export.col.{k}") for k in ("quota", "present", "surplus", "shortfall")]
    unit_rows = [
        (u.no, u.unit_id, u.unit_name, code_label(b), *u.by_bloc[b].as_tuple())
        for u in annex.units
        for b in BLOCS
    ]
    units = pd.DataFrame(
        unit_rows,
        columns=[
            vi("export.col.no"), "unit_id", vi("export.col.unit_name"), vi("export.col.bloc"),
            *figures,
        ],
    )  # fmt: skip
    positions = pd.DataFrame(
        [(p.no, p.position, p.label, *p.counts.as_tuple()) for p in annex.positions],
        columns=[vi("export.col.no"), "position", vi("export.col.position"), *figures],
    )
    return units, positions


def write_annex_csv(annex: Annex, out_dir: Path, parts: list[str], taken: set[str]) -> list[Path]:
    """Write Annex I, the two tables of Annex II and Annex III as CSV files.

    Parameters
    ----------
    annex
        What to write.
    out_dir
        The output folder (must exist).
    parts
        File-name parts after the annex's name (run id, unit…).
    taken
        File names already used by this export (updated).

    Returns
    -------
    list of Path
        ``phu-luc-I-….csv``, ``phu-luc-II-don-vi-….csv``, ``phu-luc-II-vi-tri-….csv``,
        ``phu-luc-III-doi-du-….csv``.
    """
    units, positions = staffing_frames(annex)
    frames = {
        "export.file.placements": placements_frame(annex),
        "export.file.staffing_units": units,
        "export.file.staffing_positions": positions,
        "export.file.surplus": surplus_frame(annex),
    }
    return [
        write_csv(frame, output_path(out_dir, [vi(key), *parts], ".csv", taken))
        for key, frame in frames.items()
    ]
