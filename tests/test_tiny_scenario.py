"""The tiny scenario's optimum, stated by hand in scenarios/tiny/README.md, checked by an
independent brute force.

The brute force reads the CSV files and ``scenario.toml`` with pandas/tomllib only (no
``optimizer`` import), enumerates every placement that respects the hard rules of
DESIGN §4 and ranks them by the lexicographic objective of DESIGN §5. It also checks that
the optimum is unique and that every rule kind in the data changes the optimum when it is
relaxed, i.e. that each one really binds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TINY = Path(__file__).resolve().parents[1] / "scenarios" / "tiny"
EARTH_RADIUS_KM = 6371.0088
TERMS = ("shortfall", "unplaced", "moves", "long_commute", "commute", "preference")
#: Retirement age bounds of Decree 135/2020 in months (first and last year of the roadmap),
#: plus one month because a person retires in the month after reaching the age.
RETIREMENT_MONTHS = {"M": (60 * 12 + 3, 62 * 12 + 1), "F": (55 * 12 + 4, 60 * 12 + 1)}


@dataclass(frozen=True)
class Relax:
    """Rules switched off, to show that each one binds."""

    commute_cap: bool = False
    island: bool = False
    non_local: bool = False
    relatives: bool = False
    service_left: bool = False
    fix: bool = False
    forbid: bool = False
    bloc_change: bool = False


@dataclass
class Tiny:
    units: pd.DataFrame
    posts: pd.DataFrame
    staff: pd.DataFrame
    relations: pd.DataFrame
    pins: pd.DataFrame
    rules: dict[str, object]
    priorities: list[str]
    dist: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        lat1 = np.radians(self.staff["home_lat"].to_numpy(float))[:, None]
        lon1 = np.radians(self.staff["home_lon"].to_numpy(float))[:, None]
        lat2 = np.radians(self.units["lat"].to_numpy(float))[None, :]
        lon2 = np.radians(self.units["lon"].to_numpy(float))[None, :]
        a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        great_circle = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))
        self.dist = great_circle * float(self.rules["road_factor"])  # type: ignore[arg-type]


def _split(text: object) -> list[str]:
    return [] if pd.isna(text) or str(text).strip() == "" else str(text).split(";")


def load() -> Tiny:
    scenario = tomllib.loads((TINY / "scenario.toml").read_text(encoding="utf-8"))
    data = scenario["data"]

    def read(key: str) -> pd.DataFrame:
        return pd.read_csv(TINY / data[key], dtype=str, keep_default_na=False)

    units, posts, staff = read("units"), read("posts"), read("staff")
    for frame, cols in (
        (units, ["island"]),
        (posts, ["leadership", "non_local"]),
        (staff, ["island_ok"]),
    ):
        for col in cols:
            frame[col] = frame[col].str.lower() == "true"
    for col in ("min", "max"):
        posts[col] = posts[col].astype(int)
    priorities = scenario.get("objective", {}).get("priorities", list(TERMS))
    return Tiny(units, posts, staff, read("relations"), read("pins"), scenario["rules"], priorities)


def service_ok(tiny: Tiny) -> np.ndarray:
    """Whether each person has ``min_service_months`` left; fails if the data are borderline."""
    ref = tiny.rules["reference_date"]
    assert isinstance(ref, dt.date)
    ref_month = ref.year * 12 + ref.month - 1
    need = int(tiny.rules["min_service_months"])  # type: ignore[call-overload]
    out = []
    for birth, gender in zip(tiny.staff["birth_date"], tiny.staff["gender"], strict=True):
        b = dt.date.fromisoformat(birth)
        low, high = RETIREMENT_MONTHS[gender]
        start = b.year * 12 + b.month - 1
        least, most = start + low - ref_month, start + high - ref_month
        assert least >= need or most < need, f"service left of {birth} is borderline"
        out.append(least >= need)
    return np.array(out)


def options(tiny: Tiny, relax: Relax) -> list[list[int]]:
    """Per person, the post lines (and -1: unplaced) that pass every one-person rule."""
    unit_idx = {u: k for k, u in enumerate(tiny.units["unit_id"])}
    posts, staff, rules = tiny.posts, tiny.staff, tiny.rules
    island = tiny.units["island"].to_numpy()
    ok_service = service_ok(tiny)
    fixes = {r.staff_id: r for r in tiny.pins.itertuples() if r.mode == "fix"}
    forbids = [r for r in tiny.pins.itertuples() if r.mode == "forbid"]
    result = []
    for i, person in enumerate(staff.itertuples()):
        allowed = [] if rules["require_all_placed"] else [-1]
        locals_ = set(_split(person.local_units))
        for line, post in enumerate(posts.itertuples()):
            u = unit_idx[post.unit_id]
            checks = [
                post.position in _split(person.positions) and post.category == person.category,
                relax.commute_cap or island[u] or tiny.dist[i, u] <= float(rules["max_commute_km"]),
                relax.island or not island[u] or person.island_ok,
                relax.non_local or not post.non_local or post.unit_id not in locals_,
                relax.service_left or not post.leadership or ok_service[i],
                relax.bloc_change or rules["bloc_change"] != "forbid" or post.bloc == person.bloc,
                relax.forbid
                or not any(
                    f.staff_id == person.staff_id
                    and f.unit_id == post.unit_id
                    and f.position in ("", post.position)
                    for f in forbids
                ),
            ]
            fix = fixes.get(person.staff_id)
            if fix is not None and not relax.fix:
                checks.append(fix.unit_id == post.unit_id and fix.position in ("", post.position))
            if all(checks):
                allowed.append(line)
        if person.staff_id in fixes and not relax.fix:
            allowed = [a for a in allowed if a >= 0]
        result.append(allowed)
    return result


def evaluate(tiny: Tiny, relax: Relax = Relax()) -> tuple[np.ndarray, np.ndarray]:
    """Every feasible placement (rows of post-line indices, -1 unplaced) and its terms."""
    combos = np.array(list(itertools.product(*options(tiny, relax))), dtype=np.int64)
    posts, staff, rules = tiny.posts, tiny.staff, tiny.rules
    unit_of_line = posts["unit_id"].map({u: k for k, u in enumerate(tiny.units["unit_id"])}).to_numpy()
    placed = combos >= 0
    safe = np.where(placed, combos, 0)
    unit = np.where(placed, unit_of_line[safe], -1)
    filled = np.stack([(combos == line).sum(axis=1) for line in range(len(posts))], axis=1)
    feasible = (filled <= posts["max"].to_numpy()).all(axis=1)
    scope = "off" if relax.relatives else rules["relatives_scope"]
    ids = {s: k for k, s in enumerate(staff["staff_id"])}
    lead_line = posts["leadership"].to_numpy()
    for rel in tiny.relations.itertuples():
        a, b = ids[rel.staff_id], ids[rel.relative_id]
        same = placed[:, a] & placed[:, b] & (unit[:, a] == unit[:, b])
        if scope == "leadership":
            same &= (placed[:, a] & lead_line[safe[:, a]]) | (placed[:, b] & lead_line[safe[:, b]])
        if scope != "off":
            feasible &= ~same
    if rules["min_is_hard"]:
        feasible &= (filled >= posts["min"].to_numpy()).all(axis=1)
    combos, placed, safe, unit, filled = (x[feasible] for x in (combos, placed, safe, unit, filled))

    weight = np.where(lead_line, 10, 1)
    shortfall = (np.maximum(0, posts["min"].to_numpy() - filled) * weight).sum(axis=1)
    unplaced = (~placed).sum(axis=1)
    origin = staff["origin_unit"].map({u: k for k, u in enumerate(tiny.units["unit_id"])}).to_numpy()
    moved = placed & (unit != origin)
    bloc_changed = placed & (posts["bloc"].to_numpy()[safe] != staff["bloc"].to_numpy()[None, :])
    penalize = rules["bloc_change"] == "penalize" and not relax.bloc_change
    moves = moved.sum(axis=1) + (bloc_changed.sum(axis=1) if penalize else 0)
    dist = np.where(placed, tiny.dist[np.arange(len(staff))[None, :], np.maximum(unit, 0)], 0.0)
    long_commute = (placed & (dist > float(rules["long_commute_km"]))).sum(axis=1)
    commute = np.where(placed, np.rint(dist * 10), 0).sum(axis=1).astype(np.int64)
    preference = np.zeros(len(combos), dtype=np.int64)
    for i, prefs in enumerate(staff["preferences"].map(_split)):
        if not prefs:
            continue
        got = tiny.units["unit_id"].to_numpy()[np.maximum(unit[:, i], 0)]
        rank = np.array([prefs.index(g) if g in prefs else len(prefs) for g in got])
        preference += np.where(placed[:, i], rank, 0)
    terms = np.stack([shortfall, unplaced, moves, long_commute, commute, preference], axis=1)
    return combos, terms


def optimum(tiny: Tiny, relax: Relax = Relax()) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """All placements at the lexicographic optimum, and the optimal term values."""
    combos, terms = evaluate(tiny, relax)
    order = tiny.priorities
    keyed = terms[:, [TERMS.index(term) for term in order]]
    best = min(map(tuple, keyed))
    rows = np.flatnonzero((keyed == np.array(best)).all(axis=1))
    return [combos[r] for r in rows], tuple(int(v) for v in terms[rows[0]])


def readme_optimum() -> tuple[dict[str, int], dict[str, tuple[str, str]]]:
    """The term values and the placement stated in the README's marked tables."""
    text = (TINY / "README.md").read_text(encoding="utf-8")
    terms_block = re.search(r"<!-- optimum-terms -->(.*?)<!-- /optimum-terms -->", text, re.S)
    place_block = re.search(r"<!-- optimum-placement -->(.*?)<!-- /optimum-placement -->", text, re.S)
    assert terms_block and place_block, "README.md lacks the marked optimum tables"
    terms = {}
    for line in terms_block.group(1).splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0] in TERMS:
            terms[cells[0]] = int(cells[1])
    placement = {}
    for line in place_block.group(1).splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if cells and re.fullmatch(r"S\d+", cells[0]):
            placement[cells[0]] = (cells[1], cells[2])
    return terms, placement


def describe(tiny: Tiny, combo: np.ndarray) -> dict[str, tuple[str, str]]:
    posts = tiny.posts
    return {
        sid: ("—", "—") if line < 0 else (posts["unit_id"].iat[line], posts["position"].iat[line])
        for sid, line in zip(tiny.staff["staff_id"], combo, strict=True)
    }


@pytest.fixture(scope="module")
def tiny() -> Tiny:
    return load()


def test_readme_states_the_unique_optimum(tiny: Tiny) -> None:
    best, values = optimum(tiny)
    terms, placement = readme_optimum()
    assert terms == dict(zip(TERMS, values, strict=True))
    assert len(best) == 1, "the optimum should be unique so that solvers can be checked on it"
    assert describe(tiny, best[0]) == placement


def test_scenario_is_small_and_complete(tiny: Tiny) -> None:
    assert 10 <= len(tiny.staff) <= 14
    assert len(tiny.units) == 3 and tiny.units["island"].sum() == 1
    assert set(tiny.pins["mode"]) == {"fix", "forbid"}
    assert tiny.rules["bloc_change"] == "penalize"
    assert tiny.staff["preferences"].ne("").any()
    assert tiny.posts["non_local"].any() and len(tiny.relations) >= 1
    assert not service_ok(tiny).all()


@pytest.mark.parametrize("rule", [f for f in Relax.__dataclass_fields__])
def test_every_rule_binds(tiny: Tiny, rule: str) -> None:
    best, values = optimum(tiny)
    relaxed_best, relaxed_values = optimum(tiny, replace(Relax(), **{rule: True}))
    changed = relaxed_values != values or any(
        not np.array_equal(a, b) for a, b in zip(best, relaxed_best, strict=False)
    )
    assert changed, f"relaxing {rule} leaves the optimum unchanged: the rule does not bind"
    assert relaxed_values <= values  # a relaxation can only help (terms in priority order)
