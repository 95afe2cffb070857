"""The scenarios of the workspace, as the pages see them.

Each uploaded province is a folder of ``<workspace>/scenarios/``; every ``*.toml`` in it
is a scenario (the uploaded one and the variants copied from it, which share its data
files).  A scenario's id is ``<folder>/<file stem>``; ids are checked against
:data:`ID_RE` and resolved inside the scenarios folder, so no user string reaches a
path unchecked.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException

from optimizer.web.deps import WebContext

#: Folder of the workspace holding the scenario folders.
SCENARIOS_DIR = "scenarios"
#: A scenario id: a folder and a file stem of letters, digits, ``_`` and ``-``.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario file of the workspace: id, path, its ``name`` and ``description``."""

    id: str
    path: Path
    name: str
    description: str


def scenarios_root(web: WebContext) -> Path:
    """``<workspace>/scenarios`` (created when missing)."""
    root = web.config.workspace / SCENARIOS_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


def _entry(root: Path, path: Path) -> ScenarioEntry | None:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        doc = {}
    sid = f"{path.parent.name}/{path.stem}"
    if not ID_RE.match(sid):
        return None
    return ScenarioEntry(sid, path, str(doc.get("name", path.stem)), str(doc.get("description", "")))


def scenarios(web: WebContext) -> list[ScenarioEntry]:
    """Every scenario of the workspace, newest folder first, files by name."""
    root = scenarios_root(web)
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    out = []
    for folder in folders:
        for path in sorted(folder.glob("*.toml")):
            entry = _entry(root, path)
            if entry is not None:
                out.append(entry)
    return out


def scenario(web: WebContext, sid: str) -> ScenarioEntry:
    """The scenario with id ``sid``; 404 when there is none."""
    root = scenarios_root(web)
    if ID_RE.match(sid):
        path = (root / f"{sid}.toml").resolve()
        if path.is_file() and path.parent.parent == root.resolve():
            entry = _entry(root, path)
            if entry is not None:
                return entry
    raise HTTPException(status_code=404, detail=sid)


def slug(text: str) -> str:
    """A file stem made of ``text``: ASCII letters, digits and ``-`` (``"Đi lại 20 km"`` →
    ``"di-lai-20-km"``)."""
    from optimizer.web.views.common import fold

    stem = re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")
    return stem[:48] or "variant"
