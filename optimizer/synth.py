"""Synthetic rosters and staffing tables for any set of units, calibrated on HCMC 2025.

Real rosters are personal data, so the project ships a generator instead. Given a units
table (DESIGN §3), :func:`synthesize` returns every input table of the data contract:
the units, three staffing tables (``posts`` calibrated on what HCMC reported,
``posts_transition`` sized to keep everyone, ``posts_norm2030`` the raw 2030 norm), the
roster, the relatives and the pins. It is deterministic by seed and works for any units
table; the HCMC calibration (DOMAIN §2, §3, §5, §6, §8) scales with the bloc totals.

:func:`units_from_hcmc` turns the shipped research table ``hcmc_units_2025.csv`` into
the contract's ``units.csv``; :func:`write_tables` writes the tables as CSV files and
one workbook. This module knows no solver; it sits beside :mod:`optimizer.io`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from optimizer.data import KINDS, Rules, haversine_km, retirement_date
from optimizer.errors import InputError, Issue
from optimizer.i18n import t

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- contract

#: Columns of each generated table, in the order of DESIGN §3.
_POST_COLUMNS = ("unit_id", "bloc", "department", "position", "category", "min", "max")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "units": ("unit_id", "name", "kind", "lat", "lon", "population", "area_km2", "island"),
    "posts": (*_POST_COLUMNS, "leadership", "non_local"),
    "posts_transition": (*_POST_COLUMNS, "leadership", "non_local"),
    "posts_norm2030": (*_POST_COLUMNS, "leadership", "non_local"),
    "staff": (
        *("staff_id", "full_name", "birth_date", "gender", "category", "bloc", "positions"),
        *("grade", "former_unit", "origin_unit", "home_lat", "home_lon", "local_units"),
        *("island_ok", "preferences"),
    ),
    "relations": ("staff_id", "relative_id", "relation"),
    "pins": ("staff_id", "unit_id", "position", "mode", "note"),
}
#: File name of the workbook :func:`write_tables` writes (one sheet per table).
WORKBOOK_NAME = "tables.xlsx"

# --------------------------------------------------------------------------- calibration

#: HCMC, Sở Nội vụ report of 9/8/2025 (DOMAIN §2.3): people per bloc.
HCMC_PARTY = 3878
HCMC_GOVERNMENT = 12119
#: Đề án 4353 (DOMAIN §2.3, §6) reports 1,052 surplus and 935 short across job positions and
#: a city-wide net of +103; the two statements differ by 14, so the generator keeps the
#: net exact and both totals within 1 %: 1,045 − 942 = 103.
HCMC_SURPLUS = 1045
HCMC_SHORTAGE = 942

#: Government-bloc norm (QĐ 759/QĐ-TTg, CV 09/CV-BCĐ): 32 posts for 16,000 inhabitants,
#: +1 per 2,000 above, capped by kind. It excludes the military command (DOMAIN §2.3).
NORM_BASE = 32
NORM_BASE_POPULATION = 16_000
NORM_STEP = 2_000
NORM_CAP = {"commune": 50, "ward": 70, "special_zone": 70}
#: Party agencies: 15–17 posts per unit, at most 20 (HD 31-HD/BTCTW).
PARTY_NORM_RANGE = (15, 17)
PARTY_NORM_CAP = 20

_RULES = Rules()
_REFERENCE = np.datetime64(_RULES.reference_date, "D")
_CAP_KM = _RULES.max_commute_km
_ROAD = _RULES.road_factor
_KM_PER_DEG_LAT = 110.574
_KM_PER_DEG_LON = 111.320

ECONOMY = "economy"  # placeholder resolved per unit kind by _economy_department
GOV_DEPARTMENTS = ("dept_office", ECONOMY, "dept_culture_social", "public_service_center")


@dataclass(frozen=True)
class PositionSpec:
    """A position code with where it sits and who may hold it.

    ``department`` is a department code, :data:`ECONOMY` (resolved by unit kind) or
    ``"*"`` (one line in each of :data:`GOV_DEPARTMENTS`); ``category`` is the category
    of its main post line; ``weight`` sets a professional position's share of its bloc.
    """

    code: str
    bloc: str
    department: str
    category: str
    leadership: bool = False
    non_local: bool = False
    weight: float = 0.0


#: Every position code the generator uses (DOMAIN §2, §3.1, §5).
POSITIONS: tuple[PositionSpec, ...] = (
    # government leadership
    PositionSpec("committee_chair", "government", "dept_office", "cadre", True, True),
    PositionSpec("committee_vice_chair", "government", "dept_office", "cadre", True),
    PositionSpec("council_vice_chair", "government", "dept_office", "cadre", True),
    PositionSpec("dept_head", "government", "*", "civil_servant", True),
    PositionSpec("dept_deputy", "government", "*", "civil_servant", True),
    PositionSpec("military_commander", "government", "military_command", "civil_servant", True),
    # government professional (the 20 job positions of DOMAIN §5)
    PositionSpec("office_admin", "government", "dept_office", "civil_servant", weight=8),
    PositionSpec("justice", "government", "dept_office", "civil_servant", weight=4),
    PositionSpec("foreign_affairs", "government", "dept_office", "civil_servant", weight=1),
    PositionSpec("finance", "government", ECONOMY, "civil_servant", weight=6),
    PositionSpec("planning", "government", ECONOMY, "civil_servant", weight=3),
    PositionSpec("construction", "government", ECONOMY, "civil_servant", weight=6),
    PositionSpec("transport", "government", ECONOMY, "civil_servant", weight=2),
    PositionSpec("industry_trade", "government", ECONOMY, "civil_servant", weight=3),
    PositionSpec("agriculture", "government", ECONOMY, "civil_servant", weight=2),
    PositionSpec("land_environment", "government", ECONOMY, "civil_servant", weight=6),
    PositionSpec("home_affairs", "government", "dept_culture_social", "civil_servant", weight=4),
    PositionSpec("ethnic_religion", "government", "dept_culture_social", "civil_servant", weight=2),
    PositionSpec("labour_social", "government", "dept_culture_social", "civil_servant", weight=4),
    PositionSpec("education", "government", "dept_culture_social", "civil_servant", weight=3),
    PositionSpec("culture", "government", "dept_culture_social", "civil_servant", weight=4),
    PositionSpec("science_digital", "government", "dept_culture_social", "civil_servant", weight=4),
    PositionSpec("information", "government", "dept_culture_social", "civil_servant", weight=2),
    PositionSpec("health", "government", "dept_culture_social", "civil_servant", weight=5),
    PositionSpec("public_service_desk", "government", "public_service_center", "civil_servant", weight=12),
    PositionSpec("military_assistant", "government", "military_command", "civil_servant"),
    # party and mass-organisation leadership
    PositionSpec("party_secretary", "party", "party_office", "cadre", True, True),
    PositionSpec("party_deputy_secretary", "party", "party_office", "cadre", True),
    PositionSpec("inspection_chair", "party", "inspection_office", "cadre", True, True),
    PositionSpec("party_building_head", "party", "party_building_board", "cadre", True),
    PositionSpec("party_office_chief", "party", "party_office", "civil_servant", True),
    PositionSpec("front_chair", "party", "fatherland_front", "cadre", True),
    PositionSpec("front_vice_chair", "party", "fatherland_front", "cadre", True),
    # party and mass-organisation professional
    PositionSpec("party_office_staff", "party", "party_office", "civil_servant", weight=3),
    PositionSpec("party_building_staff", "party", "party_building_board", "civil_servant", weight=2),
    PositionSpec("inspection_staff", "party", "inspection_office", "civil_servant", weight=2),
    PositionSpec("front_staff", "party", "fatherland_front", "civil_servant", weight=3),
)
SPEC = {p.code: p for p in POSITIONS}
GOV_PROFESSIONAL = tuple(
    p.code for p in POSITIONS if p.bloc == "government" and not p.leadership and p.weight > 0
)
PARTY_PROFESSIONAL = tuple(p.code for p in POSITIONS if p.bloc == "party" and not p.leadership)
#: Military assistants per unit (outside the norm, like the whole military command).
MILITARY_ASSISTANTS = 2
#: Share of a professional position's posts held in a second category (DOMAIN §10).
CATEGORY_SPLIT: dict[str, tuple[str, float]] = {
    "public_service_desk": ("public_employee", 0.4),
    "health": ("public_employee", 0.3),
    "education": ("public_employee", 0.3),
    "culture": ("public_employee", 0.3),
    "office_admin": ("part_time_worker", 0.25),
    "military_assistant": ("part_time_worker", 0.5),
    "party_office_staff": ("public_employee", 0.2),
    "front_staff": ("part_time_worker", 0.4),
}
#: Job positions with more people than posts in HCMC, and with fewer (DOMAIN §2.3, §5).
SURPLUS_POSITIONS = ("office_admin", "public_service_desk", "ethnic_religion")
SHORTAGE_POSITIONS = ("health", "science_digital", "land_environment", "construction", "finance")
#: Extra positions a leader may also be qualified for (same category by construction).
LEADERSHIP_EXTRAS: dict[str, tuple[str, ...]] = {
    "committee_chair": ("party_deputy_secretary", "committee_vice_chair"),
    "committee_vice_chair": ("committee_chair", "council_vice_chair"),
    "council_vice_chair": ("committee_vice_chair",),
    "dept_head": ("dept_deputy",),
    "dept_deputy": ("dept_head",),
    "military_commander": ("military_assistant",),
    "party_secretary": ("party_deputy_secretary",),
    "party_deputy_secretary": ("party_secretary", "committee_chair"),
    "inspection_chair": ("party_building_head",),
    "party_building_head": ("inspection_chair", "party_deputy_secretary"),
    "party_office_chief": ("party_office_staff",),
    "front_chair": ("front_vice_chair",),
    "front_vice_chair": ("front_chair",),
}
#: Professional positions of the other bloc that a person may also hold (bloc change).
CROSS_BLOC: dict[str, tuple[str, ...]] = {
    "office_admin": ("party_office_staff",),
    "home_affairs": ("party_building_staff",),
    "justice": ("inspection_staff",),
    "culture": ("front_staff",),
    "labour_social": ("front_staff",),
    "party_office_staff": ("office_admin",),
    "party_building_staff": ("home_affairs",),
    "inspection_staff": ("justice",),
    "front_staff": ("culture",),
}
#: Positions whose holders are designated by the city and written as ``fix`` pins.
PINNED_POSITIONS = ("committee_chair", "committee_vice_chair")
#: Pins stay within this road distance of home, so that they also hold in a 20 km variant.
PIN_MAX_KM = min(_CAP_KM, _RULES.long_commute_km)
#: A professional position that a near-retirement leader may still hold (own category).
RETIREMENT_FALLBACK = {"government": "office_admin", "party": "party_office_staff"}
#: Leadership positions a near-retirement holder may occupy (so ``service_left`` binds).
NEAR_RETIREMENT_POSITIONS = (
    "dept_head",
    "dept_deputy",
    "council_vice_chair",
    "military_commander",
    "party_building_head",
    "party_office_chief",
    "front_vice_chair",
)

# --------------------------------------------------------------------------- people

_FAMILY_NAMES = (
    ("Nguyễn", 31.5),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Huỳnh", 3.5),
    ("Hoàng", 2.0),
    ("Phan", 4.5),
    ("Võ", 3.0),
    ("Vũ", 1.5),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
)


def _words(text: str) -> tuple[str, ...]:
    """The blank-separated words of ``text`` (for the name tables below)."""
    return tuple(text.split())


_MIDDLE_NAMES = {
    "M": _words("Văn Hữu Đức Minh Quốc Thanh Công Hoàng Đình Xuân"),
    "F": _words("Thị Ngọc Thu Thanh Thùy Kim Mỹ Bích Phương Hồng"),
}
_SECOND_MIDDLE = {
    "M": _words("Anh Gia Trung Nhật Bảo"),
    "F": _words("Ngọc Thanh Khánh Bảo Diệu"),
}
_GIVEN_NAMES = {
    "M": _words(
        "Hùng Dũng Tuấn Minh Hải Long Nam Phong Quang Sơn Thành Trung Tùng Việt Khoa Bảo Huy "
        "Lâm Tâm Thắng Phúc Hiếu Đạt Khánh Nhân Tài Vinh Hòa Lộc Trí"
    ),
    "F": _words(
        "Hoa Lan Linh Mai Hương Hằng Ngọc Trang Thảo Vy Yến Nhung Hạnh Dung Phương Thủy Tuyết "
        "Vân Anh Nga Oanh Quyên Hiền Loan Trâm Uyên Diễm My Châu Hà"
    ),
}
#: Grade (ngạch) by category: (grade, probability); finance staff may be accountants.
_GRADES: dict[str, tuple[tuple[str, float], ...]] = {
    "cadre": (("chuyên viên chính", 0.45), ("chuyên viên", 0.55)),
    "civil_servant": (
        ("chuyên viên chính", 0.08),
        ("chuyên viên", 0.72),
        ("cán sự", 0.15),
        ("nhân viên", 0.05),
    ),
    "civil_servant_leader": (("chuyên viên chính", 0.5), ("chuyên viên", 0.5)),
    "public_employee": (("viên chức hạng III", 0.7), ("viên chức hạng IV", 0.3)),
    "part_time_worker": (("nhân viên", 1.0),),
}
_RELATIONS = (
    ("spouse", 0.40),
    ("sibling", 0.25),
    ("parent", 0.10),
    ("child", 0.10),
    ("in_law", 0.15),
)

#: Shares used by the roster generator; see :func:`synthesize`.
FEMALE_SHARE = {"leader": 0.25, "staff": 0.58}
LONG_COMMUTE_SHARE = 0.05
LONG_COMMUTE_KM = (15.0, 40.0)
VOLUNTEER_SHARE = 0.002
PREFERENCE_SHARE = 0.30
RELATIVE_PAIR_SHARE = 0.01
EXTRA_POSITION_SHARE = {"leader": 0.5, "surplus": 0.5, "staff": 0.3}
CROSS_BLOC_SHARE = 0.05
NEAR_RETIREMENT_SHARE = 0.03


def nfc(text: object) -> str:
    """Return ``text`` in Unicode NFC, stripped of surrounding blanks."""
    return unicodedata.normalize("NFC", str(text)).strip()


# =========================================================================== units


def units_from_hcmc(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn the research table ``hcmc_units_2025.csv`` into the contract's units table.

    Parameters
    ----------
    raw
        The table as read with :func:`read_hcmc_units` (columns ``code, name, kind,
        area_km2, population, lat, lon`` at least; ``code`` as text).

    Returns
    -------
    pandas.DataFrame
        Columns ``unit_id, name, kind, lat, lon, population, area_km2, island`` in the
        order of ``raw``. ``unit_id`` is the 5-digit commune code, names are NFC, and
        ``island`` is true exactly for the special zones (đặc khu): every đặc khu in
        Việt Nam is an island, and in HCMC it is Côn Đảo alone.
    """
    kind = raw["kind"].map(nfc)
    return pd.DataFrame(
        {
            "unit_id": raw["code"].map(nfc),
            "name": raw["name"].map(nfc),
            "kind": kind,
            "lat": pd.to_numeric(raw["lat"]).astype(float),
            "lon": pd.to_numeric(raw["lon"]).astype(float),
            "population": pd.to_numeric(raw["population"]).astype("Int64"),
            "area_km2": pd.to_numeric(raw["area_km2"]).astype(float),
            "island": (kind == "special_zone").astype(bool),
        }
    )


def read_hcmc_units(path: Path) -> pd.DataFrame:
    """Read ``hcmc_units_2025.csv`` with its codes kept as text.

    Raises
    ------
    InputError
        When the file is missing or lacks one of the columns :func:`units_from_hcmc` uses.
    """
    frame = _read_csv(path, {"code": str})
    _require_columns(frame, path, ("code", "name", "kind", "lat", "lon", "population", "area_km2"))
    return frame


def read_units(path: Path) -> pd.DataFrame:
    """Read a contract units table (CSV, UTF-8, BOM tolerated) for :func:`synthesize`.

    Only what the generator needs is checked here: the required columns, unique ids, a
    known kind and numeric coordinates; every problem is reported at once. The full
    validation of DESIGN §3 is the job of :mod:`optimizer.io`.

    Raises
    ------
    InputError
        With one issue per bad column or cell.
    """
    frame = _read_csv(path, {"unit_id": str, "name": str, "kind": str})
    _require_columns(frame, path, ("unit_id", "name", "kind", "lat", "lon"))
    issues: list[Issue] = []
    for col in ("unit_id", "name", "kind"):
        frame[col] = frame[col].fillna("").map(nfc)
    for row in np.flatnonzero(frame["unit_id"].duplicated().to_numpy()).tolist():
        issues.append(_cell_issue(path, row, "unit_id", frame["unit_id"].iat[row], "synth.duplicate_id"))
    for row in np.flatnonzero(~frame["kind"].isin(KINDS).to_numpy()).tolist():
        issues.append(
            _cell_issue(path, row, "kind", frame["kind"].iat[row], "synth.bad_kind", kinds=", ".join(KINDS))
        )
    numeric = ("lat", "lon", "population", "area_km2")
    for col in numeric:
        if col not in frame:
            continue
        values = pd.to_numeric(frame[col], errors="coerce")
        optional = col in ("population", "area_km2")
        bad = values.isna() & (frame[col].notna() if optional else True)
        for row in np.flatnonzero(bad.to_numpy()).tolist():
            issues.append(_cell_issue(path, row, col, frame[col].iat[row], "synth.bad_number"))
        frame[col] = values
    if issues:
        raise InputError(issues)
    if "island" in frame:
        frame["island"] = frame["island"].map(_parse_bool)
    return frame


def read_former_units(path: Path) -> pd.DataFrame:
    """Read a pre-merger units table (``old_name``, ``new_unit_name``, ``old_district``).

    ``new_unit_name`` names the new unit(s) by their ``name`` in the units table,
    joined by ``"; "`` when the old unit was split (as in ``hcmc_former_units.csv``).

    Raises
    ------
    InputError
        When the file is missing or lacks ``old_name`` or ``new_unit_name``.
    """
    frame = _read_csv(path, {"old_name": str, "new_unit_name": str, "old_district": str})
    _require_columns(frame, path, ("old_name", "new_unit_name"))
    return frame


def government_norm(units: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Government-bloc norm per unit, military command excluded (DOMAIN §2.3).

    32 posts for 16,000 inhabitants, one more per full 2,000 above, capped at 50 for a
    commune and 70 for a ward or special zone; 32 where the population is unknown.
    """
    pop = pd.to_numeric(units.get("population", pd.Series(np.nan, index=units.index)))
    pop_arr = pop.astype(float).to_numpy()
    extra = np.floor(np.maximum(0.0, np.nan_to_num(pop_arr, nan=0.0) - NORM_BASE_POPULATION) / NORM_STEP)
    cap = units["kind"].map(NORM_CAP).to_numpy(dtype=np.int64)
    return np.minimum(cap, NORM_BASE + extra.astype(np.int64))


# =========================================================================== generator


def synthesize(
    units: pd.DataFrame,
    *,
    party: int = HCMC_PARTY,
    government: int = HCMC_GOVERNMENT,
    seed: int = 0,
    former_units: pd.DataFrame | None = None,
    id_prefix: str = "HCM",
) -> dict[str, pd.DataFrame]:
    """Generate a staffing table and a roster for ``units``, calibrated on HCMC 2025.

    Parameters
    ----------
    units
        Contract units table (``unit_id, name, kind, lat, lon``; ``population``,
        ``area_km2``, ``island`` optional), e.g. from :func:`read_units`.
    party, government
        Exact number of people generated in each bloc (HCMC: 3,878 and 12,119).
    seed
        Seed of the :class:`numpy.random.Generator`; the same seed and inputs give
        identical tables (and byte-identical files through :func:`write_tables`).
    former_units
        Pre-merger units (see :func:`read_former_units`); a person's ``former_unit`` is
        one of the old units merged into their origin unit, written ``"name, district"``.
        Units it does not cover get 2–4 invented predecessors named ``"<unit> <k>"``.
    id_prefix
        Prefix of the staff ids (``HCM000001``...).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``units, posts, posts_transition, posts_norm2030, staff, relations, pins`` with
        the columns of :data:`TABLE_COLUMNS`.

    Raises
    ------
    InputError
        When a bloc total cannot even staff the leadership posts of every unit.

    Notes
    -----
    **Post lines.** Per unit and bloc, one line per (department, position, category).
    Government leadership: 1 committee chair (``non_local``), 2 vice-chairs (3 in the
    more populous half of the units), 1 council vice-chair (all in ``dept_office``), a
    head and 1–3 deputies (2 on average) in each of the four departments (the economy
    department is ``dept_economy_urban`` in a ward, ``dept_economy`` otherwise), and a
    military commander. Party leadership: 1 secretary and 1 inspection chair (both
    ``non_local``), 1–2 deputy secretaries, 1 party-building head, 1 office chief,
    1 Front chair and 3–5 Front vice-chairs. Leadership counts are never scaled.
    The professional posts share what the norm leaves: the government norm of
    :func:`government_norm` (plus the military command: commander and
    :data:`MILITARY_ASSISTANTS` assistants) and a party norm of 15–17 per unit; each
    position's share follows :data:`POSITIONS` weights with a per-unit jitter.
    ``posts_norm2030`` is that raw norm. ``posts`` scales the professional posts so that
    Σmax equals the people in post minus the net surplus (party: exactly the people).
    ``min`` is ``floor(0.8·max)``, at least 1 on leadership lines.

    **Mismatch.** People per post line start equal to ``posts.max``; then
    :data:`SURPLUS_POSITIONS` get ``government·1045/12119`` extra people and
    :data:`SHORTAGE_POSITIONS` lose ``government·942/12119``, both split in proportion
    to the positions' posts and spread over units with a random unit factor; 10 % of
    each professional position's people are reshuffled between units. For HCMC the
    per-position surplus is 1,045, the shortage 942 and the net +103 (DOMAIN §2.3).
    ``posts_transition`` has one line per (origin unit, bloc, department, current
    position, category) with ``max`` = the people on it.

    **Categories.** Leadership lines are cadre (elected posts) or civil servant
    (department heads and deputies, the military commander, the party office chief);
    :data:`CATEGORY_SPLIT` moves part of some professional positions to public employees
    (service-centre desks, health, education, culture, party office) or part-time
    workers (office, military assistants, Front staff). For HCMC (seed 0) this gives
    6 % cadres, 80 % civil servants, 9 % public employees and 4 % part-time workers in
    the government bloc, and 41 % / 48 % / 4 % / 7 % in the party bloc.

    **People.** Names from the common family names (Nguyễn 31.5 %, Trần, Lê, Phạm,
    Huỳnh/Hoàng, Phan, Võ/Vũ, Đặng, Bùi, Đỗ, Hồ, Ngô, Dương, Lý), middle and given names
    by gender, NFC. 25 % of leaders and 58 % of the others are women; ages run from 22
    up to the statutory retirement age (Decree 135/2020) at the reference date, and
    leaders have at least 60 months left, except about 3 % of the holders of
    :data:`NEAR_RETIREMENT_POSITIONS` (6–59 months left). Homes are drawn around the
    origin unit (normal, sd = √area / 2 km) and 5 % of non-leaders live 15–40 km away,
    so the commute cap binds. ``local_units`` = origin unit and the unit nearest home.
    Island staff live on the island (``island_ok``) except the holders of its non-local
    posts, who live on the mainland; 0.2 % of mainland people, and two holders of each pinned or
    non-local position, volunteer for islands. 30 % have 1–3 preferred units near
    home. Positions list the current one first; half the leaders and of the people in
    surplus positions, and 30 % of the others, may hold 1–3 more (shortage positions
    favoured; 5 % may change bloc; civil servants close to retirement may also hold
    :data:`RETIREMENT_FALLBACK`). Pairs of relatives number 1 % of the people (so 2 %
    of the people have a relative on the roster); half the pairs share an origin unit,
    a third of those around a leader.

    **Pins.** Committee chairs are rotated between units and one vice-chair per
    mainland unit likewise; each rotation is written as a ``fix`` pin to a unit where
    the person is not local, within :data:`PIN_MAX_KM` (20 km, so the pins also hold
    with a 20 km cap; islands: ``island_ok`` people only), for people with at least
    60 months of service left. The greedy rotation may leave a few units unpinned.
    """
    rng = np.random.default_rng(seed)
    units = _normalise_units(units)
    num_units = len(units)
    if num_units == 0:
        raise InputError([Issue(file="units", message=t("synth.no_units_rows"))])

    plan = _unit_plan(units, rng)
    surplus_total = round(government * HCMC_SURPLUS / HCMC_GOVERNMENT)
    shortage_total = round(government * HCMC_SHORTAGE / HCMC_GOVERNMENT)
    gov_prof_norm = np.maximum(0, plan.gov_norm - plan.gov_leaders)
    party_prof_norm = np.maximum(0, plan.party_norm - plan.party_leaders)
    gov_prof_total = (
        government - surplus_total + shortage_total - int((plan.gov_leaders + 1 + MILITARY_ASSISTANTS).sum())
    )
    party_prof_total = party - int(plan.party_leaders.sum())
    _check_totals(gov_prof_total, party_prof_total, government, party)

    norm_lines = _post_lines(units, plan, gov_prof_norm, party_prof_norm)
    posts = _post_lines(
        units,
        plan,
        _apportion(gov_prof_total, gov_prof_norm),
        _apportion(party_prof_total, party_prof_norm),
    )
    counts = _people_per_line(posts, rng, surplus_total, shortage_total, num_units)
    staff, pins, relations = _roster(units, posts, counts, rng, former_units, id_prefix)
    transition = posts.assign(max=counts)
    transition = transition[transition["max"] > 0].copy()
    transition["min"] = _line_min(transition["max"].to_numpy(), transition["leadership"].to_numpy())
    tables = {
        "units": units.loc[:, list(TABLE_COLUMNS["units"])].reset_index(drop=True),
        "posts": posts,
        "posts_transition": transition,
        "posts_norm2030": norm_lines,
        "staff": staff,
        "relations": relations,
        "pins": pins,
    }
    return {
        name: tables[name].loc[:, list(cols)].reset_index(drop=True) for name, cols in TABLE_COLUMNS.items()
    }


@dataclass(frozen=True)
class _UnitPlan:
    """Per-unit numbers drawn once: norms, leadership counts, position weights."""

    gov_norm: npt.NDArray[np.int64]
    party_norm: npt.NDArray[np.int64]
    vice_chairs: npt.NDArray[np.int64]
    deputies: npt.NDArray[np.int64]  # (units, 4): deputies per government department
    party_deputies: npt.NDArray[np.int64]
    front_vices: npt.NDArray[np.int64]
    gov_weights: npt.NDArray[np.float64]  # (units, len(GOV_PROFESSIONAL))
    party_weights: npt.NDArray[np.float64]  # (units, len(PARTY_PROFESSIONAL))

    @property
    def gov_leaders(self) -> npt.NDArray[np.int64]:
        """Government leadership posts per unit outside the military command."""
        return 1 + self.vice_chairs + 1 + len(GOV_DEPARTMENTS) + self.deputies.sum(axis=1)

    @property
    def party_leaders(self) -> npt.NDArray[np.int64]:
        """Party-bloc leadership posts per unit."""
        return 1 + self.party_deputies + 1 + 1 + 1 + 1 + self.front_vices


def _unit_plan(units: pd.DataFrame, rng: np.random.Generator) -> _UnitPlan:
    n = len(units)
    pop = units["population"].astype(float).to_numpy()
    known = pop[~np.isnan(pop)]
    median = float(np.median(known)) if len(known) else np.inf
    vice = np.where(np.nan_to_num(pop, nan=-1.0) >= median, 3, 2).astype(np.int64)
    deputies = rng.choice(np.array([1, 2, 2, 3]), size=(n, len(GOV_DEPARTMENTS))).astype(np.int64)
    party_deputies = rng.integers(1, 3, n).astype(np.int64)
    front_vices = rng.choice(np.array([3, 4, 4, 5]), size=n).astype(np.int64)
    party_norm = np.minimum(
        PARTY_NORM_CAP, rng.integers(PARTY_NORM_RANGE[0], PARTY_NORM_RANGE[1] + 1, n)
    ).astype(np.int64)
    gov_w = np.array([SPEC[p].weight for p in GOV_PROFESSIONAL], dtype=float)
    gov_weights = gov_w[None, :] * np.exp(rng.normal(0.0, 0.25, (n, len(gov_w))))
    agriculture = GOV_PROFESSIONAL.index("agriculture")
    gov_weights[units["kind"].to_numpy() != "ward", agriculture] *= 2.5
    party_w = np.array([SPEC[p].weight for p in PARTY_PROFESSIONAL], dtype=float)
    party_weights = party_w[None, :] * np.exp(rng.normal(0.0, 0.25, (n, len(party_w))))
    return _UnitPlan(
        gov_norm=government_norm(units),
        party_norm=party_norm,
        vice_chairs=vice,
        deputies=deputies,
        party_deputies=party_deputies,
        front_vices=front_vices,
        gov_weights=gov_weights,
        party_weights=party_weights,
    )


def _check_totals(gov_prof: int, party_prof: int, government: int, party: int) -> None:
    """Refuse bloc totals too small for the leadership posts (negative professional posts)."""
    issues = []
    if gov_prof < 0:
        need = government - gov_prof
        issues.append(
            Issue(
                file="--government",
                value=str(government),
                message=t("synth.too_few", need=need),
                code="synth_total",
            )
        )
    if party_prof < 0:
        need = party - party_prof
        issues.append(
            Issue(
                file="--party",
                value=str(party),
                message=t("synth.too_few", need=need),
                code="synth_total",
            )
        )
    if issues:
        raise InputError(issues)


def _apportion(total: int, weights: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=float)
    if total <= 0 or len(w) == 0:
        return np.zeros(len(w), dtype=np.int64)
    if w.sum() <= 0:
        w = np.ones(len(w))
    quota = total * w / w.sum()
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return base


def _line_min(maximum: npt.NDArray[np.int64], leadership: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """``floor(0.8·max)``, at least 1 on a leadership line (single posts: min = max)."""
    low = (np.asarray(maximum) * 4) // 5
    return np.where(np.asarray(leadership) & (np.asarray(maximum) > 0), np.maximum(1, low), low).astype(
        np.int64
    )


def _economy_department(kind: str) -> str:
    return "dept_economy_urban" if kind == "ward" else "dept_economy"


def _post_lines(
    units: pd.DataFrame,
    plan: _UnitPlan,
    gov_prof: npt.NDArray[np.int64],
    party_prof: npt.NDArray[np.int64],
) -> pd.DataFrame:
    """Build the post lines given the professional posts per unit of each bloc."""
    rows: list[tuple[int, str, str, str, str, int]] = []
    kinds = units["kind"].to_numpy()
    for u in range(len(units)):
        econ = _economy_department(str(kinds[u]))
        depts = [econ if d == ECONOMY else d for d in GOV_DEPARTMENTS]

        def add(bloc: str, dept: str, position: str, count: int, u: int = u, econ: str = econ) -> None:
            spec = SPEC[position]
            department = econ if dept == ECONOMY else dept
            second = CATEGORY_SPLIT.get(position)
            moved = int(np.floor(second[1] * count + 0.5)) if second else 0
            if count - moved > 0:
                rows.append((u, bloc, department, position, spec.category, count - moved))
            if second and moved > 0:
                rows.append((u, bloc, department, position, second[0], moved))

        add("government", "dept_office", "committee_chair", 1)
        add("government", "dept_office", "committee_vice_chair", int(plan.vice_chairs[u]))
        add("government", "dept_office", "council_vice_chair", 1)
        for k, dept in enumerate(depts):
            add("government", dept, "dept_head", 1)
            add("government", dept, "dept_deputy", int(plan.deputies[u, k]))
        add("government", "military_command", "military_commander", 1)
        add("government", "military_command", "military_assistant", MILITARY_ASSISTANTS)
        for position, count in zip(
            GOV_PROFESSIONAL, _apportion(int(gov_prof[u]), plan.gov_weights[u]), strict=True
        ):
            add("government", SPEC[position].department, position, int(count))
        add("party", "party_office", "party_secretary", 1)
        add("party", "party_office", "party_deputy_secretary", int(plan.party_deputies[u]))
        add("party", "party_office", "party_office_chief", 1)
        add("party", "inspection_office", "inspection_chair", 1)
        add("party", "party_building_board", "party_building_head", 1)
        add("party", "fatherland_front", "front_chair", 1)
        add("party", "fatherland_front", "front_vice_chair", int(plan.front_vices[u]))
        for position, count in zip(
            PARTY_PROFESSIONAL, _apportion(int(party_prof[u]), plan.party_weights[u]), strict=True
        ):
            add("party", SPEC[position].department, position, int(count))
    frame = pd.DataFrame(rows, columns=["unit_idx", "bloc", "department", "position", "category", "max"])
    frame.insert(0, "unit_id", units["unit_id"].to_numpy()[frame["unit_idx"].to_numpy()])
    frame["leadership"] = frame["position"].map(lambda p: SPEC[p].leadership).astype(bool)
    frame["non_local"] = frame["position"].map(lambda p: SPEC[p].non_local).astype(bool)
    frame["max"] = frame["max"].astype(np.int64)
    frame["min"] = _line_min(frame["max"].to_numpy(), frame["leadership"].to_numpy())
    return frame


def _people_per_line(
    posts: pd.DataFrame,
    rng: np.random.Generator,
    surplus_total: int,
    shortage_total: int,
    num_units: int,
) -> npt.NDArray[np.int64]:
    """People per post line: ``max`` plus the per-position surplus, minus the shortage,
    then 10 % of each professional position reshuffled between units."""
    counts = posts["max"].to_numpy(dtype=np.int64).copy()
    maxima = counts.copy()
    position = posts["position"].to_numpy()
    unit = posts["unit_idx"].to_numpy()
    add_factor = np.exp(rng.normal(0.0, 0.75, num_units))
    cut_factor = np.exp(rng.normal(0.0, 0.75, num_units))
    lines_of = {
        p: np.flatnonzero(position == p)
        for p in GOV_PROFESSIONAL + PARTY_PROFESSIONAL + ("military_assistant",)
    }

    def add(idx: npt.NDArray[np.intp], k: int) -> None:
        weight = maxima[idx] * add_factor[unit[idx]]
        if k > 0 and weight.sum() > 0:
            counts[idx] += rng.multinomial(k, weight / weight.sum())

    def cut(idx: npt.NDArray[np.intp], k: int, factor: npt.NDArray[np.float64]) -> int:
        seats = np.repeat(idx, counts[idx])
        k = min(k, len(seats))
        if k > 0:
            weight = factor[unit[seats]]
            chosen = rng.choice(len(seats), size=k, replace=False, p=weight / weight.sum())
            np.subtract.at(counts, seats[chosen], 1)
        return k

    surplus = _apportion(surplus_total, [maxima[lines_of[p]].sum() for p in SURPLUS_POSITIONS])
    for p, k in zip(SURPLUS_POSITIONS, surplus, strict=True):
        add(lines_of[p], int(k))
    shortage = _apportion(shortage_total, [maxima[lines_of[p]].sum() for p in SHORTAGE_POSITIONS])
    for p, k in zip(SHORTAGE_POSITIONS, shortage, strict=True):
        cap = int(0.7 * maxima[lines_of[p]].sum())
        if k > cap:
            logger.warning("shortage of %s capped at %d (asked %d)", p, cap, k)
        cut(lines_of[p], min(int(k), cap), cut_factor)
    uniform = np.ones(num_units)
    for p in GOV_PROFESSIONAL + PARTY_PROFESSIONAL + ("military_assistant",):
        idx = lines_of[p]
        moved = cut(idx, round(0.1 * counts[idx].sum()), uniform)
        add(idx, moved)
    return counts


# =========================================================================== roster


def _roster(
    units: pd.DataFrame,
    posts: pd.DataFrame,
    counts: npt.NDArray[np.int64],
    rng: np.random.Generator,
    former_units: pd.DataFrame | None,
    id_prefix: str,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The staff table, the pins and the relations for the people on each post line."""
    line = np.repeat(np.arange(len(posts)), counts)
    n = len(line)
    origin = posts["unit_idx"].to_numpy()[line]
    position = posts["position"].to_numpy()[line]
    category = posts["category"].to_numpy()[line]
    bloc = posts["bloc"].to_numpy()[line]
    leader = posts["leadership"].to_numpy()[line]
    non_local = posts["non_local"].to_numpy()[line]
    island_unit = units["island"].to_numpy(dtype=bool)

    female = rng.random(n) < np.where(leader, FEMALE_SHARE["leader"], FEMALE_SHARE["staff"])
    gender = np.where(female, "F", "M")
    near = leader & np.isin(position, NEAR_RETIREMENT_POSITIONS) & (rng.random(n) < NEAR_RETIREMENT_SHARE)
    birth = _birth_dates(rng, gender, leader & ~near, near)
    months_left = _months_left(birth, gender)

    home_lat, home_lon = _homes(units, rng, origin, leader, non_local)
    dist = _road_km(home_lat, home_lon, units)
    nearest = np.argmin(dist, axis=1)
    island_ok = _island_ok(island_unit, rng, origin, ~island_unit[nearest], position, months_left)

    staff_ids = np.array([f"{id_prefix}{i + 1:06d}" for i in range(n)])
    pins = _pins(units, posts, staff_ids, position, origin, nearest, dist, island_ok, months_left, rng)
    pinned = np.zeros(n, dtype=bool)
    pinned[pins.pop("staff_idx").to_numpy()] = True

    positions = _positions(posts, rng, position, category, bloc, leader, near)
    family, rest = _names(rng, gender)
    relations = _relations(rng, origin, leader, pinned, gender, birth, family)
    full_name = np.array([nfc(f"{f} {r}") for f, r in zip(family, rest, strict=True)])
    grade = _grades(rng, category, leader, position)
    former = _former_names(units, former_units, rng, origin)
    prefs = _preferences(rng, dist, nearest, island_unit)

    unit_ids = units["unit_id"].to_numpy()
    local = [
        unit_ids[o] if o == h else f"{unit_ids[o]};{unit_ids[h]}"
        for o, h in zip(origin, nearest, strict=True)
    ]
    staff = pd.DataFrame(
        {
            "staff_id": staff_ids,
            "full_name": full_name,
            "birth_date": np.datetime_as_string(birth, unit="D"),
            "gender": gender,
            "category": category,
            "bloc": bloc,
            "positions": [";".join(p) for p in positions],
            "grade": grade,
            "former_unit": former,
            "origin_unit": unit_ids[origin],
            "home_lat": np.round(home_lat, 6),
            "home_lon": np.round(home_lon, 6),
            "local_units": local,
            "island_ok": island_ok,
            "preferences": [";".join(unit_ids[list(p)]) for p in prefs],
        }
    )
    return staff, pins, _relations_table(staff_ids, relations)


def _island_ok(
    island_unit: npt.NDArray[np.bool_],
    rng: np.random.Generator,
    origin: npt.NDArray[np.int64],
    mainland: npt.NDArray[np.bool_],
    position: npt.NDArray[np.str_],
    months_left: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Who may serve on an island: the islanders, a share of mainland volunteers, and two
    mainland holders (60 months left or more) of each position an island must fill."""
    island_ok = island_unit[origin].copy()
    if island_unit.any():
        island_ok |= mainland & (rng.random(len(origin)) < VOLUNTEER_SHARE)
        for p in (*PINNED_POSITIONS, "party_secretary", "inspection_chair"):
            cand = np.flatnonzero((position == p) & mainland & ~island_unit[origin] & (months_left >= 60))
            island_ok[rng.permutation(cand)[:2]] = True
    return island_ok


def _relations_table(staff_ids: npt.NDArray[np.str_], relations: list[tuple[int, int, str]]) -> pd.DataFrame:
    """The relations table of ``(person, person, relation)`` index triples."""
    return pd.DataFrame(
        {
            "staff_id": staff_ids[[a for a, _, _ in relations]] if relations else [],
            "relative_id": staff_ids[[b for _, b, _ in relations]] if relations else [],
            "relation": [r for _, _, r in relations],
        },
        columns=list(TABLE_COLUMNS["relations"]),
    )


def _months_left(birth: npt.NDArray[np.datetime64], gender: npt.NDArray[np.str_]) -> npt.NDArray[np.int64]:
    ret = retirement_date(birth, tuple(gender.tolist())).astype("datetime64[M]").astype(np.int64)
    return ret - _REFERENCE.astype("datetime64[M]").astype(np.int64)


def _birth_dates(
    rng: np.random.Generator,
    gender: npt.NDArray[np.str_],
    leader: npt.NDArray[np.bool_],
    near: npt.NDArray[np.bool_],
) -> npt.NDArray[np.datetime64]:
    """Birth dates: ages 22 to retirement; leaders ≥ 60 months left; ``near`` 6–59."""
    n = len(gender)

    def draw(idx: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        age = rng.triangular(22.0, 37.0, 61.5, len(idx))
        age = np.where(leader[idx], rng.triangular(32.0, 46.0, 57.0, len(idx)), age)
        is_f = gender[idx] == "F"
        return np.where(
            near[idx],
            np.where(is_f, rng.uniform(52.0, 57.0, len(idx)), rng.uniform(57.0, 61.3, len(idx))),
            age,
        )

    def to_birth(age: npt.NDArray[np.float64]) -> npt.NDArray[np.datetime64]:
        return _REFERENCE - np.round(age * 365.25).astype("timedelta64[D]")

    birth = to_birth(draw(np.arange(n)))
    for _ in range(60):
        left = _months_left(birth, gender)
        ok = (
            (left >= 1) & np.where(leader, left >= 60, True) & np.where(near, (left >= 6) & (left < 60), True)
        )
        bad = np.flatnonzero(~ok)
        if len(bad) == 0:
            break
        birth[bad] = to_birth(draw(bad))
    else:  # pragma: no cover - the draws converge in a few rounds
        birth[bad] = to_birth(np.full(len(bad), 40.0))
    return birth


def _homes(
    units: pd.DataFrame,
    rng: np.random.Generator,
    origin: npt.NDArray[np.int64],
    leader: npt.NDArray[np.bool_],
    non_local: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Homes around the origin unit; a tail of long commuters; island non-local leaders
    on the mainland."""
    n = len(origin)
    lat0 = units["lat"].to_numpy(dtype=float)
    lon0 = units["lon"].to_numpy(dtype=float)
    island = units["island"].to_numpy(dtype=bool)
    area = units["area_km2"].astype(float).to_numpy()
    known = area[~np.isnan(area)]
    area = np.where(np.isnan(area), float(np.median(known)) if len(known) else 4.0, area)
    sd = np.sqrt(np.maximum(area, 0.04)) / 2.0
    home_unit = origin.copy()
    if island.any() and not island.all():
        mainland = np.flatnonzero(~island)
        gap = haversine_km(lat0[:, None], lon0[:, None], lat0[None, mainland], lon0[None, mainland])
        nearest_mainland = mainland[np.argmin(gap, axis=1)]
        moved = island[origin] & non_local
        home_unit[moved] = nearest_mainland[origin[moved]]
    dx = rng.normal(0.0, 1.0, n) * sd[home_unit]
    dy = rng.normal(0.0, 1.0, n) * sd[home_unit]
    tail = (rng.random(n) < LONG_COMMUTE_SHARE) & ~leader & ~island[home_unit]
    radius = rng.uniform(*LONG_COMMUTE_KM, n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    dx = np.where(tail, radius * np.cos(angle), dx)
    dy = np.where(tail, radius * np.sin(angle), dy)
    lat = lat0[home_unit] + dy / _KM_PER_DEG_LAT
    lon = lon0[home_unit] + dx / (_KM_PER_DEG_LON * np.cos(np.radians(lat)))
    return lat, lon


def _road_km(
    lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64], units: pd.DataFrame
) -> npt.NDArray[np.float64]:
    ulat = units["lat"].to_numpy(dtype=float)
    ulon = units["lon"].to_numpy(dtype=float)
    return haversine_km(lat[:, None], lon[:, None], ulat[None, :], ulon[None, :]) * _ROAD


def _pins(
    units: pd.DataFrame,
    posts: pd.DataFrame,
    staff_ids: npt.NDArray[np.str_],
    position: npt.NDArray[np.str_],
    origin: npt.NDArray[np.int64],
    nearest: npt.NDArray[np.int64],
    dist: npt.NDArray[np.float64],
    island_ok: npt.NDArray[np.bool_],
    months_left: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Rotate the designated chairs (all units) and one vice-chair per mainland unit."""
    island = units["island"].to_numpy(dtype=bool)
    num_units = len(units)
    rows: list[tuple[int, int, str]] = []
    on_mainland = ~island[nearest]
    for p in PINNED_POSITIONS:
        has_line = np.zeros(num_units, dtype=bool)
        has_line[posts.loc[posts["position"] == p, "unit_idx"].to_numpy()] = True
        holders = np.flatnonzero((position == p) & (months_left >= 60) & (on_mainland | island_ok))
        if p == "committee_chair":
            cands = holders
            targets = np.flatnonzero(has_line)
        else:  # one vice-chair per mainland unit, to mainland units
            holders = holders[on_mainland[holders] & ~island[origin[holders]]]
            shuffled = holders[rng.permutation(len(holders))]
            _, first = np.unique(origin[shuffled], return_index=True)
            cands = np.sort(shuffled[first])
            targets = np.flatnonzero(has_line & ~island)
        rows.extend(
            (c, u, p) for c, u in _rotation(cands, targets, origin, nearest, dist, island, island_ok, rng)
        )
    unit_ids = units["unit_id"].to_numpy()
    notes = {p: t(f"synth.pin_note.{p}", "vi") for p in PINNED_POSITIONS}
    rows.sort()
    return pd.DataFrame(
        {
            "staff_idx": np.array([c for c, _, _ in rows], dtype=np.int64),
            "staff_id": [staff_ids[c] for c, _, _ in rows],
            "unit_id": [unit_ids[u] for _, u, _ in rows],
            "position": [p for _, _, p in rows],
            "mode": ["fix"] * len(rows),
            "note": [notes[p] for _, _, p in rows],
        }
    )


def _rotation(
    cands: npt.NDArray[np.intp],
    targets: npt.NDArray[np.intp],
    origin: npt.NDArray[np.int64],
    nearest: npt.NDArray[np.int64],
    dist: npt.NDArray[np.float64],
    island: npt.NDArray[np.bool_],
    island_ok: npt.NDArray[np.bool_],
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """Match candidates to target units where they are not local and may work.

    Greedy: the target with the fewest allowed candidates left picks its nearest
    allowed candidate, until no target can be served.
    """
    if len(cands) == 0 or len(targets) == 0:
        return []
    d = dist[np.ix_(cands, targets)]
    local = (origin[cands][:, None] == targets[None, :]) | (nearest[cands][:, None] == targets[None, :])
    reach = np.where(island[targets][None, :], island_ok[cands][:, None], d <= PIN_MAX_KM)
    allowed = reach & ~local
    noise = rng.random(len(targets)) * 1e-3
    free_c = np.ones(len(cands), dtype=bool)
    free_t = np.ones(len(targets), dtype=bool)
    pairs: list[tuple[int, int]] = []
    while True:
        options = (allowed & free_c[:, None]).sum(axis=0).astype(float) + noise
        options[~free_t | (options < 1)] = np.inf
        j = int(np.argmin(options))
        if not np.isfinite(options[j]):
            break
        col = np.where(allowed[:, j] & free_c, d[:, j], np.inf)
        i = int(np.argmin(col))
        pairs.append((int(cands[i]), int(targets[j])))
        free_c[i] = False
        free_t[j] = False
    return pairs


def _positions(
    posts: pd.DataFrame,
    rng: np.random.Generator,
    position: npt.NDArray[np.str_],
    category: npt.NDArray[np.str_],
    bloc: npt.NDArray[np.str_],
    leader: npt.NDArray[np.bool_],
    near: npt.NDArray[np.bool_],
) -> list[list[str]]:
    """Each person's positions: the current one, then 0–3 more they may hold.

    A civil servant in a leadership post close to retirement (``near``) may also hold
    :data:`RETIREMENT_FALLBACK`, so that ``service_left`` moves them rather than leaves
    them without a post.
    """
    offered = set(zip(posts["position"], posts["category"], strict=True))
    n = len(position)
    share = np.where(
        leader,
        EXTRA_POSITION_SHARE["leader"],
        np.where(
            np.isin(position, SURPLUS_POSITIONS),
            EXTRA_POSITION_SHARE["surplus"],
            EXTRA_POSITION_SHARE["staff"],
        ),
    )
    gets = rng.random(n) < share
    how_many = rng.integers(1, 4, n)
    cross = rng.random(n) < CROSS_BLOC_SHARE
    pools: dict[tuple[str, str, str], tuple[list[str], npt.NDArray[np.float64]]] = {}
    out: list[list[str]] = []
    for i in range(n):
        current = str(position[i])
        chosen = [current]
        if gets[i]:
            if leader[i]:
                pool = [p for p in LEADERSHIP_EXTRAS.get(current, ()) if (p, category[i]) in offered]
                k = min(int(how_many[i]), len(pool), 2)
                if k:
                    chosen += [pool[j] for j in sorted(rng.choice(len(pool), size=k, replace=False))]
            else:
                key = (current, str(category[i]), str(bloc[i]))
                if key not in pools:
                    own = GOV_PROFESSIONAL if bloc[i] == "government" else PARTY_PROFESSIONAL
                    names = [p for p in own if p != current and (p, category[i]) in offered]
                    w = np.array([SPEC[p].weight * (3.0 if p in SHORTAGE_POSITIONS else 1.0) for p in names])
                    pools[key] = (names, w / w.sum() if len(w) else w)
                names, w = pools[key]
                k = min(int(how_many[i]), len(names))
                if k:
                    chosen += [names[j] for j in rng.choice(len(names), size=k, replace=False, p=w)]
        if cross[i] and not leader[i]:
            other = [
                p for p in CROSS_BLOC.get(current, ()) if (p, category[i]) in offered and p not in chosen
            ]
            if other:  # at most 3 extra positions in all
                chosen = [*chosen[:3], other[0]]
        fallback = RETIREMENT_FALLBACK[str(bloc[i])]
        if near[i] and (fallback, category[i]) in offered and fallback not in chosen:
            chosen = [*chosen[:3], fallback]
        out.append(chosen)
    return out


def _names(
    rng: np.random.Generator, gender: npt.NDArray[np.str_]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Family names and the rest of each full name (middle and given names, by gender)."""
    n = len(gender)
    fam, weight = zip(*_FAMILY_NAMES, strict=True)
    w = np.array(weight) / sum(weight)
    family = np.array(fam)[rng.choice(len(fam), size=n, p=w)]
    rest = np.empty(n, dtype=object)
    second = rng.random(n) < 0.2
    draws = rng.random((n, 3))

    def pick(names: tuple[str, ...], u: float) -> str:
        return names[int(u * len(names))]

    for i in range(n):
        g = str(gender[i])
        middle = pick(_MIDDLE_NAMES[g], draws[i, 0])
        parts = [middle, pick(_SECOND_MIDDLE[g], draws[i, 1]), pick(_GIVEN_NAMES[g], draws[i, 2])]
        if not second[i] or len(set(parts)) < 3:
            del parts[1]
        if parts[0] == parts[-1]:  # e.g. "Ngọc Ngọc": take the next middle name
            names = _MIDDLE_NAMES[g]
            parts[0] = names[(names.index(middle) + 1) % len(names)]
        rest[i] = " ".join(parts)
    return family.astype(object), rest


def _grades(
    rng: np.random.Generator,
    category: npt.NDArray[np.str_],
    leader: npt.NDArray[np.bool_],
    position: npt.NDArray[np.str_],
) -> npt.NDArray[np.object_]:
    key = np.where(leader & (category == "civil_servant"), "civil_servant_leader", category)
    out = np.empty(len(category), dtype=object)
    u = rng.random(len(category))
    for k, table in _GRADES.items():
        sel = key == k
        edges = np.cumsum([p for _, p in table])
        idx = np.minimum(np.searchsorted(edges, u[sel], side="right"), len(table) - 1)
        out[sel] = np.array([g for g, _ in table], dtype=object)[idx]
    accountant = (position == "finance") & (category == "civil_servant") & (rng.random(len(category)) < 0.5)
    out[accountant] = "kế toán viên"
    return out


def _former_names(
    units: pd.DataFrame,
    former_units: pd.DataFrame | None,
    rng: np.random.Generator,
    origin: npt.NDArray[np.int64],
) -> npt.NDArray[np.object_]:
    """A pre-merger unit of each person's origin unit."""
    by_name = {nfc(name): i for i, name in enumerate(units["name"])}
    former: list[list[str]] = [[] for _ in range(len(units))]
    if former_units is not None:
        district = former_units.get("old_district", pd.Series("", index=former_units.index)).fillna("")
        for old, dist_name, new in zip(
            former_units["old_name"].fillna(""),
            district,
            former_units["new_unit_name"].fillna(""),
            strict=True,
        ):
            old_n, dist_n = nfc(old), nfc(dist_name)
            label = old_n if not dist_n or dist_n == old_n else f"{old_n}, {dist_n}"
            for target in str(new).split(";"):
                u = by_name.get(nfc(target))
                if u is None:
                    if nfc(target):
                        logger.warning("former unit %s: no unit named %s", old_n, nfc(target))
                    continue
                former[u].append(label)
    invented = rng.integers(2, 5, len(units))
    for u, names in enumerate(former):
        if not names:
            names.extend(f"{nfc(units['name'].iat[u])} {k + 1}" for k in range(int(invented[u])))
    pick = rng.random(len(origin))
    out = np.empty(len(origin), dtype=object)
    for i, u in enumerate(origin):
        names = former[u]
        out[i] = names[int(pick[i] * len(names))]
    return out


def _preferences(
    rng: np.random.Generator,
    dist: npt.NDArray[np.float64],
    nearest: npt.NDArray[np.int64],
    island: npt.NDArray[np.bool_],
) -> list[tuple[int, ...]]:
    """1–3 preferred units near home, best first, for a share of the people."""
    n = dist.shape[0]
    has = np.less(rng.random(n), PREFERENCE_SHARE)
    size = rng.choice(np.array([1, 2, 3]), size=n, p=[0.4, 0.35, 0.25])
    swap = np.less(rng.random(n), 0.2)
    order = np.argsort(dist, axis=1, kind="stable")[:, :4]
    out: list[tuple[int, ...]] = []
    for i in range(n):
        if not has[i]:
            out.append(())
            continue
        if island[nearest[i]]:
            out.append((int(nearest[i]),))
            continue
        near = [int(u) for u in order[i] if dist[i, u] <= _CAP_KM and not island[u]]
        near = near or [int(nearest[i])]
        k = min(int(size[i]), len(near))
        picked = sorted(rng.choice(len(near), size=k, replace=False).tolist())
        ranked = [near[j] for j in picked]
        if swap[i] and k > 1:
            ranked[0], ranked[1] = ranked[1], ranked[0]
        out.append(tuple(ranked))
    return out


def _relations(
    rng: np.random.Generator,
    origin: npt.NDArray[np.int64],
    leader: npt.NDArray[np.bool_],
    pinned: npt.NDArray[np.bool_],
    gender: npt.NDArray[np.str_],
    birth: npt.NDArray[np.datetime64],
    family: npt.NDArray[np.object_],
) -> list[tuple[int, int, str]]:
    """Pairs of relatives: ``relation`` is what ``relative_id`` is to ``staff_id``.

    Half the pairs share an origin unit (a third of those around a leader), the others
    do not. Spouses are of opposite gender and siblings within 12 years of age; a
    parent is at least 20 years older. Siblings, and a parent and child through the
    father, share the family name (rewritten in ``family``). Pinned people are left out.
    """
    n = len(origin)
    num_pairs = round(RELATIVE_PAIR_SHARE * n)
    free = ~pinned
    years = birth.astype("datetime64[D]").astype(np.int64) / 365.25
    kinds = [r for r, _ in _RELATIONS]
    probs = np.array([w for _, w in _RELATIONS])
    same_unit = num_pairs // 2
    pairs: list[tuple[int, int, str]] = []
    for k in range(num_pairs):
        want_leader = k < same_unit // 3
        pool = np.flatnonzero(free & leader) if want_leader else np.flatnonzero(free)
        if len(pool) < 2:
            break
        a = int(pool[rng.integers(len(pool))])
        relation = str(kinds[rng.choice(len(kinds), p=probs)])
        gap = years - years[a]  # < 0: older than a
        fits = {
            "spouse": (gender != gender[a]) & (np.abs(gap) <= 12),
            "sibling": np.abs(gap) <= 12,
            "parent": gap <= -20,
            "child": gap >= 20,
            "in_law": np.ones(n, dtype=bool),
        }[relation]
        same = np.equal(origin, origin[a])
        where = same if k < same_unit else ~same
        cand = np.flatnonzero(free & fits & where & (np.arange(n) != a))
        if len(cand) == 0:
            relation = "in_law"
            cand = np.flatnonzero(free & where & (np.arange(n) != a))
            if len(cand) == 0:
                continue
        b = int(cand[rng.integers(len(cand))])
        free[a] = free[b] = False
        if relation == "sibling":
            family[b] = family[a]
        elif relation == "parent" and gender[b] == "M":
            family[a] = family[b]
        elif relation == "child" and gender[a] == "M":
            family[b] = family[a]
        pairs.append((a, b, relation))
    return pairs


def _normalise_units(units: pd.DataFrame) -> pd.DataFrame:
    """Contract columns with defaults: text NFC, unknown population/area NaN, island bool."""
    out = pd.DataFrame(
        {
            "unit_id": units["unit_id"].map(nfc).to_numpy(),
            "name": units["name"].map(nfc).to_numpy(),
            "kind": units["kind"].map(nfc).to_numpy(),
            "lat": pd.to_numeric(units["lat"]).astype(float).to_numpy(),
            "lon": pd.to_numeric(units["lon"]).astype(float).to_numpy(),
        }
    )
    for col in ("population", "area_km2"):
        values = units[col] if col in units else pd.Series(np.nan, index=units.index)
        out[col] = pd.to_numeric(values).to_numpy()
    out["population"] = out["population"].round().astype("Int64")
    island = units["island"].map(_parse_bool) if "island" in units else pd.Series(False, index=units.index)
    out["island"] = island.fillna(False).astype(bool).to_numpy()
    return out


# =========================================================================== balance


def position_balance(posts: pd.DataFrame, staff: pd.DataFrame) -> pd.DataFrame:
    """People in post against quota, per position code (DOMAIN §6, "how planners count").

    Parameters
    ----------
    posts
        A staffing table (``position``, ``max``, ``bloc``).
    staff
        The roster; a person counts for their current position (first in ``positions``).

    Returns
    -------
    pandas.DataFrame
        One row per position, sorted by bloc and position: ``bloc, position, people,
        max, surplus, shortage`` with ``surplus = max(0, people − Σmax)`` and
        ``shortage = max(0, Σmax − people)``.
    """
    current = staff["positions"].astype(str).str.split(";").str[0]
    people = current.groupby(staff["bloc"].to_numpy()).value_counts()
    people.index.names = ["bloc", "position"]
    quota = posts.groupby(["bloc", "position"])["max"].sum()
    table = pd.concat([people.rename("people"), quota.rename("max")], axis=1).fillna(0).astype(np.int64)
    table["surplus"] = (table["people"] - table["max"]).clip(lower=0)
    table["shortage"] = (table["max"] - table["people"]).clip(lower=0)
    return table.sort_index().reset_index()


# =========================================================================== output


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write one table as UTF-8 CSV, booleans as ``true``/``false``, via a temporary name."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col].to_numpy(), "true", "false")
    tmp = path.with_name(f".{path.name}.tmp")
    out.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    os.replace(tmp, path)


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    out_dir: Path,
    formats: Sequence[str] = ("csv", "xlsx"),
) -> list[Path]:
    """Write the tables of :func:`synthesize` to ``out_dir``.

    Parameters
    ----------
    tables
        Table name → frame (the tables of :data:`TABLE_COLUMNS`, or any subset).
    out_dir
        Created if needed.
    formats
        ``"csv"``: one ``<name>.csv`` per table; ``"xlsx"``: one workbook
        :data:`WORKBOOK_NAME` with a sheet per table (text cells written as text, never
        as formulas). Every file is written under a temporary name, then renamed.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "csv" in formats:
        for name, frame in tables.items():
            path = out_dir / f"{name}.csv"
            write_csv(frame, path)
            written.append(path)
    if "xlsx" in formats:
        path = out_dir / WORKBOOK_NAME
        _write_workbook(tables, path)
        written.append(path)
    return written


def _write_workbook(tables: Mapping[str, pd.DataFrame], path: Path) -> None:
    import xlsxwriter

    tmp = path.with_name(f".{path.name}.tmp")
    book = xlsxwriter.Workbook(str(tmp), {"constant_memory": True, "strings_to_formulas": False})
    book.set_properties({"created": dt.datetime(2025, 7, 1)})
    bold = book.add_format({"bold": True})
    for name, frame in tables.items():
        sheet = book.add_worksheet(name)
        sheet.freeze_panes(1, 0)
        for c, col in enumerate(frame.columns):
            sheet.write_string(0, c, str(col), bold)
            sheet.set_column(c, c, max(10, min(40, len(str(col)) + 2)))
        columns = [frame[col].to_numpy(dtype=object) for col in frame.columns]
        for r in range(len(frame)):
            for c, values in enumerate(columns):
                _write_cell(sheet, r + 1, c, values[r])
    book.close()
    os.replace(tmp, path)


def _write_cell(sheet: object, row: int, col: int, value: object) -> None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return
    if isinstance(value, bool | np.bool_):
        sheet.write_boolean(row, col, bool(value))  # type: ignore[attr-defined]
    elif isinstance(value, int | float | np.integer | np.floating):
        sheet.write_number(row, col, float(value))  # type: ignore[attr-defined]
    else:
        sheet.write_string(row, col, str(value))  # type: ignore[attr-defined]


# =========================================================================== helpers


def _read_csv(path: Path, dtype: Mapping[str, type]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(
            [
                Issue(
                    file=str(path),
                    message=t("synth.file_missing"),
                    hint=t("synth.file_missing_hint"),
                )
            ]
        )
    return pd.read_csv(path, dtype=dict(dtype), encoding="utf-8-sig", keep_default_na=True)


def _require_columns(frame: pd.DataFrame, path: Path, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            [
                Issue(
                    file=str(path),
                    column=c,
                    message=t("synth.missing_column", column=c),
                    hint=t("synth.missing_column_hint"),
                    code="missing_column",
                )
                for c in missing
            ]
        )


def _cell_issue(path: Path, row: int, column: str, value: object, key: str, **kwargs: object) -> Issue:
    return Issue(
        file=str(path),
        row=int(row) + 2,
        column=column,
        value="" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value),
        message=t(key, **kwargs),
        code=key.removeprefix("synth."),
    )


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    return nfc(str(value)).lower() in ("true", "1", "yes", "x", "có", "co")
