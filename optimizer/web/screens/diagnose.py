"""Diagnose an infeasible scenario, and re-plan a run after reality changed.

``GET /scenarios/{id}/diagnose``: the conflicts in plain words and their checked fixes;
a fix that is a scenario setting has a button that makes the variant with it.
``/runs/{run_id}/replan``: departures typed in a form (one staff id a line) or a changes
file uploaded (CSV or XLSX, as ``staffplan replan --changes``); the re-plan is stored as a
new run and the page shows who moves, next to the base run.
"""

from __future__ import annotations

import csv
import io
import secrets

from fastapi import APIRouter, HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from optimizer import service
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.store import StoredRunHead
from optimizer.web.auth import audit
from optimizer.web.deps import CurrentUser, Planner, Web, get_lang
from optimizer.web.screens.common import render, run_head
from optimizer.web.screens.scenario import make_variant, scenario, setting_value
from optimizer.web.uploads import sniff

router = APIRouter()

#: Folder of the workspace where the changes of re-plans are kept.
REPLANS_DIR = "replans"


@router.get("/scenarios/{sid:path}/diagnose")
def diagnose_page(request: Request, sid: str, web: Web, user: CurrentUser) -> Response:
    """Why the scenario has no placement, and the fixes that have been checked."""
    entry = scenario(web, sid)
    lang = get_lang(request)
    issues: list[Issue] = []
    diagnosis = None
    try:
        diagnosis = service.diagnose(entry.path).diagnosis
    except InputError as exc:
        issues = list(exc.issues)
    return render(
        request,
        web,
        "diagnose.html",
        active="scenarios",
        crumbs=[
            (t("page.nav.scenarios", lang), "/scenarios"),
            (entry.name, f"/scenarios/{entry.scenario_id}"),
        ],
        entry=entry,
        diagnosis=diagnosis,
        issues=issues,
        can_edit=user.is_planner,
    )


@router.post("/scenarios/{sid:path}/fix")
async def apply_fix(request: Request, sid: str, web: Web, user: Planner) -> Response:
    """Make the variant of a fix (a ``--set`` setting the diagnosis offered)."""
    entry = scenario(web, sid)
    form = await request.form()
    setting = str(form.get("setting", ""))
    key, sep, raw = setting.partition("=")
    table = key.partition(".")[0]
    if not sep or table not in ("rules", "solver") or not key.partition(".")[2].isidentifier():
        raise HTTPException(status_code=422, detail=setting)
    name = t("page.diagnose.variant_name", get_lang(request), name=entry.name, setting=setting)
    variant = make_variant(web, entry, name, {key: setting_value(raw)})
    audit(web.store(), user, "variant", variant, base=entry.scenario_id, setting=setting)
    return RedirectResponse(f"/scenarios/{variant}", status_code=303)


def _replan_page(
    request: Request, web: Web, run: StoredRunHead, issues: list[Issue], status_code: int = 200
) -> Response:
    lang = get_lang(request)
    return render(
        request,
        web,
        "replan.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs"), (run.run_id, f"/runs/{run.run_id}")],
        run=run,
        issues=issues,
        status_code=status_code,
    )


@router.get("/runs/{run_id}/replan")
def replan_page(request: Request, run_id: str, web: Web, user: Planner) -> Response:
    """The re-plan form: departures by staff id, or a changes file."""
    return _replan_page(request, web, run_head(web, run_id), [])


def departures_csv(text: str, reason: str) -> str:
    """A changes table (CSV) with one ``leave`` row per staff id of ``text``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["action", "staff_id", "reason"])
    for line in text.splitlines():
        staff_id = line.strip()
        if staff_id:
            writer.writerow(["leave", staff_id, reason])
    return out.getvalue()


@router.post("/runs/{run_id}/replan")
async def replan(request: Request, run_id: str, web: Web, user: Planner) -> Response:
    """Re-plan the run after the changes given; show who moves against the base run."""
    run = run_head(web, run_id)
    lang = get_lang(request)
    form = await request.form()
    folder = web.config.workspace / REPLANS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    upload = form.get("changes")
    token = secrets.token_hex(8)
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(web.config.max_upload_bytes + 1)
        if len(content) > web.config.max_upload_bytes:
            raise HTTPException(status_code=413, detail=t("page.data.too_large", lang))
        kind = sniff(content)
        if kind not in ("xlsx", "csv"):
            issue = Issue(file=upload.filename, message=t("server.upload_bad_type", lang))
            return _replan_page(request, web, run, [issue], 422)
        path = folder / f"{token}.{kind}"
        path.write_bytes(content)
    else:
        text = departures_csv(str(form.get("departures", "")), str(form.get("reason", ""))[:200])
        path = folder / f"{token}.csv"
        path.write_text(text, encoding="utf-8")
    try:
        done = service.replan(web.store(), run.run_id, path)
    except InputError as exc:
        return _replan_page(request, web, run, list(exc.issues), 422)
    except ValueError as exc:
        return _replan_page(request, web, run, [Issue(file=path.name, message=str(exc))], 422)
    if done.run is None:
        issue = Issue(file=path.name, message=t("page.replan.no_placement", lang))
        return _replan_page(request, web, run, [issue], 422)
    audit(web.store(), user, "replan", done.run.run_id, base=run.run_id)
    return RedirectResponse(f"/compare?run={run.run_id}&run={done.run.run_id}", status_code=303)
