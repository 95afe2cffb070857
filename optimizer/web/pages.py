"""The pages of the web app: Jinja2 templates (``templates/pages``) and HTMX, no build step.

Every page is a plain address that can be bookmarked and shared, renders on the server,
speaks Vietnamese by default (English with the switch in the header, kept in a cookie)
and works with no network: htmx, the stylesheet and plotly.js are served by the app.
Pages call :mod:`optimizer.service` (never the command line); every form and HTMX
request carries the session's CSRF token (the app checks it on every POST and DELETE).

=======================================  =========================================
page                                     module
=======================================  =========================================
start, runs, a solve's progress          :mod:`optimizer.web.screens.start`
data upload and validation, template     :mod:`optimizer.web.screens.data`
scenario form, TOML, variants, run       :mod:`optimizer.web.screens.scenario`
result: summary, units, map, people      :mod:`optimizer.web.screens.result`
sign in and out                          :mod:`optimizer.web.screens.login`
edit by hand                             :mod:`optimizer.web.screens.edit`
diagnose, re-plan                        :mod:`optimizer.web.screens.diagnose`
compare                                  :mod:`optimizer.web.screens.compare`
export                                   :mod:`optimizer.web.screens.export`
=======================================  =========================================
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response

from optimizer.web.screens import compare, data, diagnose, edit, export, login, result, scenario, start

router = APIRouter(include_in_schema=False)
# diagnose before scenario: its /scenarios/{id}/diagnose must win over /scenarios/{id}
for _module in (login, start, data, diagnose, scenario, result, edit, compare, export):
    router.include_router(_module.router)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """An error of a page shown as a page (or, for an HTMX request, as a message in place);
    the API's errors stay JSON."""
    if request.url.path.startswith("/api/"):
        return await http_exception_handler(request, exc)
    from optimizer.web.screens.common import render

    web = request.app.state.web
    detail = exc.detail if isinstance(exc.detail, str) else ""
    fragment = request.headers.get("HX-Request") == "true"
    return render(
        request,
        web,
        "_error.html" if fragment else "error.html",
        status_code=exc.status_code,
        code=exc.status_code,
        detail=detail,
    )
