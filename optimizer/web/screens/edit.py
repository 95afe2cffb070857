"""Edit a placement by hand: move a person, see at once what it breaks and costs; keep or
discard.

``GET /runs/{run_id}/edit?staff_id=…`` shows the person and a form (a unit, then one of
its post lines, or "not placed"); ``POST /runs/{run_id}/edit/check`` answers, through
:func:`optimizer.service.check_edit`, the rules the move breaks (in words, with who is
affected) and the change of every objective term.  **Keep** (``/edit/keep``) makes the
move a ``fix`` pin of a variant of the run's scenario and queues its solve; **discard**
goes back to the run.
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from optimizer import service
from optimizer.edit import EditCheck, EditViolation
from optimizer.errors import InputError
from optimizer.i18n import t
from optimizer.store import StoredRun
from optimizer.web.auth import audit
from optimizer.web.deps import Planner, RequestLang, Web, get_lang
from optimizer.web.screens.common import cached_run, render, stored_run
from optimizer.web.uploads import SCENARIOS
from optimizer.web.views import edit_violations

router = APIRouter()

#: The value of the unit field that leaves the person without a post.
UNPLACED = "-"
#: Rules a kept move may break: solving the rest again mends them (others leave a full
#: post line, fill one under its minimum, move away from a relative).
MENDED_BY_SOLVING = frozenset({"post_max", "post_min", "relatives"})


def unkeepable(checked: EditCheck) -> list[EditViolation]:
    """The rules a move breaks that keeping it cannot mend: those of the moved person's
    own placement (island, qualification, commute…), which its fixed pin would hold
    against, making the variant unsolvable.  The person's own fixed pin is not one: the
    kept move replaces it."""
    return [
        v
        for v in checked.violations
        if v.rule not in MENDED_BY_SOLVING and not (v.rule == "pins" and v.reason.code == "pins_fixed")
    ]


def person_row(run: StoredRun, staff_id: str) -> dict[str, Any] | None:
    """The person's row of the run (placed or not), or ``None``."""
    for frame, placed in ((run.tables.placements, True), (run.tables.unplaced, False)):
        rows = frame[frame["staff_id"].astype(str) == staff_id]
        if len(rows):
            return {**{str(k): v for k, v in rows.iloc[0].to_dict().items()}, "placed": placed}
    return None


def unit_choices(run: StoredRun) -> list[tuple[str, str]]:
    """Every unit of the run: (unit id, name), by name."""
    units = run.tables.units.drop_duplicates("unit_id")
    return sorted(
        zip(units["unit_id"].astype(str), units["unit_name"].astype(str), strict=True), key=lambda u: u[1]
    )


def post_lines(run: StoredRun, unit_id: str) -> list[dict[str, Any]]:
    """The post lines of a unit: bloc, department, position, category, min, max, filled."""
    lines = run.tables.units[run.tables.units["unit_id"].astype(str) == unit_id]
    cols = ["bloc", "department", "position", "category", "min", "max", "filled"]
    return [
        {**{str(k): v for k, v in r.items()}, "key": i} for i, r in enumerate(lines[cols].to_dict("records"))
    ]


@router.get("/runs/{run_id}/edit")
def edit_page(request: Request, run_id: str, web: Web, user: Planner, lang: RequestLang) -> Response:
    """Pick a person (search) and where to move them."""
    run = stored_run(web, run_id)
    # the run opened for editing while a move is picked
    web.runs.prefetch(web.store(), run.run_id, web.config.snapshots)
    staff_id = request.query_params.get("staff_id", "")[:64]
    person = person_row(run, staff_id) if staff_id else None
    return render(
        request,
        web,
        "edit.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs"), (run.run_id, f"/runs/{run.run_id}")],
        run=run,
        staff_id=staff_id,
        person=person,
        units=unit_choices(run),
        unplaced=UNPLACED,
        see_names=user.see_names,
    )


@router.get("/runs/{run_id}/edit/posts")
def posts_fragment(request: Request, run_id: str, web: Web, user: Planner) -> Response:
    """The post lines of the unit picked (HTMX fills the second field with them), the
    first line of the person's own position and category chosen."""
    run = stored_run(web, run_id)
    unit_id = request.query_params.get("unit_id", "")
    lines = post_lines(run, unit_id)
    return render(
        request,
        web,
        "_edit_posts.html",
        lines=lines,
        chosen=suited_line(lines, person_row(run, request.query_params.get("staff_id", "")[:64])),
        unplaced=unit_id == UNPLACED,
    )


def suited_line(lines: list[dict[str, Any]], person: dict[str, Any] | None) -> int:
    """The key of the first line of ``lines`` for ``person``'s position (placed: the one
    they hold; unplaced: one of those they may take) and category, else of their
    position, else the first line."""
    if person is None or not lines:
        return 0
    held = person.get("position") if person["placed"] else None
    positions = [held] if held else str(person.get("positions") or "").split(";")
    own = [line for line in lines if line["position"] in positions]
    suited = [line for line in own if line["category"] == person["category"]] or own or lines
    return int(suited[0]["key"])


def _move(run: StoredRun, form: Any) -> dict[str, Any]:
    """The move of the form: ``{"staff_id", "unit_id", "position"}`` (``unit_id`` empty:
    not placed); 422 when the person, unit or line is not the run's."""
    staff_id = str(form.get("staff_id", ""))
    unit_id = str(form.get("unit_id", ""))
    if person_row(run, staff_id) is None:
        raise HTTPException(status_code=422, detail=staff_id)
    if unit_id == UNPLACED:
        return {"staff_id": staff_id, "unit_id": "", "position": None}
    lines = post_lines(run, unit_id)
    try:
        line = lines[int(str(form.get("line", "")))]
    except (ValueError, IndexError) as exc:
        raise HTTPException(status_code=422, detail=unit_id) from exc
    return {"staff_id": staff_id, "unit_id": unit_id, "position": line["position"], "line": line}


@router.post("/runs/{run_id}/edit/check")
async def check(request: Request, run_id: str, web: Web, user: Planner) -> Response:
    """What the move breaks and costs (a fragment of the edit page)."""
    cached = cached_run(web, run_id)
    run = cached.run
    move = _move(run, await request.form())
    try:
        checked = service.check_edit(web.store(), run.run_id, [move], web.config.snapshots)
    except InputError as exc:
        return render(request, web, "_edit_check.html", run=run, move=move, error=exc.issues[0].message)
    audit(web.store(), user, "edit_check", run.run_id, staff_id=move["staff_id"], unit_id=move["unit_id"])
    lang = get_lang(request)
    violations = edit_violations(checked, user.see_names, lang)
    blocked = {id(v) for v in unkeepable(checked)}
    blocking = [shown for v, shown in zip(checked.violations, violations, strict=True) if id(v) in blocked]
    return render(
        request,
        web,
        "_edit_check.html",
        run=run,
        move=move,
        checked=checked,
        violations=violations,
        blocking=blocking,
        problems=[p.render(lang) for p in checked.problems],
        error="",
    )


def pins_with(problem: Any, move: dict[str, Any], note: str) -> str:
    """The pins of ``problem`` as a CSV table, with the move added as a ``fix`` pin
    (replacing the person's own ``fix`` pin, if any)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["staff_id", "unit_id", "position", "mode", "note"])
    pins = problem.pins
    for s, u, position, mode, old_note in zip(
        pins.staff_idx, pins.unit_idx, pins.position, pins.mode, pins.note, strict=True
    ):
        staff_id = problem.staff.ids[s]
        if staff_id == move["staff_id"] and mode == "fix":
            continue
        writer.writerow([staff_id, problem.units.ids[u], position or "", mode, old_note])
    writer.writerow([move["staff_id"], move["unit_id"], move["position"] or "", "fix", note])
    return out.getvalue()


@router.post("/runs/{run_id}/edit/keep")
async def keep(request: Request, run_id: str, web: Web, user: Planner, lang: RequestLang) -> Response:
    """Keep the move: a variant of the run's scenario with the move as a pin, solved again."""
    import tomli_w

    run = stored_run(web, run_id)
    move = _move(run, await request.form())
    if not move["unit_id"]:
        raise HTTPException(status_code=422, detail=t("page.edit.keep_unplaced", lang))
    checked = service.check_edit(web.store(), run.run_id, [move], web.config.snapshots)
    if unkeepable(checked) or checked.problems:
        raise HTTPException(status_code=422, detail=t("page.edit.cannot_keep", lang))
    loaded = service.load(run.meta["scenario_path"], tuple(run.meta.get("overrides") or ()))
    root = web.config.workspace / SCENARIOS
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    note = t("page.edit.pin_note", lang, run=run.run_id, user=user.name)
    pins_path = root / f"pins-{run.run_id}-{token}.csv"
    pins_path.write_text(pins_with(loaded.problem, move, note), encoding="utf-8")
    resolved = run.meta["resolved_scenario"]
    objective = {k: v for k, v in (resolved.get("objective") or {}).items() if v is not None}
    doc = {
        "name": t("page.edit.variant_name", lang, name=run.scenario_name, staff_id=move["staff_id"]),
        "data": {**resolved["data"], "pins": str(pins_path)},
        "rules": resolved["rules"],
        "objective": objective,
        "solver": resolved["solver"],
    }
    path = root / f"edit-{run.run_id}-{token}.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    job_id = web.jobs.submit(path, (), doc["name"], user.name, lang)
    audit(
        web.store(),
        user,
        "edit_keep",
        run.run_id,
        staff_id=move["staff_id"],
        unit_id=move["unit_id"],
        job=job_id,
    )
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
