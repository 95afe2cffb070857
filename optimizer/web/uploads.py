"""Uploaded inputs made into scenario folders of the workspace, and the scenario catalogue.

An upload is one of:

* a **workbook** (``.xlsx``): its sheets are recognised by name (``units``/``Đơn vị``,
  ``posts``/``Biên chế``, ``staff``/``Nhân sự``, ``relations``/``Quan hệ``,
  ``pins``/``Ghim``; case and accents ignored) and a ``scenario.toml`` with the default
  rules is written next to it;
* a **zip of a scenario folder**: its TOML file(s) and the tables they name;
* **CSV files**, one per table, recognised by file name (``units.csv``, ``staff.csv``…).

The type of every file is checked by its content (zip and xlsx by their signature and
members, CSV as UTF-8 text), never by its name.  Files are stored under
``<workspace>/uploads/<id>/`` under generated names (``f001.csv``…, ``book.xlsx``,
``units.csv``…): **no user string ever reaches a filesystem path**.  The TOML files of a
zip are rewritten to point at the generated names; a path that leaves the zip, an
absolute path or a file that is not in the zip is a problem reported to the planner.
Sizes are limited (the upload, and the unpacked zip), as is the number of files.

The scenario is then validated by :func:`optimizer.service.validate`; the outcome (valid,
issues) is recorded in the store's ``web_scenarios`` table.  Of an invalid upload only
its problems are kept (for its page and its errors sheet): its files are deleted, and it
cannot be solved.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import posixpath
import re
import secrets
import shutil
import tomllib
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from optimizer.errors import InputError, Issue
from optimizer.i18n import LANGS, get_lang, speaking, t
from optimizer.io.template import SHEETS
from optimizer.io.vocab import fold
from optimizer.store import RunStore, jsonable

#: Folder of the workspace holding the uploads.
UPLOADS = "uploads"
#: Folder of the workspace whose scenario files (``*.toml``) are listed too.
SCENARIOS = "scenarios"
#: Most files in one upload (zip members or CSV files).
MAX_FILES = 64
#: Extensions kept from a zip (others are ignored).
ZIP_KINDS = (".toml", ".csv", ".xlsx", ".parquet", ".geojson", ".json")
#: An uploaded scenario's id: ``u`` and 12 hex digits.
UPLOAD_ID = re.compile(r"^u[0-9a-f]{12}$")
#: Table → accepted sheet or file names (folded, see :func:`optimizer.io.vocab.fold`): the
#: table's name, its sheet in ``staffplan template``'s workbook, and a few usual others.
TABLE_NAMES: dict[str, tuple[str, ...]] = {
    table: (table, fold(SHEETS[table]), *others)
    for table, others in {
        "units": ("don_vi_hanh_chinh", "dvhc"),
        "posts": ("posts_transition", "posts_norm2030", "vi_tri"),
        "staff": ("can_bo", "danh_sach"),
        "relations": ("quan_he", "nguoi_than"),
        "pins": ("co_dinh", "quyet_dinh"),
    }.items()
}
_REQUIRED = ("units", "posts", "staff")

UploadKind = Literal["xlsx", "zip", "csv"]


@dataclass(frozen=True)
class UploadedFile:
    """One file of an upload: the name the planner gave it (shown, never used as a
    path) and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ScenarioEntry:
    """A scenario the web app can solve: an upload, or a TOML file of the workspace.

    ``scenario_id`` is ``u…`` for an upload, the path relative to the workspace for a
    workspace file; ``path`` is the TOML file; ``valid`` and ``issues`` are the upload's
    validation (workspace files are validated when solved), ``issues`` in each language
    (:meth:`issues_in`).
    """

    scenario_id: str
    name: str
    path: Path
    kind: Literal["upload", "workspace"]
    valid: bool | None = None
    created_at: str = ""
    user: str = ""
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def issues_in(self, lang: str) -> list[dict[str, Any]]:
        """The upload's problems in ``lang`` (an upload recorded before they were kept in
        every language: as recorded)."""
        return self.issues.get(lang) or next(iter(self.issues.values()), [])


def _problem(key: str, name: str = "", **kwargs: object) -> Issue:
    return Issue(file=name, message=t(key, **kwargs), hint=t(f"{key}_hint", **kwargs), code=key)


def sniff(data: bytes) -> UploadKind | None:
    """The kind of a file by its content: ``xlsx``, ``zip`` or ``csv`` (UTF-8 text), else ``None``."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as book:
                names = set(book.namelist())
        except zipfile.BadZipFile:
            return None
        return "xlsx" if {"[Content_Types].xml", "xl/workbook.xml"} <= names else "zip"
    if b"\x00" in data[:4096]:
        return None
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 65536 - 4:  # not a character cut at the end of the sample
            return None
    return "csv"


def _table_of(name: str) -> str | None:
    key = fold(name)
    return next((table for table, names in TABLE_NAMES.items() if key in names), None)


def _write_toml(path: Path, content: dict[str, Any]) -> None:
    import tomli_w

    path.write_text(tomli_w.dumps(content), encoding="utf-8")


def _scenario_name(display: str) -> str:
    stem = unicodedata.normalize("NFC", display).rsplit(".", 1)[0].strip()
    return stem[:80] or "upload"


Built = tuple[str, list[Issue], dict[str, str]]
"""What a builder made: the scenario file's name, the problems, generated name → planner's name."""


def _from_workbook(folder: Path, upload: UploadedFile) -> Built:
    from python_calamine import CalamineWorkbook

    book = folder / "book.xlsx"
    book.write_bytes(upload.data)
    sheets = CalamineWorkbook.from_path(str(book)).sheet_names
    data: dict[str, str] = {}
    for sheet in sheets:
        table = _table_of(sheet)
        if table is not None and table not in data:
            data[table] = f"book.xlsx#{sheet}"
    missing = [tb for tb in _REQUIRED if tb not in data]
    if missing:
        found = ", ".join(sheets)
        issue = _problem("server.upload_sheets_missing", upload.name, tables=", ".join(missing), sheets=found)
        return "", [issue], {}
    _write_toml(folder / "scenario.toml", {"name": _scenario_name(upload.name), "data": data})
    return "scenario.toml", [], {"book.xlsx": upload.name}


def _from_csvs(folder: Path, uploads: Sequence[UploadedFile]) -> Built:
    data: dict[str, str] = {}
    names: dict[str, str] = {}
    issues = []
    for upload in uploads:
        table = _table_of(upload.name.rsplit(".", 1)[0])
        if table is None:
            issues.append(_problem("server.upload_csv_unknown", upload.name, tables=", ".join(TABLE_NAMES)))
            continue
        (folder / f"{table}.csv").write_bytes(upload.data)
        data[table] = names[upload.name] = f"{table}.csv"
    missing = [tb for tb in _REQUIRED if tb not in data]
    if missing:
        issues.append(_problem("server.upload_tables_missing", "", tables=", ".join(missing)))
    if issues:
        return "", issues, {}
    _write_toml(folder / "scenario.toml", {"name": _scenario_name(uploads[0].name), "data": data})
    return "scenario.toml", [], {generated: shown for shown, generated in names.items()}


def _unpack(folder: Path, upload: UploadedFile, max_bytes: int) -> tuple[dict[str, str], list[Issue]]:
    """Write the kept members of a zip under generated names; member path → file name."""
    generated: dict[str, str] = {}
    with zipfile.ZipFile(io.BytesIO(upload.data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        kept = [m for m in members if posixpath.splitext(m.filename)[1].lower() in ZIP_KINDS]
        if len(kept) > MAX_FILES:
            return {}, [_problem("server.upload_too_many", upload.name, max=MAX_FILES)]
        if sum(m.file_size for m in kept) > max_bytes:
            return {}, [_problem("server.upload_too_big", upload.name, max_mb=max_bytes // 2**20)]
        for number, member in enumerate(kept, start=1):
            is_link = (member.external_attr >> 16) & 0o170000 == 0o120000
            if is_link:
                continue
            ext = posixpath.splitext(member.filename)[1].lower()
            name = f"f{number:03d}{ext}"
            with archive.open(member) as src, open(folder / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 2**20)
            generated[posixpath.normpath(member.filename.replace("\\", "/"))] = name
    return generated, []


def _rewrite(value: str, member: str, generated: dict[str, str], zip_name: str) -> tuple[str, Issue | None]:
    """A path of a zipped TOML (relative to that TOML) as the generated file name."""
    path, _, sheet = value.partition("#")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(member), path.replace("\\", "/")))
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or joined.startswith(".."):
        return "", _problem("server.upload_path_outside", f"{zip_name}/{member}", path=value)
    if joined not in generated:
        return "", _problem("server.upload_path_missing", f"{zip_name}/{member}", path=value)
    return generated[joined] + (f"#{sheet}" if sheet else ""), None


def _from_zip(folder: Path, upload: UploadedFile, max_bytes: int) -> Built:
    generated, issues = _unpack(folder, upload, max_bytes)
    if issues:
        return "", issues, {}
    tomls: dict[str, dict[str, Any]] = {}
    for member, name in generated.items():
        if name.endswith(".toml"):
            try:
                tomls[member] = tomllib.loads((folder / name).read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                issues.append(_problem("server.upload_bad_toml", f"{upload.name}/{member}", error=str(exc)))
    if issues:
        return "", issues, {}
    if not tomls:
        return "", [_problem("server.upload_no_toml", upload.name)], {}
    extended: set[str] = set()
    for member, content in tomls.items():
        base = content.get("extends")
        if isinstance(base, str):
            new, issue = _rewrite(base, member, generated, upload.name)
            if issue is not None:
                issues.append(issue)
            else:
                content["extends"] = new
                extended.add(next(m for m, g in generated.items() if g == new))
        data = content.get("data")
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str):
                    new, issue = _rewrite(value, member, generated, upload.name)
                    if issue is not None:
                        issues.append(issue)
                    else:
                        data[key] = new
    tops = [m for m in tomls if m not in extended]
    if len(tops) > 1:
        named = [m for m in tops if posixpath.basename(m) == "scenario.toml"]
        tops = named if len(named) == 1 else tops
    if len(tops) != 1:
        issues.append(_problem("server.upload_many_toml", upload.name, names=", ".join(sorted(tops))))
    if issues:
        return "", issues, {}
    for member, content in tomls.items():
        _write_toml(folder / generated[member], content)
    return generated[tops[0]], [], {name: f"{upload.name}/{member}" for member, name in generated.items()}


def _display(issue: Issue, names: dict[str, str]) -> dict[str, Any]:
    """An issue as JSON, its file shown by the planner's name (never a server path)."""
    generated = Path(issue.file).name if issue.file else ""
    shown = names.get(generated, generated)
    location = issue.location().replace(issue.file, shown, 1)
    return jsonable({**jsonable(issue), "file": shown, "location": location})


def store_upload(
    workspace: Path, store: RunStore, uploads: Sequence[UploadedFile], user: str, *, max_bytes: int
) -> ScenarioEntry:
    """Make an upload a scenario folder of the workspace, validate it and record it.

    Parameters
    ----------
    workspace
        The web app's workspace.
    store
        Where the upload is recorded (``web_scenarios``).
    uploads
        One workbook, one zip, or several CSV files.
    user
        Who uploaded it.
    max_bytes
        Largest total size, packed and unpacked.

    Raises
    ------
    InputError
        When the upload cannot become a scenario folder at all (wrong file type, too big,
        missing tables or sheets, a zip naming files it does not hold); nothing is kept then.
    """
    from optimizer import service

    if not uploads:
        raise InputError([_problem("server.upload_empty")])
    if len(uploads) > MAX_FILES:
        raise InputError([_problem("server.upload_too_many", "", max=MAX_FILES)])
    if sum(len(u.data) for u in uploads) > max_bytes:
        raise InputError([_problem("server.upload_too_big", uploads[0].name, max_mb=max_bytes // 2**20)])
    kinds = [sniff(u.data) for u in uploads]
    bad = [u.name for u, k in zip(uploads, kinds, strict=True) if k is None]
    if bad or (len(uploads) > 1 and set(kinds) != {"csv"}):
        raise InputError([_problem("server.upload_bad_type", ", ".join(bad or [u.name for u in uploads]))])
    scenario_id = "u" + secrets.token_hex(6)
    folder = workspace / UPLOADS / scenario_id
    folder.mkdir(parents=True)
    try:
        if kinds[0] == "xlsx":
            entry, issues, names = _from_workbook(folder, uploads[0])
        elif kinds[0] == "zip":
            entry, issues, names = _from_zip(folder, uploads[0], max_bytes)
        else:
            entry, issues, names = _from_csvs(folder, uploads)
        if issues:
            raise InputError(issues)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    validation = service.validate(folder / entry)
    shown: dict[str, list[dict[str, Any]]] = {get_lang(): [_display(i, names) for i in validation.issues]}
    for other in LANGS if validation.issues else ():  # its problems, for a reader of each language
        if other not in shown:
            with speaking(other):
                shown[other] = [_display(i, names) for i in service.validate(folder / entry).issues]
    if not validation.valid:  # nothing kept but the problems, until the data validates
        shutil.rmtree(folder, ignore_errors=True)
    created = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    display = unicodedata.normalize("NFC", uploads[0].name)[:200]
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO web_scenarios (scenario_id, created_at, user, name, folder, entry, valid, issues)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                scenario_id,
                created,
                user,
                display,
                scenario_id,
                entry,
                int(validation.valid),
                json.dumps(shown, ensure_ascii=False),
            ),
        )
    return ScenarioEntry(
        scenario_id, display, folder / entry, "upload", validation.valid, created, user, shown
    )


def _uploaded(workspace: Path, row: tuple[Any, ...]) -> ScenarioEntry:
    scenario_id, created, user, name, folder, entry, valid, text = row
    issues = json.loads(text)  # by language; an upload recorded before: one list
    return ScenarioEntry(
        scenario_id,
        name,
        workspace / UPLOADS / folder / entry,
        "upload",
        bool(valid),
        created,
        user,
        issues if isinstance(issues, dict) else {"": issues},
    )


_COLUMNS = "scenario_id, created_at, user, name, folder, entry, valid, issues"


def _toml_name(path: Path, default: str) -> str:
    """The ``name`` a scenario file gives itself, else ``default``."""
    try:
        name = tomllib.loads(path.read_text(encoding="utf-8")).get("name")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return default
    return name if isinstance(name, str) and name.strip() else default


def workspace_scenarios(workspace: Path) -> list[ScenarioEntry]:
    """The scenario files of the workspace's ``scenarios/`` folder (at most three levels
    deep), by path; each named by its ``name`` key (else its path)."""
    root = workspace / SCENARIOS
    if not root.is_dir():
        return []
    found = []
    for depth in ("*.toml", "*/*.toml", "*/*/*.toml"):
        for path in root.glob(depth):
            if path.is_file():
                rel = path.relative_to(workspace).as_posix()
                # resolved: a linked scenarios/ folder keeps its files' relative paths
                found.append(ScenarioEntry(rel, _toml_name(path, rel), path.resolve(), "workspace"))
    return sorted(found, key=lambda e: e.scenario_id)


def list_scenarios(workspace: Path, store: RunStore) -> list[ScenarioEntry]:
    """Every scenario: the uploads (newest first), then the workspace's scenario files."""
    with store.reading() as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM web_scenarios ORDER BY created_at DESC, rowid DESC")
        uploaded = [_uploaded(workspace, r) for r in rows.fetchall()]
    return uploaded + workspace_scenarios(workspace)


def find_scenario(workspace: Path, store: RunStore, scenario_id: str) -> ScenarioEntry | None:
    """The scenario with this id, or ``None``.  The id is only ever compared with the
    ids of the catalogue, never joined to a path."""
    if UPLOAD_ID.match(scenario_id):
        with store.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM web_scenarios WHERE scenario_id = ?", (scenario_id,)
            ).fetchone()
        return None if row is None else _uploaded(workspace, row)
    return next((e for e in workspace_scenarios(workspace) if e.scenario_id == scenario_id), None)
