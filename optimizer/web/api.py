"""The JSON API of the web app (DESIGN §10; OpenAPI at ``/api/docs``).

Every call goes through :mod:`optimizer.service` (and the job queue of
:mod:`optimizer.web.jobs`); nothing here solves, reads tables or writes annexes itself.
A state-changing call needs the session's CSRF token in the ``X-CSRF-Token`` header
(``GET /api/session`` gives it); with users, a signed-in session (``POST /api/login``).

A run is named by its stored id (``r0001-ab12cd``, a unique prefix, or ``latest``) or,
from ``POST /api/runs`` on, by its job id (``j…``): the job's answers become the stored
run's once it is solved.  Bad input is answered ``422`` with every problem in
``issues`` (file, sheet, row, column, value, message, hint), as the command line prints
them.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from optimizer import __version__
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.store import jsonable
from optimizer.web.auth import User, audit, sign_out
from optimizer.web.deps import CurrentUser, Planner, RequestLang, Web, WebContext, csrf_token, log_in
from optimizer.web.uploads import UploadedFile, find_scenario, list_scenarios, store_upload
from optimizer.web.views import edit_violations, page

router = APIRouter(prefix="/api", tags=["api"])

#: A job id, as ``POST /api/runs`` returns it.
JOB_ID = re.compile(r"^j[0-9a-f]{12}$")
#: Seconds between two looks at a job's progress in the event stream.
EVENT_POLL_S = 0.25
ExportKind = Literal["xlsx", "docx", "pdf", "csv", "decision"]


# --------------------------------------------------------------------------- models


class Health(BaseModel):
    """``GET /api/health``."""

    status: str
    version: str


class Session(BaseModel):
    """Who the session is (``null`` before signing in), and the CSRF token its
    state-changing calls must send."""

    user: str | None
    role: str | None
    see_names: bool
    csrf_token: str


class Login(BaseModel):
    """``POST /api/login``."""

    name: str
    password: str


class ScenarioAnswer(BaseModel):
    """An uploaded scenario: its id, whether it validates, and every problem found."""

    id: str
    valid: bool
    issues: list[dict[str, Any]]


class NewRun(BaseModel):
    """``POST /api/runs``: the scenario id, ``--set`` overrides, a label."""

    scenario: str
    set: dict[str, Any] = Field(default_factory=dict)
    label: str = Field(default="", max_length=200)


class RunStarted(BaseModel):
    """The queued run's id (a job id until it is stored)."""

    run_id: str


class PageQuery(BaseModel):
    """One page of a table: ``offset``, ``limit`` (≤ 500), ``sort`` column, ``descending``,
    ``query`` text to search for."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)
    sort: str | None = None
    descending: bool = False
    query: str = Field(default="", max_length=200)


class Move(BaseModel):
    """One edit by hand: a person to a unit (and position), or ``unit_id`` null to leave
    them unplaced."""

    staff_id: str
    unit_id: str | None = None
    position: str | None = None


class Moves(BaseModel):
    """``POST /api/runs/{run_id}/check``."""

    moves: list[Move] = Field(min_length=1, max_length=200)


# --------------------------------------------------------------------------- helpers


def issue_json(issue: Issue) -> dict[str, Any]:
    """An issue as JSON, its file shown by name only (no server path)."""
    shown = Path(issue.file).name if issue.file else ""
    location = issue.location().replace(issue.file, shown, 1) if issue.file else issue.location()
    out: dict[str, Any] = jsonable({**jsonable(issue), "file": shown, "location": location})
    return out


def bad_input(exc: InputError, status: int = 422) -> HTTPException:
    """An :class:`InputError` as an HTTP error carrying every issue."""
    return HTTPException(
        status_code=status,
        detail={
            "message": str(exc.issues[0].message if exc.issues else exc),
            "issues": [issue_json(i) for i in exc.issues],
        },
    )


def _not_found(lang: str, run_id: str) -> HTTPException:
    return HTTPException(status_code=404, detail=t("server.run_unknown", lang, run=run_id))


def stored_run_id(web: WebContext, ref: str, lang: str) -> str:
    """The stored run a reference names: a finished job's run, or a stored run id,
    prefix or ``latest``.

    Raises
    ------
    HTTPException
        404 for an unknown run; 409 for a job not (or never) stored.
    """
    if JOB_ID.match(ref):
        job = web.jobs.get(ref)
        if job is None:
            raise _not_found(lang, ref)
        run_id = job.get("result", {}).get("run_id")
        if not run_id:
            raise HTTPException(
                status_code=409, detail=t("server.run_not_stored", lang, run=ref, state=job["state"])
            )
        return str(run_id)
    try:
        return web.store().resolve(ref)
    except InputError as exc:
        raise _not_found(lang, ref) from exc


def _overrides(values: dict[str, Any]) -> list[str]:
    """``{"rules.max_commute_km": 20}`` as ``--set`` strings (values in TOML notation)."""
    import tomli_w

    out = []
    for key, value in values.items():
        text = value if isinstance(value, str) else tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
        out.append(f"{key}={text}")
    return out


def _run_view(web: WebContext, run_id: str, lang: str) -> dict[str, Any]:
    """A stored run: status, proof, KPIs, terms with value and bound, stages, timings,
    and why it has no placement or no proof (``message``, in ``lang``)."""
    from optimizer import service

    head = service.run_head(web.store(), run_id)
    meta = head.meta
    values, bounds = meta.get("values", {}), meta.get("bounds", {})
    return {
        "run_id": head.run_id,
        "status": head.status,
        "proven": head.proven,
        "interrupted": bool(meta.get("interrupted")),
        "scenario": head.scenario_name,
        "label": meta.get("tags", {}).get("label", ""),
        "created_at": head.created_at,
        "base_run": meta.get("base_run"),
        "kpis": head.kpis,
        "terms": {
            name: {"value": value, "bound": bounds.get(name), "proven": bounds.get(name) == value}
            for name, value in values.items()
        },
        "stages": meta.get("stages", []),
        "timings": meta.get("timings", {}),
        "message": "\n".join(service.run_notes(head, lang)),
        "manifest_hash": head.manifest_hash,
    }


# --------------------------------------------------------------------------- session


def _session(request: Request, user: User | None) -> Session:
    return Session(
        user=user.name if user else None,
        role=user.role if user else None,
        see_names=bool(user and user.see_names),
        csrf_token=csrf_token(request),
    )


@router.get("/health", response_model=Health)
def health() -> Health:
    """The app is up: ``{"status": "ok", "version": …}``."""
    return Health(status="ok", version=__version__)


@router.get("/session", response_model=Session)
def session(request: Request) -> Session:
    """The signed-in user (``null`` before signing in) and the session's CSRF token."""
    return _session(request, request.state.user)


@router.post("/login", response_model=Session)
def login(body: Login, request: Request, web: Web) -> Session:
    """Sign in (401 wrong name or password, 429 too many failures); the answer carries
    the new session's CSRF token."""
    return _session(request, log_in(request, web, body.name, body.password))


@router.post("/logout")
def logout(request: Request, web: Web, user: CurrentUser) -> dict[str, Any]:
    """End the session."""
    audit(web.store(), user, "logout")
    sign_out(request.session)
    return {"ok": True}


# --------------------------------------------------------------------------- scenarios


@router.get("/scenarios")
def scenarios(web: Web, user: CurrentUser, lang: RequestLang) -> list[dict[str, Any]]:
    """Every scenario: the uploads (newest first), then the workspace's scenario files."""
    return [
        {
            "id": e.scenario_id,
            "name": e.name,
            "kind": e.kind,
            "valid": e.valid,
            "created_at": e.created_at,
            "user": e.user,
            "issues": len(e.issues_in(lang)),
        }
        for e in list_scenarios(web.config.workspace, web.store())
    ]


@router.post("/scenarios", response_model=ScenarioAnswer, status_code=201)
async def upload_scenario(
    request: Request, web: Web, user: Planner, lang: RequestLang, file: Annotated[list[UploadFile], File()]
) -> ScenarioAnswer:
    """Upload a workbook (xlsx), a zip of a scenario folder with its TOML, or CSV files
    (one per table); the scenario is validated at once.

    413 when too big; 422 when the files cannot make a scenario (wrong type, missing
    tables); otherwise 201 with ``valid`` and every problem of the data.
    """
    from starlette.concurrency import run_in_threadpool

    limit = web.config.max_upload_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit + 2**16:
        raise HTTPException(status_code=413, detail=t("server.upload_too_big", lang, max_mb=limit // 2**20))
    uploads = []
    for part in file:
        data = await part.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(
                status_code=413, detail=t("server.upload_too_big", lang, max_mb=limit // 2**20)
            )
        uploads.append(UploadedFile(part.filename or "upload", data))
    try:
        entry = await run_in_threadpool(
            store_upload, web.config.workspace, web.store(), uploads, user.name, max_bytes=limit
        )
    except InputError as exc:
        audit(web.store(), user, "upload_refused", ", ".join(u.name for u in uploads))
        raise bad_input(exc) from exc
    audit(web.store(), user, "upload", entry.scenario_id, name=entry.name, valid=entry.valid)
    return ScenarioAnswer(id=entry.scenario_id, valid=bool(entry.valid), issues=entry.issues_in(lang))


@router.get("/scenarios/{scenario_id:path}")
def scenario(scenario_id: str, web: Web, user: CurrentUser, lang: RequestLang) -> dict[str, Any]:
    """One scenario: its name, validation, problems and scenario file (TOML text; empty for
    an upload that did not validate, whose files are not kept).  Users who do not see names
    get the problems without the cell values."""
    entry = find_scenario(web.config.workspace, web.store(), scenario_id)
    if entry is None:
        raise HTTPException(status_code=404, detail=t("server.scenario_unknown", lang, id=scenario_id))
    issues = entry.issues_in(lang)
    return {
        "id": entry.scenario_id,
        "name": entry.name,
        "kind": entry.kind,
        "valid": entry.valid,
        "created_at": entry.created_at,
        "issues": issues if user.see_names else [{**i, "value": ""} for i in issues],
        "toml": entry.path.read_text(encoding="utf-8") if entry.path.is_file() else "",
    }


# --------------------------------------------------------------------------- runs


@router.post("/runs", response_model=RunStarted, status_code=202)
def start_run(body: NewRun, web: Web, user: Planner, lang: RequestLang) -> RunStarted:
    """Queue a solve of a scenario with ``set`` overrides; answers the run's id at once.

    404 unknown scenario; 409 an upload that does not validate; 422 bad overrides.
    """
    from optimizer.io import load_scenario

    entry = find_scenario(web.config.workspace, web.store(), body.scenario)
    if entry is None:
        raise HTTPException(status_code=404, detail=t("server.scenario_unknown", lang, id=body.scenario))
    if entry.valid is False:
        raise HTTPException(
            status_code=409,
            detail={"message": t("server.scenario_invalid", lang), "issues": entry.issues_in(lang)},
        )
    overrides = _overrides(body.set)
    try:
        load_scenario(entry.path, overrides)  # the file and the overrides, not yet the tables
    except InputError as exc:
        raise bad_input(exc) from exc
    label = " ".join(unicodedata.normalize("NFC", body.label).split())  # as `staffplan run --label`
    job_id = web.jobs.submit(entry.path, overrides, label, user.name, lang)
    audit(web.store(), user, "run", job_id, scenario=entry.scenario_id, set=body.set, label=label)
    return RunStarted(run_id=job_id)


@router.get("/runs")
def list_runs(web: Web, user: CurrentUser) -> dict[str, Any]:
    """The stored runs (newest first) and the web app's recent jobs."""
    from optimizer import service

    return {
        "runs": jsonable(service.runs(web.store())),
        "jobs": web.jobs.recent(),
    }


@router.get("/runs/{run_id}")
def get_run(run_id: str, web: Web, user: CurrentUser, lang: RequestLang) -> dict[str, Any]:
    """A run's status (``queued``, ``running``, then the stored run's status:
    ``optimal``, ``feasible``, ``infeasible``, ``no_solution``; ``failed`` or
    ``cancelled`` when nothing was stored), progress, KPIs, terms and bounds."""
    if JOB_ID.match(run_id):
        job = web.jobs.get(run_id, lang)
        if job is None:
            raise _not_found(lang, run_id)
        stored = job.get("result", {}).get("run_id")
        if stored:
            return {**_run_view(web, stored, lang), "job_id": run_id, "progress": job["progress"]}
        return {
            "run_id": None,
            "job_id": run_id,
            "status": job["state"],
            "queue_position": web.jobs.position(run_id),
            "progress": job["progress"],
            "label": job["label"],
            "error": job.get("error"),
        }
    return _run_view(web, stored_run_id(web, run_id, lang), lang)


@router.get("/runs/{run_id}/events")
async def run_events(run_id: str, request: Request, web: Web, user: CurrentUser, lang: RequestLang) -> Any:
    """Server-sent events: one ``progress`` event per solver report (stage, objective,
    bound, gap, elapsed_s), then one ``done`` event with the run as ``GET
    /api/runs/{run_id}`` answers it.  A stored run gets the ``done`` event at once."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.concurrency import run_in_threadpool

    if JOB_ID.match(run_id):
        if web.jobs.get(run_id) is None:
            raise _not_found(lang, run_id)
    else:
        stored_run_id(web, run_id, lang)

    async def stream() -> AsyncIterator[dict[str, str]]:
        seen = 0
        while JOB_ID.match(run_id):
            events, finished = web.jobs.events_since(run_id, seen)
            for event in events:
                yield {"event": "progress", "data": json.dumps(event, ensure_ascii=False)}
            seen += len(events)
            if finished or await request.is_disconnected():
                break
            await asyncio.sleep(EVENT_POLL_S)
        final = await run_in_threadpool(get_run, run_id, web, user, lang)
        yield {"event": "done", "data": json.dumps(final, ensure_ascii=False, default=str)}

    return EventSourceResponse(stream())


@router.delete("/runs/{run_id}")
def cancel_run(run_id: str, web: Web, user: Planner, lang: RequestLang) -> dict[str, Any]:
    """Cancel a queued or running solve; a running one keeps its best placement, stored
    as not proven.  409 when the run is not queued or running."""
    if not JOB_ID.match(run_id):
        stored_run_id(web, run_id, lang)  # 404 when unknown
        raise HTTPException(status_code=409, detail=t("server.run_not_running", lang, run=run_id))
    if web.jobs.get(run_id) is None:
        raise _not_found(lang, run_id)
    if not web.jobs.cancel(run_id):
        raise HTTPException(status_code=409, detail=t("server.run_not_running", lang, run=run_id))
    audit(web.store(), user, "cancel", run_id)
    return {"run_id": run_id, "cancelled": True}


@router.get("/runs/{run_id}/units")
def run_units(
    run_id: str, web: Web, user: CurrentUser, lang: RequestLang, query: Annotated[PageQuery, Query()]
) -> dict[str, Any]:
    """The per-unit table of a run, one page (sorted, filtered by unit id or name)."""
    cached = web.runs.get(web.store(), stored_run_id(web, run_id, lang))
    return page(cached, "units", **query.model_dump())


@router.get("/runs/{run_id}/people")
def run_people(
    run_id: str, web: Web, user: CurrentUser, lang: RequestLang, query: Annotated[PageQuery, Query()]
) -> dict[str, Any]:
    """Search the people of a run by name or id (viewers: by id, names as initials)."""
    cached = web.runs.get(web.store(), stored_run_id(web, run_id, lang))
    return page(cached, "people", **query.model_dump(), redact=not user.see_names)


@router.get("/runs/{run_id}/export")
def export_run(
    run_id: str,
    web: Web,
    user: CurrentUser,
    lang: RequestLang,
    format: ExportKind = "xlsx",
    redact: bool | None = None,
    per_unit: bool = False,
) -> FileResponse:
    """The run's decision annex (xlsx, docx, pdf), its CSV tables or the decision draft;
    several files come as one zip.  ``redact`` shows names as initials and birth years;
    a viewer not granted the names gets redacted files only (403 when asking otherwise)."""
    from optimizer import service

    if redact is None:
        redact = not user.see_names
    if not redact and not user.see_names:
        audit(web.store(), user, "export_refused", run_id, format=format)
        raise HTTPException(status_code=403, detail=t("server.names_not_granted", lang))
    stored = stored_run_id(web, run_id, lang)
    exports = web.config.workspace / "exports"
    exports.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="x", dir=exports))
    try:
        written = service.export(
            web.store(),
            stored,
            format,
            folder / "out",
            per_unit=per_unit,
            redact=redact,
        )
    except ValueError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(status_code=422, detail=t("server.export_unknown", lang, format=format)) from exc
    except InputError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise bad_input(exc) from exc
    audit(web.store(), user, "export", stored, format=format, redact=redact, per_unit=per_unit)
    paths = list(written.paths)
    if len(paths) == 1:
        path, name = paths[0], paths[0].name
    else:
        name = f"{stored}-{format}.zip"
        path = folder / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
            for p in paths:
                bundle.write(p, p.relative_to(folder / "out").as_posix())
    return FileResponse(
        path, filename=name, background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
    )


@router.post("/runs/{run_id}/check")
def check_moves(run_id: str, body: Moves, web: Web, user: Planner, lang: RequestLang) -> dict[str, Any]:
    """The edit-by-hand check: the hard rules the moves break (rule id, in words, who) and
    the change of every objective term, without solving again.  A move with ``unit_id``
    null leaves the person unplaced; moves that cannot be read (unknown person, unit or
    position) are listed in ``problems`` and left out."""
    from optimizer import service

    stored = stored_run_id(web, run_id, lang)
    moves = [m.model_dump() for m in body.moves]
    try:
        checked = service.check_edit(web.store(), stored, moves, web.config.snapshots)
    except InputError as exc:
        raise bad_input(exc) from exc
    audit(web.store(), user, "edit_check", stored, moves=moves)
    return {
        "run_id": stored,
        "ok": checked.ok,
        "violations": edit_violations(checked, user.see_names, lang),
        "problems": [p.render(lang) for p in checked.problems],
        "terms": {
            term: {"before": checked.before[term], "after": checked.after[term], "delta": delta}
            for term, delta in checked.deltas.items()
        },
        "time_s": round(checked.time_s, 4),
    }
