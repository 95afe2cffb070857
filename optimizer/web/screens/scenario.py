"""The scenario form: rules, priorities or weights, solver options; saved as TOML.

``GET /scenarios/{id}`` shows the scenario as a form, each rule explained in one
sentence; ``POST`` saves it back into the scenario's TOML file of the workspace (only
when the scenario still reads without error: the file is written to a temporary name,
checked, then moved into place).  ``/toml`` shows the file; ``/copy`` makes a variant
(a new TOML file beside it, sharing its data); ``/run`` queues a solve.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from optimizer.data import TERMS
from optimizer.errors import InputError, Issue
from optimizer.i18n import t
from optimizer.io.vocab import fold
from optimizer.web.auth import User, audit
from optimizer.web.deps import CurrentUser, Planner, Web, WebContext, get_lang
from optimizer.web.screens.common import render
from optimizer.web.uploads import SCENARIOS, ScenarioEntry, find_scenario, list_scenarios

router = APIRouter()


@dataclass(frozen=True)
class Field:
    """One input of the form: the TOML table and key, and its kind (``float``, ``int``,
    ``bool``, ``date`` or a tuple of choices)."""

    table: str
    key: str
    kind: str | tuple[str, ...]


#: The rules and solver options of the form, in the order shown.
FIELDS: tuple[Field, ...] = (
    Field("rules", "max_commute_km", "float"),
    Field("rules", "long_commute_km", "float"),
    Field("rules", "road_factor", "float"),
    Field("rules", "relatives_scope", ("leadership", "any", "off")),
    Field("rules", "bloc_change", ("penalize", "allow", "forbid")),
    Field("rules", "min_is_hard", "bool"),
    Field("rules", "require_all_placed", "bool"),
    Field("rules", "min_service_months", "int"),
    Field("rules", "reference_date", "date"),
    Field("solver", "time_limit_s", "float"),
    Field("solver", "workers", "int"),
    Field("solver", "seed", "int"),
)


def scenario(web: WebContext, sid: str) -> ScenarioEntry:
    """The scenario of the workspace with id ``sid`` (an upload or a workspace file); 404 if none."""
    entry = find_scenario(web.config.workspace, web.store(), sid)
    if entry is None:
        raise HTTPException(status_code=404, detail=sid)
    return entry


def slug(text: str) -> str:
    """A file stem made of ``text``: ASCII letters, digits and ``-`` (``"Đi lại 20 km"`` →
    ``"di-lai-20-km"``)."""
    stem = re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")
    return stem[:48] or "variant"


def current_values(
    entry: ScenarioEntry,
) -> tuple[dict[str, Any], list[str], dict[str, int] | None, list[Issue]]:
    """The scenario's resolved values (after ``extends``): fields, priorities, weights, issues."""
    from optimizer.io import load_scenario

    try:
        sc = load_scenario(entry.path)
    except InputError as exc:
        return {}, list(TERMS), None, list(exc.issues)
    values = {f"rules.{k}": getattr(sc.rules, k) for k in vars(sc.rules)}
    values.update({f"solver.{k}": getattr(sc.solver, k) for k in vars(sc.solver)})
    weights = dict(sc.objective.weights) if sc.objective.weights is not None else None
    priorities = list(sc.objective.priorities)
    priorities += [term for term in TERMS if term not in priorities]
    return values, priorities, weights, []


def _parse(field: Field, raw: str | None) -> Any:
    """The form's text of one field as its TOML value; ``ValueError`` when it is not one."""
    if field.kind == "bool":
        return raw == "on"
    text = (raw or "").strip()
    if isinstance(field.kind, tuple):
        if text not in field.kind:
            raise ValueError(text)
        return text
    if field.kind == "date":
        if "/" in text:
            day, month, year = (int(x) for x in text.split("/"))
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text)
    number = float(text.replace(",", "."))
    return int(number) if field.kind == "int" and number == int(number) else number


def updated_document(
    doc: Mapping[str, Any], form: Mapping[str, Any], lang: str
) -> tuple[dict[str, Any], list[str]]:
    """The scenario's TOML document with the form's values; the problems found."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    problems = []
    for f in FIELDS:
        try:
            value = _parse(f, form.get(f"{f.table}.{f.key}"))
        except ValueError:
            problems.append(t("page.scenario.bad_value", lang, field=t(f"page.field.{f.key}", lang)))
            continue
        if f.kind == "int" and not isinstance(value, int):
            problems.append(t("page.scenario.bad_value", lang, field=t(f"page.field.{f.key}", lang)))
            continue
        out.setdefault(f.table, {})[f.key] = value
    priorities = [p for p in form.getlist("priorities") if p in TERMS] if hasattr(form, "getlist") else []
    if form.get("mode") == "weights":
        weights = {}
        for term in TERMS:
            try:
                weights[term] = int(str(form.get(f"weight.{term}", "0")).strip() or "0")
            except ValueError:
                problems.append(t("page.scenario.bad_value", lang, field=t(f"kpi.terms.{term}", lang)))
        out["objective"] = {"weights": weights}
    else:
        out["objective"] = {"priorities": priorities or list(TERMS)}
    return out, problems


def write_checked(entry: ScenarioEntry, doc: Mapping[str, Any]) -> list[Issue]:
    """Write ``doc`` over the scenario file if it reads without error; else the issues."""
    from optimizer.io import load_scenario

    tmp = entry.path.with_name(f".{entry.path.stem}.saving.toml")
    try:
        tmp.write_text(tomli_w.dumps(dict(doc)), encoding="utf-8")
        try:
            load_scenario(tmp)
        except InputError as exc:
            return list(exc.issues)
        os.replace(tmp, entry.path)
        return []
    finally:
        tmp.unlink(missing_ok=True)


def _form_page(
    request: Request,
    web: WebContext,
    entry: ScenarioEntry,
    user: User,
    *,
    saved: bool = False,
    uploaded: bool = False,
    problems: list[str] | None = None,
    issues: list[Issue] | None = None,
    status_code: int = 200,
) -> Response:
    values, priorities, weights, load_issues = current_values(entry)
    lang = get_lang(request)
    return render(
        request,
        web,
        "scenario.html",
        active="scenarios",
        crumbs=[(t("page.nav.scenarios", lang), "/scenarios")],
        entry=entry,
        fields=FIELDS,
        values=values,
        priorities=priorities,
        weights=weights or {term: 0 for term in TERMS},
        weights_mode=weights is not None,
        saved=saved,
        uploaded=uploaded,
        problems=problems or [],
        issues=(issues or []) + load_issues,
        can_edit=user.is_planner,
        can_run=user.is_planner and entry.valid is not False,
        status_code=status_code,
    )


def setting_value(raw: str) -> Any:
    """The TOML value of the text after ``=`` of a ``--set`` option (a bare word is a string)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def make_variant(
    web: WebContext, entry: ScenarioEntry, name: str, settings: Mapping[str, Any] | None = None
) -> str:
    """Write a variant of ``entry`` named ``name`` into the workspace's ``scenarios/``
    folder, with the ``settings`` (dotted keys, e.g. ``rules.min_is_hard``) changed, and
    return its id.  It reads the same data files (its paths are rewritten relative to
    its own folder)."""
    folder = web.config.workspace / SCENARIOS
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()  # a linked folder: paths relative to where the file really is
    doc = tomllib.loads(entry.path.read_text(encoding="utf-8"))

    def moved(value: str) -> str:
        path, sep, sheet = value.partition("#")
        absolute = Path(path) if Path(path).is_absolute() else entry.path.resolve().parent / path
        return Path(os.path.relpath(absolute, root)).as_posix() + sep + sheet

    if isinstance(doc.get("extends"), str):
        doc["extends"] = moved(doc["extends"])
    if isinstance(doc.get("data"), dict):
        doc["data"] = {k: moved(v) if isinstance(v, str) else v for k, v in doc["data"].items()}
    doc["name"] = name
    for dotted, value in (settings or {}).items():
        table, _, key = dotted.partition(".")
        doc.setdefault(table, {})[key] = value
    stem = slug(name)
    target = root / f"{stem}.toml"
    n = 2
    while target.exists():
        target = root / f"{stem}-{n}.toml"
        n += 1
    target.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return (folder / target.name).relative_to(web.config.workspace).as_posix()


@router.get("/scenarios")
def scenarios_page(request: Request, web: Web, user: CurrentUser) -> Response:
    """Every scenario of the workspace."""
    listed = list_scenarios(web.config.workspace, web.store())
    return render(
        request, web, "scenarios.html", active="scenarios", scenarios=listed, can_edit=user.is_planner
    )


@router.get("/scenarios/{sid:path}/toml")
def scenario_toml(request: Request, sid: str, web: Web) -> Response:
    """The scenario file as saved."""
    entry = scenario(web, sid)
    lang = get_lang(request)
    return render(
        request,
        web,
        "toml.html",
        active="scenarios",
        crumbs=[
            (t("page.nav.scenarios", lang), "/scenarios"),
            (entry.name, f"/scenarios/{entry.scenario_id}"),
        ],
        entry=entry,
        text=entry.path.read_text(encoding="utf-8"),
    )


@router.post("/scenarios/{sid:path}/copy")
async def copy_scenario(request: Request, sid: str, web: Web, user: Planner) -> Response:
    """A variant: a copy of the scenario under a new name (same data)."""
    entry = scenario(web, sid)
    form = await request.form()
    lang = get_lang(request)
    name = str(form.get("name", "")).strip()[:100] or t("page.scenario.copy_default", lang, name=entry.name)
    new = make_variant(web, entry, name)
    audit(web.store(), user, "variant", new, base=entry.scenario_id)
    return RedirectResponse(f"/scenarios/{new}", status_code=303)


@router.post("/scenarios/{sid:path}/run")
async def run_scenario(request: Request, sid: str, web: Web, user: Planner) -> Response:
    """Queue a solve of the scenario and follow it on its job page."""
    entry = scenario(web, sid)
    if entry.valid is False:
        return _form_page(request, web, entry, user, problems=[t("page.scenario.invalid", get_lang(request))])
    form = await request.form()
    label = str(form.get("label", "")).strip()[:100]
    job_id = web.jobs.submit(entry.path, (), label, user.name, get_lang(request))
    audit(web.store(), user, "run", job_id, scenario=entry.scenario_id, label=label)
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/scenarios/{sid:path}")
def scenario_page(request: Request, sid: str, web: Web, user: CurrentUser) -> Response:
    """The scenario as a form."""
    entry = scenario(web, sid)
    query = request.query_params
    return _form_page(
        request, web, entry, user, saved=query.get("saved") == "1", uploaded=query.get("uploaded") == "1"
    )


@router.post("/scenarios/{sid:path}")
async def save_scenario(request: Request, sid: str, web: Web, user: Planner) -> Response:
    """Save the form into the scenario's TOML file (nothing written when it is wrong)."""
    entry = scenario(web, sid)
    form = await request.form()
    doc = tomllib.loads(entry.path.read_text(encoding="utf-8"))
    new, problems = updated_document(doc, form, get_lang(request))
    if problems:
        return _form_page(request, web, entry, user, problems=problems, status_code=422)
    issues = write_checked(entry, new)
    if issues:
        return _form_page(request, web, entry, user, issues=issues, status_code=422)
    audit(web.store(), user, "scenario_saved", entry.scenario_id)
    return RedirectResponse(f"/scenarios/{entry.scenario_id}?saved=1", status_code=303)
