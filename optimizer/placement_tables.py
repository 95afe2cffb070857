"""The placement tables of DESIGN §7, built from a problem and a placement (layer 3).

These three tables are what a run stores, what ``--out`` and ``export --format csv``
write, and what the annexes list: one definition, used everywhere.

Why a person is unplaced is kept as data: ``reason_code`` and ``reason_params`` (JSON)
of a :class:`~optimizer.rules.reason.Reason`, made a sentence in the reader's language
when shown (:func:`reason_texts`, :func:`readable`).  The ``reason`` column holds the
sentence only for runs stored before reasons were codes (and is blank otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from optimizer.data import IntArray, Problem
from optimizer.rules import relatives
from optimizer.rules.reason import Reason

PLACEMENT_COLUMNS = (
    "staff_id",
    "full_name",
    "birth_date",
    "gender",
    "category",
    "grade",
    "former_unit",
    "origin_unit",
    "unit_id",
    "unit_name",
    "unit_kind",
    "bloc",
    "department",
    "position",
    "leadership",
    "distance_km",
    "moved",
    "bloc_changed",
    "pinned",
    "preference_rank",
    "local",
    "relatives_conflict",
)
UNPLACED_COLUMNS = (
    "staff_id",
    "full_name",
    "birth_date",
    "gender",
    "category",
    "bloc",
    "positions",
    "former_unit",
    "origin_unit",
    "reason",
    "reason_code",
    "reason_params",
)
UNIT_COLUMNS = (
    "unit_id",
    "unit_name",
    "bloc",
    "department",
    "position",
    "category",
    "leadership",
    "min",
    "max",
    "filled",
    "shortfall",
    "non_local",
    "unit_lat",
    "unit_lon",
)


@dataclass(frozen=True)
class RunTables:
    """Placements (one row per placed person, in unit then post order), the unplaced,
    and the post lines with their fill."""

    placements: pd.DataFrame
    unplaced: pd.DataFrame
    units: pd.DataFrame


def pinned_mask(problem: Problem) -> np.ndarray:
    """``True`` for each person with a ``fix`` pin."""
    m = np.zeros(problem.num_staff, dtype=bool)
    pins = problem.pins
    for s, mode in zip(pins.staff_idx, pins.mode, strict=True):
        if mode == "fix":
            m[s] = True
    return m


def preference_rank(problem: Problem, assignment: IntArray) -> np.ndarray:
    """1-based rank of the obtained unit in each person's preferences; 0 when the person
    has no list or no post; ``len(list) + 1`` when the unit is not in the list."""
    ranks = np.zeros(problem.num_staff, dtype=np.int64)
    unit_of_post = problem.posts.unit_idx
    for i, prefs in enumerate(problem.staff.preferences):
        p = assignment[i]
        if not prefs or p < 0:
            continue
        u = int(unit_of_post[p])
        ranks[i] = prefs.index(u) + 1 if u in prefs else len(prefs) + 1
    return ranks


def relatives_conflicts(problem: Problem, assignment: IntArray) -> np.ndarray:
    """Per person, how many of their relatives share their unit where the scenario's scope
    forbids it (rule ``relatives``, :func:`optimizer.rules.relatives.conflicts_per_person`)."""
    return relatives.conflicts_per_person(problem, assignment)


def run_tables(
    problem: Problem, assignment: IntArray, unplaced_reasons: Mapping[int, Reason] | None = None
) -> RunTables:
    """Build the three tables of a placement.

    Placements are ordered by unit (input order), then post line, then staff id, which is
    the order of the annexes.
    """
    st, posts, units = problem.staff, problem.posts, problem.units
    reasons = unplaced_reasons or {}
    placed = np.flatnonzero(assignment >= 0)
    post_of = assignment[placed].astype(np.int64)
    unit_of = posts.unit_idx[post_of].astype(np.int64)
    order = np.lexsort((np.array([st.ids[i] for i in placed], dtype=object), post_of, unit_of))
    placed, post_of, unit_of = placed[order], post_of[order], unit_of[order]
    dist = problem.dist_km[placed, unit_of].astype(np.float64)
    pinned = pinned_mask(problem)
    ranks = preference_rank(problem, assignment)
    birth = np.datetime_as_string(st.birth_date, unit="D")
    placements = pd.DataFrame(
        {
            "staff_id": [st.ids[i] for i in placed],
            "full_name": [st.full_name[i] for i in placed],
            "birth_date": birth[placed],
            "gender": [st.gender[i] for i in placed],
            "category": [st.category[i] for i in placed],
            "grade": [st.grade[i] for i in placed],
            "former_unit": [st.former_unit[i] for i in placed],
            "origin_unit": [units.ids[st.origin_idx[i]] for i in placed],
            "unit_id": [units.ids[u] for u in unit_of],
            "unit_name": [units.names[u] for u in unit_of],
            "unit_kind": [units.kinds[u] for u in unit_of],
            "bloc": [posts.bloc[p] for p in post_of],
            "department": [posts.department[p] for p in post_of],
            "position": [posts.position[p] for p in post_of],
            "leadership": posts.leadership[post_of],
            "distance_km": dist,  # unrounded: the commute term rounds per person
            "moved": st.origin_idx[placed] != unit_of,
            "bloc_changed": np.array(
                [st.bloc[i] != posts.bloc[p] for i, p in zip(placed, post_of, strict=True)],
                dtype=bool,
            ),
            "pinned": pinned[placed],
            "preference_rank": ranks[placed],
            "local": problem.local_mask[placed, unit_of],
            "relatives_conflict": relatives_conflicts(problem, assignment)[placed],
        },
        columns=list(PLACEMENT_COLUMNS),
    )
    unplaced_idx = np.flatnonzero(assignment < 0)
    unplaced = pd.DataFrame(
        {
            "staff_id": [st.ids[i] for i in unplaced_idx],
            "full_name": [st.full_name[i] for i in unplaced_idx],
            "birth_date": birth[unplaced_idx],
            "gender": [st.gender[i] for i in unplaced_idx],
            "category": [st.category[i] for i in unplaced_idx],
            "bloc": [st.bloc[i] for i in unplaced_idx],
            "positions": [";".join(st.positions[i]) for i in unplaced_idx],
            "former_unit": [st.former_unit[i] for i in unplaced_idx],
            "origin_unit": [units.ids[st.origin_idx[i]] for i in unplaced_idx],
            "reason": [""] * len(unplaced_idx),
            "reason_code": [reasons[int(i)].code if int(i) in reasons else "" for i in unplaced_idx],
            "reason_params": [_params_json(reasons.get(int(i))) for i in unplaced_idx],
        },
        columns=list(UNPLACED_COLUMNS),
    )
    return RunTables(placements, unplaced, _lines_table(problem, post_of))


def _lines_table(problem: Problem, post_of: IntArray) -> pd.DataFrame:
    """The post lines with their fill, given the post line of every placed person."""
    posts, units = problem.posts, problem.units
    filled = np.bincount(post_of, minlength=problem.num_posts)
    return pd.DataFrame(
        {
            "unit_id": [units.ids[u] for u in posts.unit_idx],
            "unit_name": [units.names[u] for u in posts.unit_idx],
            "bloc": list(posts.bloc),
            "department": list(posts.department),
            "position": list(posts.position),
            "category": list(posts.category),
            "leadership": posts.leadership,
            "min": posts.min,
            "max": posts.max,
            "filled": filled,
            "shortfall": np.maximum(0, posts.min - filled),
            "non_local": posts.non_local,
            "unit_lat": units.lat[posts.unit_idx],
            "unit_lon": units.lon[posts.unit_idx],
        },
        columns=list(UNIT_COLUMNS),
    )


def _params_json(reason: Reason | None) -> str:
    """The parameters of a reason as canonical JSON text (blank without a reason)."""
    if reason is None:
        return ""
    return json.dumps(dict(reason.params), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def reason_texts(unplaced: pd.DataFrame, lang: str | None = None) -> list[str]:
    """Why each unplaced person is unplaced, as a sentence in ``lang`` (default: the
    current language): rendered from the reason code and parameters, or the stored
    sentence of a run saved before reasons were codes."""
    codes = unplaced["reason_code"].tolist() if "reason_code" in unplaced else [""] * len(unplaced)
    params = unplaced["reason_params"].tolist() if "reason_params" in unplaced else [""] * len(unplaced)
    texts = unplaced["reason"].tolist()
    return [
        Reason(str(code), json.loads(args) if args else {}).render(lang) if code else str(text)
        for code, args, text in zip(codes, params, texts, strict=True)
    ]


def readable(tables: RunTables, lang: str | None = None) -> RunTables:
    """The tables with the ``reason`` column written out in ``lang`` (see
    :func:`reason_texts`): what a reader or another tool is shown."""
    unplaced = tables.unplaced.assign(reason=reason_texts(tables.unplaced, lang))
    return replace(tables, unplaced=unplaced)
