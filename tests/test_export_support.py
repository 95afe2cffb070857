"""A tiny stored run for the annex tests (no solver, no store file).

Three units of three kinds, post lines in both blocs, eleven people whose names use every
kind of Vietnamese mark (one given decomposed, NFD), one hostile name that looks like a
spreadsheet formula and one with XML characters; a hand-made assignment with a pinned
person, a bloc change and three people left without a post.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from functools import cache

import numpy as np

from optimizer.data import Pins, Posts, Problem, Rules, Staff, Units
from optimizer.placement_tables import run_tables
from optimizer.rules.reason import Reason
from optimizer.store import StoredRun, manifest_hash, run_manifest

UNITS = (
    ("26734", "Phường Sài Gòn", "ward"),
    ("27004", "Xã Bình Chánh", "commune"),
    ("26680", "Đặc khu Côn Đảo", "special_zone"),
)
# unit, bloc, department, position, category, min, max, leadership
POSTS = (
    (0, "government", "dept_office", "committee_chair", "cadre", 1, 1, True),
    (0, "government", "dept_economy_urban", "finance", "civil_servant", 2, 3, False),
    (0, "government", "public_service_center", "dept_head", "civil_servant", 1, 1, True),
    (0, "party", "party_office", "party_office_staff", "civil_servant", 1, 2, False),
    (1, "government", "dept_culture_social", "health", "civil_servant", 2, 2, False),
    (1, "party", "fatherland_front", "front_staff", "civil_servant", 0, 1, False),
    (2, "government", "dept_office", "office_admin", "civil_servant", 1, 2, False),
)
# name, birth, gender, category, bloc, positions, grade, former unit, origin, post (-1: none)
PEOPLE = (
    ("Nguyễn Văn Ánh", "1975-03-12", "M", "cadre", "government", "committee_chair",
     "chuyên viên chính", "Phường Bến Nghé, Quận 1", 0, 0),
    ("Trần Thị Bảo Ngọc", "1988-11-02", "F", "civil_servant", "government", "finance",
     "chuyên viên", "Phường Bến Thành, Quận 1", 0, 1),
    (unicodedata.normalize("NFD", "Lê Hoàng Phúc"), "1990-01-30", "M", "civil_servant",
     "government", "finance", "", "Phường 2, Thành phố Vũng Tàu", 0, 1),
    ("Phạm Thị Hường", "1979-07-07", "F", "civil_servant", "government", "dept_head",
     "chuyên viên chính", "Phường Đa Kao, Quận 1", 0, 2),
    ("=HYPERLINK(\"http://x\",\"Võ Đức Thắng\")", "1985-05-05", "M", "civil_servant",
     "party", "party_office_staff;office_admin", "cán sự", "@Xã cũ", 0, 3),
    ("Đặng Quỳnh Như <b>&amp;", "1993-09-09", "F", "civil_servant", "government",
     "party_office_staff;office_admin", "chuyên viên", "-Phường 5", 0, 3),
    ("Huỳnh Ngọc Ẩn", "1982-02-28", "M", "civil_servant", "government", "health",
     "chuyên viên", "Xã Tân Kiên, Huyện Bình Chánh", 1, 4),
    ("Dương Thị Mỹ Hạnh", "1970-12-31", "F", "civil_servant", "government", "health",
     "chuyên viên", "Xã An Phú Tây, Huyện Bình Chánh", 1, -1),
    ("Ông Ích Khiêm", "1968-04-15", "M", "civil_servant", "party", "front_staff",
     "nhân viên", "Xã Bình Chánh, Huyện Bình Chánh", 1, 5),
    ("Tạ Thị Ưng", "1995-06-21", "F", "civil_servant", "government", "office_admin",
     "", "Thị trấn Côn Đảo, Huyện Côn Đảo", 2, 6),
    ("Lý Thường Kiệt", "1960-10-10", "M", "civil_servant", "government", "office_admin",
     "chuyên viên", "Thị trấn Côn Đảo, Huyện Côn Đảo", 2, -1),
    ("Bùi Thị Xuân", "1999-08-08", "F", "civil_servant", "government", "finance",
     "cán sự", "Phường Bến Nghé, Quận 1", 0, -1),
)  # fmt: skip


#: The people left without a post, in the order of Annex III (by unit of origin).
SURPLUS_NAMES = ["Bùi Thị Xuân", "Dương Thị Mỹ Hạnh", "Lý Thường Kiệt"]


def make_problem() -> Problem:
    """The tiny problem described in the module docstring."""
    nu = len(UNITS)
    units = Units(
        tuple(u[0] for u in UNITS),
        tuple(u[1] for u in UNITS),
        tuple(u[2] for u in UNITS),
        np.array([10.776, 10.69, 8.68]),
        np.array([106.70, 106.58, 106.61]),
        np.full(nu, np.nan),
        np.full(nu, np.nan),
        np.array([False, False, True]),
    )
    posts = Posts(
        np.array([p[0] for p in POSTS], dtype=np.int32),
        *(tuple(p[k] for p in POSTS) for k in (1, 2, 3, 4)),
        np.array([p[5] for p in POSTS], dtype=np.int64),
        np.array([p[6] for p in POSTS], dtype=np.int64),
        np.array([p[7] for p in POSTS], dtype=bool),
        np.zeros(len(POSTS), dtype=bool),
    )
    n = len(PEOPLE)
    origin = np.array([p[8] for p in PEOPLE], dtype=np.int32)
    staff = Staff(
        tuple(f"S{i:02d}" for i in range(n)),
        tuple(p[0] for p in PEOPLE),
        np.array([p[1] for p in PEOPLE], dtype="datetime64[D]"),
        tuple(p[2] for p in PEOPLE),
        tuple(p[3] for p in PEOPLE),
        tuple(p[4] for p in PEOPLE),
        tuple(tuple(p[5].split(";")) for p in PEOPLE),
        tuple(p[6] for p in PEOPLE),
        tuple(p[7] for p in PEOPLE),
        origin,
        units.lat[origin],
        units.lon[origin],
        tuple((int(o),) for o in origin),
        np.array([o == 2 for o in origin]),
        tuple(() for _ in PEOPLE),
    )
    pins = Pins(
        np.array([0], dtype=np.int32), np.array([0], dtype=np.int32), ("committee_chair",),
        ("fix",), ("",),
    )  # fmt: skip
    return Problem("tiny-annex", units, posts, staff, pins=pins, rules=Rules())


def assignment() -> np.ndarray:
    """The hand-made placement: post line per person, -1 for the unplaced."""
    return np.array([p[9] for p in PEOPLE], dtype=np.int32)


#: Why the surplus people of :func:`make_run` are unplaced (stored as this code).
SURPLUS_REASON = Reason("unplaced_full", {"positions": ["vh_xh"], "units": 2})


@cache
def make_run(nobody_placed: bool = False) -> StoredRun:
    """A stored run of the tiny problem (or one that places nobody), with a manifest hash
    that certifies it."""
    problem = make_problem()
    placed = np.full(len(PEOPLE), -1, dtype=np.int32) if nobody_placed else assignment()
    reasons = {int(i): SURPLUS_REASON for i in np.flatnonzero(placed < 0)}
    tables = run_tables(problem, placed, reasons)
    meta = {
        "scenario_hash": "0" * 64,
        "resolved_scenario": {"name": problem.name},
        "overrides": [],
        "input_hashes": {},
        "package_version": "0.1.0",
        "solver_params": {"time_limit_s": 1, "workers": 1, "seed": 0},
    }
    run = StoredRun(
        run_id="r0001-abc123",
        created_at="2025-07-01T08:00:00+07:00",
        scenario_name=problem.name,
        status="optimal",
        proven=True,
        manifest_hash="",
        meta=meta,
        tables=tables,
        kpis={},
    )
    return dataclasses.replace(run, manifest_hash=manifest_hash(run_manifest(run)))
