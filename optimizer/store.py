"""The run store: every solve kept in one SQLite file (layer 7).

A run is written in **one transaction** (``BEGIN IMMEDIATE`` … ``COMMIT``) into a
database in WAL mode, so a process killed while storing leaves no trace of that run and
the store stays readable; several processes may store at once (each waits its turn for
the write lock, up to :data:`BUSY_TIMEOUT_S`).  The schema is versioned with
``PRAGMA user_version`` and migrated on open (:data:`MIGRATIONS`).

The store file is the only place where a run's personal data (names, birth dates) is
kept; it is created readable by its owner only (mode 0600).  Its default location is
``$STAFFPLAN_STORE`` or ``./staffplan.db``.

What a run records (DESIGN §7): the run id, the scenario name, file and hash, the
resolved scenario (after ``extends`` and ``--set``) and overrides, the input file hashes,
the package version, the solver parameters and seed, the status and timings per stage,
the objective value and bound per term, the placements, the unplaced, the post lines with
their fill (per-unit results), the KPIs of :mod:`optimizer.kpis`, and a manifest hash
(:func:`manifest_hash`) that ties printed annexes to the exact inputs and placement.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optimizer.data import Rules
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.kpis import compute_kpis, unit_kpis
from optimizer.placement_tables import RunTables
from optimizer.solution import ENGINE, SolveResult
from optimizer.unproven import UnprovenNote

if TYPE_CHECKING:
    from optimizer.io import Scenario

logger = logging.getLogger(__name__)

#: Environment variable naming the store file.
STORE_ENV = "STAFFPLAN_STORE"
#: Store file used when neither a path nor :data:`STORE_ENV` is given (in the working folder).
DEFAULT_STORE = "staffplan.db"
#: The store's failures after which a solved run is kept in a recovery store, not lost:
#: a full disk, a file or folder that cannot be written, a write lock held too long.
RECOVERABLE = ("store.disk_full", "store.cannot_open", "store.busy")
#: Where a recovery store goes when the store's own folder cannot take it.
RECOVERY_DIR = Path.home() / ".local" / "state" / "staffplan"
#: How long a writer waits for another process's write lock, in seconds.
BUSY_TIMEOUT_S = 120.0
#: Version of the manifest layout hashed by :func:`manifest_hash` for new runs.  Format 1
#: (runs stored before it) covered the placement keys only; format 2 covers every stored
#: column of the three run tables, names and birth dates included.
MANIFEST_FORMAT = 2
#: Columns added by migrations after manifest format 2 existed and before new runs listed
#: their manifest columns in their meta: a format-2 run without that list left them out.
MANIFEST_LATER_COLUMNS: dict[str, tuple[str, ...]] = {"unplaced": ("reason_code", "reason_params")}
#: ``PRAGMA application_id`` of a staffplan store ("SPLN"): SQLite files of other
#: programs are refused, never converted.
APPLICATION_ID = 0x53504C4E
#: The tables of a staffplan store (a store made before :data:`APPLICATION_ID` is
#: recognised by them).
STORE_TABLES = frozenset({"runs", "run_placements", "run_unplaced", "run_lines"})

_TEXT, _INT, _REAL, _BOOL = "text", "int", "real", "bool"

#: SQL table of each of the three run tables, and the kind of each column.
TABLE_SCHEMAS: dict[str, tuple[str, dict[str, str]]] = {
    "placements": (
        "run_placements",
        {
            "staff_id": _TEXT,
            "full_name": _TEXT,
            "birth_date": _TEXT,
            "gender": _TEXT,
            "category": _TEXT,
            "grade": _TEXT,
            "former_unit": _TEXT,
            "origin_unit": _TEXT,
            "unit_id": _TEXT,
            "unit_name": _TEXT,
            "unit_kind": _TEXT,
            "bloc": _TEXT,
            "department": _TEXT,
            "position": _TEXT,
            "leadership": _BOOL,
            "distance_km": _REAL,
            "moved": _BOOL,
            "bloc_changed": _BOOL,
            "pinned": _BOOL,
            "preference_rank": _INT,
            "local": _BOOL,
            "relatives_conflict": _INT,
        },
    ),
    "unplaced": (
        "run_unplaced",
        {
            "staff_id": _TEXT,
            "full_name": _TEXT,
            "birth_date": _TEXT,
            "gender": _TEXT,
            "category": _TEXT,
            "bloc": _TEXT,
            "positions": _TEXT,
            "former_unit": _TEXT,
            "origin_unit": _TEXT,
            "reason": _TEXT,
            "reason_code": _TEXT,
            "reason_params": _TEXT,
        },
    ),
    "units": (
        "run_lines",
        {
            "unit_id": _TEXT,
            "unit_name": _TEXT,
            "bloc": _TEXT,
            "department": _TEXT,
            "position": _TEXT,
            "category": _TEXT,
            "leadership": _BOOL,
            "min": _INT,
            "max": _INT,
            "filled": _INT,
            "shortfall": _INT,
            "non_local": _BOOL,
            "unit_lat": _REAL,
            "unit_lon": _REAL,
        },
    ),
}

_V1 = """
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    scenario_name TEXT NOT NULL,
    scenario_path TEXT NOT NULL,
    scenario_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    proven INTEGER NOT NULL,
    manifest_hash TEXT NOT NULL,
    package_version TEXT NOT NULL,
    base_run TEXT,
    sweep_id TEXT,
    meta TEXT NOT NULL,
    kpis TEXT NOT NULL
);
CREATE INDEX runs_scenario ON runs (scenario_name);
CREATE INDEX runs_sweep ON runs (sweep_id);
CREATE TABLE run_placements (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    staff_id TEXT NOT NULL, full_name TEXT, birth_date TEXT, gender TEXT, category TEXT,
    grade TEXT, former_unit TEXT, origin_unit TEXT, unit_id TEXT NOT NULL, unit_name TEXT,
    unit_kind TEXT, bloc TEXT, department TEXT, position TEXT, leadership INTEGER,
    distance_km REAL, moved INTEGER, bloc_changed INTEGER, pinned INTEGER,
    preference_rank INTEGER, "local" INTEGER, relatives_conflict INTEGER,
    PRIMARY KEY (run_seq, row)
);
CREATE INDEX run_placements_staff ON run_placements (staff_id);
CREATE TABLE run_unplaced (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    staff_id TEXT NOT NULL, full_name TEXT, birth_date TEXT, gender TEXT, category TEXT,
    bloc TEXT, positions TEXT, former_unit TEXT, origin_unit TEXT, reason TEXT,
    PRIMARY KEY (run_seq, row)
);
CREATE TABLE run_lines (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    unit_id TEXT NOT NULL, unit_name TEXT, bloc TEXT, department TEXT, position TEXT,
    category TEXT, leadership INTEGER, "min" INTEGER, "max" INTEGER, filled INTEGER,
    shortfall INTEGER, non_local INTEGER, unit_lat REAL, unit_lon REAL,
    PRIMARY KEY (run_seq, row)
);
"""

#: The web app's tables (``staffplan serve``): its users (argon2 hashes), the audit log of
#: every run, edit, export and login, its job queue and its uploaded scenarios.  Read and
#: written by :mod:`optimizer.web` through :meth:`RunStore.transaction` and :meth:`RunStore.reading`.
_V2 = """
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('planner', 'viewer')),
    password_hash TEXT NOT NULL,
    see_names INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE web_jobs (
    job_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    user TEXT NOT NULL,
    scenario TEXT NOT NULL,
    label TEXT NOT NULL,
    overrides TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT
);
CREATE TABLE web_scenarios (
    scenario_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    user TEXT NOT NULL,
    name TEXT NOT NULL,
    folder TEXT NOT NULL,
    entry TEXT NOT NULL,
    valid INTEGER NOT NULL,
    issues TEXT NOT NULL
);
"""

#: Why a person is unplaced, as data: the reason's code and its parameters (JSON), made a
#: sentence in the reader's language when shown (:func:`optimizer.placement_tables.reason_texts`).
#: Rows of runs stored before keep their sentence in ``reason`` and get blank codes.
_V3 = """
ALTER TABLE run_unplaced ADD COLUMN reason_code TEXT;
ALTER TABLE run_unplaced ADD COLUMN reason_params TEXT
"""

#: Why a run has no placement, as data: the English sentence runs stored in
#: ``meta.message`` becomes a reason (``meta.failure``: code and parameters, rendered in
#: the reader's language, :func:`optimizer.record.run_notes`).  The sentences the solver
#: wrote get their codes; any other text is kept as the parameter of ``solve_text``.
#: (No ``;`` inside the statement: migrations are split on it.)
_V4 = """
UPDATE runs SET meta = json_set(
    json_remove(meta, '$.message'),
    '$.failure',
    CASE
        WHEN json_extract(meta, '$.message') = '' THEN NULL
        WHEN json_extract(meta, '$.message') LIKE 'min-cost flow status %'
            THEN json('{"code": "solve_must_place", "params": {}}')
        WHEN json_extract(meta, '$.message') = 'hard minimums cannot all be met'
            THEN json('{"code": "solve_min_unreachable", "params": {}}')
        WHEN json_extract(meta, '$.message')
            = 'the relatives rule cannot be met together with the other hard rules'
            THEN json('{"code": "solve_relatives", "params": {}}')
        WHEN json_extract(meta, '$.message') = 'stopped before the relatives rule could be met'
            THEN json('{"code": "solve_stopped_relatives", "params": {}}')
        ELSE json_object('code', 'solve_text', 'params', json_object('text', json_extract(meta, '$.message')))
    END
)
WHERE json_valid(meta) AND json_type(meta, '$.message') = 'text'
"""

#: The per-unit KPIs of each run (:func:`optimizer.kpis.unit_kpis`, all blocs together),
#: computed once when the run is stored: a page of a city run shows them without reading
#: its 16k placement rows.  Runs stored before have none (:meth:`RunStore.unit_kpis`).
_V5 = """
CREATE TABLE IF NOT EXISTS run_unit_kpis (
    run_seq INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    data TEXT NOT NULL
)
"""

#: Schema migrations: entry ``k`` brings a store from ``user_version`` k to k + 1.
#: Never edit a released entry; append a new one.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
#: The schema version this code reads and writes.
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunSource:
    """Where a run comes from: what its manifest certifies besides the placement.

    ``resolved_scenario`` is the scenario after ``extends`` and ``--set``;
    ``solver_params`` holds at least ``time_limit_s``, ``workers`` and ``seed``.
    """

    scenario_name: str
    scenario_path: str
    scenario_hash: str
    resolved_scenario: dict[str, Any]
    overrides: tuple[str, ...]
    input_hashes: dict[str, str]
    solver_params: dict[str, Any]

    @classmethod
    def of(cls, scenario: Scenario, input_hashes: Mapping[str, str] | None = None) -> RunSource:
        """The source of a run of ``scenario``.

        ``input_hashes`` (table → SHA-256) when already known, e.g. hashed by a sweep's
        coordinator; by default the scenario's files are hashed now.  The solver
        parameters are the scenario's (seed included) and the engine's name.
        """
        solver = scenario.solver
        return cls(
            scenario_name=scenario.name,
            scenario_path=str(scenario.path),
            scenario_hash=scenario.file_hash(),
            resolved_scenario=scenario.resolved(),
            overrides=scenario.overrides,
            input_hashes=dict(input_hashes) if input_hashes is not None else scenario.input_hashes(),
            solver_params={
                "time_limit_s": solver.time_limit_s,
                "workers": solver.workers,
                "seed": solver.seed,
                "engine": ENGINE,
            },
        )


@dataclass(frozen=True)
class NewRun:
    """Everything :meth:`RunStore.save` stores: where the run comes from, the solve, its
    tables and the rules it was solved under (built by :func:`optimizer.record.record_run`)."""

    source: RunSource
    package_version: str
    result: SolveResult
    tables: RunTables
    rules: Rules
    base_run: str | None = None
    sweep_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: KPIs that need the problem, not only the tables (e.g. ``{"fairness": {...}}``),
    #: stored beside those of :func:`optimizer.kpis.compute_kpis`.
    extra_kpis: dict[str, Any] = field(default_factory=dict)
    #: Why each stage is not proven, naming people by id and name (no language).
    unproven: tuple[UnprovenNote, ...] = ()


@dataclass(frozen=True)
class StoredRun:
    """A run read back from the store, with its tables rebuilt from the stored rows."""

    run_id: str
    created_at: str
    scenario_name: str
    status: str
    proven: bool
    manifest_hash: str
    meta: dict[str, Any]
    tables: RunTables
    kpis: dict[str, Any]

    @property
    def rules(self) -> Rules:
        """The scenario rules the run was solved (and its KPIs computed) under."""
        return rules_from_json(self.meta["rules"])


@dataclass(frozen=True)
class StoredRunHead:
    """One item of :meth:`RunStore.heads`: a run's meta and KPIs, without its tables."""

    run_id: str
    created_at: str
    scenario_name: str
    status: str
    proven: bool
    manifest_hash: str
    meta: dict[str, Any]
    kpis: dict[str, Any]


@dataclass(frozen=True)
class StoredRunSummary:
    """One line of :meth:`RunStore.list`: a run without its tables."""

    run_id: str
    created_at: str
    scenario_name: str
    status: str
    proven: bool
    manifest_hash: str
    base_run: str | None
    sweep_id: str | None
    placed: int
    unplaced: int
    shortfall: int
    fill_rate: float | None
    total_time_s: float | None
    #: The run's ``--label`` (``""`` when none) and its ``--set`` overrides.
    label: str = ""
    overrides: tuple[str, ...] = ()


def jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types, NFC-normalising every string.

    Dates become ISO 8601 text, paths text, tuples lists, numpy scalars Python numbers,
    non-finite floats ``None`` and dataclasses dicts.
    """
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return jsonable(float(value))
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return jsonable(os.fspath(value))
    if isinstance(value, Mapping):
        return {jsonable(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    raise TypeError(f"cannot store a value of type {type(value).__name__} as JSON")


def canonical_json(value: Any) -> str:
    """Canonical JSON text of ``value``: sorted keys, no spaces, UTF-8 characters kept."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(value: Any) -> str:
    """JSON text of ``value`` keeping its key order (KPIs are listed in display order)."""
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))


def rules_from_json(data: Mapping[str, Any]) -> Rules:
    """Rebuild :class:`~optimizer.data.Rules` from its stored JSON form."""
    kwargs = dict(data)
    kwargs["reference_date"] = dt.date.fromisoformat(str(kwargs["reference_date"]))
    return Rules(**kwargs)


def run_manifest(run: NewRun | StoredRun) -> dict[str, Any]:
    """The manifest of a run: what its hash certifies.

    It holds the scenario name and file hash, the resolved scenario, the ``--set``
    overrides, the input file hashes, the package version, the solver parameters (seed
    included), and every stored column of the three run tables in table order — so that
    any field an annex prints (name, birth date, former unit, unit name…) is certified.
    Runs stored with manifest format 1 (``meta["manifest_format"]`` absent) are checked
    with their own layout: for every placed person ``[staff_id, unit_id, bloc,
    department, position, category]``, and the sorted ids of the unplaced.  Timings,
    status, KPIs and the creation time are left out, so two solves of the same inputs
    that reach the same placement share one manifest.  A stored run
    yields the manifest it was saved with.
    """
    if isinstance(run, NewRun):
        head: dict[str, Any] = {
            "scenario_name": run.source.scenario_name,
            "scenario_hash": run.source.scenario_hash,
            "resolved_scenario": run.source.resolved_scenario,
            "overrides": list(run.source.overrides),
            "input_hashes": run.source.input_hashes,
            "package_version": run.package_version,
            "solver_params": run.source.solver_params,
        }
    else:
        meta = run.meta
        head = {
            "scenario_name": run.scenario_name,
            "scenario_hash": meta["scenario_hash"],
            "resolved_scenario": meta["resolved_scenario"],
            "overrides": meta["overrides"],
            "input_hashes": meta["input_hashes"],
            "package_version": meta["package_version"],
            "solver_params": meta["solver_params"],
        }
    fmt = MANIFEST_FORMAT if isinstance(run, NewRun) else int(run.meta.get("manifest_format", 1))
    if fmt == 1:
        cols = ["staff_id", "unit_id", "bloc", "department", "position", "category"]
        placements = run.tables.placements[cols].astype(str).to_numpy().tolist()
        unplaced = sorted(run.tables.unplaced["staff_id"].astype(str))
        return {"format": 1, **head, "placements": placements, "unplaced": unplaced}
    columns = manifest_columns() if isinstance(run, NewRun) else run.meta.get("manifest_columns")
    if not isinstance(columns, dict):  # stored before the columns were listed in the meta
        columns = manifest_columns(without=MANIFEST_LATER_COLUMNS)
    tables = {}
    for name, cols in columns.items():
        kinds = TABLE_SCHEMAS[name][1]
        frame = getattr(run.tables, name)
        tables[name] = {c: _manifest_values(frame, c, kinds[c]) for c in cols}
    return {"format": fmt, **head, "tables": tables}


def manifest_columns(without: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, list[str]]:
    """The columns a format-2 manifest covers, by run table: every stored column (less
    ``without``).  New runs keep the list in their meta, so that a column a later schema
    migration adds to old rows never changes an old run's manifest."""
    drop = without or {}
    return {
        name: [c for c in kinds if c not in drop.get(name, ())] for name, (_, kinds) in TABLE_SCHEMAS.items()
    }


def _manifest_values(frame: pd.DataFrame, column: str, kind: str) -> list[Any]:
    """A column as it is stored (and read back: a blank text is ``""``), for the manifest."""
    values = _column_values(frame, column, kind)
    return ["" if v is None else v for v in values] if kind == _TEXT else values


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a manifest (see :func:`run_manifest`)."""
    return hashlib.sha256(canonical_json(manifest).encode("utf-8")).hexdigest()


def default_store_path() -> Path:
    """``$STAFFPLAN_STORE`` if set, else ``staffplan.db`` in the working folder."""
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


def _store_issue(path: Path, key: str, hint_key: str = "", **kwargs: object) -> InputError:
    hint = t(hint_key, **kwargs) if hint_key else ""
    return InputError([Issue(file=str(path), message=t(key, **kwargs), hint=hint, code=key)])


def _meta(run: NewRun) -> dict[str, Any]:
    res = run.result
    stages = [
        {
            "name": s.name,
            "terms": list(s.terms),
            "status": s.status,
            "value": s.value,
            "bound": s.bound,
            "gap": s.gap,
            "time_s": s.time_s,
        }
        for s in res.stages
    ]
    return jsonable(
        {
            "scenario_path": run.source.scenario_path,
            "scenario_hash": run.source.scenario_hash,
            "resolved_scenario": run.source.resolved_scenario,
            "overrides": list(run.source.overrides),
            "input_hashes": run.source.input_hashes,
            "package_version": run.package_version,
            "solver_params": run.source.solver_params,
            "seed": run.source.solver_params.get("seed"),
            "rules": dataclasses.asdict(run.rules),
            "stages": stages,
            "values": res.values,
            "bounds": res.bounds,
            "timings": res.timings,
            "peak_memory_mb": res.peak_memory_mb,
            "candidate_counts": res.candidate_counts,
            "interrupted": res.interrupted,
            "failure": res.failure.to_dict() if res.failure is not None else None,
            "unproven": [n.to_dict() for n in run.unproven],
            "base_run": run.base_run,
            "sweep_id": run.sweep_id,
            "tags": run.tags,
            "manifest_format": MANIFEST_FORMAT,
            "manifest_columns": manifest_columns(),
        }
    )


def _json_object(text: Any) -> dict[str, Any]:
    """A stored JSON object; :class:`ValueError` when the text is not one (a damaged row)."""
    if not isinstance(text, str | bytes):
        raise ValueError("not JSON text")
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _column_values(frame: pd.DataFrame, column: str, kind: str) -> list[Any]:
    col = frame[column]
    if kind == _TEXT:
        return [None if pd.isna(v) else str(v) for v in col.tolist()]
    if kind == _BOOL:
        return col.astype(bool).astype(np.int64).tolist()
    if kind == _INT:
        return col.astype(np.int64).tolist()
    return [None if not np.isfinite(v) else v for v in col.astype(np.float64).tolist()]


def _frame_from_rows(rows: list[tuple[Any, ...]], kinds: dict[str, str]) -> pd.DataFrame:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in kinds]
    data: dict[str, Any] = {}
    for (name, kind), values in zip(kinds.items(), columns, strict=True):
        if kind == _TEXT:
            data[name] = ["" if v is None else v for v in values]
        elif kind == _BOOL:
            data[name] = np.array(values, dtype=np.int64).astype(bool)
        elif kind == _INT:
            data[name] = np.array(values, dtype=np.int64)
        else:
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return pd.DataFrame(data, columns=list(kinds))


def _frame_json(frame: pd.DataFrame) -> str:
    """A small frame as JSON text: its columns, their dtypes and its rows (see :func:`_frame_of_json`)."""
    return _json(
        {
            "columns": list(frame.columns),
            "dtypes": [str(d) for d in frame.dtypes],
            "rows": frame.to_numpy(dtype=object).tolist(),
        }
    )


def _frame_of_json(text: Any) -> pd.DataFrame:
    """The frame :func:`_frame_json` wrote, with its dtypes (a missing number is NaN)."""
    data = _json_object(text)
    columns, dtypes = list(data["columns"]), list(data["dtypes"])
    frame = pd.DataFrame(data["rows"], columns=columns, dtype=object)
    return frame.astype(dict(zip(columns, dtypes, strict=True)))


_HEAD_COLUMNS = "run_id, created_at, scenario_name, status, proven, manifest_hash, meta, kpis"


def _head_of(row: tuple[Any, ...]) -> StoredRunHead:
    """A :class:`StoredRunHead` from a row of :data:`_HEAD_COLUMNS`."""
    return StoredRunHead(
        run_id=row[0],
        created_at=row[1],
        scenario_name=row[2],
        status=row[3],
        proven=bool(row[4]),
        manifest_hash=row[5],
        meta=_json_object(row[6]),
        kpis=_json_object(row[7]),
    )


def _lenient_text(data: bytes) -> str:
    """A stored text read back; bytes a damage left that are not UTF-8 become U+FFFD, so
    that the damage is caught by the checks on what was read (the JSON of a run's meta,
    the manifest hash) and named with the run, instead of failing inside SQLite."""
    return data.decode("utf-8", "replace")


def _dict_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """The rows of a query as dicts keyed by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _insert_rows(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows given as dicts (all with the same keys) into ``table``."""
    if not rows:
        return
    names = list(rows[0])
    columns = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" * len(names))
    conn.executemany(
        f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', [[r[n] for n in names] for r in rows]
    )


class RunStore:
    """The SQLite file that keeps every run.

    Parameters
    ----------
    path
        The store file; ``None`` means :func:`default_store_path`.
    create
        Create the file (mode 0600) when missing; with ``False`` a missing file is an
        :class:`~optimizer.errors.InputError`.

    Raises
    ------
    InputError
        When the file is missing (``create=False``), is not a staffplan store, or was
        written by a newer version of staffplan.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        if not self.path.exists():
            if not create:
                raise _store_issue(self.path, "store.missing", "store.missing_hint")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except OSError as exc:
                raise _store_issue(
                    self.path, "store.cannot_open", "store.cannot_open_hint", error=exc.strerror
                ) from exc
        self._migrate()

    def files(self) -> list[Path]:
        """The store file and SQLite's companion files (``-wal``, ``-shm``, ``-journal``)."""
        return RunStore.files_of(self.path)

    @staticmethod
    def files_of(path: Path) -> list[Path]:
        """The store file ``path`` and SQLite's companion files of it."""
        return [path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal"))]

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise _store_issue(
                self.path, "store.cannot_open", "store.cannot_open_hint", error=str(exc)
            ) from exc
        conn.text_factory = _lenient_text
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise self._database_error(exc) from exc
        finally:
            conn.close()

    def _database_error(self, exc: sqlite3.DatabaseError) -> Exception:
        """The planner's error for an SQLite error (the exception itself when it is a bug)."""
        text = str(exc)
        if "not a database" in text:
            return _store_issue(self.path, "store.not_a_store", "store.not_a_store_hint")
        if "full" in text:
            return _store_issue(self.path, "store.disk_full", "store.disk_full_hint")
        if "unable to open" in text or "readonly" in text or "disk I/O" in text:
            return _store_issue(self.path, "store.cannot_open", "store.cannot_open_hint", error=text)
        if "locked" in text or "busy" in text:
            return _store_issue(self.path, "store.busy", "store.busy_hint")
        if not isinstance(exc, sqlite3.OperationalError) or "no such" in text:
            return _store_issue(self.path, "store.damaged", "store.damaged_hint", error=text)
        return exc

    def _damaged_run(self, run_id: str, exc: Exception) -> InputError:
        logger.debug("run %s of %s cannot be read: %r", run_id, self.path, exc)
        return _store_issue(self.path, "store.damaged_run", "store.damaged_run_hint", run_id=run_id)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``), rolled back on error."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``) on the store, for the tables other
        layers keep here (the web app's users, audit log and jobs)."""
        return self._write()

    def reading(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """A connection to read the store (autocommit: each statement its own snapshot)."""
        return self._connect()

    def _owned_version(self, conn: sqlite3.Connection) -> int:
        """The schema version of a file this store may use, or an :class:`InputError`.

        Accepted: a staffplan store (its application id, or — made before the id was
        set — exactly the staffplan tables), and a file with nothing in it (empty, or an
        SQLite database without any table).  Anything else belongs to another program.
        """
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
        ours = app_id == APPLICATION_ID or (
            app_id == 0 and 1 <= version <= SCHEMA_VERSION and names >= STORE_TABLES
        )
        blank = app_id == 0 and version == 0 and not names
        if not (ours or blank):
            raise _store_issue(self.path, "store.foreign", "store.foreign_hint")
        if version > SCHEMA_VERSION:
            raise _store_issue(
                self.path, "store.too_new", "store.too_new_hint", version=version, supported=SCHEMA_VERSION
            )
        return version

    def _migrate(self) -> None:
        """Check that the file is a staffplan store (or empty) before writing anything,
        then create or migrate the schema."""
        with self._connect() as conn:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id == APPLICATION_ID and self._owned_version(conn) == SCHEMA_VERSION:
                return
        with self._write() as conn:  # checked again under the write lock, before any write
            version = self._owned_version(conn)
            for step in range(version, SCHEMA_VERSION):
                logger.info("migrating store %s to schema version %d", self.path, step + 1)
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")

    def check_writable(self) -> None:
        """Check, before a long solve, that a run can be stored here.

        Takes the write lock once (and gives it back), and runs SQLite's ``quick_check``.

        Raises
        ------
        InputError
            When the file or its folder is read-only, or the store is damaged.
        """
        with self._write() as conn:
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise _store_issue(self.path, "store.damaged", "store.damaged_hint", error="; ".join(problems))

    def save(self, run: NewRun) -> str:
        """Store a run in one transaction and return its id.

        The KPIs (:func:`optimizer.kpis.compute_kpis`) and the manifest hash
        (:func:`manifest_hash`) are computed here.  Run ids read ``r<seq>-<hash6>``:
        a sequence number never reused, and the first six hex digits of the manifest hash.

        Raises
        ------
        InputError
            When the store cannot take the run (full disk, read-only, locked too long):
            the run is then kept in a recovery store beside it or in
            :data:`RECOVERY_DIR` or the temporary folder (:meth:`import_runs` brings it
            back), and the error says where and what to do; nothing is lost unless no
            place at all can take it.
        """
        for name, (_, kinds) in TABLE_SCHEMAS.items():
            frame = getattr(run.tables, name)
            if list(frame.columns) != list(kinds):
                raise ValueError(f"table {name} has columns {list(frame.columns)}, not {list(kinds)}")
        kpis = {**compute_kpis(run.tables, run.rules), **run.extra_kpis}
        units = unit_kpis(run.tables, run.rules, by_bloc=False)
        mhash = manifest_hash(run_manifest(run))
        meta = _meta(run)
        created = dt.datetime.now().astimezone().isoformat(timespec="seconds")

        def write(store: RunStore) -> str:
            with store._write() as conn:
                row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
                seq = (row[0] if row else 0) + 1
                run_id = f"r{seq:04d}-{mhash[:6]}"
                conn.execute(
                    "INSERT INTO runs (seq, run_id, created_at, scenario_name, scenario_path,"
                    " scenario_hash, status, proven, manifest_hash, package_version, base_run,"
                    " sweep_id, meta, kpis) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        run_id,
                        created,
                        jsonable(run.source.scenario_name),
                        run.source.scenario_path,
                        run.source.scenario_hash,
                        run.result.status,
                        int(run.result.proven),
                        mhash,
                        run.package_version,
                        run.base_run,
                        run.sweep_id,
                        _json(meta),
                        _json(kpis),
                    ),
                )
                for name, (sql_table, kinds) in TABLE_SCHEMAS.items():
                    frame = getattr(run.tables, name)
                    columns = [_column_values(frame, c, k) for c, k in kinds.items()]
                    names = ", ".join(f'"{c}"' for c in kinds)
                    marks = ", ".join("?" * (len(kinds) + 2))
                    conn.executemany(
                        f"INSERT INTO {sql_table} (run_seq, row, {names}) VALUES ({marks})",
                        zip([seq] * len(frame), range(len(frame)), *columns, strict=True),
                    )
                conn.execute(
                    "INSERT INTO run_unit_kpis (run_seq, data) VALUES (?, ?)", (seq, _frame_json(units))
                )
            return run_id

        try:
            run_id = write(self)
        except InputError as exc:
            if exc.issues[0].code not in RECOVERABLE:
                raise
            raise self._kept_elsewhere(exc, write) from exc
        logger.info("stored run %s (%s)", run_id, run.source.scenario_name)
        return run_id

    def _kept_elsewhere(self, failure: InputError, write: Callable[[RunStore], str]) -> InputError:
        """Write a run this store could not take into a new recovery store; the error to
        raise: where it is kept and how to bring it back, or ``failure`` itself when no
        place could take it either."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"{self.path.stem}-recovered-{stamp}-{os.getpid()}.db"
        for folder in (self.path.parent, RECOVERY_DIR, Path(tempfile.gettempdir())):
            kept = folder / name
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                run_id = write(RunStore(kept))
            except (InputError, OSError) as exc:
                logger.warning("run not kept in %s either: %s", kept, exc)
                for file in RunStore.files_of(kept):
                    file.unlink(missing_ok=True)
                continue
            logger.warning("run %s kept in the recovery store %s", run_id, kept)
            reason = failure.issues[0]
            return InputError(
                [
                    Issue(
                        file=str(self.path),
                        message=t(
                            "store.kept_elsewhere", reason=reason.message, kept=str(kept), run_id=run_id
                        ),
                        hint=t("store.kept_elsewhere_hint", kept=str(kept), store=str(self.path)),
                        code="store.kept_elsewhere",
                    )
                ]
            )
        return failure

    def import_runs(self, source: str | Path) -> list[tuple[str, str | None]]:
        """Copy every run of another staffplan store (a recovery store of :meth:`save`)
        into this one, in one transaction, with new run ids.

        A run already here (same manifest hash and creation time) is not copied again.

        Parameters
        ----------
        source
            A staffplan store file.

        Returns
        -------
        list of (str, str or None)
            Each run's id in ``source`` and its new id here (``None``: already here).

        Raises
        ------
        InputError
            When ``source`` is missing or not a staffplan store, or this store cannot
            take the runs (nothing is copied then).
        """
        runs, children = RunStore(source, create=False)._dump()
        done: list[tuple[str, str | None]] = []
        with self._write() as conn:
            for row in runs:
                here = conn.execute(
                    "SELECT run_id FROM runs WHERE manifest_hash = ? AND created_at = ?",
                    (row["manifest_hash"], row["created_at"]),
                ).fetchone()
                if here is not None:
                    done.append((row["run_id"], None))
                    continue
                last = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
                seq = (last[0] if last else 0) + 1
                new = {**row, "seq": seq, "run_id": f"r{seq:04d}-{row['manifest_hash'][:6]}"}
                _insert_rows(conn, "runs", [new])
                for table, rows in children.items():
                    mine = [{**r, "run_seq": seq} for r in rows if r["run_seq"] == row["seq"]]
                    _insert_rows(conn, table, mine)
                done.append((row["run_id"], new["run_id"]))
        return done

    def _dump(self) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """Every row of ``runs`` and of the tables keyed by ``run_seq``, read in one snapshot."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            keyed = [
                n for n in names if "run_seq" in {c[1] for c in conn.execute(f'PRAGMA table_info("{n}")')}
            ]
            runs = _dict_rows(conn.execute("SELECT * FROM runs ORDER BY seq"))
            children = {n: _dict_rows(conn.execute(f'SELECT * FROM "{n}"')) for n in keyed}
            conn.execute("COMMIT")
        return runs, children

    def _resolve(self, conn: sqlite3.Connection, ref: str) -> tuple[int, str]:
        if not ref.strip():  # an unset shell variable must never name every run
            raise _store_issue(self.path, "store.blank_run", "store.unknown_run_hint")
        if ref == "latest":
            row = conn.execute("SELECT seq, run_id FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                raise _store_issue(self.path, "store.empty", "store.empty_hint")
            return int(row[0]), str(row[1])
        rows = conn.execute(
            "SELECT seq, run_id FROM runs WHERE run_id = ? OR substr(run_id, 1, ?) = ? ORDER BY seq DESC",
            (ref, len(ref), ref),
        ).fetchall()
        exact = [r for r in rows if r[1] == ref]
        if exact:
            rows = exact
        if not rows:
            raise _store_issue(self.path, "store.unknown_run", "store.unknown_run_hint", ref=ref)
        if len(rows) > 1:
            ids = ", ".join(r[1] for r in rows[:5]) + (", …" if len(rows) > 5 else "")
            raise _store_issue(self.path, "store.ambiguous_run", "store.ambiguous_run_hint", ref=ref, ids=ids)
        return int(rows[0][0]), str(rows[0][1])

    def resolve(self, ref: str) -> str:
        """The run id that ``ref`` (an id, a unique prefix of one, or ``latest``) names.

        Raises
        ------
        InputError
            When no run, or more than one, matches.
        """
        with self._connect() as conn:
            return self._resolve(conn, ref)[1]

    def get(self, ref: str) -> StoredRun:
        """Read one run, its tables rebuilt with the columns and order they were saved in.

        Parameters
        ----------
        ref
            A run id, a unique prefix of one, or ``latest``.

        Raises
        ------
        InputError
            When no run, or more than one, matches ``ref``.
        """
        with self._connect() as conn:
            conn.execute("BEGIN")  # one snapshot for the run and its rows
            seq, run_id = self._resolve(conn, ref)
            head = conn.execute(
                "SELECT created_at, scenario_name, status, proven, manifest_hash, meta, kpis"
                " FROM runs WHERE seq = ?",
                (seq,),
            ).fetchone()
            frames: dict[str, pd.DataFrame] = {}
            for name, (sql_table, kinds) in TABLE_SCHEMAS.items():
                names = ", ".join(f'"{c}"' for c in kinds)
                rows = conn.execute(
                    f"SELECT {names} FROM {sql_table} WHERE run_seq = ? ORDER BY row", (seq,)
                ).fetchall()
                try:
                    frames[name] = _frame_from_rows(rows, kinds)
                except (ValueError, TypeError, OverflowError) as exc:
                    raise self._damaged_run(run_id, exc) from exc
            conn.execute("COMMIT")
        try:
            run = StoredRun(
                run_id=run_id,
                created_at=str(head[0]),
                scenario_name=str(head[1]),
                status=str(head[2]),
                proven=bool(head[3]),
                manifest_hash=str(head[4]),
                meta=_json_object(head[5]),
                tables=RunTables(frames["placements"], frames["unplaced"], frames["units"]),
                kpis=_json_object(head[6]),
            )
            run.rules  # noqa: B018 - the stored rules must rebuild
        except (ValueError, TypeError, KeyError) as exc:
            raise self._damaged_run(run_id, exc) from exc
        return run

    def unit_kpis(self, ref: str) -> pd.DataFrame | None:
        """A run's per-unit KPIs as stored with it (:func:`optimizer.kpis.unit_kpis` with
        ``by_bloc=False``), without reading its tables; ``None`` for a run stored before
        they were kept (schema version 5).

        Raises
        ------
        InputError
            When no run, or more than one, matches ``ref``, or the stored row is damaged.
        """
        with self._connect() as conn:
            seq, run_id = self._resolve(conn, ref)
            row = conn.execute("SELECT data FROM run_unit_kpis WHERE run_seq = ?", (seq,)).fetchone()
        if row is None:
            return None
        try:
            return _frame_of_json(row[0])
        except (ValueError, TypeError, KeyError) as exc:
            raise self._damaged_run(run_id, exc) from exc

    def head(self, ref: str) -> StoredRunHead:
        """One run's meta and KPIs without its tables (``ref``: an id, a unique prefix, ``latest``).

        Raises
        ------
        InputError
            When no run, or more than one, matches ``ref``.
        """
        with self._connect() as conn:
            seq = self._resolve(conn, ref)[0]
            row = conn.execute(f"SELECT {_HEAD_COLUMNS} FROM runs WHERE seq = ?", (seq,)).fetchone()
        return self._checked_head(row)

    def _checked_head(self, row: tuple[Any, ...]) -> StoredRunHead:
        """:func:`_head_of`, a damaged row reported with its run id and what to do."""
        try:
            return _head_of(row)
        except (ValueError, TypeError) as exc:
            raise self._damaged_run(str(row[0]), exc) from exc

    def heads(self, sweep: str | None = None) -> list[StoredRunHead]:
        """Runs with their meta and KPIs but without their tables, oldest first.

        Parameters
        ----------
        sweep
            Only the runs of this sweep id (``None``: every run).
        """
        query = f"SELECT {_HEAD_COLUMNS} FROM runs"
        params: list[str] = []
        if sweep is not None:
            query += " WHERE sweep_id = ?"
            params.append(sweep)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY seq", params).fetchall()
        return [self._checked_head(row) for row in rows]

    def list(self, scenario: str | None = None, sweep: str | None = None) -> list[StoredRunSummary]:
        """Summaries of the stored runs, newest first, optionally of one scenario or sweep."""
        query = (
            "SELECT run_id, created_at, scenario_name, status, proven, manifest_hash, base_run,"
            " sweep_id, kpis, meta FROM runs"
        )
        where, params = [], []
        if scenario is not None:
            where.append("scenario_name = ?")
            params.append(scenario)
        if sweep is not None:
            where.append("sweep_id = ?")
            params.append(sweep)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY seq DESC", params).fetchall()
        out = []
        for row in rows:
            try:
                kpis = _json_object(row[8])
                meta = _json_object(row[9])
                timings = meta.get("timings") or {}
                total = timings.get("total", sum(timings.values()) if timings else None)
                out.append(
                    StoredRunSummary(
                        run_id=str(row[0]),
                        created_at=str(row[1]),
                        scenario_name=str(row[2]),
                        status=str(row[3]),
                        proven=bool(row[4]),
                        manifest_hash=str(row[5]),
                        base_run=row[6],
                        sweep_id=row[7],
                        placed=int(kpis["placed"]),
                        unplaced=int(kpis["unplaced"]),
                        shortfall=int(kpis["shortfall"]),
                        fill_rate=kpis["fill_rate"],
                        total_time_s=total,
                        label=str((meta.get("tags") or {}).get("label") or ""),
                        overrides=tuple(str(o) for o in meta.get("overrides") or ()),
                    )
                )
            except (ValueError, TypeError, KeyError) as exc:
                raise self._damaged_run(str(row[0]), exc) from exc
        return out

    def delete(self, ref: str) -> None:
        """Delete one run and all its rows (one transaction).

        Raises
        ------
        InputError
            When no run, or more than one, matches ``ref``.
        """
        with self._write() as conn:
            seq, run_id = self._resolve(conn, ref)
            conn.execute("DELETE FROM runs WHERE seq = ?", (seq,))
        logger.info("deleted run %s", run_id)
