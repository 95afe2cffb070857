"""Stored runs as the web app shows them: cached, summarised, paginated, redacted.

A stored run never changes, so :class:`RunCache` keeps the last few read (their tables
and per-unit KPIs) and a page of a city run is cut from memory, not re-read from SQLite.
:func:`page` sorts, filters and slices a table on the server; the pages and the API
(``/api/runs/{id}/units``, ``/api/runs/{id}/people``) share it.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from optimizer.edit import EditCheck, SessionSnapshots
    from optimizer.store import RunStore, StoredRun, StoredRunHead

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
#: The derived tables of a run.
Table = Literal["units", "people"]
#: The columns each derived table is searched in.
SEARCHED: dict[Table, tuple[str, ...]] = {
    "units": ("unit_id", "unit_name"),
    "people": ("staff_id", "full_name"),
}

log = logging.getLogger(__name__)


@dataclass
class CachedRun:
    """A stored run as the web app reads it: its head (status, meta, KPIs) at once, the
    rest on demand, each read or computed once: ``run`` (the whole run, its 16k rows on
    the city), the derived tables ``units`` (the per-unit KPIs stored with the run,
    :func:`optimizer.service.run_units`: no placement row is read) and ``people``
    (:func:`people_frame`), and their text columns folded for searching."""

    head: StoredRunHead
    store: RunStore
    _derived: dict[str, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._derived:
                self._derived[key] = make()
            return self._derived[key]

    @property
    def run(self) -> StoredRun:
        """The whole run, its tables read from the store on first use."""
        from optimizer import service

        run: StoredRun = self._once("run", lambda: service.get_run(self.store, self.head.run_id))
        return run

    def table(self, name: Table) -> pd.DataFrame:
        """The derived table ``units`` or ``people``."""
        from optimizer import service

        if name == "units":
            frame: pd.DataFrame = self._once(name, lambda: service.run_units(self.store, self.head.run_id))
        else:
            frame = self._once(name, lambda: people_frame(self.run))
        return frame

    def folded(self, name: Table, column: str) -> pd.Series:
        """A text column of a derived table, case and accents folded (for searching)."""
        frame = self.table(name)
        series: pd.Series = self._once(f"{name}.{column}", lambda: frame[column].astype(str).map(_fold))
        return series

    def warm(self, searched: dict[Table, tuple[str, ...]]) -> None:
        """Compute the derived tables and the folded columns of ``searched`` now."""
        for name, columns in searched.items():
            for column in columns:
                self.folded(name, column)


class RunCache:
    """The last ``size`` runs read from a store, by run id (thread-safe)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._runs: OrderedDict[str, CachedRun] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._prefetched: set[str] = set()
        self._lock = threading.Lock()

    def get(self, store: RunStore, run_id: str) -> CachedRun:
        """The run ``run_id`` (an exact id), read from ``store`` unless cached; a run
        being read by another thread (a prefetch) is waited for, not read twice."""
        with self._lock:
            loading = self._loading.setdefault(run_id, threading.Lock())
        with loading:
            with self._lock:
                hit = self._runs.get(run_id)
                if hit is not None:
                    self._runs.move_to_end(run_id)
                    return hit
            from optimizer import service

            cached = CachedRun(service.run_head(store, run_id), store)
            with self._lock:
                self._runs[run_id] = cached
                while len(self._runs) > self.size:
                    gone = self._runs.popitem(last=False)[0]
                    self._loading.pop(gone, None)
                    self._prefetched.discard(gone)
            return cached

    def prefetch(self, store: RunStore, run_id: str, snapshots: SessionSnapshots | None = None) -> None:
        """Read a run, derive its tables and open it for editing (from its snapshot, or
        rebuilt and kept in ``snapshots``) in a background thread, so that its search and
        its first edit check are served from memory (called when a run is stored, at
        start for the newest run, and when its result or edit page is opened); once per
        run while it is cached."""
        with self._lock:
            if run_id in self._prefetched:
                return
            self._prefetched.add(run_id)

        def work() -> None:
            from optimizer import service

            try:
                self.get(store, run_id).warm(SEARCHED)
                service.edit_session(store, run_id, snapshots)
            except Exception:  # a prefetch is only a head start: the page reads it again
                log.exception("prefetch of run %s failed", run_id)

        threading.Thread(target=work, name=f"prefetch-{run_id}", daemon=True).start()


def people_frame(run: StoredRun) -> pd.DataFrame:
    """One row per person of a run: placed ones with their post, unplaced ones with the
    reason, in :data:`PEOPLE_COLUMNS`."""
    import pandas as pd

    from optimizer.placement_tables import reason_texts

    pl, un = run.tables.placements, run.tables.unplaced
    placed = pl.assign(placed=True, reason="")
    unplaced = un.assign(
        reason=reason_texts(un),  # stored as a code and parameters: made a sentence here
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
    cached: CachedRun,
    table: Table,
    *,
    offset: int = 0,
    limit: int = 50,
    sort: str | None = None,
    descending: bool = False,
    query: str = "",
    redact: bool = False,
) -> dict[str, Any]:
    """One page of a derived table of a run, as JSON-able rows.

    Parameters
    ----------
    cached, table
        The run, and ``units`` or ``people``.
    offset, limit
        The page (``limit`` at most :data:`MAX_LIMIT`).
    sort, descending
        Sort by this column first (ignored when unknown).
    query
        Keep the rows where one of the table's :data:`SEARCHED` columns contains it (case
        and accents ignored).
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

    frame = cached.table(table)
    search = tuple(c for c in SEARCHED[table] if not (redact and c in NAME_COLUMNS))
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    if query.strip():
        needle = _fold(query.strip())
        mask = np.zeros(len(frame), dtype=bool)
        for col in search:
            mask |= cached.folded(table, col).str.contains(needle, regex=False).to_numpy(bool)
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


def edit_violations(checked: EditCheck, see_names: bool, lang: str) -> list[dict[str, Any]]:
    """The hard rules an edit check found broken, for a page or the API: the rule id, the
    reason in ``lang``, the staff ids concerned and who they are (``Name (id)``, or the id
    alone for a user who does not see names)."""
    names = checked.names
    return [
        {
            "rule": v.rule,
            "text": v.reason.render(lang),
            "staff_ids": list(v.staff_ids),
            "who": [f"{names.get(s, s)} ({s})" if see_names else s for s in v.staff_ids],
        }
        for v in checked.violations
    ]
