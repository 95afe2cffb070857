"""The Start page, the list of runs, a queued or running job, the language switch, plotly.

``/`` shows the workspace at a glance: the latest runs with their key KPIs, the solves
waiting or running, the scenarios, and "new province" (the template to download, a
filled workbook to upload).  ``/runs`` lists every run; ``/jobs/{job_id}`` follows one
solve live (server-sent events of ``/api/runs/{job_id}/events``) and, once it is stored,
sends the planner on to the run's page.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from optimizer import service
from optimizer.data import TERMS
from optimizer.i18n import LANGS, known, t
from optimizer.labels import terms_label
from optimizer.web.deps import LANG_COOKIE, CurrentUser, RequestLang, Web
from optimizer.web.screens.common import LANG_COOKIE_AGE_S, render, safe_next, scenario_of
from optimizer.web.uploads import list_scenarios

router = APIRouter()

#: Runs shown on the Start page (all of them on ``/runs``).
START_RUNS = 8


@router.get("/")
def start_page(request: Request, web: Web, user: CurrentUser) -> Response:
    """The workspace at a glance."""
    store = web.store()
    jobs = [j for j in web.jobs.recent(20) if j["state"] in ("queued", "running")]
    return render(
        request,
        web,
        "start.html",
        active="start",
        runs=service.runs(store)[:START_RUNS],
        jobs=jobs,
        scenarios=list_scenarios(web.config.workspace, store)[:START_RUNS],
        can_edit=user.is_planner,
    )


@router.get("/runs")
def runs_page(request: Request, web: Web, user: CurrentUser) -> Response:
    """Every run of the store, newest first, and the recent solves of the web app."""
    return render(
        request,
        web,
        "runs.html",
        active="runs",
        runs=service.runs(web.store()),
        jobs=web.jobs.recent(20),
        can_edit=user.is_planner,
    )


def stage_label(stage: object, lang: str) -> str:
    """A solver stage in words: its objective terms' names, or the name of a step."""
    if not stage:
        return "–"
    text = str(stage)
    if text in TERMS or "+" in text:
        return terms_label(text, lang)
    key = f"page.stage.{text}"
    return t(key, lang) if known(key) else text


def _job(web: Web, job_id: str, lang: str) -> dict[str, Any]:
    job = web.jobs.get(job_id, lang)
    if job is None:
        raise HTTPException(status_code=404, detail=t("page.job.unknown", lang, id=job_id))
    return job


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, web: Web, lang: RequestLang) -> Response:
    """A solve: live progress while it waits or runs; its run once stored."""
    job = _job(web, job_id, lang)
    run_id = (job.get("result") or {}).get("run_id")
    if run_id:
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    # a solve that failed on its data: its scenario's page and diagnosis are one click away
    scenario = scenario_of(web, job["scenario"]) if job.get("error") else None
    return render(
        request,
        web,
        "progress.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs")],
        job=job,
        scenario=scenario,
        position=web.jobs.position(job_id),
        stage_label=lambda stage: stage_label(stage, lang),
    )


@router.get("/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: str, web: Web, lang: RequestLang) -> Response:
    """The progress fields alone (the page asks for them at each server-sent event)."""
    return render(
        request,
        web,
        "_progress.html",
        job=_job(web, job_id, lang),
        position=web.jobs.position(job_id),
        stage_label=lambda stage: stage_label(stage, lang),
    )


@router.get("/lang/{code}")
def switch_language(code: str, request: Request) -> Response:
    """Choose the language (kept in a cookie) and go back to ``?next=`` (a local address)."""
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=LANG_COOKIE_AGE_S, httponly=True, samesite="lax")
    return response


@cache
def plotly_file() -> Path:
    """plotly.js as installed with the ``plotly`` package (the file the report embeds)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/assets/plotly.min.js")
def plotly_js() -> Response:
    """plotly.js, served from the installed package (not copied into this one)."""
    return FileResponse(
        plotly_file(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
    )
