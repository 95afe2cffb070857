"""Stored runs as the web app shows them: cached, summarised, paginated, redacted.

A stored run never changes, so :class:`RunCache` keeps the last few read (their tables
and per-unit KPIs) and a page of a city run is cut from memory, not re-read from SQLite.
:func:`page` sorts, filters and slices a table on the server; the pages and the API
(``/api/runs/{id}/units``, ``/api/runs/{id}/people``) share it.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.store import RunStore, StoredRun

#: Columns of :func:`people_frame`.
PEOPLE_COLUMNS = (
    "staff_id",
    "full_name",
    "birth_date",
    "gender",
    "category",
    "former_unit",
    "origin_unit",
    "placed",
    "unit_id",
    "unit_name",
    "bloc",
    "department",
    "position",
    "distance_km",
    "moved",
    "reason",
)
#: Largest page size.
MAX_LIMIT = 500


@dataclass
class CachedRun:
    """A stored run and what the web app derives from it (computed once, on demand)."""

    run: StoredRun
    _derived: dict[str, pd.DataFrame] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def units(self) -> pd.DataFrame:
        """Per-unit KPIs (:func:`optimizer.kpis.unit_kpis`, all blocs together)."""
        from optimizer.kpis import unit_kpis

        with self._lock:
            if "units" not in self._derived:
                self._derived["units"] = unit_kpis(self.run.tables, self.run.rules, by_bloc=False)
            return self._derived["units"]

    def people(self) -> pd.DataFrame:
        """Everyone of the run, placed or not (:func:`people_frame`)."""
        with self._lock:
            if "people" not in self._derived:
                self._derived["people"] = people_frame(self.run)
            return self._derived["people"]


class RunCache:
    """The last ``size`` runs read from a store, by run id (thread-safe)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._runs: OrderedDict[str, CachedRun] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: RunStore, run_id: str) -> CachedRun:
        """The run ``run_id`` (an exact id), read from ``store`` unless cached."""
        with self._lock:
            hit = self._runs.get(run_id)
            if hit is not None:
                self._runs.move_to_end(run_id)
                return hit
        from optimizer import service

        cached = CachedRun(service.get_run(store, run_id))
        with self._lock:
            self._runs[run_id] = cached
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)
        return cached


def people_frame(run: StoredRun) -> pd.DataFrame:
    """One row per person of a run: placed ones with their post, unplaced ones with the
    reason, in :data:`PEOPLE_COLUMNS`."""
    import pandas as pd

    pl, un = run.tables.placements, run.tables.unplaced
    placed = pl.assign(placed=True, reason="")
    unplaced = un.assign(
        placed=False,
        unit_id="",
        unit_name="",
        department="",
        position="",
        distance_km=float("nan"),
        moved=False,
    )
    frame = pd.concat([placed[list(PEOPLE_COLUMNS)], unplaced[list(PEOPLE_COLUMNS)]], ignore_index=True)
    return frame


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("đ", "d")


def page(
    frame: pd.DataFrame,
    *,
    offset: int = 0,
    limit: int = 50,
    sort: str | None = None,
    descending: bool = False,
    query: str = "",
    search: tuple[str, ...] = (),
    redact: bool = False,
) -> dict[str, Any]:
    """One page of a table, as JSON-able rows.

    Parameters
    ----------
    frame
        The whole table.
    offset, limit
        The page (``limit`` at most :data:`MAX_LIMIT`).
    sort, descending
        Sort by this column first (ignored when unknown).
    query
        Keep the rows where one of the ``search`` columns contains it (case and accents
        ignored).
    search
        The columns ``query`` looks in.
    redact
        Names as initials, birth dates as years (:func:`optimizer.compare.redact`); a
        redacted page is searched by id only, never by name.

    Returns
    -------
    dict
        ``total`` (rows after filtering), ``offset``, ``limit``, ``rows`` (list of dicts).
    """
    import numpy as np

    from optimizer.compare import NAME_COLUMNS
    from optimizer.compare import redact as redacted
    from optimizer.store import jsonable

    if redact:
        search = tuple(c for c in search if c not in NAME_COLUMNS)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    if query and search:
        needle = _fold(query.strip())
        mask = np.zeros(len(frame), dtype=bool)
        for col in search:
            mask |= frame[col].astype(str).map(_fold).str.contains(needle, regex=False).to_numpy(bool)
        frame = frame.loc[mask]
    if sort is not None and sort in frame.columns:
        frame = frame.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
    rows = frame.iloc[offset : offset + limit]
    if redact:
        rows = redacted(rows)
    return {
        "total": len(frame),
        "offset": offset,
        "limit": limit,
        "rows": jsonable(rows.to_dict(orient="records")),
    }
