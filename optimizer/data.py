"""Validated, solver-free problem data (layer 1).

Everything the solver, the checker, the KPIs and the exports need is held here as
plain tuples and numpy arrays.  Nothing in this module imports pandas or OR-Tools:
the tables are read and validated in :mod:`optimizer.io`, which builds a
:class:`Problem`.

Index conventions: units, post lines and staff are numbered from 0 in input order;
``*_idx`` arrays hold such indices; ``-1`` means "none" (e.g. an unplaced person).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt

BLOCS = ("party", "government")
CATEGORIES = ("cadre", "civil_servant", "public_employee", "part_time_worker")
KINDS = ("ward", "commune", "special_zone")
DEPARTMENTS = (
    "dept_office",
    "dept_economy",
    "dept_economy_urban",
    "dept_culture_social",
    "public_service_center",
    "military_command",
    "party_office",
    "party_building_board",
    "inspection_office",
    "fatherland_front",
)
RELATIONS = ("spouse", "parent", "child", "sibling", "in_law")
PIN_MODES = ("fix", "forbid")
GENDERS = ("F", "M")

#: Objective terms of DESIGN §5, in the default lexicographic order.
TERMS = ("shortfall", "unplaced", "moves", "long_commute", "commute", "preference")

#: Extra term of a re-plan: people whose placement differs from the base run's.
CHANGES = "changes"

#: Hard rule ids of DESIGN §4: the same ids in the model, the checker, explanations, tests.
RULE_IDS = (
    "one_post",
    "post_max",
    "post_min",
    "qualification",
    "commute_cap",
    "island",
    "non_local",
    "relatives",
    "service_left",
    "pins",
    "bloc_change",
)

#: Shortfall on a leadership post line counts this many times (DESIGN §5).
LEADERSHIP_SHORTFALL_WEIGHT = 10

IntArray = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Rules:
    """The scenario's ``[rules]`` table (DESIGN §4, §6)."""

    max_commute_km: float = 30.0
    road_factor: float = 1.3
    long_commute_km: float = 20.0
    require_all_placed: bool = False
    min_is_hard: bool = False
    relatives_scope: Literal["leadership", "any", "off"] = "leadership"
    min_service_months: int = 60
    reference_date: dt.date = dt.date(2025, 7, 1)
    bloc_change: Literal["allow", "penalize", "forbid"] = "penalize"


@dataclass(frozen=True)
class Objective:
    """The scenario's ``[objective]`` table: lexicographic priorities or weights."""

    priorities: tuple[str, ...] = TERMS
    #: integer weights: the scenario's decimal weights times ``weights_scale``
    weights: tuple[tuple[str, int], ...] | None = None
    #: common denominator of the scenario's decimal weights (1 for whole numbers): a
    #: weighted objective in the planner's units is the integer one divided by it
    weights_scale: int = 1

    @property
    def mode(self) -> Literal["lexicographic", "weights"]:
        """``"weights"`` when weights are given, else ``"lexicographic"``."""
        return "weights" if self.weights is not None else "lexicographic"


@dataclass(frozen=True)
class SolverParams:
    """The scenario's ``[solver]`` table."""

    time_limit_s: float = 60.0
    workers: int = 2
    seed: int = 0


@dataclass(frozen=True)
class Units:
    """Commune-level units (table ``units``)."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    lat: FloatArray
    lon: FloatArray
    population: FloatArray  # NaN where unknown
    area_km2: FloatArray  # NaN where unknown
    island: BoolArray

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def id2idx(self) -> dict[str, int]:
        """Map a unit id to its index."""
        return {u: i for i, u in enumerate(self.ids)}


@dataclass(frozen=True)
class Posts:
    """Post lines of the staffing table (table ``posts``), one per row."""

    unit_idx: Int32Array
    bloc: tuple[str, ...]
    department: tuple[str, ...]
    position: tuple[str, ...]
    category: tuple[str, ...]
    min: IntArray
    max: IntArray
    leadership: BoolArray
    non_local: BoolArray

    def __len__(self) -> int:
        return len(self.bloc)


@dataclass(frozen=True)
class Staff:
    """The roster (table ``staff``), one person per row."""

    ids: tuple[str, ...]
    full_name: tuple[str, ...]
    birth_date: DateArray  # datetime64[D]
    gender: tuple[str, ...]  # "F" or "M"
    category: tuple[str, ...]
    bloc: tuple[str, ...]
    positions: tuple[tuple[str, ...], ...]  # qualified position codes, current first
    grade: tuple[str, ...]  # "" where not given
    former_unit: tuple[str, ...]
    origin_idx: Int32Array
    home_lat: FloatArray
    home_lon: FloatArray
    local_idx: tuple[tuple[int, ...], ...]  # units where the person is local
    island_ok: BoolArray
    preferences: tuple[tuple[int, ...], ...]  # unit indices, best first
    #: the home is a unit's point (given as ``home_unit``), not the person's coordinates;
    #: ``None`` when not known (a roster built in memory)
    home_approx: BoolArray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def id2idx(self) -> dict[str, int]:
        """Map a staff id to its index."""
        return {s: i for i, s in enumerate(self.ids)}


@dataclass(frozen=True)
class Relations:
    """Pairs of relatives (table ``relations``)."""

    a_idx: Int32Array
    b_idx: Int32Array
    relation: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.relation)


@dataclass(frozen=True)
class Pins:
    """Decisions already taken (table ``pins``): ``fix`` holds, ``forbid`` never happens."""

    staff_idx: Int32Array
    unit_idx: Int32Array
    position: tuple[str | None, ...]
    mode: tuple[str, ...]
    note: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.mode)


def empty_relations() -> Relations:
    """Return a relations table with no rows."""
    return Relations(np.zeros(0, np.int32), np.zeros(0, np.int32), ())


def empty_pins() -> Pins:
    """Return a pins table with no rows."""
    return Pins(np.zeros(0, np.int32), np.zeros(0, np.int32), (), (), ())


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Great-circle distance in km between broadcastable arrays of coordinates (degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    q1, q2 = np.radians(lon1), np.radians(lon2)
    # a = sin²(Δφ/2) + cos φ1 cos φ2 sin²(Δλ/2); d = 2 R asin √clip(a, 0, 1): the same
    # floating-point operations in the same order as written, in two arrays of the full
    # shape (each new array of the city's 16k × 168 distances costs its page faults).
    shape = np.broadcast_shapes(np.shape(p1), np.shape(p2), np.shape(q1), np.shape(q2))
    dtype = np.result_type(p1, p2, q1, q2)
    x, y = np.empty(shape, dtype=dtype), np.empty(shape, dtype=dtype)
    np.multiply(np.cos(p1), np.cos(p2), out=x)
    np.subtract(q2, q1, out=y)
    y /= 2
    np.sin(y, out=y)
    y *= y
    x *= y  # cos φ1 cos φ2 sin²(Δλ/2)
    np.subtract(p2, p1, out=y)
    y /= 2
    np.sin(y, out=y)
    y *= y  # sin²(Δφ/2)
    y += x
    np.clip(y, 0.0, 1.0, out=y)
    np.sqrt(y, out=y)
    np.arcsin(y, out=y)
    y *= 2 * EARTH_RADIUS_KM
    return y[()]  # a scalar for scalars


#: Fewest person × unit distances worked out by two threads (the city has 2.7 million).
DIST_SPLIT_MIN = 1 << 18
#: Distances worked out together by :attr:`Problem.dist_km` (two float64 temporaries).
DIST_BLOCK = 1 << 16


def in_two_halves(fill: Callable[[slice], None], n: int) -> None:
    """``fill(slice(0, n // 2))`` here and ``fill(slice(n // 2, n))`` in a helper thread,
    at once (for work that lets go of the GIL); an exception of either is raised here."""
    failed: list[Exception] = []

    def second() -> None:
        try:
            fill(slice(n // 2, n))
        except Exception as exc:  # raised again in the calling thread
            failed.append(exc)

    helper = threading.Thread(target=second, name="staffplan-half", daemon=True)
    helper.start()
    try:
        fill(slice(0, n // 2))
    finally:
        helper.join()
    if failed:
        raise failed[0]


def retirement_date(birth: DateArray, gender: tuple[str, ...]) -> DateArray:
    """Statutory retirement dates under Decree 135/2020 (DOMAIN §3.3).

    Men: 60 years 3 months in 2021, +3 months a year, capped at 62 years (2028).
    Women: 55 years 4 months in 2021, +4 months a year, capped at 60 years (2035).
    The age applies to the year in which it is reached: a person retires in the first
    month after reaching the age in force that year (Phụ lục I of the decree).
    """
    b = birth.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    female = np.array([g == "F" for g in gender], dtype=bool)
    out = np.empty(len(b), dtype=np.int64)
    # Search the retirement year: the first year Y whose age-in-force, added to the
    # birth month, falls within Y.  Ages are in months.
    for is_f in (False, True):
        sel = female == is_f
        if not sel.any():
            continue
        bm = b[sel]
        base, step, cap = (55 * 12 + 4, 4, 60 * 12) if is_f else (60 * 12 + 3, 3, 62 * 12)
        best = np.full(len(bm), np.iinfo(np.int64).max)
        for year in range(2021, 2036 + 1):
            age = min(base + step * (year - 2021), cap)
            reach = bm + age  # month the age is reached (months since 1970-01)
            reach_year = 1970 + reach // 12
            ok = reach_year == year
            best = np.where(ok & (best == np.iinfo(np.int64).max), reach, best)
        # Reached before 2021: the 2019 Labour Code's first-year ages apply.
        early = bm + base
        late = bm + cap
        best = np.where(
            best == np.iinfo(np.int64).max, np.where(early < (2021 - 1970) * 12, early, late), best
        )
        out[sel] = best + 1  # retires the month after reaching the age
    return out.astype("datetime64[M]").astype("datetime64[D]")


@dataclass(frozen=True)
class Problem:
    """A validated placement problem: tables, rules, objective and solver parameters.

    Derived arrays (distances, masks, retirement dates) are computed once on first use.
    """

    name: str
    units: Units
    posts: Posts
    staff: Staff
    relations: Relations = field(default_factory=empty_relations)
    pins: Pins = field(default_factory=empty_pins)
    rules: Rules = field(default_factory=Rules)
    objective: Objective = field(default_factory=Objective)
    solver: SolverParams = field(default_factory=SolverParams)

    @property
    def num_staff(self) -> int:
        """Number of people on the roster."""
        return len(self.staff)

    @property
    def num_posts(self) -> int:
        """Number of post lines."""
        return len(self.posts)

    @property
    def num_units(self) -> int:
        """Number of units."""
        return len(self.units)

    @cached_property
    def dist_km(self) -> npt.NDArray[np.float32]:
        """Commuting distance person × unit: great-circle × ``road_factor``, km.

        A large matrix (:data:`DIST_SPLIT_MIN`) is worked out in two halves of the people
        at once, the second by a helper thread (NumPy's loops let go of the GIL): the same
        values in about half the wall time when a second core is free (the sines of the
        city's 2.7 million distances take 0.07 s).  Each half goes by blocks of
        :data:`DIST_BLOCK` distances, whose float64 temporaries the next block reuses
        (on the city 1,000-1,500 page faults instead of 2,500-3,000).
        """
        out = np.empty((self.num_staff, self.num_units), dtype=np.float32)

        def fill(people: slice) -> None:
            start, stop, _ = people.indices(self.num_staff)
            step = max(1, DIST_BLOCK // max(1, self.num_units))
            for lo in range(start, stop, step):
                rows = slice(lo, min(stop, lo + step))
                d = haversine_km(
                    self.staff.home_lat[rows, None],
                    self.staff.home_lon[rows, None],
                    self.units.lat[None, :],
                    self.units.lon[None, :],
                )
                d *= self.rules.road_factor  # in place: the same product, no third array
                out[rows] = d

        if out.size < DIST_SPLIT_MIN:
            fill(slice(None))
        else:
            in_two_halves(fill, self.num_staff)
        return out

    @cached_property
    def local_mask(self) -> BoolArray:
        """``local_mask[i, u]``: person ``i`` counts as local to unit ``u``."""
        m = np.zeros((self.num_staff, self.num_units), dtype=bool)
        rows = np.repeat(np.arange(self.num_staff), [len(x) for x in self.staff.local_idx])
        cols = np.fromiter((u for x in self.staff.local_idx for u in x), dtype=np.int64, count=len(rows))
        m[rows, cols] = True
        return m

    @cached_property
    def position_codes(self) -> tuple[str, ...]:
        """Every position code used by a post line or a person, sorted."""
        codes = set(self.posts.position)
        for p in self.staff.positions:
            codes.update(p)
        return tuple(sorted(codes))

    @cached_property
    def post_position_idx(self) -> Int32Array:
        """Index into :attr:`position_codes` of each post line's position."""
        idx = {c: i for i, c in enumerate(self.position_codes)}
        return np.array([idx[p] for p in self.posts.position], dtype=np.int32)

    @cached_property
    def staff_position_mask(self) -> BoolArray:
        """``staff_position_mask[i, k]``: person ``i`` may hold position code ``k``."""
        idx = {c: i for i, c in enumerate(self.position_codes)}
        m = np.zeros((self.num_staff, len(self.position_codes)), dtype=bool)
        counts = [len(ps) for ps in self.staff.positions]
        rows = np.repeat(np.arange(self.num_staff), counts)
        cols = np.fromiter(
            (idx[p] for ps in self.staff.positions for p in ps), dtype=np.int64, count=len(rows)
        )
        m[rows, cols] = True
        return m

    @cached_property
    def retirement(self) -> DateArray:
        """Statutory retirement date of each person (Decree 135/2020)."""
        return retirement_date(self.staff.birth_date, self.staff.gender)

    @cached_property
    def months_left(self) -> IntArray:
        """Whole months from ``reference_date`` to the retirement date (may be negative)."""
        ref = np.datetime64(self.rules.reference_date, "M").astype(np.int64)
        ret = self.retirement.astype("datetime64[M]").astype(np.int64)
        return ret - ref

    def commute_units(self, dist_km: FloatArray) -> IntArray:
        """Distance in the objective's units of 100 m, rounded to nearest (DESIGN §5)."""
        tenths = np.multiply(dist_km, 10.0, dtype=np.float64)
        return np.rint(tenths, out=np.empty(tenths.shape, dtype=np.int64), casting="unsafe")
