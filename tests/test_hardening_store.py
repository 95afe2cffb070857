"""The store refuses what it does not own, and reports damage (issue 17, point 4).

Findings: 3 (another program's SQLite file converted; a ``runs`` table or user_version 1
gave a traceback; ``run`` solved before crashing), 8 (``rm ""`` deleted the only run),
9 (an edited name or birth date passed the manifest check), 11 (disk full at COMMIT),
13 (corrupted rows gave JSONDecodeError tracebacks).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hardening_support import invoke, no_traceback
from test_store import new_run, random_assignment, random_problem, tiny_run

from optimizer.errors import InputError
from optimizer.store import APPLICATION_ID, RunStore, manifest_hash, run_manifest


def foreign_db(path: Path, sql: str, version: int = 0) -> bytes:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.commit()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("sql", "version"),
    [
        ("CREATE TABLE notes (id INTEGER, body TEXT); INSERT INTO notes VALUES (1, 'x');", 0),
        ("CREATE TABLE runs (id INTEGER, what TEXT);", 1),
        ("CREATE TABLE accounts (id INTEGER);", 1),
    ],
)
def test_another_programs_database_is_refused_untouched(tmp_path: Path, sql: str, version: int) -> None:
    app = tmp_path / "app.db"
    before = foreign_db(app, sql, version)
    for args in (
        ("runs",),
        ("show", "latest"),
        ("rm", "latest"),
        ("export", "latest", "--out", str(tmp_path)),
    ):
        result = invoke(*args, "--store", str(app))
        assert result.exit_code == 2 and no_traceback(result), (args, result.output)
        assert "another program's database" in result.output
    with pytest.raises(InputError) as refused:
        RunStore(app)
    assert refused.value.issues[0].code == "store.foreign"
    assert app.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_run_refuses_a_foreign_store_before_solving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hardening_support import TINY

    import optimizer.solve

    app = tmp_path / "app.db"
    before = foreign_db(app, "CREATE TABLE t (x);")

    def no_solve(*args: object, **kwargs: object) -> None:
        raise AssertionError("solved before checking the store")

    monkeypatch.setattr(optimizer.solve, "solve", no_solve)
    result = invoke("run", str(TINY / "scenario.toml"), "--store", str(app))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert app.read_bytes() == before


def test_new_stores_carry_the_application_id_and_old_ones_still_open(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        conn.execute("PRAGMA application_id = 0")  # a store made before the id existed
        conn.commit()
    assert len(RunStore(path).list()) == 1
    empty = tmp_path / "empty.db"
    empty.touch()
    assert RunStore(empty).list() == []  # an empty file becomes a store


@contextlib.contextmanager
def damaged(path: Path, sql: str) -> Iterator[None]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute(sql)
        conn.commit()
    yield


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE runs SET meta = '{\"rules\": ' WHERE seq = 1",
        "UPDATE runs SET kpis = 'null' WHERE seq = 1",
        "UPDATE runs SET meta = '{}' WHERE seq = 1",
        "UPDATE run_placements SET distance_km = 'far' WHERE run_seq = 1",
        "UPDATE run_placements SET moved = 'x' WHERE run_seq = 1",
        "UPDATE runs SET meta = CAST(X'7B22FF223A' AS TEXT) WHERE seq = 1",  # not UTF-8 (long fuzz run)
    ],
)
def test_a_damaged_run_is_named_with_what_to_do(tmp_path: Path, sql: str) -> None:
    path = tmp_path / "s.db"
    store = RunStore(path)
    run_id = store.save(tiny_run())
    with damaged(path, sql):
        outcomes = []
        for args in (("runs",), ("show", "latest"), ("export", "latest", "--out", str(tmp_path / "o"))):
            result = invoke(*args, "--store", str(path))
            assert no_traceback(result), (args, result.output)
            outcomes.append(result.exit_code)
            if result.exit_code == 2:
                assert run_id in result.output and "staffplan rm" in result.output
        assert 2 in outcomes
        assert invoke("rm", run_id, "--store", str(path)).exit_code == 0
        assert RunStore(path).list() == []


def test_a_damaged_file_is_reported_and_run_does_not_write_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hardening_support import TINY

    import optimizer.solve

    def no_solve(*args: object, **kwargs: object) -> None:
        raise AssertionError("solved before checking the store")

    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # a few corrupted bytes in every b-tree page
        data[start + 8 : start + 24] = b"\xff" * 16
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    for args in (("runs",), ("show", "latest")):
        result = invoke(*args, "--store", str(path))
        assert result.exit_code in (0, 2) and no_traceback(result), (args, result.output)
    monkeypatch.setattr(optimizer.solve, "solve", no_solve)  # refused before the solve
    result = invoke("run", str(TINY / "scenario.toml"), "--store", str(path))
    assert result.exit_code == 2 and no_traceback(result) and "damaged" in result.output, result.output
    assert path.read_bytes() == before


def test_a_name_damaged_into_bytes_that_are_not_utf8_is_caught_by_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    with damaged(path, "UPDATE run_placements SET full_name = CAST(X'4EFF' AS TEXT) WHERE row = 0"):
        for args in (("runs",), ("show", "latest")):
            result = invoke(*args, "--store", str(path))
            assert result.exit_code == 0 and no_traceback(result), (args, result.output)
        result = invoke("export", "latest", "--out", str(tmp_path / "o"), "--store", str(path))
        assert result.exit_code == 2 and no_traceback(result), result.output


def test_rm_with_a_blank_id_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    for ref in ("", " "):
        result = invoke("rm", ref, "--store", str(path))
        assert result.exit_code == 2 and "blank" in result.output
    assert len(RunStore(path).list()) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE run_placements SET full_name = 'Nguyễn Văn Giả' WHERE row = 0",
        "UPDATE run_placements SET birth_date = '1999-01-01' WHERE row = 0",
        "UPDATE run_placements SET former_unit = 'Xã Khác' WHERE row = 0",
        "UPDATE run_unplaced SET reason = 'khác' WHERE row = 0",
    ],
)
def test_the_manifest_catches_an_edited_name_or_birth_date(tmp_path: Path, sql: str) -> None:
    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    assert invoke("export", "latest", "--out", str(tmp_path / "ok"), "--store", str(path)).exit_code == 0
    with damaged(path, sql):
        result = invoke("export", "latest", "--out", str(tmp_path / "o"), "--store", str(path))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def full_disk(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Make the store at ``path`` (only) report SQLite's own "database or disk is full"
    (SQLITE_FULL, what ENOSPC gives) at its next write: no page may be added."""
    real = RunStore._connect

    @contextlib.contextmanager
    def tiny_disk(self: RunStore) -> Iterator[sqlite3.Connection]:
        with real(self) as conn:
            if self.path == path:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count = {pages}")
            yield conn

    monkeypatch.setattr(RunStore, "_connect", tiny_disk)


def test_a_full_disk_while_storing_keeps_the_run_in_a_recovery_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    store = RunStore(path)
    full_disk(monkeypatch, path)
    problem = random_problem(400, num_units=5, seed=3)  # more rows than the empty pages hold
    run = new_run(problem, random_assignment(problem))
    with pytest.raises(InputError) as full:
        store.save(run)
    issue = full.value.issues[0]
    assert issue.code == "store.kept_elsewhere", issue
    kept = next(tmp_path.glob("s-recovered-*.db"))
    assert str(kept) in issue.message and f"runs --import {kept} --store {path}" in issue.hint
    assert "disk is full" in issue.message  # the reason, from the store's own error
    monkeypatch.undo()
    assert RunStore(path).list() == []  # nothing half-stored in the full store
    recovered = RunStore(kept).get("latest")
    assert recovered.manifest_hash == manifest_hash(run_manifest(run))
    assert [(old, new is not None) for old, new in store.import_runs(kept)] == [(recovered.run_id, True)]
    back = store.get("latest")
    assert back.manifest_hash == recovered.manifest_hash and back.kpis == recovered.kpis
    pd.testing.assert_frame_equal(back.tables.placements, recovered.tables.placements)
    assert [new for _, new in store.import_runs(kept)] == [None]  # not copied twice
    assert len(store.list()) == 1


def test_run_on_a_full_disk_says_where_the_placement_is_and_import_brings_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hardening_support import TINY

    path = tmp_path / "s.db"
    RunStore(path)
    full_disk(monkeypatch, path)
    result = invoke("run", str(TINY / "scenario.toml"), "--store", str(path))
    assert result.exit_code == 2 and no_traceback(result), result.output
    kept = next(tmp_path.glob("s-recovered-*.db"))
    assert f"kept in the recovery store {kept}" in result.output
    monkeypatch.undo()  # the disk has room again
    result = invoke("runs", "--import", str(kept), "--store", str(path))
    assert result.exit_code == 0 and "Copied run r0001-" in result.output, result.output
    result = invoke("export", "latest", "--format", "csv", "--out", str(tmp_path / "o"), "--store", str(path))
    assert result.exit_code == 0, result.output  # the manifest of the imported run verifies
    result = invoke("runs", "--import", str(tmp_path / "s.db"), "--store", str(kept))
    assert result.exit_code == 0 and "already in the store" in result.output, result.output


def test_importing_a_foreign_file_is_refused_and_copies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    RunStore(path).save(tiny_run())
    app = tmp_path / "app.db"
    before = foreign_db(app, "CREATE TABLE runs (x);")
    result = invoke("runs", "--import", str(app), "--store", str(path))
    assert result.exit_code == 2 and no_traceback(result), result.output
    assert f"ERROR {app}: This file is another program's database" in result.output
    assert app.read_bytes() == before and len(RunStore(path).list()) == 1


def test_a_column_added_by_a_later_migration_leaves_old_manifests_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from optimizer import store as store_module
    from optimizer.store import TABLE_SCHEMAS, manifest_hash, run_manifest

    path = tmp_path / "s.db"
    run_id = RunStore(path).save(tiny_run())
    with damaged(path, "ALTER TABLE run_unplaced ADD COLUMN later_note TEXT"):
        sql, kinds = TABLE_SCHEMAS["unplaced"]
        schemas = {**TABLE_SCHEMAS, "unplaced": (sql, {**kinds, "later_note": "text"})}
        monkeypatch.setattr(store_module, "TABLE_SCHEMAS", schemas)
        got = RunStore(path).get(run_id)
    assert "later_note" in got.tables.unplaced.columns
    assert manifest_hash(run_manifest(got)) == got.manifest_hash
