"""Export a run: the decision annexes (xlsx, docx, pdf; per unit as a zip), the CSV tables,
with the redaction switch; a long export shows its progress.

``POST /runs/{run_id}/export`` starts the export in a background thread (a PDF of the city
takes minutes) writing into ``<workspace>/exports/<token>/`` and answers a fragment that
polls ``/exports/{token}`` every second until the files are there to download.  The
token is random; file names are never taken from the request.  A viewer without the
right to see names always gets redacted files.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import shutil
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import FileResponse, Response

from optimizer import service
from optimizer.errors import InputError
from optimizer.i18n import t
from optimizer.web.auth import audit
from optimizer.web.deps import CurrentUser, Web, WebContext, get_lang
from optimizer.web.screens.common import render, run_head

if TYPE_CHECKING:
    from optimizer.export.annex import ExportFormat

log = logging.getLogger(__name__)

router = APIRouter()

#: Folder of the workspace where exports are written.
EXPORTS_DIR = "exports"
#: Finished exports kept for download (older ones are deleted, files and all).
EXPORTS_KEPT = 20


@dataclass
class ExportTask:
    """One export under way or done: where, what, since when, and its outcome."""

    token: str
    run_id: str
    fmt: ExportFormat
    folder: Path
    started: float = field(default_factory=time.monotonic)
    files: list[Path] = field(default_factory=list)
    error: str = ""
    done: bool = False


_tasks: dict[str, ExportTask] = {}
_tasks_lock = threading.Lock()


def formats() -> tuple[ExportFormat, ...]:
    """The formats offered: those of ``staffplan export``."""
    from optimizer.export.annex import FORMATS

    return tuple(FORMATS)


def _work(web: WebContext, task: ExportTask, per_unit: bool, redact: bool) -> None:
    try:
        exported = service.export(
            web.store(),
            task.run_id,
            task.fmt,
            task.folder,
            per_unit=per_unit,
            redact=redact,
        )
        files = list(exported.paths)
        if per_unit and len(files) > 1:
            bundle = task.folder / f"{task.run_id}-{task.fmt}.zip"
            with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in files:
                    zf.write(f, f.name)
            files = [bundle]
        task.files = files
    except InputError as exc:
        task.error = "; ".join(i.message for i in exc.issues)
    except Exception:  # a failure of the program: the planner is told, the log has the rest
        log.exception("export %s of run %s failed", task.fmt, task.run_id)
        task.error = t("server.export_crashed")
    finally:
        task.done = True


@router.get("/runs/{run_id}/export")
def export_page(request: Request, run_id: str, web: Web, user: CurrentUser) -> Response:
    """The export form."""
    run = run_head(web, run_id)
    lang = get_lang(request)
    return render(
        request,
        web,
        "export.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs"), (run.run_id, f"/runs/{run.run_id}")],
        run=run,
        formats=formats(),
        must_redact=not user.see_names,
    )


@router.post("/runs/{run_id}/export")
async def start_export(request: Request, run_id: str, web: Web, user: CurrentUser) -> Response:
    """Start an export; answer the fragment that follows it."""
    run = run_head(web, run_id)
    form = await request.form()
    fmt = next((f for f in formats() if f == form.get("format")), None)
    if fmt is None:
        raise HTTPException(status_code=422, detail=str(form.get("format", "")))
    redact = form.get("redact") == "on" or not user.see_names
    per_unit = form.get("per_unit") == "on" and fmt != "csv"
    token = secrets.token_hex(12)
    folder = web.config.workspace / EXPORTS_DIR / token
    folder.mkdir(parents=True)
    task = ExportTask(token, run.run_id, fmt, folder)
    with _tasks_lock:
        _tasks[token] = task
        finished = [t for t in _tasks.values() if t.done]
        for old in finished[: max(0, len(finished) - EXPORTS_KEPT)]:  # oldest first
            del _tasks[old.token]
            shutil.rmtree(old.folder, ignore_errors=True)
    audit(web.store(), user, "export", run.run_id, format=fmt, redact=redact, per_unit=per_unit)
    # the export speaks the page's language (its files and its messages): the request's context goes along
    threading.Thread(
        target=contextvars.copy_context().run,
        args=(_work, web, task, per_unit, redact),
        name=f"export-{token}",
        daemon=True,
    ).start()
    return render(request, web, "_export_task.html", task=task, elapsed=0.0)


def _task(token: str) -> ExportTask:
    with _tasks_lock:
        task = _tasks.get(token)
    if task is None:
        raise HTTPException(status_code=404, detail=token)
    return task


@router.get("/exports/{token}")
def export_status(request: Request, token: str, web: Web) -> Response:
    """The export's state: still working (the fragment polls again), its files, or the error."""
    task = _task(token)
    return render(request, web, "_export_task.html", task=task, elapsed=time.monotonic() - task.started)


@router.get("/exports/{token}/{index}")
def export_file(token: str, index: int) -> Response:
    """One file of a finished export."""
    task = _task(token)
    if not task.done or not 0 <= index < len(task.files):
        raise HTTPException(status_code=404, detail=token)
    path = task.files[index]
    return FileResponse(path, filename=path.name)
