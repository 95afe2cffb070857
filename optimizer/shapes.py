"""Provinces of other shapes than HCMC: synthetic units, rosters and scenarios (layer 1).

A :class:`Shape` says what a province looks like — how many people hold one post line
(1–10), islands and an uninhabited unit, the share of people with a relative on the
roster and the rule's scope, relatives of ``fix``-pinned leaders in the unit they are
pinned to, extra ``fix`` and ``forbid`` pins, ``bloc_change``, the priority order or
decimal weights, ``min_is_hard`` and ``require_all_placed``.  :func:`make_province`
draws units for it, calls :func:`~optimizer.synth.synthesize` on them, reshapes the
tables and returns them with a scenario (``scenario.toml``) that solves them.
:data:`SHAPES` is the registry of named shapes used by ``staffplan synth --shape`` and
by the solver's differential tests and corpus benchmark.  Deterministic by seed; it
knows no solver.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.data import TERMS, haversine_km
from optimizer.synth import SPEC, TABLE_COLUMNS, synthesize, write_tables

#: Centre of the synthetic province (a coastal province of central Việt Nam).
CENTRE = (15.55, 108.0)
#: Distance between neighbouring units of the grid, in km.
UNIT_SPACING_KM = 7.0
#: People per unit in leadership posts (about 20 government and 11 party lines).
LEADERS_PER_UNIT = 31
#: Professional post lines per unit, roughly (government and party positions and their
#: second categories).
PROFESSIONAL_LINES = 34
#: Extra pins go to people living this close to their origin unit (km, straight line).
PIN_HOME_KM = 10.0
#: Share of the people in the party bloc (HCMC: 3,878 of 15,997).
PARTY_SHARE = 0.24
#: The staffing table of each ``Shape.staffing``.
STAFFING = {"transition": "posts_transition", "calibrated": "posts", "norm2030": "posts_norm2030"}
#: The default lexicographic order, and the two others the corpus uses.
DEFAULT_ORDER = TERMS
COMMUTE_FIRST = ("shortfall", "unplaced", "long_commute", "moves", "commute", "preference")
PREFERENCE_FIRST = ("preference", "shortfall", "unplaced", "moves", "long_commute", "commute")
#: The planner's decimal weights of the robustness issue.
DECIMAL_WEIGHTS = {
    "shortfall": 1000.0,
    "unplaced": 100.0,
    "moves": 10.0,
    "long_commute": 5.0,
    "commute": 0.01,
    "preference": 1.0,
}


@dataclass(frozen=True)
class Shape:
    """What a synthetic province looks like (see the module docstring).

    Attributes
    ----------
    line_people:
        Mean people per professional post line (1–10): sets the number of units.
    islands:
        Inhabited island units (special zones) offshore.
    uninhabited:
        ``"none"``, ``"no_posts"`` (a unit with no post line and nobody from it) or
        ``"empty_line"`` (one post line with ``min`` 0 and ``max`` 1).
    relatives_share:
        Share of the people with a relative on the roster (0.02–0.05).
    pinned_relatives:
        Share of the ``fix`` pins whose person gets a relative from the unit they are
        pinned to (the relative competes for that unit).
    kept_pairs:
        Pairs of relatives both ``fix``-pinned (unit only) to their common origin unit:
        a leader who holds a leadership line there and may also take a professional
        line of the unit (given one spare post), and a non-leader of the unit.  Under
        scope ``leadership`` the leader must step down to the professional line (the
        robustness issue's repair loop); under scope ``any`` such a pair is infeasible.
    fix_share, forbid_share:
        Extra ``fix`` pins (people kept in their origin unit) and ``forbid`` pins (people
        kept out of it), as shares of the people.
    staffing:
        ``"transition"`` (quotas = people in post), ``"calibrated"`` (HCMC's surplus
        and shortage) or ``"norm2030"`` (the raw 2030 norm: a large surplus).
    slack:
        Share of the post lines given one more post.
    min_share:
        ``min`` of a line as a share of its ``max`` (``None``: the generator's 0.8).
    weights:
        Decimal weights (a weighted objective) instead of ``priorities``.
    """

    name: str
    description: str
    line_people: float = 4.0
    islands: int = 0
    uninhabited: str = "none"
    relatives_share: float = 0.02
    relatives_scope: str = "leadership"
    pinned_relatives: float = 0.0
    kept_pairs: int = 0
    fix_share: float = 0.0
    forbid_share: float = 0.0
    bloc_change: str = "penalize"
    priorities: tuple[str, ...] = DEFAULT_ORDER
    weights: Mapping[str, float] | None = None
    min_is_hard: bool = False
    require_all_placed: bool = False
    staffing: str = "transition"
    slack: float = 0.0
    min_share: float | None = None
    max_commute_km: float = 30.0
    rules: Mapping[str, object] = field(default_factory=dict)


#: The province of the robustness issue (the first shape of the registry).
_PINNED_RELATIVES = Shape(
    "pinned-relatives-any",
    "The province of the robustness issue: one or two posts per line, relatives "
    "(scope any) of fix-pinned leaders from the unit they are pinned to, no bloc "
    "change, long commutes before moves, two islands, an uninhabited unit with one "
    "line of min 0.",
    line_people=1.5,
    islands=2,
    uninhabited="empty_line",
    relatives_share=0.03,
    relatives_scope="any",
    pinned_relatives=0.5,
    bloc_change="forbid",
    priorities=COMMUTE_FIRST,
)

SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        _PINNED_RELATIVES,
        dataclasses.replace(
            _PINNED_RELATIVES,
            name="pinned-relatives-leadership",
            description="The same province with relatives scope leadership, and seven "
            "leaders kept in their unit by a fix pin together with a relative kept there too.",
            relatives_scope="leadership",
            kept_pairs=7,
        ),
        Shape("city-like", "Like the HCMC roster: about six people per line, default rules."),
        Shape(
            "single-posts",
            "One person per post line, relatives scope any (5 %).",
            line_people=1.0,
            relatives_share=0.05,
            relatives_scope="any",
        ),
        Shape(
            "large-lines",
            "Ten people per post line, relatives scope any, pinned leaders' relatives.",
            line_people=10.0,
            relatives_share=0.05,
            relatives_scope="any",
            pinned_relatives=0.3,
        ),
        Shape(
            "islands",
            "Four island units and an uninhabited unit without posts.",
            line_people=3.0,
            islands=4,
            uninhabited="no_posts",
            relatives_share=0.03,
        ),
        Shape(
            "preference-first",
            "Preferences ranked first, then shortfall and unplaced.",
            line_people=3.0,
            relatives_share=0.04,
            priorities=PREFERENCE_FIRST,
        ),
        Shape(
            "min-hard",
            "Hard minimums (min = a third of max), relatives scope any.",
            line_people=4.0,
            relatives_share=0.03,
            relatives_scope="any",
            min_is_hard=True,
            min_share=1 / 3,
            slack=0.1,
        ),
        Shape(
            "all-placed",
            "Everyone must be placed (60 km cap, no service-left rule); one line in five has "
            "a post to spare.",
            line_people=2.0,
            relatives_share=0.03,
            require_all_placed=True,
            slack=0.2,
            max_commute_km=60.0,
            rules={"min_service_months": 0},
        ),
        Shape(
            "decimal-weights",
            "A weighted objective with the planner's decimal weights (commute 0.01).",
            line_people=2.0,
            relatives_share=0.03,
            relatives_scope="any",
            weights=DECIMAL_WEIGHTS,
        ),
        Shape(
            "pins-heavy",
            "5 % fix pins and 5 % forbid pins, pinned leaders' relatives.",
            line_people=2.0,
            relatives_share=0.03,
            pinned_relatives=0.5,
            fix_share=0.05,
            forbid_share=0.05,
        ),
        Shape(
            "calibrated-surplus",
            "HCMC's surplus and shortage, bloc change allowed, relatives 5 %.",
            line_people=4.0,
            relatives_share=0.05,
            bloc_change="allow",
            staffing="calibrated",
        ),
        Shape(
            "short-commute",
            "A 20 km commute cap (the pins' reach), relatives scope any, no bloc change.",
            line_people=2.0,
            relatives_share=0.04,
            relatives_scope="any",
            bloc_change="forbid",
            max_commute_km=20.0,
        ),
    )
}


def units_for(shape: Shape, people: int) -> int:
    """Inhabited mainland units for ``people`` people with ``shape.line_people`` per line."""
    per_unit = LEADERS_PER_UNIT + shape.line_people * PROFESSIONAL_LINES
    return max(3, round(people / per_unit) - shape.islands)


def synthetic_units(shape: Shape, people: int, rng: np.random.Generator) -> pd.DataFrame:
    """Units on a jittered grid around :data:`CENTRE`, islands 40–70 km offshore (east),
    and the uninhabited island unit 150 km out when the shape has one."""
    mainland = units_for(shape, people)
    side = math.ceil(math.sqrt(mainland))
    km_lat = 110.574
    km_lon = 111.320 * math.cos(math.radians(CENTRE[0]))
    rows = []
    for k in range(mainland):
        x = (k % side - side / 2 + rng.uniform(-0.3, 0.3)) * UNIT_SPACING_KM
        y = (k // side - side / 2 + rng.uniform(-0.3, 0.3)) * UNIT_SPACING_KM
        kind = "ward" if abs(x) + abs(y) < side * UNIT_SPACING_KM / 2 else "commune"
        name = f"{'Phường' if kind == 'ward' else 'Xã'} Tổng hợp {k + 1}"
        rows.append((name, kind, y, x, int(rng.integers(12_000, 60_000)), False))
    for k in range(shape.islands):
        rows.append((f"Đặc khu Đảo {k + 1}", "special_zone", 15.0 * k, 40.0 + 10 * k, 8_000, True))
    frame = pd.DataFrame(rows, columns=["name", "kind", "north_km", "east_km", "population", "island"])
    frame.insert(0, "unit_id", [f"9{k:04d}" for k in range(len(frame))])
    frame["lat"] = CENTRE[0] + frame["north_km"] / km_lat
    frame["lon"] = CENTRE[1] + frame["east_km"] / km_lon
    frame["area_km2"] = np.where(frame["island"], 30.0, UNIT_SPACING_KM**2)
    return frame.drop(columns=["north_km", "east_km"])


def make_province(shape: Shape, people: int, seed: int = 0) -> tuple[dict[str, pd.DataFrame], str]:
    """The tables of a province of ``shape`` with about ``people`` people, and its
    scenario (TOML text naming the tables as ``<name>.csv`` beside it)."""
    rng = np.random.default_rng([seed, people])
    units = synthetic_units(shape, people, rng)
    party = round(people * PARTY_SHARE)
    tables = synthesize(units, party=party, government=people - party, seed=seed, id_prefix="TH")
    posts = tables[STAFFING[shape.staffing]].copy()
    posts = _reshape_posts(shape, posts, rng)
    staff, pins, relations = tables["staff"], tables["pins"], tables["relations"]
    units = tables["units"]
    if shape.uninhabited != "none":
        units, posts = _add_uninhabited(shape, units, posts)
    pins = _extra_pins(shape, units, staff, pins, relations, rng)
    relations = _extra_relations(shape, staff, pins, relations, rng)
    if shape.kept_pairs:
        staff, posts, pins, relations = _kept_pairs(shape.kept_pairs, staff, posts, pins, relations, rng)
    out = {
        "units": units,
        "posts": posts.loc[:, list(TABLE_COLUMNS["posts"])].reset_index(drop=True),
        "staff": staff,
        "relations": relations.reset_index(drop=True),
        "pins": pins.reset_index(drop=True),
    }
    return out, scenario_text(shape, people, seed)


def _reshape_posts(shape: Shape, posts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Spare posts on a share of the lines, and ``min`` as a share of ``max``."""
    posts = posts.reset_index(drop=True)
    if shape.slack > 0:
        extra = rng.random(len(posts)) < shape.slack
        posts.loc[extra, "max"] = posts.loc[extra, "max"] + 1
    if shape.min_share is not None:
        low = np.floor(posts["max"].to_numpy() * shape.min_share).astype(np.int64)
        posts["min"] = low
    return posts


def _add_uninhabited(
    shape: Shape, units: pd.DataFrame, posts: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An uninhabited island unit far offshore: no post line, or one line of min 0."""
    uid = f"9{len(units):04d}"
    lat = CENTRE[0] + 0.5
    lon = CENTRE[1] + 150.0 / (111.320 * math.cos(math.radians(CENTRE[0])))
    row = pd.DataFrame(
        [(uid, "Đặc khu Không dân cư", "special_zone", lat, lon, 0, 10.0, True)],
        columns=list(TABLE_COLUMNS["units"]),
    )
    units = pd.concat([units, row], ignore_index=True)
    if shape.uninhabited == "empty_line":
        line = pd.DataFrame(
            [(uid, "government", "dept_office", "office_admin", "civil_servant", 0, 1, False, False)],
            columns=[
                "unit_id",
                "bloc",
                "department",
                "position",
                "category",
                "min",
                "max",
                "leadership",
                "non_local",
            ],
        )
        posts = pd.concat([posts, line], ignore_index=True)
    return units, posts


def _extra_pins(
    shape: Shape,
    units: pd.DataFrame,
    staff: pd.DataFrame,
    pins: pd.DataFrame,
    relations: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``fix`` pins to the origin unit and ``forbid`` pins out of it, for people outside
    leadership who live within :data:`PIN_HOME_KM` of it and are neither pinned nor
    related to anyone (so that the pins cannot contradict each other or the rules)."""
    taken = set(pins["staff_id"]) | set(relations["staff_id"]) | set(relations["relative_id"])
    home = staff.merge(units, left_on="origin_unit", right_on="unit_id", how="left")
    dist = haversine_km(*(home[c].to_numpy(dtype=float) for c in ("home_lat", "home_lon", "lat", "lon")))
    near = pd.Series(dist <= PIN_HOME_KM)
    leader = staff["positions"].str.split(";").str[0].map(lambda p: SPEC[p].leadership)
    free = np.flatnonzero((~staff["staff_id"].isin(taken) & near.to_numpy() & ~leader).to_numpy())
    order = rng.permutation(free)
    n_fix = round(shape.fix_share * len(staff))
    n_forbid = round(shape.forbid_share * len(staff))
    rows = []
    for k, i in enumerate(order[: n_fix + n_forbid].tolist()):
        mode = "fix" if k < n_fix else "forbid"
        note = "giữ tại đơn vị gốc" if mode == "fix" else "không bố trí tại đơn vị gốc"
        rows.append((staff["staff_id"].iat[i], staff["origin_unit"].iat[i], "", mode, note))
    extra = pd.DataFrame(rows, columns=list(TABLE_COLUMNS["pins"]))
    return pd.concat([pins, extra], ignore_index=True) if rows else pins


def _extra_relations(
    shape: Shape, staff: pd.DataFrame, pins: pd.DataFrame, relations: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Relatives of ``fix``-pinned people from the unit they are pinned to, then pairs
    (half within one origin unit) until ``relatives_share`` of the people have one."""
    ids = staff["staff_id"].to_numpy()
    origin = staff["origin_unit"].to_numpy()
    pinned = set(pins["staff_id"])
    used = set(relations["staff_id"]) | set(relations["relative_id"])
    rows: list[tuple[str, str, str]] = []

    def pick(pool: np.ndarray) -> str | None:
        pool = pool[~np.isin(pool, list(used | pinned))]
        return None if len(pool) == 0 else str(pool[rng.integers(len(pool))])

    fix = pins[pins["mode"] == "fix"].drop_duplicates("staff_id")
    fix = fix[~fix["staff_id"].isin(used)]
    chosen = (
        fix.sample(frac=shape.pinned_relatives, random_state=int(rng.integers(2**31))) if len(fix) else fix
    )
    for leader, unit in zip(chosen["staff_id"], chosen["unit_id"], strict=True):
        relative = pick(ids[origin == unit])
        if relative is not None:
            rows.append((str(leader), relative, "sibling"))
            used.update((str(leader), relative))
    target = round(shape.relatives_share * len(staff) / 2)
    same_unit = True
    while len(relations) + len(rows) < target:
        a = pick(ids)
        if a is None:
            break
        used.add(a)
        where = origin == origin[np.flatnonzero(ids == a)[0]]
        b = pick(ids[where if same_unit else ~where])
        if b is None:
            continue
        used.add(b)
        rows.append((a, b, "spouse" if same_unit else "in_law"))
        same_unit = not same_unit
    extra = pd.DataFrame(rows, columns=list(TABLE_COLUMNS["relations"]))
    return pd.concat([relations, extra], ignore_index=True) if rows else relations


def _kept_pairs(
    count: int,
    staff: pd.DataFrame,
    posts: pd.DataFrame,
    pins: pd.DataFrame,
    relations: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``count`` pairs of relatives kept in their origin unit (see ``Shape.kept_pairs``),
    each in its own unit: a leader who may also take a professional line of the unit
    (one more post on it) and a non-leader, both neither pinned nor related before."""
    staff, posts = staff.copy(), posts.copy()
    taken = set(pins["staff_id"]) | set(relations["staff_id"]) | set(relations["relative_id"])
    leader = staff["positions"].str.split(";").str[0].map(lambda p: SPEC[p].leadership).to_numpy()
    pairs: list[tuple[str, str, str]] = []
    for i in rng.permutation(np.flatnonzero(leader)).tolist():
        person = staff.iloc[i]
        unit = person["origin_unit"]
        if person["staff_id"] in taken or unit in {u for _, _, u in pairs}:
            continue
        line = (
            (posts["unit_id"] == unit)
            & ~posts["leadership"]
            & (posts["category"] == person["category"])
            & (posts["bloc"] == person["bloc"])
        )
        relative = (staff["origin_unit"] == unit) & ~leader & ~staff["staff_id"].isin(taken)
        if not line.any() or not relative.any():
            continue
        spare = posts.index[line.to_numpy()][0]
        posts.loc[spare, "max"] += 1
        staff.loc[staff.index[i], "positions"] = ";".join(
            (str(person["positions"]), str(posts.at[spare, "position"]))
        )
        other = str(staff.loc[relative, "staff_id"].iat[0])
        pairs.append((str(person["staff_id"]), other, str(unit)))
        taken.update((str(person["staff_id"]), other))
        if len(pairs) == count:
            break
    kept = pd.DataFrame(
        [(i, u, "", "fix", "giữ tại đơn vị gốc") for a, b, u in pairs for i in (a, b)],
        columns=list(TABLE_COLUMNS["pins"]),
    )
    related = pd.DataFrame([(a, b, "sibling") for a, b, _ in pairs], columns=list(TABLE_COLUMNS["relations"]))
    return (
        staff,
        posts,
        pd.concat([pins, kept], ignore_index=True),
        pd.concat([relations, related], ignore_index=True),
    )


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def scenario_text(shape: Shape, people: int, seed: int) -> str:
    """The scenario of a generated province (its tables beside it, ``<table>.csv``)."""
    rules = {
        "max_commute_km": shape.max_commute_km,
        "relatives_scope": shape.relatives_scope,
        "bloc_change": shape.bloc_change,
        "min_is_hard": shape.min_is_hard,
        "require_all_placed": shape.require_all_placed,
        **shape.rules,
    }
    lines = [
        f"# Generated by: staffplan synth --shape {shape.name} --people {people} --seed {seed}",
        f'name = "{shape.name}-{people}"',
        f'description = "{shape.description}"',
        "",
        "[data]",
        *(f'{name} = "{name}.csv"' for name in ("units", "posts", "staff", "relations", "pins")),
        "",
        "[rules]",
        *(f"{k} = {_toml_value(v)}" for k, v in rules.items()),
        "",
        "[objective]",
    ]
    if shape.weights is not None:
        lines.append("weights = { " + ", ".join(f"{k} = {v!r}" for k, v in shape.weights.items()) + " }")
    else:
        lines.append(f"priorities = {_toml_value(shape.priorities)}")
    lines += ["", "[solver]", "time_limit_s = 300", "workers = 2", f"seed = {seed}", ""]
    return "\n".join(lines)


def write_province(
    shape: Shape, people: int, out_dir: Path, seed: int = 0, formats: tuple[str, ...] = ("csv",)
) -> list[Path]:
    """Write a province of ``shape`` to ``out_dir``: its tables and ``scenario.toml``."""
    tables, scenario = make_province(shape, people, seed)
    written = write_tables(tables, out_dir, tuple(dict.fromkeys(formats)))
    path = out_dir / "scenario.toml"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(scenario, encoding="utf-8")
    tmp.replace(path)
    return [*written, path]
