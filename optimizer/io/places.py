"""Units known by name or code: the scenario's own, and the shipped HCMC units before and
after the 1 July 2025 merger (layer 2).

A planner writes a unit the way the roster does — ``"Xã Tân Lập"``, ``"Tân Lập"``,
``"31002"``, ``"Phường 1, Quận 3"`` — and :class:`Gazetteer` finds it: by code (also when
Excel dropped the leading zeros), by name with or without its prefix (phường, xã, đặc
khu, thị trấn), case and accents aside, and for the 441 former units of the shipped
``data/hcmc/hcmc_former_units.csv`` by old name (with its former district when the name
is not unique) or old code.  A former unit's point is the point of the unit that
absorbed it (the first one when it was split).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from optimizer.io.vocab import fold

#: Environment variable naming the folder of the shipped HCMC data.
DATA_ENV = "STAFFPLAN_HCMC_DATA"

#: Prefixes of a commune-level (or former district-level) unit's name, folded.
_PREFIXES = ("dac_khu_", "thi_tran_", "phuong_", "xa_", "quan_", "huyen_", "thanh_pho_", "thi_xa_")
#: ``"Phường 1, Quận 3"``, ``"Phường 1 (Quận 3)"``, ``"Phường 1 - Quận 3"``.
_WITH_DISTRICT = re.compile(r"^(.*?)\s*(?:\(|,|\s-\s|–)\s*(.*?)\)?\s*$")


def shipped_data_dir() -> Path | None:
    """Locate the shipped ``data/hcmc`` folder, or return ``None``.

    Looks, in order, at the folder named by the environment variable
    ``STAFFPLAN_HCMC_DATA``, at ``data/hcmc`` next to the source tree this package was
    imported from (a checkout or an editable install), and at ``./data/hcmc``.
    """
    candidates = []
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]))
    candidates.append(Path(__file__).resolve().parents[2] / "data" / "hcmc")
    candidates.append(Path.cwd() / "data" / "hcmc")
    for folder in candidates:
        if (folder / "units.csv").is_file():
            return folder
    return None


def name_key(name: str) -> str:
    """A unit name folded and without its prefix: ``"Xã Tân Lập"`` → ``"tan_lap"``."""
    key = fold(name)
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix) :]
    return key


def zero_key(code: str) -> str | None:
    """A numeric code without its leading zeros (``"01234"`` → ``"1234"``), else ``None``."""
    return code.lstrip("0") or "0" if code.isdigit() else None


@dataclass(frozen=True)
class Place:
    """A unit found: its code in the scenario (``None`` for a unit of another table),
    its name and its point."""

    code: str | None
    name: str
    lat: float
    lon: float
    former: bool = False


@dataclass
class _Index:
    """Places by exact code, by code without leading zeros, by full and by short name."""

    code: dict[str, Place] = field(default_factory=dict)
    zeros: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))
    full: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))
    short: dict[str, list[Place]] = field(default_factory=lambda: defaultdict(list))

    def add(self, codes: Iterable[str], name: str, place: Place) -> None:
        for code in codes:
            self.code.setdefault(code, place)
            zk = zero_key(code)
            if zk is not None:
                self.zeros[zk].append(place)
        for index, key in ((self.full, fold(name)), (self.short, name_key(name))):
            if place not in index[key]:
                index[key].append(place)


@dataclass(frozen=True)
class Match:
    """What a written unit resolved to, and how (``"code"``, ``"zeros"``, ``"name"``);
    ``candidates`` holds the places when the name is ambiguous (``place`` is ``None``)."""

    place: Place | None
    how: str
    candidates: tuple[Place, ...] = ()


class Gazetteer:
    """Find units by code or name (see the module docstring).

    Parameters
    ----------
    units
        The scenario's units: ``(code, name, lat, lon)``.
    former
        Also search the shipped former units (for homes; ``unit_id`` references take
        only the scenario's units).
    """

    def __init__(self, units: Iterable[tuple[str, str, float, float]], former: bool = False) -> None:
        self.units = _Index()
        for code, name, lat, lon in units:
            self.units.add([code], name, Place(code, name, lat, lon))
        known = tuple((p.name, p.lat, p.lon) for p in self.units.code.values())
        self.former = _former_index(known) if former else None

    def find(self, text: str) -> Match | None:
        """The unit ``text`` names, or ``None`` when nothing matches.

        Order: the scenario's codes, then codes without leading zeros, then names (full,
        then without prefix), then the former units by code or name (with a district to
        tell same-named ones apart).
        """
        found = _lookup(self.units, text)
        if found is None and self.former is not None:
            found = _lookup(self.former, text)
            if found is None:
                found = _with_district(self.former, text)
        return found

    def suggestions(self, text: str, count: int = 1) -> list[Place]:
        """The scenario's units whose code or name is closest to ``text``."""
        import difflib

        keys = {fold(c): p for c, p in self.units.code.items()} | {
            k: v[0] for k, v in self.units.full.items()
        }
        close = difflib.get_close_matches(fold(text), list(keys), n=count, cutoff=0.6)
        return [keys[k] for k in close]


def _lookup(index: _Index, text: str) -> Match | None:
    if text in index.code:
        return Match(index.code[text], "code")
    zk = zero_key(text)
    if zk is not None and zk in index.zeros:
        hits = index.zeros[zk]
        return Match(hits[0], "zeros") if len(hits) == 1 else Match(None, "zeros", tuple(hits))
    for how, key, table in (("name", fold(text), index.full), ("name", name_key(text), index.short)):
        hits = table.get(key, [])
        if len(hits) == 1:
            return Match(hits[0], how)
        if len(hits) > 1:
            return Match(None, how, tuple(hits))
    return None


def _with_district(index: _Index, text: str) -> Match | None:
    """``"Phường 1, Quận 3"``: a former unit's name with its former district."""
    parts = _WITH_DISTRICT.match(text)
    if parts is None or not parts.group(2):
        return None
    hits = [
        p
        for p in index.short.get(name_key(parts.group(1)), [])
        if _district_of(p) == name_key(parts.group(2))
    ]
    if len(hits) == 1:
        return Match(hits[0], "name")
    return Match(None, "name", tuple(hits)) if hits else None


def _district_of(place: Place) -> str:
    return name_key(place.name.partition(" · ")[2])


def _former_index(scenario_units: tuple[tuple[str, float, float], ...]) -> _Index | None:
    """The shipped former units, each at the point of the unit that absorbed it.

    The absorbing unit is looked up by name among the scenario's units first, then among
    the shipped ones; a former unit whose successor has no point is left out.
    """
    folder = shipped_data_dir()
    if folder is None or not (folder / "hcmc_former_units.csv").is_file():
        return None
    points = {fold(n): (la, lo) for n, la, lo in _shipped_units(folder)}
    points |= {fold(n): (la, lo) for n, la, lo in scenario_units}
    index = _Index()
    for code, name, district, successors in _shipped_former(folder):
        point = next((points[k] for s in successors if (k := fold(s)) in points), None)
        if point is not None:
            index.add([code], name, Place(None, f"{name} · {district}", point[0], point[1], former=True))
    return index


@lru_cache(maxsize=2)
def _shipped_units(folder: Path) -> tuple[tuple[str, float, float], ...]:
    frame = pd.read_csv(folder / "units.csv", dtype={"unit_id": str})
    return tuple(zip(frame["name"], frame["lat"].astype(float), frame["lon"].astype(float), strict=True))


@lru_cache(maxsize=2)
def _shipped_former(folder: Path) -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    frame = pd.read_csv(folder / "hcmc_former_units.csv", dtype=str).fillna("")
    return tuple(
        (code, name, district, tuple(s.strip() for s in new.split(";") if s.strip()))
        for code, name, district, new in zip(
            frame["old_code"], frame["old_name"], frame["old_district"], frame["new_unit_name"], strict=True
        )
    )
