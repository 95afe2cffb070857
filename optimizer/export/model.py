"""What a decision annex says, independent of its file format (layer 8).

:func:`build_annex` turns a stored run and the decision's fields into an :class:`Annex`:
the document frame of Decree 30/2020 (issuing body, title, reference line, signature,
footer with the run id and its check code), Annex I — the people placed, grouped by
receiving unit in the run's order —, Annex II — the staffing summary per unit and bloc
and per job position — and Annex III — the surplus people (dôi dư) by name, grouped by
unit of origin, with the reason in words.  The Excel, Word, PDF and CSV writers only lay
this out, so every format says exactly the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd

from optimizer.compare import initials
from optimizer.data import BLOCS, CATEGORIES
from optimizer.errors import InputError, Issue
from optimizer.export.labels import (
    capitalise,
    code_label,
    nfc,
    placed_label,
    position_label,
    roman,
    vi,
)
from optimizer.i18n import t
from optimizer.placement_tables import RunTables, reason_texts
from optimizer.store import StoredRun, manifest_hash, run_manifest

#: Unit kinds in the order the annex title names them ("CÁC XÃ, PHƯỜNG, ĐẶC KHU").
TITLE_KIND_ORDER = ("commune", "ward", "special_zone")
#: Categories named in the title when the annex lists nobody.
DEFAULT_TITLE_CATEGORIES = ("cadre", "civil_servant")
#: Issuing bodies whose name is printed on two lines in the header, the body then the place
#: ("ỦY BAN NHÂN DÂN" / "THÀNH PHỐ HỒ CHÍ MINH"), compared case-insensitively.
TWO_LINE_BODIES = ("ủy ban nhân dân", "uỷ ban nhân dân", "hội đồng nhân dân")
#: Characters of the manifest hash printed in the footer.
SHORT_HASH_LEN = 12
#: Separator of the lines of ``--issuer`` and ``--signer``.
LINE_SEPARATOR = "|"


@dataclass(frozen=True)
class DocumentFields:
    """The decision the annexes belong to; an empty field is printed as a "…" blank.

    Attributes
    ----------
    decision_no
        ``"15"`` (printed ``15/QĐ-UBND``) or a full number such as ``"15/QĐ-UBND"``.
    date
        The decision's date.
    issuer
        The issuing body, e.g. ``"Ủy ban nhân dân Thành phố Hồ Chí Minh"``; ``|`` splits
        its header lines.
    signer
        The signature block, lines separated by ``|``, the signer's name last, e.g.
        ``"TM. ỦY BAN NHÂN DÂN|CHỦ TỊCH|Nguyễn Văn A"``.
    place
        The decision's place name (địa danh); default: the issuer's, e.g. "Thành phố
        Hồ Chí Minh".  Decision only.
    bases, recipients
        The decision's legal bases (căn cứ) and its recipients (Nơi nhận), one per line;
        default: the catalogue's drafts.  Decision only.
    """

    decision_no: str = ""
    date: dt.date | None = None
    issuer: str = ""
    signer: str = ""
    place: str = ""
    bases: str = ""
    recipients: str = ""


@dataclass(frozen=True)
class Person:
    """The columns every person row of an annex starts with, as printed.

    ``birth`` is ``dd/mm/yyyy`` (the birth year only when redacted) and ``birth_date`` the
    date itself (``None`` when redacted or unknown).
    """

    no: int
    staff_id: str
    name: str
    birth: str
    birth_date: dt.date | None
    female: bool
    title: str
    former_unit: str

    @property
    def birth_male(self) -> str:
        """The "Nam" birth column: the birth date of a man, else blank."""
        return "" if self.female else self.birth

    @property
    def birth_female(self) -> str:
        """The "Nữ" birth column: the birth date of a woman, else blank."""
        return self.birth if self.female else ""


@dataclass(frozen=True)
class PersonRow(Person):
    """One person of Annex I: where they are placed, and a note (pinned, bloc change)."""

    new_position: str
    note: str


@dataclass(frozen=True)
class SurplusRow(Person):
    """One person of Annex III (dôi dư): their current job position and why no post fits."""

    position: str
    reason: str


R = TypeVar("R", PersonRow, SurplusRow)


@dataclass(frozen=True)
class Group(Generic[R]):
    """The people of one unit, headed ``"I. PHƯỜNG SÀI GÒN"``: the people placed there
    (Annex I, a :data:`UnitGroup`) or its surplus people (Annex III, a
    :data:`SurplusGroup`)."""

    unit_id: str
    unit_name: str
    label: str
    rows: tuple[R, ...]


#: The people placed in one receiving unit (Annex I).
UnitGroup = Group[PersonRow]
#: The surplus people of one unit of origin (Annex III).
SurplusGroup = Group[SurplusRow]


@dataclass(frozen=True)
class Counts:
    """Staffing figures: quota (Σ max), present (placed), surplus (unplaced), shortfall."""

    quota: int = 0
    present: int = 0
    surplus: int = 0
    shortfall: int = 0

    def __add__(self, other: Counts) -> Counts:
        """Figure by figure sum."""
        return Counts(
            self.quota + other.quota,
            self.present + other.present,
            self.surplus + other.surplus,
            self.shortfall + other.shortfall,
        )

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(quota, present, surplus, shortfall)``."""
        return (self.quota, self.present, self.surplus, self.shortfall)


@dataclass(frozen=True)
class UnitStaffing:
    """One line of Annex II, table A: a unit's figures per bloc."""

    no: int
    unit_id: str
    unit_name: str
    by_bloc: dict[str, Counts]

    @property
    def total(self) -> Counts:
        """The unit's figures over both blocs."""
        return sum((self.by_bloc[b] for b in BLOCS), Counts())


@dataclass(frozen=True)
class PositionStaffing:
    """One line of Annex II, table B: a job position's figures."""

    no: int
    position: str
    label: str
    counts: Counts


@dataclass(frozen=True)
class Annex:
    """Everything one annex file says (Annexes I, II and III), ready to lay out."""

    run_id: str
    manifest_hash: str
    #: Where and whom the annexes are about, in running text: "các xã, phường, đặc khu"
    #: (or the one unit's name) and "cán bộ, công chức".
    where: str
    categories: str
    issuer_lines: tuple[str, ...]
    reference: str
    placement_title: str
    staffing_title: str
    surplus_title: str
    groups: tuple[UnitGroup, ...]
    units: tuple[UnitStaffing, ...]
    positions: tuple[PositionStaffing, ...]
    surplus: tuple[SurplusGroup, ...]
    signer_lines: tuple[str, ...]
    signer_name: str
    redacted: bool

    @property
    def short_hash(self) -> str:
        """The first :data:`SHORT_HASH_LEN` hex digits of the run's manifest hash."""
        return self.manifest_hash[:SHORT_HASH_LEN]

    @property
    def footer(self) -> str:
        """The footer of every page: run id and check code."""
        return vi("export.annex.footer", run_id=self.run_id, hash=self.short_hash)

    def bloc_total(self, bloc: str) -> Counts:
        """Table A's total line for one bloc."""
        return sum((u.by_bloc[bloc] for u in self.units), Counts())

    @property
    def unit_total(self) -> Counts:
        """Table A's grand total."""
        return sum((u.total for u in self.units), Counts())

    @property
    def position_total(self) -> Counts:
        """Table B's total line."""
        return sum((p.counts for p in self.positions), Counts())


# ------------------------------------------------------------------ document fields


def decision_number(decision_no: str) -> str:
    """``"5"`` → ``"05/QĐ-UBND"``, ``"15/QĐ-UBND"`` kept, ``""`` → ``"…/QĐ-UBND"``.

    Numbers below 10 get a leading zero (Decree 30/2020).
    """
    text = nfc(decision_no).strip()
    suffix = vi("export.annex.decision_suffix")
    if not text:
        return vi("export.annex.blank") + suffix
    if text.isdigit():
        return f"{int(text):02d}{suffix}"
    return text


def decision_date(date: dt.date | None) -> str:
    """``"05 tháng 01 năm 2026"``; blanks ``"… tháng … năm …"`` when no date is given.

    Days below 10 and months below 3 get a leading zero (Decree 30/2020).
    """
    blank = vi("export.annex.blank")
    if date is None:
        return vi("export.annex.date", day=blank, month=blank, year=blank)
    month = f"{date.month:02d}" if date.month < 3 else str(date.month)
    return vi("export.annex.date", day=f"{date.day:02d}", month=month, year=date.year)


def _lines(text: str) -> list[str]:
    return [p.strip() for p in nfc(text).split(LINE_SEPARATOR) if p.strip()]


def issuer_lines(issuer: str) -> tuple[str, ...]:
    """The issuing body in capitals, one header line each (a "…" blank when not given)."""
    lines = _lines(issuer)
    if len(lines) == 1:
        folded = lines[0].casefold()
        for body in TWO_LINE_BODIES:
            if folded.startswith(body + " "):
                lines = [lines[0][: len(body)], lines[0][len(body) :].strip()]
                break
    return tuple(x.upper() for x in lines) or (vi("export.annex.blank"),)


def reference_line(fields: DocumentFields) -> str:
    """``(Kèm theo Quyết định số 15/QĐ-UBND ngày 05 tháng 01 năm 2026 của …)``."""
    issuer = " ".join(_lines(fields.issuer)) or vi("export.annex.blank")
    return vi(
        "export.annex.reference",
        number=decision_number(fields.decision_no),
        date=decision_date(fields.date),
        issuer=issuer,
    )


def signer_block(signer: str) -> tuple[tuple[str, ...], str]:
    """The signing-authority lines (capitals) and the signer's name of ``--signer``."""
    lines = _lines(signer)
    blank = vi("export.annex.blank")
    if not lines:
        return (blank,), blank
    titles = tuple(x.upper() for x in lines[:-1]) or (blank,)
    return titles, lines[-1]


# ------------------------------------------------------------------ run checks and selection


def verify_manifest(run: StoredRun) -> None:
    """Check that the run's stored hash certifies its content (the footer prints it).

    Raises
    ------
    InputError
        When the hash recomputed from the run differs from the stored one.
    """
    if manifest_hash(run_manifest(run)) != run.manifest_hash:
        raise InputError(
            [
                Issue(
                    file=run.run_id,
                    message=t("export.hash_mismatch", run_id=run.run_id),
                    hint=t("export.hash_mismatch_hint"),
                    code="export.hash_mismatch",
                )
            ]
        )


def check_has_placements(run: StoredRun) -> None:
    """Refuse to write the annexes of a run that placed nobody.

    Raises
    ------
    InputError
        When the run has no placement (infeasible, stopped before any, or nobody
        qualified), saying its status and what to do.
    """
    if len(run.tables.placements):
        return
    raise InputError(
        [
            Issue(
                file=run.run_id,
                message=t(
                    "export.no_placements",
                    run_id=run.run_id,
                    status=t(f"store.status.{run.status}"),
                    unplaced=len(run.tables.unplaced),
                ),
                hint=t("export.no_placements_hint", scenario=run.meta.get("scenario_path", "")),
                code="export.no_placements",
            )
        ]
    )


def unit_order(tables: RunTables) -> list[tuple[str, str]]:
    """``(unit_id, unit_name)`` of every unit of a run, in the order the annexes list them.

    Units appear in the order of the placements (the units table's input order), then
    units that received nobody in the order of their post lines.  Ids are kept as stored
    (the run tables hold NFC text from validated input).
    """
    seen: dict[str, str] = {}
    for frame in (tables.placements, tables.units):
        firsts = frame[["unit_id", "unit_name"]].drop_duplicates("unit_id")
        for uid, name in zip(firsts["unit_id"], firsts["unit_name"], strict=True):
            seen.setdefault(str(uid), nfc(name))
    return list(seen.items())


def check_units(run: StoredRun, unit_ids: Sequence[str]) -> tuple[str, ...]:
    """Return ``unit_ids`` (NFC, without repeats) after checking that the run knows them.

    Raises
    ------
    InputError
        Listing every unknown unit id at once.
    """
    known = [u for u, _ in unit_order(run.tables)]
    wanted = tuple(dict.fromkeys(nfc(u).strip() for u in unit_ids))
    unknown = [u for u in wanted if u not in set(known)]
    if unknown:
        example = ", ".join(known[:3])
        raise InputError(
            [
                Issue(
                    file=run.run_id,
                    column="--unit",
                    value=u,
                    message=t("export.unknown_unit", run_id=run.run_id, unit=u),
                    hint=t("export.unknown_unit_hint", example=example),
                    code="export.unknown_unit",
                )
                for u in unknown
            ]
        )
    return wanted


def select_units(tables: RunTables, unit_ids: Sequence[str]) -> RunTables:
    """The part of a run's tables about some units (the unplaced by their origin unit).

    Unit ids are compared as stored: the run tables hold NFC text (validated input).
    """
    wanted = list(unit_ids)
    pl, un, lines = tables.placements, tables.unplaced, tables.units
    return RunTables(
        pl[pl["unit_id"].isin(wanted)].reset_index(drop=True),
        un[un["origin_unit"].isin(wanted)].reset_index(drop=True),
        lines[lines["unit_id"].isin(wanted)].reset_index(drop=True),
    )


# ------------------------------------------------------------------ Annex I


def _birth(value: object, redact: bool) -> tuple[str, dt.date | None]:
    text = nfc(value).strip()
    if not text:
        return "", None
    if redact:
        return text[:4], None
    date = dt.date.fromisoformat(text[:10])
    return date.strftime("%d/%m/%Y"), date


def _note(pinned: bool, bloc_changed: bool) -> str:
    notes = []
    if pinned:
        notes.append(vi("export.note.pinned"))
    if bloc_changed:
        notes.append(vi("export.note.bloc_changed"))
    return "; ".join(notes)


def _title(grade: object, category: object) -> str:
    text = nfc(grade).strip()
    return capitalise(text) if text else capitalise(code_label(nfc(category)))


#: Columns of the run tables that every printed person row starts from.
_PERSON_COLUMNS = ("staff_id", "full_name", "birth_date", "gender", "category", "former_unit")


def _person(no: int, rec: Sequence[Any], grade: object, redact: bool) -> dict[str, Any]:
    """The :class:`Person` fields of one row of :data:`_PERSON_COLUMNS` values."""
    staff_id, name, birth, gender, category, former = rec
    birth_text, birth_date = _birth(birth, redact)
    full_name = nfc(name)
    return {
        "no": no,
        "staff_id": nfc(staff_id),
        "name": initials(full_name) if redact else full_name,
        "birth": birth_text,
        "birth_date": birth_date,
        "female": nfc(gender) == "F",
        "title": _title(grade, category),
        "former_unit": nfc(former),
    }


def person_rows(placements: pd.DataFrame, redact: bool) -> list[PersonRow]:
    """The printed rows of some placements, numbered from 1, in the table's order."""
    rows = []
    columns = (*_PERSON_COLUMNS, "grade", "position", "department", "leadership", "pinned", "bloc_changed")
    for no, rec in enumerate(zip(*(placements[c] for c in columns), strict=True), start=1):
        grade, position, dept = rec[6:9]
        leadership, pinned, bloc_changed = (bool(x) for x in rec[9:])
        rows.append(
            PersonRow(
                **_person(no, rec[:6], grade, redact),
                new_position=placed_label(nfc(position), nfc(dept), leadership),
                note=_note(pinned, bloc_changed),
            )
        )
    return rows


def surplus_rows(unplaced: pd.DataFrame, redact: bool) -> list[SurplusRow]:
    """The printed rows of some people left without a post, numbered from 1.

    The position is the person's current one (the first of their list), by its name.
    """
    rows = []
    columns = (*_PERSON_COLUMNS, "positions")
    reasons = reason_texts(unplaced, "vi")  # annexes are Vietnamese documents
    for no, rec in enumerate(zip(*(unplaced[c] for c in columns), reasons, strict=True), start=1):
        positions, reason = rec[6:]
        current = nfc(positions).split(";")[0].strip()
        rows.append(
            SurplusRow(
                **_person(no, rec[:6], "", redact),
                position=position_label(current) if current else "",
                reason=capitalise(nfc(reason).strip()),
            )
        )
    return rows


def unit_groups(tables: RunTables, redact: bool) -> tuple[UnitGroup, ...]:
    """Annex I: the placements grouped by receiving unit, in the annex order."""
    placements = tables.placements
    rows_of = placements.groupby("unit_id", sort=False).indices
    groups = []
    for k, (uid, name) in enumerate(unit_order(tables), start=1):
        part = placements.iloc[rows_of.get(uid, [])]
        label = f"{roman(k)}. {name.upper()}"
        groups.append(UnitGroup(uid, name, label, tuple(person_rows(part, redact))))
    return tuple(groups)


def surplus_groups(tables: RunTables, redact: bool) -> tuple[SurplusGroup, ...]:
    """Annex III: the people left without a post (dôi dư), grouped by unit of origin.

    Units come in the annex order (:func:`unit_order`), then any origin unit the run's
    post lines do not name (printed by its id).  Only units with surplus people appear.
    """
    unplaced = tables.unplaced
    rows_of = unplaced.groupby("origin_unit", sort=False).indices
    names = dict(unit_order(tables))
    order = [u for u in names if u in rows_of] + [str(u) for u in rows_of if str(u) not in names]
    groups = []
    for k, uid in enumerate(order, start=1):
        name = names.get(uid, uid)
        part = unplaced.iloc[rows_of[uid]]
        groups.append(
            SurplusGroup(uid, name, f"{roman(k)}. {name.upper()}", tuple(surplus_rows(part, redact)))
        )
    return tuple(groups)


# ------------------------------------------------------------------ Annex II


def _counts_by_key(frame: pd.DataFrame) -> dict[Any, Counts]:
    """Per index key of a frame with columns max, filled, surplus, shortfall: its figures."""
    values = frame[["max", "filled", "surplus", "shortfall"]].to_numpy(dtype=np.int64)
    return {key: Counts(*(int(v) for v in row)) for key, row in zip(frame.index, values, strict=True)}


def unit_staffing(tables: RunTables) -> tuple[UnitStaffing, ...]:
    """Annex II, table A: quota, present, surplus and shortfall per unit and bloc."""
    sums = tables.units.groupby(["unit_id", "bloc"])[["max", "filled", "shortfall"]].sum()
    un = tables.unplaced
    surplus = un.groupby([un["origin_unit"], un["bloc"]]).size()
    both = sums.join(surplus.rename("surplus").rename_axis(["unit_id", "bloc"]), how="outer")
    both = both.fillna(0).astype("int64")
    counts = _counts_by_key(both)
    return tuple(
        UnitStaffing(no, uid, name, {b: counts.get((uid, b), Counts()) for b in BLOCS})
        for no, (uid, name) in enumerate(unit_order(tables), start=1)
    )


def position_staffing(tables: RunTables) -> tuple[PositionStaffing, ...]:
    """Annex II, table B: the same figures per job position, in post-line order.

    A person left without a post counts as surplus in their current position (the first
    of their list).
    """
    lines = tables.units
    sums = lines.groupby("position", sort=False)[["max", "filled", "shortfall"]].sum()
    current = tables.unplaced["positions"].map(lambda p: nfc(p).split(";")[0].strip())
    surplus = current.value_counts(sort=False)
    codes = list(dict.fromkeys([*sums.index, *surplus.index]))
    both = sums.reindex(codes).assign(surplus=surplus.reindex(codes)).fillna(0).astype("int64")
    counts = _counts_by_key(both)
    return tuple(
        PositionStaffing(no, code, position_label(code), counts[code])
        for no, code in enumerate(codes, start=1)
    )


# ------------------------------------------------------------------ the annex


def _where(tables: RunTables, one_unit: str | None) -> str:
    """Where the people are placed: the one unit's name, or "các xã, phường, đặc khu"."""
    if one_unit is not None:
        return one_unit
    present = set(tables.placements["unit_kind"].map(nfc))
    kinds = [k for k in TITLE_KIND_ORDER if k in present] + sorted(present - set(TITLE_KIND_ORDER))
    names = ", ".join(code_label(k) for k in kinds or TITLE_KIND_ORDER)
    return vi("export.annex.where_all", kinds=names)


def _categories(tables: RunTables) -> str:
    """Who is placed: "cán bộ, công chức" (the categories present, "và" before a third)."""
    present = set(tables.placements["category"].map(nfc))
    cats = [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))
    names = [code_label(c) for c in cats or DEFAULT_TITLE_CATEGORIES]
    if len(names) < 3:
        return ", ".join(names)  # "cán bộ, công chức"
    return ", ".join(names[:-1]) + f" {vi('export.annex.and')} " + names[-1]


def build_annex(
    run: StoredRun,
    fields: DocumentFields,
    unit_ids: Sequence[str] | None = None,
    *,
    redact: bool = False,
) -> Annex:
    """Build the annexes of a run (or of some of its units).

    Parameters
    ----------
    run
        A stored run.
    fields
        The decision's number, date, issuing body and signer.
    unit_ids
        Only these units (ids as in the units table); ``None`` for all.
    redact
        Initials instead of names and the birth year instead of the birth date.

    Returns
    -------
    Annex
        Annex I (people placed, grouped by receiving unit, in the run's order),
        Annex II (staffing per unit and bloc, and per job position) and Annex III (the
        surplus people by name, grouped by unit of origin, with the reason).

    Raises
    ------
    InputError
        When a unit id is not in the run.
    """
    tables = run.tables
    if unit_ids is not None:
        tables = select_units(tables, check_units(run, unit_ids))
    order = unit_order(tables)
    one_unit = order[0][1] if len(order) == 1 else None
    where, categories = _where(tables, one_unit), _categories(tables)
    titles, name = signer_block(fields.signer)
    upper = {"categories": categories.upper(), "where": where.upper()}
    return Annex(
        run_id=run.run_id,
        manifest_hash=run.manifest_hash,
        where=where,
        categories=categories,
        issuer_lines=issuer_lines(fields.issuer),
        reference=reference_line(fields),
        placement_title=vi("export.annex.placement_title", **upper),
        staffing_title=vi("export.annex.staffing_title", where=upper["where"]),
        surplus_title=vi("export.annex.surplus_title", **upper),
        groups=unit_groups(tables, redact),
        units=unit_staffing(tables),
        positions=position_staffing(tables),
        surplus=surplus_groups(tables, redact),
        signer_lines=titles,
        signer_name=name,
        redacted=redact,
    )
