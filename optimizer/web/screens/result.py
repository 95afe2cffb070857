"""The result of a run: leaders' summary, per-unit table, map, person search and explanation.

``GET /runs/{run_id}`` is the page; the per-unit table (``/units``), the map (``/map``)
and the person search (``/people``) are HTMX fragments of it, each also a plain address
(the table's sort, filter and page are in the page's own query, so a view can be
bookmarked).  The per-unit table is filtered, sorted and paginated on the server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.responses import Response

from optimizer import service
from optimizer.compare import UNIT_COMPARE_METRICS
from optimizer.errors import InputError
from optimizer.i18n import t
from optimizer.kpi_display import flatten_kpis, kpi_kind, kpi_label
from optimizer.store import StoredRunHead
from optimizer.web.deps import CurrentUser, Web, get_lang
from optimizer.web.screens.common import Memo, cached_run, render, run_head, scenario_of
from optimizer.web.views import CachedRun, page

if TYPE_CHECKING:
    import pandas as pd

router = APIRouter()

#: The columns of the per-unit table, in order.
UNIT_COLUMNS: tuple[str, ...] = ("unit_name", "quota", *UNIT_COMPARE_METRICS)
#: Rows of the per-unit table per page.
PAGE_SIZE = 25
#: People listed by a search at most.
SEARCH_LIMIT = 20
#: The KPIs a map can be coloured by on this page.
MAP_CHOICES = ("fill_rate", "moves")

#: Maps already drawn, by run (or pair of runs), KPI and language.
maps = Memo(8)


@dataclass(frozen=True)
class UnitQuery:
    """What the per-unit table shows: a filter, a sort column and direction, a page."""

    q: str = ""
    sort: str = "unit_name"
    desc: bool = False
    page: int = 1

    @classmethod
    def of(cls, request: Request) -> UnitQuery:
        """Read the query from the request's parameters (bad values fall back to defaults)."""
        p = request.query_params
        sort = p.get("sort", "unit_name")
        try:
            page = max(1, int(p.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            q=p.get("q", "")[:100],
            sort=sort if sort in UNIT_COLUMNS else "unit_name",
            desc=p.get("desc") == "1",
            page=page,
        )

    def link(self, **changes: Any) -> str:
        """The query string of this view with ``changes``."""
        from urllib.parse import urlencode

        values = {"q": self.q, "sort": self.sort, "desc": "1" if self.desc else "", "page": self.page}
        values.update({k: ("1" if v is True else "" if v is False else v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def unit_table(cached: CachedRun, query: UnitQuery) -> dict[str, Any]:
    """One page of the per-unit table (filtered and sorted on the server), and the paging facts."""

    def cut(number: int) -> dict[str, Any]:
        return page(
            cached,
            "units",
            offset=(number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            sort=query.sort,
            descending=query.desc,
            query=query.q,
        )

    shown = cut(query.page)
    pages = max(1, math.ceil(int(shown["total"]) / PAGE_SIZE))
    if query.page > pages:
        shown = cut(pages)
    current = min(query.page, pages)
    return {
        "rows": shown["rows"],
        "columns": [(c, kpi_kind(c)) for c in UNIT_COLUMNS],
        "total": int(shown["total"]),
        "page": current,
        "pages": pages,
        "query": UnitQuery(query.q, query.sort, query.desc, current),
    }


#: Statuses of a run without a placement.
NO_PLACEMENT = ("infeasible", "no_solution")


def leaders_summary(run: StoredRunHead, lang: str) -> list[str]:
    """The summary a leader reads first: a few plain sentences from the run's KPIs; for a
    run without a placement, why there is none."""
    if run.status in NO_PLACEMENT:
        return service.run_notes(run, lang) or [t("page.result.summary_none", lang)]
    k = run.kpis
    from optimizer.labels import number

    def n(value: Any, digits: int = 0) -> str:
        return number(value, digits, lang)

    lines = [
        t(
            "page.result.summary_placed",
            lang,
            placed=n(k.get("placed")),
            units=n(k.get("units")),
            fill=n((k.get("fill_rate") or 0) * 100, 1),
        ),
        t("page.result.summary_unplaced", lang, unplaced=n(k.get("unplaced"))),
        t("page.result.summary_shortfall", lang, shortfall=n(k.get("shortfall"))),
        t(
            "page.result.summary_moves",
            lang,
            moves=n(k.get("moves")),
            mean=n(k.get("commute_mean_km"), 1),
            long=n(k.get("long_commute")),
        ),
    ]
    if run.proven:
        lines.append(t("page.result.summary_proven", lang))
    else:
        lines.append(t("page.result.summary_not_proven", lang))
    return lines + service.run_notes(run, lang)  # why a stage is not proven, what to try


def summary_cards(run: StoredRunHead, lang: str) -> list[tuple[str, str, Any]]:
    """The leaders' figures (those of the report's summary): label, kind, value."""
    from optimizer.export.report_summary import SUMMARY_KPIS

    flat = flatten_kpis(run.kpis)
    return [(kpi_label(name, lang), kpi_kind(name), flat.get(name)) for name in SUMMARY_KPIS]


def terms_rows(run: StoredRunHead) -> list[dict[str, Any]]:
    """Every objective term of the run: value, bound, gap (in %), proven."""
    values = run.meta.get("values", {}) or {}
    bounds = run.meta.get("bounds", {}) or {}
    rows = []
    for term, value in values.items():
        bound = bounds.get(term)
        gap = None
        if value is not None and bound is not None:
            gap = 0.0 if value == bound else abs(value - bound) / max(1.0, abs(float(value))) * 100
        rows.append({"term": term, "value": value, "bound": bound, "gap": gap, "proven": gap == 0.0})
    return rows


@router.get("/runs/{run_id}")
def result_page(
    request: Request,
    run_id: str,
    web: Web,
    user: CurrentUser,
) -> Response:
    """A stored run: the leaders' summary, the objectives, people, units and the map."""
    from optimizer.export.report_summary import run_label

    cached = cached_run(web, run_id)
    run = cached.head
    lang = get_lang(request)
    query = UnitQuery.of(request)
    response = render(
        request,
        web,
        "result.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs")],
        run=run,
        label_text=run_label(run),
        summary=leaders_summary(run, lang),
        summary_kpis=summary_cards(run, lang),
        terms=terms_rows(run),
        table=unit_table(cached, query),
        map_choices=MAP_CHOICES,
        can_edit=user.is_planner,
        placed=run.status not in NO_PLACEMENT,
        scenario=scenario_of(web, str(run.meta.get("scenario_path", ""))),
    )
    # once the page is sent: the run's people (search) and its edit session, read ahead
    response.background = BackgroundTask(web.runs.prefetch, web.store(), run.run_id, web.config.snapshots)
    return response


@router.get("/runs/{run_id}/units")
def units_fragment(request: Request, run_id: str, web: Web) -> Response:
    """The per-unit table alone (HTMX swaps it into the result page)."""
    cached = cached_run(web, run_id)
    return render(
        request, web, "_units.html", run=cached.head, table=unit_table(cached, UnitQuery.of(request))
    )


def map_json(
    run: StoredRunHead, units: pd.DataFrame, values: dict[str, float], label: str, kind: str, lang: str
) -> str:
    """The plotly figure (JSON) of ``units`` (a per-unit KPI frame of ``run``) coloured by
    ``values`` (by unit id), drawn from the run's GeoJSON, far islands in an inset."""
    from optimizer.export.report_map import geojson_of_run, load_geojson, map_figure, map_shapes

    geo = geojson_of_run(run)
    polygons = load_geojson(geo) if geo is not None and geo.exists() else None
    fig = map_figure(map_shapes(units, polygons), values, label, kind, "")
    # numbers in the reader's style: 97,5 % in Vietnamese (decimal comma, dot for thousands)
    separators = ",." if lang == "vi" else ".,"
    fig.update_layout(height=640, title=None, margin={"l": 0, "r": 0, "t": 10, "b": 0}, separators=separators)
    fig.for_each_annotation(lambda note: note.update(text=t("report.inset", lang)))  # the only note
    return str(fig.to_json())


def unit_values(cached: CachedRun, kpi: str) -> dict[str, float]:
    """A per-unit KPI of a run, by unit id."""
    frame = cached.table("units")
    return dict(zip(frame["unit_id"].astype(str), frame[kpi].astype(float), strict=True))


def map_choice(request: Request) -> str:
    """The KPI of ``?kpi=`` when the maps offer it, else the fill rate."""
    kpi = request.query_params.get("kpi", "fill_rate")
    return kpi if kpi in MAP_CHOICES else "fill_rate"


def figure_markup(text: str) -> Markup:
    """A figure's JSON, safe inside ``<script type="application/json">`` (no ``<``, ``>``, ``&``)."""
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@router.get("/runs/{run_id}/map")
def map_fragment(request: Request, run_id: str, web: Web) -> Response:
    """The map of a run's units, coloured by ``?kpi=fill_rate`` (default) or ``moves``."""
    kpi = map_choice(request)
    cached = cached_run(web, run_id)
    lang = get_lang(request)

    def make() -> str:
        label = t(f"kpi.unit.{kpi}", lang)
        return map_json(
            cached.head, cached.table("units"), unit_values(cached, kpi), label, kpi_kind(kpi), lang
        )

    text = maps.get((cached.head.run_id, kpi, lang), make)
    return render(
        request,
        web,
        "_map.html",
        map_url=f"/runs/{cached.head.run_id}/map?",
        kpi=kpi,
        map_choices=MAP_CHOICES,
        figure=figure_markup(text),
    )


@router.get("/runs/{run_id}/people")
def people_fragment(
    request: Request,
    run_id: str,
    web: Web,
    user: CurrentUser,
) -> Response:
    """People matching ``?q=`` (name or id; a viewer who may not see names: id only), each
    linking to their explanation, or with ``?for=edit`` to the edit form."""
    cached = cached_run(web, run_id)
    q = request.query_params.get("q", "")[:100].strip()
    found = page(cached, "people", limit=SEARCH_LIMIT, query=q, redact=not user.see_names)
    return render(
        request,
        web,
        "_people.html",
        run=cached.head,
        q=q,
        people=found["rows"] if q else [],
        total=found["total"] if q else 0,
        for_edit=request.query_params.get("for") == "edit",
    )


@router.get("/runs/{run_id}/people/{staff_id}")
def person_page(
    request: Request,
    run_id: str,
    staff_id: str,
    web: Web,
    user: CurrentUser,
) -> Response:
    """Where one person is and why; the nearest other units with the rule or the cost."""
    run = run_head(web, run_id)
    lang = get_lang(request)
    try:
        explained = service.explain(web.store(), run.run_id, staff_id, snapshots=web.config.snapshots)
    except InputError as exc:
        raise HTTPException(status_code=404, detail=exc.issues[0].message) from exc
    p = explained.problem
    person = explained.person
    i = person.staff_idx
    name = p.staff.full_name[i] if user.see_names else ""
    alternatives = []
    for a in person.alternatives:
        forcing = a.forcing
        alternatives.append(
            {
                "unit_id": p.units.ids[a.unit_idx],
                "unit_name": p.units.names[a.unit_idx],
                "distance_km": a.distance_km,
                "preference_rank": a.preference_rank,
                "excluded": [(r.rule, r.reason.render(lang)) for r in a.excluded],
                "feasible": forcing.feasible if forcing is not None else None,
                "deltas": {k: v for k, v in (forcing.deltas if forcing else {}).items() if v},
                "moves": len(forcing.moves) if forcing else 0,
                "reason": forcing.reason.reason.render(lang) if forcing and forcing.reason else "",
            }
        )
    unit = p.units.names[person.unit_idx] if person.unit_idx >= 0 else ""
    return render(
        request,
        web,
        "person.html",
        active="runs",
        crumbs=[(t("page.nav.runs", lang), "/runs"), (run.run_id, f"/runs/{run.run_id}")],
        run=run,
        staff_id=staff_id,
        name=name,
        unit=unit,
        position=p.posts.position[person.post_idx] if person.post_idx >= 0 else "",
        origin=p.units.names[person.origin_idx] if person.origin_idx >= 0 else "",
        person=person,
        alternatives=alternatives,
        can_edit=user.is_planner,
    )
