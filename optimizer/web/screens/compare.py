"""Compare two or more runs: the summary first, then every KPI, the units that changed and
the people placed differently (paginated on the server).

``GET /compare?run=A&run=B[&run=C…]``: deltas against the first run; without two runs
the page lists the runs to pick from.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from optimizer import service
from optimizer.compare import redact
from optimizer.errors import InputError
from optimizer.i18n import t
from optimizer.kpi_display import delta_column, delta_quality, kpi_kind, kpi_label
from optimizer.web.deps import CurrentUser, Web, get_lang
from optimizer.web.screens.common import Memo, cached_run, render
from optimizer.web.screens.result import (
    MAP_CHOICES,
    figure_markup,
    map_choice,
    map_json,
    maps,
    unit_values,
)

router = APIRouter()

#: People per page of the "placed differently" table.
PEOPLE_PAGE = 50
#: At most this many runs side by side.
MAX_RUNS = 6
#: Per-unit metrics shown for the units that changed.
UNIT_METRICS = ("filled", "shortfall", "fill_rate", "moves", "commute_mean_km")

_comparisons = Memo(2)


@router.get("/compare")
def compare_page(request: Request, web: Web, user: CurrentUser) -> Response:
    """Runs side by side (``?run=`` twice or more), or the list to pick them from."""
    lang = get_lang(request)
    refs = list(dict.fromkeys(request.query_params.getlist("run")))[:MAX_RUNS]
    store = web.store()
    if len(refs) < 2:
        return render(
            request, web, "compare_pick.html", active="compare", runs=service.runs(store), picked=refs
        )
    try:
        # the oldest run first: it is the baseline the others are compared with
        resolved = tuple(sorted(dict.fromkeys(store.resolve(r) for r in refs)))
        compared = _comparisons.get(resolved, lambda: service.compare(store, resolved))
    except (InputError, ValueError) as exc:
        text = exc.issues[0].message if isinstance(exc, InputError) else str(exc)
        return render(
            request,
            web,
            "compare_pick.html",
            active="compare",
            runs=service.runs(store),
            picked=refs,
            error=text,
            status_code=404,
        )
    c = compared.comparison
    ids = list(c.run_ids)
    from optimizer.export.report_summary import SUMMARY_KPIS

    def kpi_rows(names: list[str]) -> list[dict[str, Any]]:
        rows = []
        for name in names:
            if name not in c.kpis.index:
                continue
            row = c.kpis.loc[name]
            kind = kpi_kind(name)
            rows.append(
                {
                    "label": kpi_label(name, lang),
                    "kind": kind,
                    "values": [row[i] for i in ids],
                    "deltas": [
                        (row[delta_column(i)], delta_quality(name, row[delta_column(i)])) for i in ids[1:]
                    ],
                }
            )
        return rows

    people = c.people if user.see_names else redact(c.people)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    pages = max(1, math.ceil(len(people) / PEOPLE_PAGE))
    page = min(page, pages)
    shown = people.iloc[(page - 1) * PEOPLE_PAGE : page * PEOPLE_PAGE].to_dict("records")
    changed = c.units[c.units["changed"]].to_dict("records")
    base_query = "&".join(f"run={i}" for i in ids)
    return render(
        request,
        web,
        "compare.html",
        active="compare",
        runs=compared.runs,
        ids=ids,
        summary=kpi_rows(list(SUMMARY_KPIS)),
        all_kpis=kpi_rows([str(n) for n in c.kpis.index]),
        people=shown,
        people_total=len(people),
        page=page,
        pages=pages,
        base_query=base_query,
        units=changed,
        unit_metrics=[(m, kpi_kind(m)) for m in UNIT_METRICS],
        quality=delta_quality,
        title=t("page.compare.title", lang, runs=", ".join(ids)),
    )


@router.get("/compare/map")
def compare_map(request: Request, web: Web) -> Response:
    """The map of the differences: per unit, the last run's KPI minus the first run's."""
    refs = list(dict.fromkeys(request.query_params.getlist("run")))[:MAX_RUNS]
    if len(refs) < 2:
        raise HTTPException(status_code=422, detail=t("runs.compare_need_two", get_lang(request)))
    first, last = cached_run(web, refs[0]), cached_run(web, refs[-1])
    kpi = map_choice(request)
    lang = get_lang(request)

    def make() -> str:
        before = unit_values(first, kpi)
        after = unit_values(last, kpi)
        delta = {u: after[u] - before[u] for u in after if u in before}
        label = t(
            "page.compare.map_label",
            lang,
            kpi=t(f"kpi.unit.{kpi}", lang),
            last=last.head.run_id,
            first=first.head.run_id,
        )
        return map_json(last.head, last.table("units"), delta, label, kpi_kind(kpi), lang)

    text = maps.get(("Δ", first.head.run_id, last.head.run_id, kpi, lang), make)
    query = "&".join(f"run={quote(r)}" for r in (first.head.run_id, last.head.run_id))
    return render(
        request,
        web,
        "_map.html",
        map_url=f"/compare/map?{query}&",
        kpi=kpi,
        map_choices=MAP_CHOICES,
        figure=figure_markup(text),
    )
