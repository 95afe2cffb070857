"""The Data page: upload a workbook, a scenario zip or CSV files; see every problem.

``POST /data`` hands the files to :func:`optimizer.web.uploads.store_upload` (type checked
by content, stored under generated names, validated by the service).  A valid upload
goes straight to its scenario form; otherwise ``/data/{id}`` lists the problems as a
table the planner can sort and filter (sheet, Excel row, column, value, problem, fix),
with the errors sheet to download (``/data/{id}/errors.xlsx``).  An invalid upload can
never be solved.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, RedirectResponse, Response

from optimizer import service
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.web.auth import audit
from optimizer.web.deps import CurrentUser, Planner, RequestLang, Web, WebContext, get_lang
from optimizer.web.screens.common import render
from optimizer.web.uploads import UploadedFile, find_scenario, store_upload

router = APIRouter()

#: The media type of an Excel workbook.
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The fields of :class:`~optimizer.errors.Issue`, to rebuild one from its stored JSON.
ISSUE_FIELDS = ("file", "message", "hint", "sheet", "row", "column", "value", "severity", "code")


def as_issue(shown: dict[str, Any]) -> Issue:
    """An issue of an upload's stored validation as an :class:`Issue` again."""
    return Issue(**{k: shown[k] for k in ISSUE_FIELDS if k in shown})


def _upload_page(
    request: Request,
    web: WebContext,
    *,
    entry: Any = None,
    issues: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> Response:
    lang = get_lang(request)
    crumbs = [(t("page.nav.data", lang), "/data")] if entry is not None else []
    return render(
        request,
        web,
        "data.html",
        active="data",
        crumbs=crumbs,
        entry=entry,
        issues=issues or [],
        errors=sum(1 for i in issues or [] if i.get("severity", "error") == "error"),
        status_code=status_code,
    )


@router.get("/data")
def data_page(request: Request, web: Web, user: Planner) -> Response:
    """The upload form."""
    return _upload_page(request, web)


@router.post("/data")
async def upload(request: Request, web: Web, user: Planner) -> Response:
    """Take an upload: to its scenario form when valid, to its problems otherwise."""
    form = await request.form()
    files = []
    for item in form.getlist("files"):
        if isinstance(item, UploadFile) and item.filename:
            data = await item.read(web.config.max_upload_bytes + 1)
            files.append(UploadedFile(item.filename, data))
    try:
        entry = store_upload(
            web.config.workspace, web.store(), files, user.name, max_bytes=web.config.max_upload_bytes
        )
    except InputError as exc:
        shown = [{**vars(i), "location": i.location()} for i in exc.issues]
        return _upload_page(request, web, issues=shown, status_code=422)
    audit(web.store(), user, "upload", entry.scenario_id, valid=entry.valid)
    if entry.valid:
        return RedirectResponse(f"/scenarios/{entry.scenario_id}?uploaded=1", status_code=303)
    return RedirectResponse(f"/data/{entry.scenario_id}", status_code=303)


def _upload(web: WebContext, sid: str) -> Any:
    entry = find_scenario(web.config.workspace, web.store(), sid)
    if entry is None or entry.kind != "upload":
        raise HTTPException(status_code=404, detail=sid)
    return entry


@router.get("/data/{sid}")
def upload_page(request: Request, sid: str, web: Web, user: CurrentUser) -> Response:
    """An upload's problems, as a table to sort and filter."""
    entry = _upload(web, sid)
    return _upload_page(request, web, entry=entry, issues=entry.issues_in(get_lang(request)))


@router.get("/template.xlsx")
def template(user: CurrentUser) -> Response:
    """The workbook of a new province (``staffplan template``): Vietnamese-headed sheets with
    example rows, the code lists and drop-downs, ready to fill in and upload."""
    from optimizer.io.template import WORKBOOK, write_template

    folder = Path(tempfile.mkdtemp(prefix="staffplan-template-"))
    write_template(folder)
    return FileResponse(
        folder / WORKBOOK,
        filename=WORKBOOK,
        media_type=XLSX_TYPE,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


@router.get("/data/{sid}/errors.xlsx")
def errors_sheet(sid: str, web: Web, user: CurrentUser, lang: RequestLang) -> Response:
    """The upload's problems as an Excel sheet ("Lỗi") to work through, in the reader's language."""
    entry = _upload(web, sid)
    folder = Path(tempfile.mkdtemp(prefix="staffplan-errors-"))
    path = service.write_issues([as_issue(i) for i in entry.issues_in(lang)], folder / "loi.xlsx")
    return FileResponse(
        path,
        filename=f"loi-{sid}.xlsx",
        media_type=XLSX_TYPE,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
