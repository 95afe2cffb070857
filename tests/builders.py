"""Build tiny :class:`~optimizer.data.Problem` objects in tests without files.

Units sit on the equator, so ``km_to_lon(x)`` puts a point ``x`` km east of 0°; with
``road_factor = 1`` commuting distances are then exact kilometres.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from optimizer.data import (
    EARTH_RADIUS_KM,
    Objective,
    Pins,
    Posts,
    Problem,
    Relations,
    Rules,
    SolverParams,
    Staff,
    Units,
)

KM_PER_DEGREE = EARTH_RADIUS_KM * np.pi / 180.0


def km_to_lon(km: float) -> float:
    """Longitude (degrees) of a point ``km`` east of 0° on the equator."""
    return km / KM_PER_DEGREE


def build(
    units: list[float],
    posts: list[dict[str, Any]],
    staff: list[dict[str, Any]],
    relations: list[tuple[int, int]] = (),  # type: ignore[assignment]
    pins: list[tuple[int, int, str | None, str]] = (),  # type: ignore[assignment]
    island: tuple[int, ...] = (),
    rules: dict[str, Any] | None = None,
    objective: Objective | None = None,
    workers: int = 1,
) -> Problem:
    """Make a problem: ``units`` are km positions on the equator; ``posts`` and ``staff``
    are dicts with short keys (see the defaults below)."""
    nu = len(units)
    u = Units(
        tuple(f"U{i}" for i in range(nu)),
        tuple(f"Phường {i}" for i in range(nu)),
        tuple("ward" for _ in range(nu)),
        np.zeros(nu),
        np.array([km_to_lon(x) for x in units]),
        np.full(nu, np.nan),
        np.full(nu, np.nan),
        np.array([i in island for i in range(nu)]),
    )
    pd_ = [
        {
            "bloc": "government",
            "department": "dept_office",
            "category": "civil_servant",
            "min": 0,
            "max": 1,
            "leadership": False,
            "non_local": False,
            **p,
        }
        for p in posts
    ]
    p = Posts(
        np.array([x["unit"] for x in pd_], dtype=np.int32),
        tuple(x["bloc"] for x in pd_),
        tuple(x["department"] for x in pd_),
        tuple(x["position"] for x in pd_),
        tuple(x["category"] for x in pd_),
        np.array([x["min"] for x in pd_], dtype=np.int64),
        np.array([x["max"] for x in pd_], dtype=np.int64),
        np.array([x["leadership"] for x in pd_], dtype=bool),
        np.array([x["non_local"] for x in pd_], dtype=bool),
    )
    sd = [
        {
            "bloc": "government",
            "category": "civil_servant",
            "birth": "1985-06-15",
            "gender": "M",
            "island_ok": False,
            "prefs": (),
            "local": None,
            **s,
        }
        for s in staff
    ]
    for s in sd:
        s.setdefault("home", units[s["origin"]])
    st = Staff(
        tuple(f"S{i}" for i in range(len(sd))),
        tuple(f"Nguyễn Văn {chr(65 + i % 26)}{i}" for i in range(len(sd))),
        np.array([s["birth"] for s in sd], dtype="datetime64[D]"),
        tuple(s["gender"] for s in sd),
        tuple(s["category"] for s in sd),
        tuple(s["bloc"] for s in sd),
        tuple(tuple(s["positions"]) for s in sd),
        tuple("" for _ in sd),
        tuple(f"Xã cũ {s['origin']}" for s in sd),
        np.array([s["origin"] for s in sd], dtype=np.int32),
        np.zeros(len(sd)),
        np.array([km_to_lon(s["home"]) for s in sd]),
        tuple(tuple(s["local"]) if s["local"] is not None else (s["origin"],) for s in sd),
        np.array([s["island_ok"] for s in sd], dtype=bool),
        tuple(tuple(s["prefs"]) for s in sd),
    )
    rel = Relations(
        np.array([a for a, _ in relations], dtype=np.int32),
        np.array([b for _, b in relations], dtype=np.int32),
        tuple("spouse" for _ in relations),
    )
    pn = Pins(
        np.array([x[0] for x in pins], dtype=np.int32),
        np.array([x[1] for x in pins], dtype=np.int32),
        tuple(x[2] for x in pins),
        tuple(x[3] for x in pins),
        tuple("" for _ in pins),
    )
    r = dataclasses.replace(Rules(road_factor=1.0), **(rules or {}))
    return Problem("test", u, p, st, rel, pn, r, objective or Objective(), SolverParams(30.0, workers, 0))
